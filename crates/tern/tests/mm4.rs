//! MM4 end to end: two `tern serve` relays on 127.0.0.1 as two operators, A
//! (mms.mnc001.mcc001.gprs, numbers +1555...) and B (mms.mnc002.mcc001.gprs, +1556...), each
//! routing the other's range to the other as an MM4 peer, with their mail crossing a private
//! Postfix. A handset's message reaches the other operator's handset byte for byte and its
//! delivery and read reports come back; every MM4 mail on the wire, copied by Postfix to an
//! aiosmtpd mailbox, reads right to Python's `email` package; a group message reaches a local
//! number, a number at the peer and an e-mail address; a number ENUM ports in is delivered
//! locally; and the faults: a peer that is down (A holding the message, or the MTA), one that
//! defers (451) or refuses (554), a mail cut mid-DATA or sent twice, a peer outside the
//! admission list, and one let in from outside it by AUTH over STARTTLS.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::mail::{Aiosmtpd, Mail, smtplib};
use common::postfix::Postfix;
use common::{Relay, png};
use tern_codec::mms::*;
use tern_codec::wsp::{Charset, ContentType, EncodedString, Part};

const DOMAIN_A: &str = "mms.mnc001.mcc001.gprs";
const DOMAIN_B: &str = "mms.mnc002.mcc001.gprs";
/// A's sender.
const ALICE: &str = "+15550100001";
/// Another subscriber of A.
const AMY: &str = "+15550100002";
/// A subscriber of B.
const BOB: &str = "+15560100001";
/// In B's range, ported to A.
const PORTED: &str = "+15560100009";
/// Where a copy of every mail through Postfix goes.
const TAP_DOMAIN: &str = "tap.tern.test";
const TEXT: &[u8] = b"hello from A";

/// One operator: its MMS domain, its number range, and the peer it routes the other range to.
struct Operator {
    name: &'static str,
    domain: &'static str,
    range: &'static str,
    peer: &'static str,
    peer_domain: &'static str,
    peer_range: &'static str,
}

const A: Operator =
    Operator { name: "a", domain: DOMAIN_A, range: "+1555", peer: "b", peer_domain: DOMAIN_B, peer_range: "+1556" };
const B: Operator =
    Operator { name: "b", domain: DOMAIN_B, range: "+1556", peer: "a", peer_domain: DOMAIN_A, peer_range: "+1555" };

impl Operator {
    /// Its configuration: MM4 on, SMTP in on `smtp`, mail for the peer to 127.0.0.1:`target`,
    /// the peer's mail admitted from `admit`, and retries a second or two apart; `extra` adds
    /// tables.
    fn config(&self, smtp: u16, target: u16, admit: &str, extra: &str) -> String {
        let Operator { name, domain, range, peer, peer_domain, peer_range } = self;
        format!(
            r#"
[push]
bearer = "udp"

[subscribers]
local = ["{range}"]

[mm4]
enabled = true
domain = "{domain}"

[[mm4.peers]]
name = "{peer}"
domain = "{peer_domain}"
send = {{ via = "relay", host = "127.0.0.1", port = {target} }}
admit = ["{admit}"]

[smtp]
listen = "127.0.0.1:{smtp}"
hostname = "mm4.{name}.tern.test"
command_timeout_secs = 10
data_timeout_secs = 10

[smtp_out]
hello_name = "mm4.{name}.tern.test"
tls = "none"
timeout_secs = 5

[routing]
rules = [{{ prefix = "{peer_range}", action = "mm4", peer = "{peer}" }}]

[outbound]
initial_backoff_secs = 1
max_backoff_secs = 2
{extra}
"#
        )
    }

    fn start(&self, test: &str, smtp: u16, target: u16, admit: &str, extra: &str) -> Relay {
        Relay::start_with_config(&format!("{test}-{}", self.name), &self.config(smtp, target, admit, extra), &[])
    }
}

/// Both operators with a Postfix between them (and a copy of every mail to `tap`, if given);
/// `None` when Postfix cannot run here.
fn operators(test: &str, tap: Option<&Aiosmtpd>, extra_a: &str) -> Option<(Postfix, Relay, Relay)> {
    let (smtp_a, smtp_b) = (common::free_port(), common::free_port());
    let mut routes = vec![(DOMAIN_A, smtp_a), (DOMAIN_B, smtp_b)];
    let bcc = format!("tap@{TAP_DOMAIN}");
    let mut extra = Vec::new();
    if let Some(tap) = tap {
        routes.push((TAP_DOMAIN, tap.port));
        extra.push(("always_bcc", bcc.as_str()));
    }
    let postfix = Postfix::start(&format!("{test}-postfix"), &routes, &extra)?;
    let a = A.start(test, smtp_a, postfix.port, "127.0.0.0/8", extra_a);
    let b = B.start(test, smtp_b, postfix.port, "127.0.0.0/8", "");
    Some((postfix, a, b))
}

fn part(content_type: ContentType, location: &str, data: Vec<u8>) -> Part<'static> {
    let mut part = Part::new(content_type, data);
    part.headers.content_location = Some(location.into());
    part
}

/// A handset's m-send.req to `to` (numbers or e-mail addresses) with a text and a picture,
/// asking for delivery and read reports when `reports`.
fn send_req(to: &[&str], tid: &str, reports: bool) -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some(tid.into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: to.iter().map(|t| if t.contains('@') { Address::new(*t) } else { Address::phone(t) }).collect(),
        subject: Some(EncodedString::auto("across")),
        delivery_report: Some(reports),
        read_report: Some(reports),
        ..SendReq::default()
    };
    let parts = vec![
        part(ContentType::new("text/plain").with_charset(Charset::UTF_8), "text.txt", TEXT.to_vec()),
        part(ContentType::new("image/png"), "pixel.png", png()),
    ];
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), parts)).encode()
}

/// POSTs the m-send.req as `from`'s handset; the Message-ID of the m-send.conf (Ok).
fn submit(relay: &Relay, from: &str, pdu: &[u8]) -> String {
    let answer = relay.post(pdu, Some(from));
    assert_eq!(answer.status, 200);
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{:?}", conf.response_text);
    conf.message_id.unwrap()
}

fn notification(relay: &Relay) -> NotificationInd {
    match relay.next_push().1.pdu {
        Pdu::NotificationInd(n) => n,
        other => panic!("expected an m-notification.ind, got {other:?}"),
    }
}

/// Fetches a notified message as `msisdn`; the m-retrieve.conf and its parts as (content type,
/// data).
fn retrieve(relay: &Relay, n: &NotificationInd, msisdn: &str) -> (RetrieveConf, Vec<(String, Vec<u8>)>) {
    let answer = relay.get(n.content_location.as_deref().unwrap(), Some(msisdn));
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let message = Message::decode(&answer.body).unwrap().into_owned();
    let Pdu::RetrieveConf(conf) = message.pdu else { panic!("an m-retrieve.conf") };
    let parts = message.body.map_or_else(Vec::new, |b| {
        b.parts().iter().map(|p| (p.content_type.media_type.clone(), p.data.to_vec())).collect()
    });
    (conf, parts)
}

/// The text and the picture arrived as they were sent.
fn assert_content(parts: &[(String, Vec<u8>)]) {
    let find = |t: &str| parts.iter().find(|(ct, _)| ct == t).map(|(_, d)| d.as_slice());
    assert_eq!(find("image/png"), Some(png().as_slice()), "the picture, byte for byte");
    assert_eq!(find("text/plain"), Some(TEXT), "the text, byte for byte");
}

/// Nothing pushed for `quiet`.
fn assert_no_push(relay: &Relay, quiet: Duration) {
    relay.udp.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0; 65536];
    let got = relay.udp.recv(&mut buf);
    relay.udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(got.is_err(), "an unexpected push: {:02x?}", &buf[..got.unwrap()]);
}

/// Polls `sql` until its rows, as `a|b` lines, are `want`; panics with the last rows.
fn eventually(relay: &Relay, sql: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Vec<String> = relay.query(sql).iter().map(|r| r.join("|")).collect();
        if rows.join("\n") == want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: want {want:?}, have {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn recipient_state(message_id: &str) -> String {
    format!("SELECT r.state FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{message_id}'")
}

/// An m-read-rec.ind (Read) for the retrieved message `conf`, to its sender.
fn read_rec(conf: &RetrieveConf) -> Vec<u8> {
    let Some(Sender::Address(sender)) = conf.from.clone() else { panic!("the retrieve-conf names its sender") };
    Message::new(ReadRecInd {
        mms_version: Some(Version::V1_2),
        message_id: conf.message_id.clone(),
        to: vec![sender],
        from: Some(Sender::InsertAddress),
        read_status: Some(ReadStatus::READ),
        ..ReadRecInd::default()
    })
    .encode()
}

#[test]
fn postfix_relays_mail_to_the_configured_port() {
    let Some(mailbox) = Aiosmtpd::mailbox("mm4-postfix-mailbox") else { return };
    let Some(postfix) = Postfix::start("mm4-postfix", &[("mms.tern.test", mailbox.port)], &[]) else { return };
    // The address form MM4 uses, '/' and '=' in the local part.
    let to = "+15560100001/TYPE=PLMN@mms.tern.test";
    let message = format!("From: <a@op-a.test>\r\nTo: <{to}>\r\nSubject: through postfix\r\n\r\nhello\r\n");
    let sent = smtplib(&postfix.dir, postfix.port, "a@op-a.test", &[to], message.as_bytes());
    assert_eq!(sent["refused"], serde_json::json!({}), "{sent}");
    let mail = mailbox.next(Duration::from_secs(20)).unwrap_or_else(|| panic!("no mail; postfix:\n{}", postfix.log()));
    assert_eq!(mail.to, [to]);
    assert_eq!(mail.from, "a@op-a.test");
    assert_eq!(mail.header("Subject"), Some("through postfix"));
    assert_eq!(mail.part("text/plain"), Some(&b"hello\r\n"[..]));
    let relayed = format!("relay=127.0.0.1[127.0.0.1]:{}", mailbox.port);
    assert!(postfix.wait_for_log(&[&relayed, "status=sent"], Duration::from_secs(10)), "{}", postfix.log());
}

#[test]
fn a_message_to_the_other_operator_is_delivered_and_reported_back() {
    let Some((_postfix, a, b)) = operators("mm4-across", None, "") else { return };
    let message_id = submit(&a, ALICE, &send_req(&[BOB], "across-1", true));
    let state = recipient_state(&message_id);
    let first = a.query(&state);
    assert!(first == [["accepted"]] || first == [["forwarded"]], "A's recipient at first: {first:?}");

    let n = notification(&b);
    eventually(&a, &state, "forwarded");
    let (conf, parts) = retrieve(&b, &n, BOB);
    assert_content(&parts);
    assert_eq!(conf.message_id.as_deref(), Some(message_id.as_str()), "the Message-ID crosses unchanged");
    assert_eq!(conf.from.as_ref().map(Sender::to_string), Some(format!("{ALICE}/TYPE=PLMN")));
    b.query_until("SELECT route, state FROM recipients", &[&["local", "retrieved"]]);

    let Pdu::DeliveryInd(report) = a.next_push().1.pdu else { panic!("an m-delivery.ind for A's sender") };
    assert_eq!(report.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(report.status, Some(Status::RETRIEVED));
    assert_eq!(report.to[0].text(), format!("{BOB}/TYPE=PLMN"));
    eventually(&a, &state, "retrieved");

    assert_eq!(b.post(&read_rec(&conf), Some(BOB)).status, 204);
    let Pdu::ReadOrigInd(read) = a.next_push().1.pdu else { panic!("an m-read-orig.ind for A's sender") };
    assert_eq!(read.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(read.read_status, Some(ReadStatus::READ));
    assert_eq!(read.from.unwrap().to_string(), format!("{BOB}/TYPE=PLMN"));
    assert_eq!(
        a.query(&format!(
            "SELECT route FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{message_id}'"
        )),
        [["mm4:b"]]
    );
}

/// An MM4 ID header's value without the quotes or angle brackets relays put around it.
fn bare(id: &str) -> &str {
    id.trim().trim_matches(|c| c == '"' || c == '<' || c == '>')
}

#[test]
fn every_mm4_mail_on_the_wire_reads_right() {
    let Some(tap) = Aiosmtpd::mailbox("mm4-wire-tap") else { return };
    let Some((postfix, a, b)) = operators("mm4-wire", Some(&tap), "") else { return };
    let message_id = submit(&a, ALICE, &send_req(&[BOB], "wire-1", true));
    let n = notification(&b);
    let (conf, _) = retrieve(&b, &n, BOB);
    let Pdu::DeliveryInd(_) = a.next_push().1.pdu else { panic!("an m-delivery.ind") };
    assert_eq!(b.post(&read_rec(&conf), Some(BOB)).status, 204);
    let Pdu::ReadOrigInd(_) = a.next_push().1.pdu else { panic!("an m-read-orig.ind") };

    let mut mails: Vec<Mail> = Vec::new();
    let wanted = ["MM4_forward.REQ", "MM4_forward.RES", "MM4_delivery_report.REQ", "MM4_read_reply_report.REQ"];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !wanted.iter().all(|w| mails.iter().any(|m| m.mm4_type() == Some(w))) {
        assert!(Instant::now() < deadline, "the tap got {:?}; postfix:\n{}", mails, postfix.log());
        mails.extend(tap.next(Duration::from_secs(1)));
    }
    mails.extend(tap.drain(Duration::from_secs(2)));
    for mail in &mails {
        assert!(mail.defects.is_empty(), "the email package found defects {:?} in {mail:?}", mail.defects);
        assert_eq!(mail.to, [format!("tap@{TAP_DOMAIN}")]);
    }
    let only = |kind: &str| {
        let found: Vec<&Mail> = mails.iter().filter(|m| m.mm4_type() == Some(kind)).collect();
        assert_eq!(found.len(), 1, "one {kind} on the wire: {mails:?}");
        found[0]
    };
    let a_address = format!("{ALICE}/TYPE=PLMN@{DOMAIN_A}");
    let b_address = format!("{BOB}/TYPE=PLMN@{DOMAIN_B}");

    let fwd = only("MM4_forward.REQ");
    let version = fwd.header("X-Mms-3GPP-MMS-Version").unwrap();
    assert!(version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok()), "{version}");
    let transaction_id = fwd.header("X-Mms-Transaction-ID").unwrap();
    assert!(!transaction_id.is_empty());
    assert_eq!(fwd.header("X-Mms-Message-ID").map(bare), Some(message_id.as_str()));
    assert_eq!(fwd.header("X-Mms-Originator-System"), Some(format!("system-user@{DOMAIN_A}").as_str()));
    assert_eq!(fwd.header("X-Mms-Ack-Request"), Some("Yes"));
    assert_eq!(fwd.header("From"), Some(a_address.as_str()));
    assert_eq!(fwd.header("To"), Some(b_address.as_str()));
    assert_eq!(fwd.header("Subject"), Some("across"));
    assert_eq!(fwd.part("image/png"), Some(png().as_slice()), "the picture in the forward");
    assert_eq!(fwd.part("text/plain"), Some(TEXT));

    let res = only("MM4_forward.RES");
    assert_eq!(res.header("X-Mms-Transaction-ID"), Some(transaction_id), "the answer echoes the request's ID");
    assert_eq!(res.header("X-Mms-Request-Status-Code"), Some("Ok"));
    assert_eq!(res.header("X-Mms-Message-ID").map(bare), Some(message_id.as_str()));
    assert!(res.header("X-Mms-3GPP-MMS-Version").is_some());

    let delivery = only("MM4_delivery_report.REQ");
    assert_eq!(delivery.header("X-Mms-MM-Status-Code"), Some("Retrieved"));
    assert_eq!(delivery.header("X-Mms-Message-ID").map(bare), Some(message_id.as_str()));
    assert_eq!(delivery.header("From"), Some(b_address.as_str()));
    assert_eq!(delivery.header("To"), Some(a_address.as_str()));
    assert!(delivery.header("X-Mms-Transaction-ID").is_some_and(|t| !t.is_empty()));

    let read = only("MM4_read_reply_report.REQ");
    assert_eq!(read.header("X-Mms-Read-Status"), Some("Read"));
    assert_eq!(read.header("X-Mms-Message-ID").map(bare), Some(message_id.as_str()));
    assert_eq!(read.header("From"), Some(b_address.as_str()));
    assert_eq!(read.header("To"), Some(a_address.as_str()));
}

#[test]
fn a_group_message_reaches_a_local_number_the_peer_and_an_email_address() {
    let Some(mailbox) = Aiosmtpd::mailbox("mm4-group-mailbox") else { return };
    let mm3 =
        format!("[mm3]\nenabled = true\nsend = {{ via = \"relay\", host = \"127.0.0.1\", port = {} }}\n", mailbox.port);
    let Some((_postfix, a, b)) = operators("mm4-group", None, &mm3) else { return };
    let email = "carol@example.org";
    let message_id = submit(&a, ALICE, &send_req(&[AMY, BOB, email], "group-1", false));

    let (_, parts) = retrieve(&a, &notification(&a), AMY);
    assert_content(&parts);
    let (_, parts) = retrieve(&b, &notification(&b), BOB);
    assert_content(&parts);
    let mail = mailbox.next(Duration::from_secs(20)).expect("the e-mail recipient's mail");
    assert_eq!(mail.to, [email]);
    assert_eq!(mail.part("image/png"), Some(png().as_slice()));
    let routes = a.query(&format!(
        "SELECT r.route FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{message_id}' ORDER BY r.route"
    ));
    assert_eq!(routes, [["local"], ["mm3"], ["mm4:b"]]);
}

/// A loopback port free for both UDP and TCP at the time of asking.
fn dns_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// dnsmasq answering NAPTR records for `ported`, each to be served by its domain.
struct Dnsmasq(Child);

impl Dnsmasq {
    fn start(port: u16, ported: &[(&str, &str)]) -> Option<Dnsmasq> {
        const DNSMASQ: &str = "/usr/sbin/dnsmasq";
        if !std::path::Path::new(DNSMASQ).exists() {
            println!("PEER MISSING: dnsmasq (apt-get install dnsmasq-base)");
            return None;
        }
        let records = ported.iter().map(|(number, domain)| {
            // The ENUM owner name: the digits reversed, dot-separated, under e164.arpa.
            let owner: Vec<String> = number.trim_start_matches('+').chars().rev().map(String::from).collect();
            format!("--naptr-record={}.e164.arpa,10,10,u,E2U+mms:mailto,!^(.*)$!mailto:\\1@{domain}!", owner.join("."))
        });
        let child = Command::new(DNSMASQ)
            .args(["--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file"])
            .args([format!("--port={port}"), "--listen-address=127.0.0.1".into(), "--bind-interfaces".into()])
            .arg("--local=/e164.arpa/")
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "dnsmasq did not come up on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Dnsmasq(child))
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_number_enum_ports_in_is_delivered_locally() {
    let port = dns_port();
    let Some(_dns) = Dnsmasq::start(port, &[(PORTED, DOMAIN_A)]) else { return };
    let enum_table = format!("[routing.enum]\nenabled = true\nservers = [\"127.0.0.1:{port}\"]\ntimeout_ms = 2000\n");
    // No peer runs: a message for B would wait, one routed locally is notified at once.
    let a = A.start("mm4-enum", common::free_port(), common::free_port(), "127.0.0.0/8", &enum_table);
    let message_id = submit(&a, ALICE, &send_req(&[PORTED], "enum-1", false));
    let (_, parts) = retrieve(&a, &notification(&a), PORTED);
    assert_content(&parts);
    let rows = format!(
        "SELECT r.route, r.state FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{message_id}'"
    );
    a.query_until(&rows, &[&["local", "retrieved"]]);
    assert_eq!(a.query("SELECT count(*) FROM outbound"), [["0"]], "nothing for the peer");
}

/// The SQL for the outbound job's state and attempts.
const OUTBOUND: &str = "SELECT state, attempts FROM outbound WHERE kind = 'forward'";

/// Polls the forward job until `check` holds of its (state, attempts); panics with the last.
fn forward_job(relay: &Relay, what: &str, check: impl Fn(&str, u32) -> bool) -> (String, u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = relay.query(OUTBOUND);
        if let [row] = rows.as_slice() {
            let (state, attempts) = (row[0].clone(), row[1].parse().unwrap());
            if check(&state, attempts) {
                return (state, attempts);
            }
            assert!(Instant::now() < deadline, "{what}: the forward job is {state} after {attempts} attempts");
        } else {
            assert!(Instant::now() < deadline, "{what}: outbound forward jobs {rows:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_message_for_a_peer_that_is_down_waits_and_goes_when_it_is_back() {
    // Straight to each other, no MTA in between, so that A holds the message itself.
    let (smtp_a, smtp_b) = (common::free_port(), common::free_port());
    let mut a = A.start("mm4-down", smtp_a, smtp_b, "127.0.0.0/8", "");
    let message_id = submit(&a, ALICE, &send_req(&[BOB], "down-1", false));
    forward_job(&a, "B down", |state, attempts| state == "pending" && attempts >= 2);
    assert_eq!(a.query(&recipient_state(&message_id)), [["accepted"]]);

    a.restart();
    let (state, _) = forward_job(&a, "after A's restart", |_, _| true);
    assert!(state == "pending" || state == "leased", "the job survives a restart: {state}");

    let b = B.start("mm4-down", smtp_b, smtp_a, "127.0.0.0/8", "");
    let (_, parts) = retrieve(&b, &notification(&b), BOB);
    assert_content(&parts);
    forward_job(&a, "B back", |state, _| state == "sent");
    eventually(&a, &recipient_state(&message_id), "forwarded");
    assert_no_push(&b, Duration::from_secs(2));
}

#[test]
fn mail_the_mta_defers_while_the_peer_is_down_goes_when_it_is_back() {
    let (smtp_a, smtp_b) = (common::free_port(), common::free_port());
    let test = "mm4-mta-defers";
    let Some(postfix) = Postfix::start(&format!("{test}-postfix"), &[(DOMAIN_A, smtp_a), (DOMAIN_B, smtp_b)], &[])
    else {
        return;
    };
    let a = A.start(test, smtp_a, postfix.port, "127.0.0.0/8", "");
    let message_id = submit(&a, ALICE, &send_req(&[BOB], "mta-1", false));
    // The MTA took it, so A's job is done; the MTA holds the mail while B is down.
    forward_job(&a, "handed to the MTA", |state, _| state == "sent");
    let to_b = format!("to=<{BOB}/TYPE=PLMN@{DOMAIN_B}>");
    assert!(postfix.wait_for_log(&[&to_b, "status=deferred"], Duration::from_secs(20)), "{}", postfix.log());

    let b = B.start(test, smtp_b, postfix.port, "127.0.0.0/8", "");
    postfix.flush();
    let (_, parts) = retrieve(&b, &notification(&b), BOB);
    assert_content(&parts);
    eventually(&a, &recipient_state(&message_id), "forwarded");
    // B's answer comes back to A the same way.
    let to_a = format!("to=<system-user@{DOMAIN_A}>, relay=127.0.0.1[127.0.0.1]:{smtp_a}");
    assert!(postfix.wait_for_log(&[&to_a, "status=sent"], Duration::from_secs(20)), "{}", postfix.log());
}

#[test]
fn a_peer_answering_451_is_retried() {
    let Some(peer) = Aiosmtpd::answering("mm4-451-peer", "451 4.3.0 Try again later") else { return };
    let a = A.start("mm4-451", common::free_port(), peer.port, "127.0.0.0/8", "");
    let message_id = submit(&a, ALICE, &send_req(&[BOB], "defer-1", true));
    forward_job(&a, "deferred by the peer", |state, attempts| state == "pending" && attempts >= 3);
    let tries = peer.drain(Duration::from_millis(500));
    assert!(tries.len() >= 3, "the peer saw {} tries", tries.len());
    assert!(tries.iter().all(|m| m.mm4_type() == Some("MM4_forward.REQ")));
    // Every attempt is the same request, so that a peer that took one whose answer was lost
    // can tell the next for a repeat.
    let ids: Vec<Option<&str>> = tries.iter().map(|m| m.header("X-Mms-Transaction-ID")).collect();
    assert!(ids[0].is_some() && ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(a.query(&recipient_state(&message_id)), [["accepted"]], "still waiting, not failed");
    assert_no_push(&a, Duration::from_secs(1));
}

#[test]
fn a_peer_answering_554_fails_the_recipient_and_the_sender_hears_so() {
    let Some(peer) = Aiosmtpd::answering("mm4-554-peer", "554 5.7.1 Refused") else { return };
    let a = A.start("mm4-554", common::free_port(), peer.port, "127.0.0.0/8", "");
    let message_id = submit(&a, ALICE, &send_req(&[BOB], "refuse-1", true));
    eventually(&a, &recipient_state(&message_id), "failed");
    assert_eq!(a.query(OUTBOUND)[0][0], "failed");
    let Pdu::DeliveryInd(report) = a.next_push().1.pdu else { panic!("an m-delivery.ind for A's sender") };
    assert_eq!(report.message_id.as_deref(), Some(message_id.as_str()));
    assert!(matches!(report.status, Some(Status::UNREACHABLE) | Some(Status::REJECTED)), "status {:?}", report.status);
    assert_eq!(peer.drain(Duration::from_millis(500)).len(), 1, "a refusal is not retried");
}

/// A raw SMTP client, for what no polite client does.
struct Smtp {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Smtp {
    fn connect(port: u16) -> (Smtp, String) {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut smtp = Smtp { reader: BufReader::new(stream.try_clone().unwrap()), stream };
        let greeting = smtp.reply();
        (smtp, greeting)
    }

    /// The last line of the next reply ("250 ..."), or "" if the server closed.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                return String::new();
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_owned();
            }
        }
    }

    fn command(&mut self, line: &str) -> String {
        self.stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    /// Starts a transaction from A to B's subscriber; the DATA reply.
    fn start_forward(&mut self) -> String {
        assert!(self.command("EHLO mm4.a.tern.test").starts_with("250"));
        assert!(self.command(&format!("MAIL FROM:<system-user@{DOMAIN_A}>")).starts_with("250"));
        assert!(self.command(&format!("RCPT TO:<{BOB}/TYPE=PLMN@{DOMAIN_B}>")).starts_with("250"));
        self.command("DATA")
    }
}

/// An MM4_forward.REQ as another operator's relay writes it, asking for no answer.
fn forward_mail(message_id: &str) -> String {
    format!(
        "From: {ALICE}/TYPE=PLMN@{DOMAIN_A}\r\n\
         To: {BOB}/TYPE=PLMN@{DOMAIN_B}\r\n\
         Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
         Subject: twice\r\n\
         Message-ID: <{message_id}>\r\n\
         X-Mms-3GPP-MMS-Version: 6.10.0\r\n\
         X-Mms-Message-Type: MM4_forward.REQ\r\n\
         X-Mms-Transaction-ID: t-{message_id}\r\n\
         X-Mms-Message-ID: \"{message_id}\"\r\n\
         X-Mms-Ack-Request: No\r\n\
         X-Mms-Originator-System: system-user@{DOMAIN_A}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         sent twice, stored once\r\n"
    )
}

#[test]
fn a_forward_cut_mid_data_is_dropped_and_one_sent_twice_is_stored_once() {
    let smtp_b = common::free_port();
    let b = B.start("mm4-cut", smtp_b, common::free_port(), "127.0.0.0/8", "");
    let mail = forward_mail("dup-1@mms.mnc001.mcc001.gprs");

    let (mut cut, greeting) = Smtp::connect(smtp_b);
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(cut.start_forward().starts_with("354"));
    cut.stream.write_all(&mail.as_bytes()[..mail.len() / 2]).unwrap();
    drop(cut);
    assert_no_push(&b, Duration::from_secs(2));
    assert_eq!(b.query("SELECT count(*) FROM messages"), [["0"]], "nothing of a cut mail is stored");

    for round in 0..2 {
        let (mut smtp, _) = Smtp::connect(smtp_b);
        assert!(smtp.start_forward().starts_with("354"));
        let end = smtp.command(&format!("{mail}."));
        assert!(end.starts_with("250"), "round {round}: {end}");
        let _ = smtp.command("QUIT");
    }
    let n = notification(&b);
    let (_, parts) = retrieve(&b, &n, BOB);
    // The relay may add a presentation; the text is there as it was sent.
    let text = parts.iter().find(|(t, _)| t == "text/plain").map(|(_, d)| d.as_slice());
    assert_eq!(text, Some(&b"sent twice, stored once\r\n"[..]), "{parts:?}");
    assert_no_push(&b, Duration::from_secs(3));
    assert_eq!(b.query("SELECT count(*) FROM messages"), [["1"]], "the repeat is not stored again");
    assert_eq!(b.query("SELECT count(*) FROM recipients"), [["1"]]);
}

#[test]
fn a_peer_outside_the_admission_list_is_refused() {
    let smtp_b = common::free_port();
    let b = B.start("mm4-admit", smtp_b, common::free_port(), "10.0.0.0/8", "");
    let (mut smtp, greeting) = Smtp::connect(smtp_b);
    if !greeting.starts_with('5') {
        assert!(greeting.starts_with("220"), "{greeting}");
        assert!(smtp.command("EHLO mm4.a.tern.test").starts_with("250"));
        let mail = smtp.command(&format!("MAIL FROM:<system-user@{DOMAIN_A}>"));
        let rcpt = smtp.command(&format!("RCPT TO:<{BOB}/TYPE=PLMN@{DOMAIN_B}>"));
        assert!(mail.starts_with('5') || rcpt.starts_with('5'), "MAIL: {mail}; RCPT: {rcpt}");
        let data = smtp.command("DATA");
        assert!(!data.starts_with("354"), "DATA after a refusal: {data}");
    }
    assert_eq!(b.query("SELECT count(*) FROM messages"), [["0"]]);
    assert_no_push(&b, Duration::from_secs(1));
}

/// Sends `mail` to 127.0.0.1:`port` as a peer would over STARTTLS (trusting `ca`) with AUTH
/// PLAIN as `user`; prints what each step answered, as JSON.
const STARTTLS_AUTH: &str = r#"
import json, smtplib, ssl, sys
port, ca, user, password, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
out = {}
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.ehlo("mm4.a.tern.test")
out["offers_starttls"] = s.has_extn("starttls")
out["auth_before_tls"] = s.has_extn("auth")
s.starttls(context=ssl.create_default_context(cafile=ca))
s.ehlo("mm4.a.tern.test")
out["auth_after_tls"] = s.esmtp_features.get("auth", "")
try:
    s.login(user, password)
    out["login"] = 235
    out["refused"] = {k: v[0] for k, v in s.sendmail(f"system-user@mms.mnc001.mcc001.gprs", ["+15560100001/TYPE=PLMN@mms.mnc002.mcc001.gprs"], open(path, "rb").read()).items()}
    out["sent"] = True
except smtplib.SMTPAuthenticationError as e:
    out["login"] = e.smtp_code
except smtplib.SMTPException as e:
    out["error"] = repr(e)
s.quit()
print(json.dumps(out))
"#;

#[test]
fn a_peer_that_authenticates_over_starttls_is_admitted_from_outside_its_ranges() {
    use sha2::{Digest, Sha256};
    let certs = common::scratch("mm4-auth-tls-certs");
    let tls = common::tls::server_cert(&certs);
    let password = "peer-a-0f3c9e1d7b2a4c58";
    let hash = hex::encode(Sha256::digest(password.as_bytes()));
    let smtp_b = common::free_port();
    // Peer a's mail comes from no admitted range: only its credentials let it in.
    let config = B
        .config(smtp_b, common::free_port(), "10.0.0.0/8", "")
        .replace(
            "admit = [\"10.0.0.0/8\"]",
            &format!("admit = [\"10.0.0.0/8\"]\nauth = {{ username = \"a\", password_sha256 = \"{hash}\" }}"),
        )
        .replace(
            "data_timeout_secs = 10",
            &format!(
                "data_timeout_secs = 10\ntls = {{ cert = \"{}\", key = \"{}\" }}",
                tls.cert_file.display(),
                tls.key_file.display()
            ),
        );
    let b = Relay::start_with_config("mm4-auth-tls-b", &config, &[]);
    let mail = certs.join("forward.eml");
    std::fs::write(&mail, forward_mail("auth-1@mms.mnc001.mcc001.gprs")).unwrap();
    let run = |password: &str| -> serde_json::Value {
        let out = Command::new(common::mail::python())
            .args(["-c", STARTTLS_AUTH, &smtp_b.to_string(), &tls.ca_file.display().to_string(), "a", password])
            .arg(&mail)
            .output()
            .unwrap_or_else(|e| panic!("PEER MISSING: python3 ({e}); install it with `apt-get install -y python3`"));
        assert!(out.status.success(), "smtplib: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let wrong = run("not-the-password");
    assert_eq!(wrong["offers_starttls"], true, "{wrong}");
    assert_eq!(wrong["auth_before_tls"], false, "AUTH is offered only over TLS: {wrong}");
    assert!(wrong["auth_after_tls"].as_str().unwrap().contains("PLAIN"), "{wrong}");
    assert_eq!(wrong["login"], 535, "{wrong}");
    assert_no_push(&b, Duration::from_secs(1));

    let right = run(password);
    assert_eq!((right["login"].clone(), right["sent"].clone()), (235.into(), true.into()), "{right}");
    let n = notification(&b);
    let (_, parts) = retrieve(&b, &n, BOB);
    assert!(parts.iter().any(|(_, d)| d.as_slice() == b"sent twice, stored once\r\n"), "{parts:?}");
    assert_eq!(b.query("SELECT json_extract(envelope, '$.origin.peer') FROM messages"), [["a"]]);
}

#[test]
fn a_peer_that_does_not_answer_holds_up_only_its_own_mail() {
    let Some(c) = Aiosmtpd::mailbox("mm4-slow-c") else { return };
    // Peer b's relay takes the connection and then says nothing, so a send to it waits out the
    // client's timeout; peer c answers at once.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let extra = format!(
        r#"
[[mm4.peers]]
name = "c"
domain = "mms.mnc003.mcc001.gprs"
send = {{ via = "relay", host = "127.0.0.1", port = {} }}
admit = ["127.0.0.0/8"]
"#,
        c.port
    );
    let config = A
        .config(common::free_port(), silent_port, "127.0.0.0/8", &extra)
        .replace("timeout_secs = 5", "timeout_secs = 20")
        .replace(
            r#"rules = [{ prefix = "+1556", action = "mm4", peer = "b" }]"#,
            r#"rules = [{ prefix = "+1556", action = "mm4", peer = "b" }, { prefix = "+1557", action = "mm4", peer = "c" }]"#,
        );
    let a = Relay::start_with_config("mm4-slow-a", &config, &[]);
    submit(&a, ALICE, &send_req(&[BOB], "slow-1", false));
    // The silent peer has the first job's connection before the second message arrives.
    let (_held, _) = silent.accept().unwrap();
    let started = Instant::now();
    submit(&a, ALICE, &send_req(&["+15570100001"], "slow-2", false));
    let mail = c.next(Duration::from_secs(10)).expect("the mail for c while b is silent");
    assert_eq!(mail.mm4_type(), Some("MM4_forward.REQ"));
    assert!(started.elapsed() < Duration::from_secs(10), "c's mail waited {:?} behind b's", started.elapsed());
    eventually(&a, "SELECT state FROM recipients WHERE route = 'mm4:c'", "forwarded");
    assert_eq!(a.query("SELECT state FROM recipients WHERE route = 'mm4:b'"), [["accepted"]]);
}
