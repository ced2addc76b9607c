//! MM3 mail formats, without I/O: a message out as an ordinary MIME mail that any mail client
//! shows ([`build_mail`]), and a mail in as MMS content with a generated presentation
//! ([`parse_mail`]).

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType as MimeType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use mail_parser::MessageParser;

use crate::content::{self, Content, ContentError, Part};
use crate::core::envelope::Envelope;

/// Writes `env` and `content` as a mail from `from` to `to`. Text parts go inline as text,
/// everything else as attachments with a file name (the part's name, else one made from its
/// position and media type). The SMIL presentation means nothing to a mail client and is dropped
/// unless `keep_smil`. Date and Message-ID come from the envelope.
pub fn build_mail(env: &Envelope, content: &Content, from: &str, to: &[String], keep_smil: bool) -> Vec<u8> {
    let parts: Vec<&Part> = content.parts.iter().filter(|p| keep_smil || !p.is_smil()).collect();
    let leaves: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let leaf = content::mime_leaf_part(part);
            if part.is_text() && !part.is_smil() {
                leaf.inline()
            } else {
                // A Content-Location is a file name only when it looks like one (`part1` does not).
                let location = part.content_location.as_deref().filter(|l| l.contains('.'));
                let name = part.param("name").or_else(|| part.param("filename")).or(location);
                let name = name.map_or_else(|| generated_name(i, &part.media_type), str::to_owned);
                leaf.attachment(name)
            }
        })
        .collect();
    let body = match (leaves.len(), leaves) {
        (1, mut one) => one.remove(0),
        (0, _) => MimePart::new("text/plain", ""),
        (_, many) if keep_smil && content.media_type == "multipart/related" => content::mime_multipart(content, many),
        (_, many) => MimePart::new(MimeType::new("multipart/mixed"), BodyPart::Multipart(many)),
    };
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let id = if env.message_id.contains('@') { env.message_id.clone() } else { format!("{}@{domain}", env.message_id) };
    let clean = |s: &str| s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    let mut builder = MessageBuilder::new()
        .from(Address::new_address(None::<&str>, clean(from)))
        .to(Address::new_list(to.iter().map(|t| Address::new_address(None::<&str>, clean(t))).collect()))
        .date(Date::new(env.date))
        .message_id(MessageId::new(clean(&id).replace(['<', '>', ' '], "")));
    if let Some(subject) = &env.subject {
        builder = builder.subject(Text::new(clean(subject)));
    }
    let mut out = Vec::new();
    builder.body(body).serialize(&mut out);
    out
}

/// `partN.ext`, the extension from the media subtype (`image/jpeg` gives `jpeg`).
fn generated_name(index: usize, media_type: &str) -> String {
    let ext: String = media_type
        .split('/')
        .nth(1)
        .unwrap_or("bin")
        .split(['+', ';'])
        .next()
        .unwrap_or("bin")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("part{index}.{}", if ext.is_empty() { "bin" } else { &ext })
}

/// A mail from outside, as MMS content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// The bare address of From (else Sender).
    pub from: String,
    pub subject: Option<String>,
    /// The usable parts with a generated SMIL presentation.
    pub content: Content,
    /// Date, Unix seconds, when the mail has a valid one.
    pub date: Option<i64>,
}

/// Why a mail is refused; the text is fit for an SMTP 5xx reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mm3Error {
    #[error("message size {size} exceeds the limit of {max} octets")]
    TooLarge { size: usize, max: usize },
    #[error("not a valid RFC 5322 message")]
    NotMail,
    #[error("no sender address in From or Sender")]
    NoSender,
    #[error("unsupported content: {0}")]
    Content(#[from] ContentError),
    #[error("unsupported content: no text, image, audio or video part")]
    Unsupported,
}

/// What an MMS can carry from a mail: text, pictures, sound, video, contact and calendar cards.
fn usable(part: &Part) -> bool {
    (part.is_text() || part.is_media()) && !part.data.is_empty()
}

/// Reads a mail of at most `max_size` octets for MMS delivery: its sender, subject, date, and
/// its usable parts (text, image, audio, video; others dropped) with a generated SMIL.
pub fn parse_mail(mail: &[u8], max_size: usize) -> Result<InboundMail, Mm3Error> {
    if mail.len() > max_size {
        return Err(Mm3Error::TooLarge { size: mail.len(), max: max_size });
    }
    let message = MessageParser::default().parse(mail).ok_or(Mm3Error::NotMail)?;
    let from = message
        .from()
        .or_else(|| message.sender())
        .and_then(|a| a.iter().find_map(|addr| addr.address()))
        .map(str::to_owned)
        .ok_or(Mm3Error::NoSender)?;
    let parsed = content::from_message(&message)?;
    let parts: Vec<Part> = parsed.parts.into_iter().filter(usable).collect();
    if parts.is_empty() {
        return Err(Mm3Error::Unsupported);
    }
    Ok(InboundMail {
        from,
        subject: message.subject().map(str::to_owned),
        content: content::with_smil(parts),
        date: message.date().filter(|d| d.is_valid()).map(|d| d.to_timestamp()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::core::envelope::{Field, Origin, Recipient};
    use mail_parser::MimeHeaders;

    fn is_attachment(part: &mail_parser::MessagePart<'_>) -> bool {
        part.content_disposition().is_some_and(|d| d.is_attachment())
    }

    fn envelope() -> Envelope {
        Envelope {
            message_id: "abc123".into(),
            originator: "+15550100001".into(),
            recipients: vec![Recipient {
                address: "bob@example.org".into(),
                field: Field::To,
                destination: crate::core::envelope::Destination::Mm3,
            }],
            subject: Some("Photo".into()),
            class: None,
            priority: None,
            date: 1_780_000_000,
            expires_at: 1_780_086_400,
            deliver_after: 0,
            delivery_report: false,
            read_report: false,
            sender_visible: true,
            content_type: "multipart/related".into(),
            forwarded_from: None,
            applic_id: None,
            reply_applic_id: None,
            aux_applic_info: None,
            content_class: None,
            drm: false,
            no_distribution: false,
            origin: Origin::Mm1,
        }
    }

    fn content() -> Content {
        let text = Part::new("text/plain", "Look at this".as_bytes()).with_param("charset", "utf-8");
        let image = Part::new("image/jpeg", &b"\xff\xd8\xff\xe0jpeg"[..]);
        let audio = Part::new("audio/amr", &b"#!AMR\n"[..]).with_param("name", "hi.amr");
        content::with_smil(vec![text, image, audio])
    }

    #[test]
    fn a_message_goes_out_as_an_ordinary_mail() {
        let mail =
            build_mail(&envelope(), &content(), "+15550100001@mms.example.net", &["bob@example.org".into()], false);
        let parsed = MessageParser::default().parse(&mail).unwrap();
        assert_eq!(parsed.subject(), Some("Photo"));
        assert_eq!(parsed.message_id(), Some("abc123@mms.example.net"));
        assert_eq!(parsed.date().unwrap().to_timestamp(), 1_780_000_000);
        assert_eq!(parsed.from().unwrap().first().unwrap().address(), Some("+15550100001@mms.example.net"));
        let leaves: Vec<_> = parsed.parts.iter().filter(|p| !p.is_multipart()).collect();
        assert_eq!(leaves.len(), 3, "the SMIL part was not dropped");
        assert!(!is_attachment(leaves[0]) && leaves[0].is_text());
        assert!(is_attachment(leaves[1]) && is_attachment(leaves[2]));
        assert_eq!(leaves[1].attachment_name(), Some("part1.jpeg"));
        assert_eq!(leaves[2].attachment_name(), Some("hi.amr"));
        assert_eq!(leaves[1].contents(), b"\xff\xd8\xff\xe0jpeg");
        let with_smil = build_mail(&envelope(), &content(), "a@mms.example.net", &["b@example.org".into()], true);
        let parsed = MessageParser::default().parse(&with_smil).unwrap();
        assert_eq!(parsed.parts.iter().filter(|p| !p.is_multipart()).count(), 4);
    }

    #[test]
    fn attachments_without_a_name_get_one() {
        assert_eq!(generated_name(2, "image/svg+xml"), "part2.svg");
        assert_eq!(generated_name(0, "application/octet-stream"), "part0.octetstream");
        assert_eq!(generated_name(1, "weird"), "part1.bin");
    }

    #[test]
    fn a_mail_comes_in_with_a_presentation() {
        let mail = concat!(
            "From: \"Carol\" <carol@example.org>\r\nTo: +15550100002@mms.example.net\r\n",
            "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n",
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\nHi there\r\n",
            "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n",
            "--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"x.png\"\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n--b--\r\n",
        );
        let inbound = parse_mail(mail.as_bytes(), 10_000).unwrap();
        assert_eq!(inbound.from, "carol@example.org");
        assert_eq!(inbound.subject.as_deref(), Some("Grüße"));
        assert_eq!(inbound.date, Some(1_796_119_200));
        let types: Vec<&str> = inbound.content.parts.iter().map(|p| p.media_type.as_str()).collect();
        assert_eq!(types, ["application/smil", "text/plain", "image/png"]);
        let smil = String::from_utf8_lossy(&inbound.content.parts[0].data).into_owned();
        assert!(smil.contains("src=\"x.png\"") && smil.contains("<text src=\"part0\""), "{smil}");
        assert_eq!(inbound.content.parts[2].data, b"\x89PNG\r\n");
    }

    #[test]
    fn unusable_mail_is_refused_with_a_reason() {
        assert_eq!(parse_mail(&[b'x'; 100], 99), Err(Mm3Error::TooLarge { size: 100, max: 99 }));
        assert_eq!(parse_mail(b"", 99), Err(Mm3Error::NotMail));
        assert_eq!(parse_mail(b"Subject: x\r\n\r\nbody", 99), Err(Mm3Error::NoSender));
        let pdf = "From: a@example.org\r\nContent-Type: application/pdf\r\n\r\n%PDF";
        let err = parse_mail(pdf.as_bytes(), 1000).unwrap_err();
        assert_eq!(err, Mm3Error::Unsupported);
        assert!(err.to_string().starts_with("unsupported content"));
        let mut deep = String::from("From: a@example.org\r\n");
        for i in 0..40 {
            deep.push_str(&format!("Content-Type: multipart/mixed; boundary=\"d{i}\"\r\n\r\n--d{i}\r\n"));
        }
        assert_eq!(parse_mail(deep.as_bytes(), 100_000), Err(Mm3Error::Content(ContentError::TooDeep)));
        for cut in [5, 50, 150] {
            let _ = parse_mail(&deep.as_bytes()[..cut], 100_000);
        }
    }
}
