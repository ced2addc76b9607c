//! Hostile mail: the MM4 parser, the MM3 reader and the content conversions are given random
//! bytes and valid mails with bytes changed, cut or repeated, and must answer with an error or
//! a value, never a panic (or a hang: proptest runs each case to the end).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tern::content;
use tern::mm3::wire::parse_mail;
use tern::mm4::wire::parse;

const NOW: i64 = 1_764_000_000;

/// A forward as a peer writes it: quoted IDs, a relative expiry, a multipart/related body with a
/// quoted-printable text, a base64 picture and a SMIL part.
const FORWARD: &str = "X-Mms-3GPP-MMS-Version: 5.5.0\r\n\
X-Mms-Message-Type: MM4_Forward.req\r\n\
X-Mms-Transaction-ID: \"t-1\"\r\n\
X-Mms-Message-ID: \"m-1@mms.mnc002.mcc001.gprs\"\r\n\
X-Mms-Expiry: 600\r\n\
X-Mms-Ack-Request: Yes\r\n\
X-Mms-Delivery-Report: Yes\r\n\
From: +15560100001/TYPE=PLMN@mms.mnc002.mcc001.gprs\r\n\
To: +15550100002/TYPE=PLMN@mms.mnc001.mcc001.gprs, 15550100003@mms.mnc001.mcc001.gprs\r\n\
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/related; boundary=\"b1\"; type=\"application/smil\"; start=\"<smil>\"\r\n\
\r\n\
--b1\r\n\
Content-Type: application/smil\r\n\
Content-ID: <smil>\r\n\
\r\n\
<smil><body><par><img src=\"p.png\"/><text src=\"t.txt\"/></par></body></smil>\r\n\
--b1\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
Content-Location: t.txt\r\n\
\r\n\
Gr=FC=DFe aus K=F6ln\r\n\
--b1\r\n\
Content-Type: image/png; name=\"p.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-ID: <p.png>\r\n\
\r\n\
iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP438AAAAQBAYDFKhhdAAAAAElFTkSuQmCC\r\n\
--b1--\r\n";

/// A delivery report, in the other capitalisation and spelling peers use.
const REPORT: &str = "X-Mms-3GPP-MMS-Version: 6.10.0\r\n\
X-Mms-Message-Type: MM4_Delivery_report.REQ\r\n\
X-Mms-Transaction-ID: t-2\r\n\
X-Mms-Message-ID: <m-1@mms.mnc001.mcc001.gprs>\r\n\
X-Mms-MM-Status-Code: Unrecognized\r\n\
From: +15560100001/TYPE=PLMN@mms.mnc002.mcc001.gprs\r\n\
To: +15550100001/TYPE=PLMN@mms.mnc001.mcc001.gprs\r\n\
Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
\r\n";

/// An ordinary mail with an HTML alternative and an attachment.
const MAIL: &str = "From: Alice <alice@example.org>\r\n\
To: +15550100002@mms.mnc001.mcc001.gprs\r\n\
Subject: hi\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"x\"\r\n\
\r\n\
--x\r\n\
Content-Type: multipart/alternative; boundary=\"y\"\r\n\
\r\n\
--y\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>hello <b>there</b></p>\r\n\
--y--\r\n\
--x\r\n\
Content-Type: image/png\r\n\
Content-Disposition: attachment; filename=\"x.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
iVBORw0KGgo=\r\n\
--x--\r\n";

/// Runs every reader over `bytes`; the answers do not matter, only that each one comes.
fn read_all(bytes: &[u8]) {
    let _ = parse(bytes, NOW);
    let _ = parse_mail(bytes, 1 << 20);
    let _ = content::from_mime(bytes);
    if let Ok(c) = content::from_wsp(bytes) {
        let _ = content::to_wsp(&c);
    }
}

/// One of the samples with some bytes changed, some cut out and some repeated.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let sample = prop_oneof![Just(FORWARD), Just(REPORT), Just(MAIL)];
    (sample, prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..24)).prop_map(|(text, edits)| {
        let mut bytes = text.as_bytes().to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at % bytes.len();
            match op {
                0 => bytes[at] = byte,
                1 => {
                    bytes.drain(at..(at + usize::from(byte % 16)).min(bytes.len()));
                }
                _ => {
                    let end = (at + usize::from(byte % 64)).min(bytes.len());
                    let piece = bytes[at..end].to_vec();
                    bytes.splice(at..at, piece);
                }
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        read_all(&bytes);
    }

    #[test]
    fn damaged_mails_never_panic(bytes in mutated()) {
        read_all(&bytes);
    }
}

#[test]
fn the_samples_read_as_what_they_are() {
    // So that the mutations start from mails the readers take.
    assert!(matches!(parse(FORWARD.as_bytes(), NOW), Ok(tern::mm4::wire::Mm4Message::ForwardReq(_))));
    assert!(matches!(parse(REPORT.as_bytes(), NOW), Ok(tern::mm4::wire::Mm4Message::DeliveryReportReq(_))));
    let inbound = parse_mail(MAIL.as_bytes(), 1 << 20).unwrap();
    assert!(inbound.content.parts.iter().any(|p| p.media_type == "image/png"));
}
