//! The scanner clients against the real daemons, each started by the test on its own port:
//! clamd with a database of the EICAR test file only, asked over TCP and over its unix socket,
//! finds EICAR and passes clean files, reports its own error on a stream over its limit, is
//! unavailable at once when stopped and answers again when restarted; spamd scores a mail with
//! GTUBE in its text as spam and a plain one as not, also when more checks come at once than it
//! is allowed in flight.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::png;
use common::scanners::{self, EICAR, GTUBE};
use tern::core::protection::ScannerConfig;
use tern::scanners::{Clamd, ScanError, Spamd, VirusVerdict, spam_mail};

fn config(address: String, defaults: ScannerConfig) -> ScannerConfig {
    // A first scan may wait for the daemon to warm up; the faults have their own unit tests.
    ScannerConfig { address, timeout_ms: 30_000, ..defaults }
}

async fn assert_eicar_found(clamd: &Clamd, over: &str) {
    match clamd.scan(EICAR).await {
        Ok(VirusVerdict::Infected(name)) => {
            assert!(name.to_ascii_lowercase().contains("eicar"), "over {over}: the signature {name:?}")
        }
        other => panic!("over {over}: EICAR gave {other:?}"),
    }
}

#[tokio::test]
async fn clamd_finds_eicar_over_tcp_and_its_socket_and_answers_again_after_a_restart() {
    let mut daemon = scanners::Clamd::start("scanners-clamd");
    let tcp = Clamd::new(&config(format!("127.0.0.1:{}", daemon.port), ScannerConfig::clamd()));
    let unix = Clamd::new(&config(daemon.socket.display().to_string(), ScannerConfig::clamd()));
    // Larger than one INSTREAM chunk, to be sent in several.
    let text: Vec<u8> = b"Meet me at the station at noon. ".iter().copied().cycle().take(300_000).collect();
    for (clamd, over) in [(&tcp, "tcp"), (&unix, "the unix socket")] {
        assert_eicar_found(clamd, over).await;
        assert_eq!(clamd.scan(&png()).await, Ok(VirusVerdict::Clean), "a PNG over {over}");
        assert_eq!(clamd.scan(&text).await, Ok(VirusVerdict::Clean), "a text over {over}");
        assert_eq!(clamd.scan(b"").await, Ok(VirusVerdict::Clean), "nothing over {over}");
    }

    // Over clamd's StreamMaxLength (50M), clamd answers its own error, which counts even when it
    // comes before clamd has read all that was sent.
    let over = vec![0; 51 * 1024 * 1024];
    for address in [format!("127.0.0.1:{}", daemon.port), daemon.socket.display().to_string()] {
        let big =
            Clamd::new(&ScannerConfig { max_size: over.len(), ..config(address.clone(), ScannerConfig::clamd()) });
        let result = big.scan(&over).await;
        assert!(
            matches!(&result, Err(ScanError::Protocol(m)) if m.contains("size limit exceeded")),
            "51M to {address}: {result:?}"
        );
    }

    daemon.stop();
    for (clamd, over) in [(&tcp, "tcp"), (&unix, "the unix socket")] {
        let start = Instant::now();
        let result = clamd.scan(EICAR).await;
        assert!(matches!(result, Err(ScanError::Unavailable(_))), "clamd stopped, over {over}: {result:?}");
        assert!(start.elapsed() < Duration::from_secs(1), "known at once, not at the timeout");
    }

    daemon.restart();
    for (clamd, over) in [(&tcp, "tcp"), (&unix, "the unix socket")] {
        assert_eicar_found(clamd, over).await;
        assert_eq!(clamd.scan(&png()).await, Ok(VirusVerdict::Clean), "a PNG over {over} after the restart");
    }
}

#[tokio::test]
async fn spamd_scores_gtube_as_spam_and_a_plain_text_as_not() {
    let daemon = scanners::Spamd::start("scanners-spamd");
    let spamd = Spamd::new(&config(format!("127.0.0.1:{}", daemon.port), ScannerConfig::spamd()));

    let text = format!("Hello,\n\n{GTUBE}\n");
    let spam = spamd.check(&spam_mail("+15550100001", Some("An offer"), &text)).await.unwrap();
    assert!(spam.is_spam && spam.score >= 1000.0, "GTUBE: {spam:?}");
    assert_eq!(spam.threshold, 5.0, "spamd's default threshold");

    let plain = "Shall we meet for lunch at the usual place tomorrow? I can be there at noon.";
    let ham = spamd.check(&spam_mail("+15550100001", Some("Lunch"), plain)).await.unwrap();
    assert!(!ham.is_spam && ham.score < ham.threshold, "a plain text: {ham:?}");

    let utf8 = spamd.check(&spam_mail("+15550100001", Some("Grüße aus Köln"), "Bis morgen, Jürgen")).await.unwrap();
    assert!(!utf8.is_spam, "a plain UTF-8 text: {utf8:?}");

    // Four checks with one allowed in flight: each waits its turn, and all are answered.
    let one_at_a_time = Spamd::new(&ScannerConfig {
        max_concurrent: 1,
        ..config(format!("127.0.0.1:{}", daemon.port), ScannerConfig::spamd())
    });
    let checks = (0..4).map(|i| {
        let spamd = one_at_a_time.clone();
        let mail = spam_mail("+15550100001", None, &if i % 2 == 0 { text.clone() } else { plain.to_owned() });
        tokio::spawn(async move { spamd.check(&mail).await })
    });
    for (i, check) in checks.collect::<Vec<_>>().into_iter().enumerate() {
        let score = check.await.unwrap().unwrap();
        assert_eq!(score.is_spam, i % 2 == 0, "check {i}: {score:?}");
    }
}
