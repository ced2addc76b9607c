//! ENUM number portability against a real DNS server: dnsmasq serves NAPTR records for a number
//! of this relay's range ported out to another operator and for a number of another range ported
//! in, and the `Router` sends each where ENUM says; answers stay cached when the server is gone;
//! and a server that never answers, or is not there, costs at most the timeout before the
//! prefix rules route the number.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tern::core::address::normalize;
use tern::core::envelope::Destination;
use tern::core::routing::{RoutingConfig, plmn_domain};
use tern::core::settings::SubscribersConfig;
use tern::routing::Router;

const DNSMASQ: &str = "/usr/sbin/dnsmasq";
/// In this relay's range (+1555), served by the rival operator now.
const PORTED_OUT: &str = "+15550100001";
/// Outside it, served by this relay now.
const PORTED_IN: &str = "+12125550100";
/// In this relay's range, with no ENUM record.
const NOT_PORTED: &str = "+15550100002";
/// Has a record, but only for SIP.
const SIP_ONLY: &str = "+15550100003";

fn own_domain() -> String {
    plmn_domain("001", "1")
}

fn rival_domain() -> String {
    plmn_domain("001", "2")
}

/// Every series goes to one recorder for this test binary, rendered to check the counts.
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

fn counted(outcome: &str) -> u64 {
    let text = metrics().render();
    let series = format!("tern_enum_lookups_total{{outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(series.as_str())).map_or(0, |v| v.trim().parse().unwrap())
}

/// The ENUM owner name of a number, written out here rather than taken from the code under test.
fn owner(e164: &str) -> String {
    let mut labels: Vec<String> = e164.trim_start_matches('+').chars().rev().map(String::from).collect();
    labels.push("e164.arpa".into());
    labels.join(".")
}

/// A loopback port free for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Dnsmasq(Child);

impl Dnsmasq {
    fn start(port: u16) -> Dnsmasq {
        let naptr = |number: &str, order: u16, pref: u16, service: &str, domain: &str| {
            format!("--naptr-record={},{order},{pref},u,{service},!^(.*)$!mailto:\\1@{domain}!", owner(number))
        };
        let child = Command::new(DNSMASQ)
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--pid-file",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                // Names under the zone that have no record are answered NXDOMAIN, not refused.
                "--local=/e164.arpa/",
            ])
            .arg(naptr(PORTED_OUT, 10, 10, "E2U+mms:mailto", &rival_domain()))
            .arg(naptr(PORTED_OUT, 20, 10, "E2U+mms:mailto", "mms.later.example"))
            .arg(naptr(PORTED_OUT, 10, 5, "E2U+sip", "sip.example"))
            .arg(naptr(PORTED_IN, 10, 10, "E2U+mms", &own_domain()))
            .arg(naptr(SIP_ONLY, 10, 10, "E2U+sip", "sip.example"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "dnsmasq did not come up on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Dnsmasq(child)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq_present() -> bool {
    let present = std::path::Path::new(DNSMASQ).exists();
    if !present {
        println!("PEER MISSING: dnsmasq (apt-get install dnsmasq-base)");
    }
    present
}

fn router(servers: Vec<SocketAddr>, timeout_ms: u64) -> Router {
    let mut cfg: RoutingConfig = toml::from_str(
        r#"
        rules = [{ prefix = "+1", action = "mm4", peer = "rival" }]
        [enum]
        enabled = true
        "#,
    )
    .unwrap();
    cfg.enum_lookup.servers = servers;
    cfg.enum_lookup.timeout_ms = timeout_ms;
    let peers = vec![("rival".to_owned(), rival_domain()), ("far".to_owned(), "mms.far.example".to_owned())];
    Router::new(cfg, SubscribersConfig::default(), own_domain(), peers).unwrap()
}

async fn destination(router: &Router, number: &str) -> Destination {
    router.destination(&normalize(number, &SubscribersConfig::default()).unwrap()).await
}

fn rival() -> Destination {
    Destination::Mm4 { peer: "rival".into() }
}

#[tokio::test]
async fn ported_numbers_go_where_enum_says_and_stay_cached() {
    if !dnsmasq_present() {
        return;
    }
    metrics();
    let port = free_port();
    let mut dns = Some(Dnsmasq::start(port));
    let router = router(vec![SocketAddr::from(([127, 0, 0, 1], port))], 2000);
    let (hits, misses, cached) = (counted("hit"), counted("miss"), counted("cached"));

    // The lowest order of the mms service wins; the SIP record beside it is not for MMS.
    assert_eq!(destination(&router, PORTED_OUT).await, rival(), "ported out of this relay's range");
    assert_eq!(destination(&router, PORTED_IN).await, Destination::Local, "ported in from another range");
    assert_eq!(destination(&router, NOT_PORTED).await, Destination::Local, "no record: the local range");
    assert_eq!(destination(&router, SIP_ONLY).await, Destination::Local, "no MMS record: the local range");
    // Not a number: never looked up.
    assert_eq!(destination(&router, "a@example.org").await, Destination::Mm3);
    assert_eq!((counted("hit") - hits, counted("miss") - misses, counted("cached") - cached), (2, 2, 0));

    // With the server gone, the answers and the absences of one come from the cache.
    drop(dns.take());
    assert_eq!(destination(&router, PORTED_OUT).await, rival());
    assert_eq!(destination(&router, PORTED_IN).await, Destination::Local);
    assert_eq!(destination(&router, NOT_PORTED).await, Destination::Local);
    assert_eq!((counted("hit") - hits, counted("miss") - misses, counted("cached") - cached), (2, 2, 3));
}

#[tokio::test]
async fn a_server_that_does_not_answer_costs_the_timeout_and_the_prefix_rules_apply() {
    if !dnsmasq_present() {
        return;
    }
    metrics();
    let timeout = Duration::from_millis(300);
    // Takes the queries and never answers them.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let router_silent = router(vec![silent.local_addr().unwrap()], timeout.as_millis() as u64);
    // Nothing there at all.
    let closed = router(vec![SocketAddr::from(([127, 0, 0, 1], free_port()))], timeout.as_millis() as u64);
    let timeouts = counted("timeout");

    for (what, router, number, want) in [
        ("silent server, out of range", &router_silent, PORTED_IN, rival()),
        ("silent server, in range", &router_silent, PORTED_OUT, Destination::Local),
        ("no server, out of range", &closed, PORTED_IN, rival()),
        ("no server, in range", &closed, PORTED_OUT, Destination::Local),
    ] {
        let started = Instant::now();
        assert_eq!(destination(router, number).await, want, "{what}");
        let took = started.elapsed();
        assert!(took < timeout + Duration::from_millis(700), "{what}: took {took:?}");
    }
    assert!(counted("timeout") - timeouts >= 2, "the silent server's lookups timed out");

    // A failed lookup is not cached: the next one asks again, and is as quick.
    let before = counted("timeout");
    assert_eq!(destination(&router_silent, PORTED_IN).await, rival());
    assert_eq!(counted("timeout") - before, 1);
}
