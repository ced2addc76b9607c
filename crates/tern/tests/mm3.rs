//! MM3 end to end: a `tern serve` relay with e-mail in and out on 127.0.0.1. A handset's picture
//! message to an e-mail address arrives in an aiosmtpd mailbox as a MIME mail that Python's
//! `email` package reads, the picture attached byte for byte; and a mail that Python's `email`
//! package writes and smtplib sends to a subscriber's address is notified to the handset and
//! retrieved with its attachment byte for byte.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::mail::{Aiosmtpd, python, smtplib};
use common::{PNG_HEX, Relay, png};
use tern_codec::mms::*;
use tern_codec::wsp::{Charset, ContentType, EncodedString, Part};

/// The relay's domain: its subscribers' mail addresses are `+number@` it.
const DOMAIN: &str = "mms.mnc001.mcc001.gprs";
const ALICE: &str = "+15550100001";
const AMY: &str = "+15550100002";

/// A relay with MM3 on: mail in on `smtp`, mail out through 127.0.0.1:`smarthost`.
fn relay(test: &str, smtp: u16, smarthost: u16) -> Relay {
    let config = format!(
        r#"
[push]
bearer = "udp"

[mm3]
enabled = true
domain = "{DOMAIN}"
send = {{ via = "relay", host = "127.0.0.1", port = {smarthost} }}

[smtp]
listen = "127.0.0.1:{smtp}"
hostname = "mm3.tern.test"

[smtp_out]
hello_name = "mm3.tern.test"
tls = "none"
timeout_secs = 5

[outbound]
initial_backoff_secs = 1
max_backoff_secs = 2
"#
    );
    Relay::start_with_config(test, &config, &[])
}

fn part(content_type: ContentType, location: &str, data: Vec<u8>) -> Part<'static> {
    let mut part = Part::new(content_type, data);
    part.headers.content_location = Some(location.into());
    part
}

#[test]
fn a_picture_message_to_an_email_address_arrives_as_a_mime_mail() {
    let Some(mailbox) = Aiosmtpd::mailbox("mm3-out-mailbox") else { return };
    let a = relay("mm3-out", common::free_port(), mailbox.port);
    let req = SendReq {
        transaction_id: Some("mail-1".into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::new("bob@example.org")],
        subject: Some(EncodedString::auto("a picture")),
        ..SendReq::default()
    };
    let parts = vec![
        part(ContentType::new("text/plain").with_charset(Charset::UTF_8), "text.txt", b"look at this".to_vec()),
        part(ContentType::new("image/png"), "pixel.png", png()),
    ];
    let pdu = Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), parts))
        .encode();
    let answer = a.post(&pdu, Some(ALICE));
    assert_eq!(answer.status, 200);
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{:?}", conf.response_text);

    let mail = mailbox.next(Duration::from_secs(20)).expect("the mail within 20 s");
    assert_eq!(mail.to, ["bob@example.org"]);
    assert!(mail.defects.is_empty(), "the email package found defects: {:?}", mail.defects);
    assert_eq!(mail.header("Subject"), Some("a picture"));
    assert_eq!(mail.header("MIME-Version"), Some("1.0"));
    let from = mail.header("From").unwrap();
    assert!(from.contains(ALICE) && from.ends_with(&format!("@{DOMAIN}")), "From: {from}");
    assert!(mail.header("Date").is_some() && mail.header("Message-ID").is_some(), "{:?}", mail.headers);
    assert_eq!(mail.part("text/plain"), Some(&b"look at this"[..]));
    let picture = mail.parts.iter().find(|(t, _, _)| t == "image/png").expect("the picture attached");
    assert_eq!(picture.1.as_deref(), Some("pixel.png"), "the attachment's file name");
    assert_eq!(picture.2, png(), "the picture, byte for byte");
    assert!(mail.parts.iter().all(|(t, _, _)| t != "application/smil"), "no SMIL for a mail reader: {:?}", mail.parts);
}

/// Python's `email` package writes a mail to `argv[1]` with a text body and the PNG in hex
/// `argv[2]` attached; the mail's bytes on stdout.
const WRITE_MAIL: &str = r#"
import email.policy, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "Carol <carol@example.org>"
m["To"] = sys.argv[1]
m["Subject"] = "from e-mail"
m.set_content("a picture from e-mail\n")
m.add_attachment(bytes.fromhex(sys.argv[2]), maintype="image", subtype="png", filename="pixel.png")
sys.stdout.buffer.write(m.as_bytes(policy=email.policy.SMTP))
"#;

#[test]
fn a_mail_to_a_subscriber_is_notified_and_retrieved_with_its_attachment() {
    if !common::mail::present() {
        return;
    }
    let smtp = common::free_port();
    let a = relay("mm3-in", smtp, common::free_port());
    let to = format!("{AMY}@{DOMAIN}");
    let out = Command::new(python()).args(["-c", WRITE_MAIL, &to, PNG_HEX]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent = smtplib(&a.data, smtp, "carol@example.org", &[&to], &out.stdout);
    assert_eq!(sent["refused"], serde_json::json!({}), "{sent}");

    let Pdu::NotificationInd(n) = a.next_push().1.pdu else { panic!("an m-notification.ind") };
    let answer = a.get(n.content_location.as_deref().unwrap(), Some(AMY));
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let message = Message::decode(&answer.body).unwrap();
    let Pdu::RetrieveConf(conf) = &message.pdu else { panic!("an m-retrieve.conf") };
    assert!(conf.from.as_ref().is_some_and(|f| f.to_string().contains("carol@example.org")), "{:?}", conf.from);
    assert_eq!(conf.subject.as_ref().map(|s| s.text.as_str()), Some("from e-mail"));
    let parts = message.body.as_ref().unwrap().parts();
    let find = |t: &str| parts.iter().find(|p| p.content_type.media_type == t);
    assert_eq!(find("image/png").map(|p| p.data.as_ref()), Some(png().as_slice()), "the attachment, byte for byte");
    let text = find("text/plain").expect("the text");
    assert_eq!(String::from_utf8_lossy(&text.data).trim_end(), "a picture from e-mail");
    a.query_until("SELECT route, state FROM recipients", &[&["local", "retrieved"]]);
}
