//! The spamd client: a mail sent with the SPAMC protocol's `CHECK` (`CHECK SPAMC/1.5`, its
//! `Content-length`, the mail), and spamd's answer (`SPAMD/1.1 0 EX_OK`, then
//! `Spam: True ; 1000.0 / 5.0`), over TCP or spamd's unix socket; and the mail spamd is asked to
//! score, built from a message's sender, subject and text.
//!
//! Hand-written: no maintained Rust crate speaks SPAMC (the spam crates found are clients of
//! rspamd's HTTP interface or of web services), and the request is a few lines.

use std::io;
use std::sync::Arc;

use mail_builder::MessageBuilder;
use tokio::io::AsyncWriteExt;

use super::link::{Link, Stream};
use super::{ScanError, quoted};
use crate::core::protection::ScannerConfig;

/// The longest answer read: CHECK's answer is three short lines.
const ANSWER_CAP: usize = 4096;

/// The spamd client, shared by all requests (cloning it shares its permits).
#[derive(Debug, Clone)]
pub struct Spamd {
    link: Arc<Link>,
}

/// spamd's judgement of a mail: its score, spamd's own threshold, and whether the score
/// reaches it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamScore {
    pub score: f64,
    pub threshold: f64,
    pub is_spam: bool,
}

impl Spamd {
    pub fn new(cfg: &ScannerConfig) -> Spamd {
        Spamd { link: Arc::new(Link::new("spamd", cfg)) }
    }

    /// Scores `mail`, an RFC 5322 message (see [`spam_mail`]).
    pub async fn check(&self, mail: &[u8]) -> Result<SpamScore, ScanError> {
        let link = &self.link;
        link.scan(mail.len(), |mut conn| async move {
            let sent = send(&mut conn, mail).await;
            let answer = link.answer(&mut conn, sent, ANSWER_CAP, |a| a.windows(4).any(|w| w == b"\r\n\r\n")).await?;
            parse_answer(&answer)
        })
        .await
    }
}

async fn send(conn: &mut Stream, mail: &[u8]) -> io::Result<()> {
    let head = format!("CHECK SPAMC/1.5\r\nContent-length: {}\r\n\r\n", mail.len());
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(mail).await?;
    conn.flush().await?;
    // spamc half-closes after its request too; spamd reads by Content-length either way.
    conn.shutdown().await
}

/// Reads spamd's answer to CHECK: the status line, then the headers up to the blank line.
fn parse_answer(answer: &[u8]) -> Result<SpamScore, ScanError> {
    let unreadable = || ScanError::Protocol(format!("spamd answered {}", quoted(answer)));
    let text = std::str::from_utf8(answer).map_err(|_| unreadable())?;
    let mut lines = text.lines();
    let status = lines.next().ok_or_else(unreadable)?;
    let mut words = status.splitn(3, ' ');
    let version = words.next().unwrap_or_default();
    let code: u32 = words.next().and_then(|c| c.parse().ok()).ok_or_else(unreadable)?;
    if !version.starts_with("SPAMD/") {
        return Err(unreadable());
    }
    if code != 0 {
        return Err(ScanError::Protocol(format!("spamd: {}", quoted(status.as_bytes()))));
    }
    lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("spam"))
        .and_then(|(_, value)| spam_header(value))
        .ok_or_else(unreadable)
}

/// The value of spamd's `Spam` header: `True ; 1000.0 / 5.0`.
fn spam_header(value: &str) -> Option<SpamScore> {
    let (flag, numbers) = value.split_once(';')?;
    let flag = flag.trim();
    let is_spam = if flag.eq_ignore_ascii_case("true") || flag.eq_ignore_ascii_case("yes") {
        true
    } else if flag.eq_ignore_ascii_case("false") || flag.eq_ignore_ascii_case("no") {
        false
    } else {
        return None;
    };
    let (score, threshold) = numbers.split_once('/')?;
    // Rust's parser also takes `inf` and `NaN`, which no score is.
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
    Some(SpamScore { score: number(score)?, threshold: number(threshold)?, is_spam })
}

/// A minimal RFC 5322 message carrying what spamd should score: the sender, the subject and
/// the text (UTF-8). Control characters in the sender and subject become spaces, so that a
/// sender's subject cannot add headers of its own.
pub fn spam_mail(sender: &str, subject: Option<&str>, text: &str) -> Vec<u8> {
    let sender = one_line(sender);
    let mut builder = MessageBuilder::new().from(sender.as_str()).text_body(text);
    if let Some(subject) = subject {
        builder = builder.subject(one_line(subject));
    }
    let mut mail = Vec::new();
    builder.serialize(&mut mail);
    mail
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::{Duration, Instant};

    use super::super::fake::{Behaviour, Fake, no_listener};
    use super::*;

    fn score(score: f64, threshold: f64, is_spam: bool) -> SpamScore {
        SpamScore { score, threshold, is_spam }
    }

    #[test]
    fn spam_headers_are_read() {
        assert_eq!(spam_header(" True ; 1000.0 / 5.0"), Some(score(1000.0, 5.0, true)));
        assert_eq!(spam_header(" False ; 4.2 / 5.0"), Some(score(4.2, 5.0, false)));
        assert_eq!(spam_header(" False ; -1.9 / 5.0"), Some(score(-1.9, 5.0, false)));
        assert_eq!(spam_header("Yes;7/5"), Some(score(7.0, 5.0, true)), "the older form");
        assert_eq!(spam_header(" true ; 12.345 / 6.5"), Some(score(12.345, 6.5, true)));
        for garbage in [
            "",
            "True",
            "Maybe ; 1.0 / 5.0",
            "True ; 1.0",
            "True ; x / 5.0",
            "True ; 1.0 / ",
            "True ; inf / 5.0",
            "False ; NaN / 5.0",
            "True ; 1e400 / 5.0",
            "True ; 1.0 / 5.0 / 6.0",
        ] {
            assert_eq!(spam_header(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn answers_are_read() {
        let answer = b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: True ; 1004.2 / 5.0\r\n\r\n";
        assert_eq!(parse_answer(answer), Ok(score(1004.2, 5.0, true)));
        assert_eq!(parse_answer(b"SPAMD/1.1 0 EX_OK\r\nspam: False ; 0.5 / 5.0\r\n"), Ok(score(0.5, 5.0, false)));
        let error = parse_answer(b"SPAMD/1.0 76 Bad header line: BLAH SPAMC/1.5\r\n").unwrap_err();
        assert!(matches!(&error, ScanError::Protocol(m) if m.contains("76 Bad header line")), "{error:?}");
        for garbage in [
            &b""[..],
            b"SPAMD/1.1 0 EX_OK\r\n\r\n",
            b"SPAMD/1.1 0 EX_OK\r\n\r\nSpam: True ; 1000.0 / 5.0\r\n",
            b"SPAMD/1.1 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n",
            b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5.0\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
        ] {
            assert!(matches!(parse_answer(garbage), Err(ScanError::Protocol(_))), "{garbage:?}");
        }
    }

    #[test]
    fn the_mail_carries_sender_subject_and_text() {
        let mail = spam_mail("+15550100001", Some("Free\r\nBcc: x@example.com"), "Grüße, GTUBE");
        let parsed = mail_parser::MessageParser::default().parse(&mail).unwrap();
        assert_eq!(parsed.from().unwrap().first().unwrap().address(), Some("+15550100001"));
        assert_eq!(parsed.subject(), Some("Free  Bcc: x@example.com"), "no header of its own");
        assert!(parsed.bcc().is_none());
        assert_eq!(parsed.body_text(0).unwrap().trim_end(), "Grüße, GTUBE");
        assert!(parsed.date().is_some() && parsed.message_id().is_some(), "as any mail has");
        let bare = spam_mail("a@example.com", None, "");
        let bare = mail_parser::MessageParser::default().parse(&bare).unwrap();
        assert_eq!(bare.subject(), None);
    }

    fn config(address: &str, timeout_ms: u64) -> ScannerConfig {
        ScannerConfig { address: address.into(), timeout_ms, max_concurrent: 4, max_size: 1024 }
    }

    #[tokio::test]
    async fn faults_are_errors_within_the_timeout() {
        let silent = Fake::start(Behaviour::Silent).await;
        let start = Instant::now();
        assert_eq!(Spamd::new(&config(&silent.address, 300)).check(b"mail").await, Err(ScanError::Timeout));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "{took:?}");

        let closing = Fake::start(Behaviour::Close).await;
        let result = Spamd::new(&config(&closing.address, 2000)).check(b"mail").await;
        assert!(matches!(result, Err(ScanError::Unavailable(_) | ScanError::Protocol(_))), "{result:?}");

        let endless = Fake::start(Behaviour::Endless).await;
        let start = Instant::now();
        let result = Spamd::new(&config(&endless.address, 5000)).check(b"mail").await;
        assert!(matches!(&result, Err(ScanError::Protocol(m)) if m.contains("more than 4096")), "{result:?}");
        assert!(start.elapsed() < Duration::from_secs(2), "cut off at the cap, not at the timeout");

        let result = Spamd::new(&config(&no_listener(), 2000)).check(b"mail").await;
        assert!(matches!(result, Err(ScanError::Unavailable(_))), "{result:?}");

        let spamd = Spamd::new(&config(&silent.address, 2000));
        assert_eq!(spamd.check(&[b'a'; 2000]).await, Err(ScanError::TooLarge { size: 2000, max: 1024 }));
        assert_eq!(silent.connections(), 1, "only the first check connected");
    }
}
