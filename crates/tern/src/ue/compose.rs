//! The m-send.req a handset composes: recipients as MMS addresses, a text part, attachments
//! typed by their file extension, and a generated SMIL presentation that references every part,
//! all in a multipart/related body whose `start` is the SMIL.

use std::collections::HashSet;

use tern_codec::mms::{Address, AddressKind, Body, Message, MessageClass, SendReq, Sender, Version};
use tern_codec::wsp::{Charset, ContentType, EncodedString, Part};

use super::names;
use crate::content::xml_escape;

/// The body's content type: WSP's multipart/related.
const RELATED: &str = "application/vnd.wap.multipart.related";
const SMIL_TYPE: &str = "application/smil";
const SMIL_ID: &str = "<smil>";
const SMIL_LOCATION: &str = "smil.xml";
const TEXT_LOCATION: &str = "text.txt";

/// One file to attach: the name it had and its content.
#[derive(Debug)]
pub struct Attachment {
    pub name: String,
    pub data: Vec<u8>,
}

/// What the user asked to send.
#[derive(Debug)]
pub struct Draft {
    pub transaction_id: String,
    pub version: Version,
    /// Sent in the From field; `None` sends the insert-address token for the relay to fill in.
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub delivery_report: bool,
    pub read_report: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("nothing to send: give --text or --attach")]
    Empty,
    #[error("no recipient: give --to, --cc or --bcc")]
    NoRecipient,
    #[error("{0:?} is not an address")]
    Address(String),
}

/// The media type a handset gives a file with this name, by its extension.
pub fn content_type_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "wbmp" => "image/vnd.wap.wbmp",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "amr" => "audio/amr",
        "awb" => "audio/amr-wb",
        "mp3" => "audio/mpeg",
        "m4a" | "aac" => "audio/mp4",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mid" | "midi" => "audio/midi",
        "3gp" => "video/3gpp",
        "3g2" => "video/3gpp2",
        "mp4" => "video/mp4",
        "vcf" => "text/x-vCard",
        "vcs" => "text/x-vCalendar",
        "txt" => "text/plain",
        "smil" | "smi" => SMIL_TYPE,
        _ => "application/octet-stream",
    }
}

/// An address as MMS header text: a phone number gets `/TYPE=PLMN`, anything else (e-mail,
/// short codes, an address already typed) is sent as given.
pub fn address(text: &str) -> Result<Address, ComposeError> {
    let text = text.trim();
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(ComposeError::Address(text.to_owned()));
    }
    let address = Address::new(text);
    Ok(match address.kind() {
        AddressKind::Phone(number) if !text.to_ascii_uppercase().contains("/TYPE=") => Address::phone(number),
        _ => address,
    })
}

/// The m-send.req for `draft`; part data borrows from it.
pub fn send_req(draft: &Draft) -> Result<Message<'_>, ComposeError> {
    if draft.text.is_none() && draft.attachments.is_empty() {
        return Err(ComposeError::Empty);
    }
    let list = |texts: &[String]| texts.iter().map(|t| address(t)).collect::<Result<Vec<_>, _>>();
    let (to, cc, bcc) = (list(&draft.to)?, list(&draft.cc)?, list(&draft.bcc)?);
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    let from = match &draft.from {
        Some(from) => Sender::Address(address(from)?),
        None => Sender::InsertAddress,
    };
    let req = SendReq {
        transaction_id: Some(draft.transaction_id.clone()),
        mms_version: Some(draft.version),
        from: Some(from),
        to,
        cc,
        bcc,
        subject: draft.subject.clone().map(EncodedString::auto),
        message_class: Some(MessageClass::Personal),
        delivery_report: Some(draft.delivery_report),
        read_report: Some(draft.read_report),
        ..SendReq::default()
    };
    Ok(Message::with_body(req, body(draft)))
}

/// SMIL first (the `start` part), then the text, then the attachments in the order given.
fn body(draft: &Draft) -> Body<'_> {
    let mut taken: HashSet<String> = [SMIL_LOCATION.to_owned()].into();
    let text = draft.text.as_ref().map(|text| {
        let location = names::unique(TEXT_LOCATION, &mut taken);
        part(ContentType::new("text/plain").with_charset(Charset::UTF_8), &location, text.as_bytes())
    });
    let mut attachments = Vec::with_capacity(draft.attachments.len());
    for (n, attachment) in draft.attachments.iter().enumerate() {
        let name = names::sanitize(&attachment.name).unwrap_or_else(|| format!("attachment-{}", n + 1));
        let location = names::unique(&name, &mut taken);
        let media = content_type_for(&attachment.name);
        let mut content_type = ContentType::new(media);
        // A text file is labelled UTF-8 only when it is: relays convert labelled text.
        if media.starts_with("text/") && std::str::from_utf8(&attachment.data).is_ok() {
            content_type.params.charset = Some(Charset::UTF_8);
        }
        content_type.params.name = Some(location.clone());
        attachments.push(part(content_type, &location, &attachment.data));
    }
    let mut smil_part =
        Part::new(ContentType::new(SMIL_TYPE).with_charset(Charset::UTF_8), smil(text.as_ref(), &attachments));
    smil_part.headers.content_id = Some(SMIL_ID.to_owned());
    smil_part.headers.content_location = Some(SMIL_LOCATION.to_owned());
    let parts = std::iter::once(smil_part).chain(text).chain(attachments).collect();
    let mut content_type = ContentType::new(RELATED);
    content_type.params.related_type = Some(SMIL_TYPE.to_owned());
    content_type.params.start = Some(SMIL_ID.to_owned());
    Body::multipart(content_type, parts)
}

fn part<'a>(content_type: ContentType, location: &str, data: &'a [u8]) -> Part<'a> {
    let mut part = Part::new(content_type, data);
    part.headers.content_id = Some(format!("<{location}>"));
    part.headers.content_location = Some(location.to_owned());
    part
}

/// A SMIL presentation in the layout handsets use (an image region above a text region): one
/// slide per attachment, the text on the first, each part referenced by its Content-Location.
fn smil(text: Option<&Part<'_>>, attachments: &[Part<'_>]) -> Vec<u8> {
    let mut slides: Vec<Vec<String>> = attachments.iter().map(|p| vec![element(p)]).collect();
    if let Some(text) = text {
        match slides.first_mut() {
            Some(first) => first.push(element(text)),
            None => slides.push(vec![element(text)]),
        }
    }
    let mut out = String::from(
        "<smil>\n<head>\n<layout>\n<root-layout width=\"100%\" height=\"100%\"/>\n\
         <region id=\"Image\" left=\"0\" top=\"0\" width=\"100%\" height=\"70%\" fit=\"meet\"/>\n\
         <region id=\"Text\" left=\"0\" top=\"70%\" width=\"100%\" height=\"30%\" fit=\"scroll\"/>\n\
         </layout>\n</head>\n<body>\n",
    );
    for slide in slides {
        out.push_str("<par dur=\"5000ms\">\n");
        for element in slide {
            out.push_str(&element);
            out.push('\n');
        }
        out.push_str("</par>\n");
    }
    out.push_str("</body>\n</smil>\n");
    out.into_bytes()
}

/// The SMIL media element for a part, by its content type.
fn element(part: &Part<'_>) -> String {
    let src = xml_escape(part.headers.content_location.as_deref().unwrap_or_default());
    let media = part.content_type.media_type.to_ascii_lowercase();
    match media.split('/').next().unwrap_or_default() {
        "image" => format!("<img src=\"{src}\" region=\"Image\"/>"),
        "video" => format!("<video src=\"{src}\" region=\"Image\"/>"),
        "audio" => format!("<audio src=\"{src}\"/>"),
        "text" => format!("<text src=\"{src}\" region=\"Text\"/>"),
        _ => format!("<ref src=\"{src}\"/>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_codec::mms::Pdu;

    fn draft(text: Option<&str>, files: &[(&str, &[u8])]) -> Draft {
        Draft {
            transaction_id: "t1".into(),
            version: Version::V1_3,
            from: None,
            to: vec!["+15550002".into()],
            cc: vec!["someone@example.net".into()],
            bcc: vec![],
            subject: Some("Beach".into()),
            text: text.map(str::to_owned),
            attachments: files.iter().map(|(n, d)| Attachment { name: (*n).to_owned(), data: d.to_vec() }).collect(),
            delivery_report: true,
            read_report: false,
        }
    }

    /// Encodes and decodes, so the checks see what a relay sees.
    fn wire(draft: &Draft) -> (SendReq, Body<'static>) {
        let bytes = send_req(draft).unwrap().encode();
        let message = Message::decode(&bytes).unwrap().into_owned();
        let Pdu::SendReq(req) = message.pdu else { panic!("an m-send-req") };
        (req, message.body.unwrap())
    }

    #[test]
    fn content_types_follow_the_extension() {
        for (name, want) in [
            ("photo.jpg", "image/jpeg"),
            ("PHOTO.JPEG", "image/jpeg"),
            ("a.png", "image/png"),
            ("a.gif", "image/gif"),
            ("a.bmp", "image/bmp"),
            ("a.wbmp", "image/vnd.wap.wbmp"),
            ("voice.amr", "audio/amr"),
            ("clip.3gp", "video/3gpp"),
            ("clip.mp4", "video/mp4"),
            ("song.mp3", "audio/mpeg"),
            ("card.vcf", "text/x-vCard"),
            ("event.vcs", "text/x-vCalendar"),
            ("notes.txt", "text/plain"),
            ("show.smil", "application/smil"),
            ("archive.tar.gz", "application/octet-stream"),
            ("noextension", "application/octet-stream"),
            (".jpg.exe", "application/octet-stream"),
        ] {
            assert_eq!(content_type_for(name), want, "{name}");
        }
    }

    #[test]
    fn addresses_are_typed_as_mms_addresses() {
        let text = |s: &str| address(s).unwrap().text().to_owned();
        assert_eq!(text("+15550002"), "+15550002/TYPE=PLMN");
        assert_eq!(text(" 15550100002 "), "15550100002/TYPE=PLMN");
        assert_eq!(text("+15550002/TYPE=PLMN"), "+15550002/TYPE=PLMN");
        assert_eq!(text("someone@example.net"), "someone@example.net");
        assert_eq!(text("1234"), "1234");
        assert!(address("").is_err());
        assert!(address("+1555\n0002").is_err());
    }

    #[test]
    fn the_send_req_has_the_asked_headers() {
        let (req, _) = wire(&draft(Some("hi"), &[]));
        assert_eq!(req.transaction_id.as_deref(), Some("t1"));
        assert_eq!(req.mms_version, Some(Version::V1_3));
        assert_eq!(req.from, Some(Sender::InsertAddress));
        assert_eq!(req.to, [Address::new("+15550002/TYPE=PLMN")]);
        assert_eq!(req.cc, [Address::new("someone@example.net")]);
        assert_eq!(req.subject.map(|s| s.text).as_deref(), Some("Beach"));
        assert_eq!((req.delivery_report, req.read_report), (Some(true), Some(false)));
        let mut explicit = draft(Some("hi"), &[]);
        explicit.from = Some("+15550001".into());
        assert_eq!(wire(&explicit).0.from, Some(Sender::Address(Address::new("+15550001/TYPE=PLMN"))));
    }

    #[test]
    fn the_body_is_related_with_a_smil_that_references_every_part() {
        let files: &[(&str, &[u8])] = &[
            ("photo.jpg", b"\xff\xd8jpeg"),
            ("voice.amr", b"#!AMR\n"),
            ("../other/photo.JPG", b"second photo"),
            ("notes.txt", b"caf\xc3\xa9"),
            ("raw.txt", b"\xff\xfe"),
            ("blob.bin", b"\x00\x01"),
        ];
        let (_, body) = wire(&draft(Some("héllo"), files));
        let ct = &body.content_type;
        assert_eq!(ct.media_type, "application/vnd.wap.multipart.related");
        assert_eq!(ct.params.related_type.as_deref(), Some("application/smil"));
        assert_eq!(ct.params.start.as_deref(), Some("<smil>"));
        let parts = body.parts();
        assert_eq!(parts.len(), 8);
        assert!(parts[0].matches_start("<smil>"));
        assert_eq!(parts[0].content_type.media_type, "application/smil");
        let smil = std::str::from_utf8(&parts[0].data).unwrap();
        let summary: Vec<(&str, Option<Charset>, &str, &[u8])> = parts[1..]
            .iter()
            .map(|p| {
                let location = p.headers.content_location.as_deref().unwrap();
                assert_eq!(p.headers.content_id.as_deref(), Some(format!("<{location}>").as_str()));
                assert!(smil.contains(&format!("src=\"{location}\"")), "{location} in {smil}");
                (p.content_type.media_type.as_str(), p.content_type.params.charset, location, &*p.data)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("text/plain", Some(Charset::UTF_8), "text.txt", "héllo".as_bytes()),
                ("image/jpeg", None, "photo.jpg", b"\xff\xd8jpeg".as_slice()),
                ("audio/amr", None, "voice.amr", b"#!AMR\n".as_slice()),
                ("image/jpeg", None, "photo-2.JPG", b"second photo".as_slice()),
                ("text/plain", Some(Charset::UTF_8), "notes.txt", "café".as_bytes()),
                ("text/plain", None, "raw.txt", b"\xff\xfe".as_slice()),
                ("application/octet-stream", None, "blob.bin", b"\x00\x01".as_slice()),
            ]
        );
        assert!(smil.contains("<img src=\"photo.jpg\" region=\"Image\"/>"), "{smil}");
        assert!(smil.contains("<audio src=\"voice.amr\"/>"), "{smil}");
        assert!(smil.contains("<ref src=\"blob.bin\"/>"), "{smil}");
        assert_eq!(smil.matches("<par ").count(), 6, "one slide per attachment, the text on the first: {smil}");
        let first = &smil[smil.find("<par ").unwrap()..smil.find("</par>").unwrap()];
        assert!(first.contains("photo.jpg") && first.contains("text.txt"), "{first}");
    }

    #[test]
    fn text_alone_is_one_slide_and_nothing_is_refused() {
        let (_, body) = wire(&draft(Some("just text"), &[]));
        let smil = std::str::from_utf8(&body.parts()[0].data).unwrap().to_owned();
        assert_eq!(smil.matches("<par ").count(), 1);
        assert!(smil.contains("<text src=\"text.txt\" region=\"Text\"/>"));
        assert!(matches!(send_req(&draft(None, &[])), Err(ComposeError::Empty)));
        let mut nobody = draft(Some("x"), &[]);
        nobody.to.clear();
        nobody.cc.clear();
        assert!(matches!(send_req(&nobody), Err(ComposeError::NoRecipient)));
    }

    #[test]
    fn unusable_file_names_get_a_generated_one() {
        let (_, body) = wire(&draft(None, &[("..", b"x"), ("smil.xml", b"<smil/>")]));
        let locations: Vec<&str> =
            body.parts().iter().map(|p| p.headers.content_location.as_deref().unwrap()).collect();
        assert_eq!(locations, ["smil.xml", "attachment-1", "smil-2.xml"]);
    }
}
