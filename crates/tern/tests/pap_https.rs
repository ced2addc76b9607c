//! The PAP bearer over https: a Push Proxy Gateway of the test's own behind TLS (rustls, with a
//! certificate signed by a CA made for the test). The relay must speak TLS to reach it at all,
//! and must check its certificate: trusted through `push.pap.ca_file`, the push arrives; not
//! trusted, it never does.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::Relay;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tern_codec::mms::*;
use tern_codec::wsp::{ContentType, EncodedString, Part};

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";
const ACCEPTED: &str = "<?xml version=\"1.0\"?><pap><push-response push-id=\"x\">\
                        <response-result code=\"1001\" desc=\"Accepted for processing\"/></push-response></pap>";

/// A PPG that answers every PAP request over TLS with code 1001 and hands the request over.
struct Gateway {
    url: String,
    requests: Receiver<Vec<u8>>,
    /// The PEM of the CA that signed the gateway's certificate (for 127.0.0.1).
    ca_file: PathBuf,
}

impl Gateway {
    fn start(dir: &Path) -> Gateway {
        let cert = common::tls::server_cert(dir);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.cert_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der)),
            )
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://127.0.0.1:{}/wappush", listener.local_addr().unwrap().port());
        let (tx, requests) = mpsc::channel();
        std::thread::spawn(move || serve(&listener, &Arc::new(config), &tx));
        Gateway { url, requests, ca_file: cert.ca_file }
    }
}

fn serve(listener: &TcpListener, config: &Arc<rustls::ServerConfig>, requests: &mpsc::Sender<Vec<u8>>) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).unwrap(), tcp);
        // A client that refuses the certificate ends the handshake: there is no request.
        let Some(request) = read_request(&mut tls) else { continue };
        let answer = format!(
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{ACCEPTED}",
            ACCEPTED.len()
        );
        let _ = tls.write_all(answer.as_bytes());
        tls.conn.send_close_notify();
        let _ = tls.flush();
        if requests.send(request).is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request with a Content-Length, head and body.
fn read_request(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                return Some(raw);
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

fn send_req() -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some("pap-tls-1".into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(RECIPIENT)],
        subject: Some(EncodedString::auto("over https")),
        ..SendReq::default()
    };
    let text = Part::new(ContentType::new("text/plain"), &b"via PAP over TLS"[..]);
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), vec![text]))
        .encode()
}

fn relay(name: &str, gateway: &Gateway, ca_file: Option<&Path>) -> Relay {
    let mut config = format!(
        "[push]\nbearer = \"pap\"\n[push.pap]\nurl = \"{}\"\nppg_domain = \"ppg.test\"\ntimeout_secs = 5\n",
        gateway.url
    );
    if let Some(file) = ca_file {
        config.push_str(&format!("ca_file = \"{}\"\n", file.display()));
    }
    let relay = Relay::start_with_config(name, &config, &[]);
    let answer = relay.post(&send_req(), Some(SENDER));
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK));
    relay
}

/// The last error of the relay's one push once it has been tried: empty if the gateway took it.
fn push_error(relay: &Relay) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = relay.query("SELECT attempts, ifnull(last_error, '') FROM pushes");
        if rows.first().is_some_and(|row| row[0] != "0") {
            return rows[0][1].clone();
        }
        assert!(Instant::now() < deadline, "the push was not tried within 30 s: {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_pap_push_over_https_reaches_a_gateway_signed_by_the_configured_ca() {
    let dir = common::scratch("pap-https-gateway");
    let gateway = Gateway::start(&dir);
    let relay = relay("pap-https", &gateway, Some(&gateway.ca_file));

    let request = gateway.requests.recv_timeout(Duration::from_secs(30)).expect("the PAP request, over TLS");
    assert!(request.starts_with(b"POST /wappush HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&request));
    let text = String::from_utf8_lossy(&request);
    assert!(text.contains("address-value=\"WAPPUSH=+15550100002/TYPE=PLMN@ppg.test\""), "{text}");
    let part_head = b"X-Wap-Application-Id: x-wap-application:mms.ua\r\n\r\n";
    let pdu_at = request.windows(part_head.len()).position(|w| w == part_head).expect("the MMS part") + part_head.len();
    let pdu_end = pdu_at + request[pdu_at..].windows(4).rposition(|w| w == b"\r\n--").unwrap();
    let Pdu::NotificationInd(n) = Message::decode(&request[pdu_at..pdu_end]).unwrap().pdu else {
        panic!("an m-notification-ind")
    };
    assert_eq!(n.subject.map(|s| s.text).as_deref(), Some("over https"));
    assert_eq!(push_error(&relay), "", "the gateway's 1001 is taken as success");
}

#[test]
fn a_gateway_whose_certificate_is_not_trusted_gets_nothing_and_the_push_waits() {
    let dir = common::scratch("pap-https-untrusted-gateway");
    let gateway = Gateway::start(&dir);
    let relay = relay("pap-https-untrusted", &gateway, None);

    // No connection was made, so the gateway never saw the push: it waits for the gateway (a
    // CA that vouches for it, at the next start), without using up an attempt, saying why.
    relay.query_until(
        "SELECT state, attempts, instr(last_error, 'certificate') > 0 FROM pushes",
        &[&["waiting", "0", "1"]],
    );
    assert!(gateway.requests.try_recv().is_err(), "no request reached the untrusted gateway");
}
