//! The content of a message apart from any wire: a list of parts, each with its media type,
//! parameters, Content-ID, Content-Location and bytes, and the multipart type around them.
//!
//! It is the meeting point of the two body forms the relay speaks: the WSP form MM1 stores (the
//! Content-Type field, then the WSP multipart) and MIME (MM4 and MM3). Both directions are
//! here, pure (no I/O): [`from_wsp`] and [`to_wsp`], [`from_mime`] and [`mime_part`], and
//! [`with_smil`] for content that comes without a presentation.
//!
//! MIME bodies are flattened to their leaves: MMS has one level of parts, so a nested
//! multipart/mixed or multipart/related gives its parts in order, and a multipart/alternative
//! gives one: its text/plain, else its first text part, else its first part. Text/html is turned
//! into text/plain, which every handset shows.

use mail_builder::headers::content_type::ContentType as MimeType;
use mail_builder::mime::{BodyPart, MimePart};
use mail_parser::decoders::html::html_to_text;
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use tern_codec::mms::header::code;
use tern_codec::mms::{Body, BodyData};
use tern_codec::wsp::{Charset, ContentType, Params, Reader, multipart};

/// Multiparts nested deeper than this are refused: MMS content has one level, real mail two or
/// three, and the walk must not follow a hostile nesting.
pub const MAX_DEPTH: usize = 8;

/// More leaves than this in one message are refused rather than copied.
pub const MAX_PARTS: usize = 256;

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Lower-case `type/subtype`.
    pub media_type: String,
    /// Content-Type parameters as text (`charset`, `name`, ...), names lower-case.
    pub params: Vec<(String, String)>,
    /// Without the angle brackets.
    pub content_id: Option<String>,
    pub content_location: Option<String>,
    pub data: Vec<u8>,
}

impl Part {
    pub fn new(media_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Part {
            media_type: media_type.into().to_ascii_lowercase(),
            params: Vec::new(),
            content_id: None,
            content_location: None,
            data: data.into(),
        }
    }

    /// Adds or replaces a parameter.
    pub fn with_param(mut self, name: &str, value: impl Into<String>) -> Self {
        let name = name.to_ascii_lowercase();
        self.params.retain(|(n, _)| *n != name);
        self.params.push((name, value.into()));
        self
    }

    /// A parameter by name (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A file name for the part: its `name` or `filename` parameter, else its Content-Location.
    pub fn name(&self) -> Option<&str> {
        self.param("name").or_else(|| self.param("filename")).or(self.content_location.as_deref())
    }

    pub fn is_text(&self) -> bool {
        self.media_type.starts_with("text/")
    }

    pub fn is_smil(&self) -> bool {
        self.media_type == "application/smil"
    }

    /// Image, video or audio: what a slide is made of.
    pub fn is_media(&self) -> bool {
        ["image/", "video/", "audio/"].iter().any(|p| self.media_type.starts_with(p))
    }
}

/// The content of a message: a multipart type and its parts, or a single part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// `multipart/related`, `multipart/mixed`, `multipart/alternative`, or, for a single-part
    /// body, the type of its one part.
    pub media_type: String,
    /// The Content-ID of the start part of a multipart/related, without angle brackets.
    pub start: Option<String>,
    /// The `type` parameter of a multipart/related: the start part's media type.
    pub related_type: Option<String>,
    pub parts: Vec<Part>,
}

impl Content {
    /// Content of one part.
    pub fn single(part: Part) -> Self {
        Content { media_type: part.media_type.clone(), start: None, related_type: None, parts: vec![part] }
    }

    pub fn is_multipart(&self) -> bool {
        self.media_type.starts_with("multipart/")
    }

    /// The total size of the parts' data.
    pub fn size(&self) -> usize {
        self.parts.iter().map(|p| p.data.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("WSP body: {0}")]
    Wsp(String),
    #[error("not a MIME message")]
    NotMime,
    #[error("multipart nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than {MAX_PARTS} parts")]
    TooManyParts,
}

const WSP_MULTIPART: &str = "application/vnd.wap.multipart.";

/// `application/vnd.wap.multipart.X` to `multipart/X`; other types lower-cased.
fn mime_media_type(wsp: &str) -> String {
    let lower = wsp.to_ascii_lowercase();
    match lower.strip_prefix(WSP_MULTIPART) {
        Some(sub) => format!("multipart/{sub}"),
        None => lower,
    }
}

/// `multipart/X` to `application/vnd.wap.multipart.X`, the only multipart form handsets read.
pub fn wsp_media_type(mime: &str) -> String {
    match mime.strip_prefix("multipart/") {
        Some(sub) => format!("{WSP_MULTIPART}{sub}"),
        None => mime.to_owned(),
    }
}

fn strip_angles(id: &str) -> String {
    let id = id.trim();
    id.strip_prefix('<').and_then(|i| i.strip_suffix('>')).unwrap_or(id).to_owned()
}

fn wsp_error(e: tern_codec::Error) -> ContentError {
    ContentError::Wsp(e.to_string())
}

/// Reads a body as MM1 stores it: the WSP Content-Type field (`0x84` and its value), then the
/// multipart or the single entity.
pub fn from_wsp(body: &[u8]) -> Result<Content, ContentError> {
    let mut r = Reader::new(body);
    let field = r.u8("Content-Type field").map_err(wsp_error)?;
    if field != 0x80 | code::CONTENT_TYPE {
        return Err(ContentError::Wsp(format!("the body starts with {field:#04x}, not the Content-Type field")));
    }
    let content_type = ContentType::decode(&mut r).map_err(wsp_error)?;
    if !content_type.is_multipart() {
        let part = wsp_leaf(&content_type, None, r.rest());
        return Ok(Content::single(part));
    }
    let mut parts = Vec::new();
    wsp_parts(&mut r, 0, &mut parts)?;
    let p = &content_type.params;
    Ok(Content {
        media_type: mime_media_type(&content_type.media_type),
        start: p.start.as_deref().map(strip_angles),
        related_type: p.related_type.as_deref().map(str::to_ascii_lowercase),
        parts,
    })
}

/// Appends the leaves of a WSP multipart, descending into nested ones up to [`MAX_DEPTH`].
fn wsp_parts(r: &mut Reader<'_>, depth: usize, out: &mut Vec<Part>) -> Result<(), ContentError> {
    if depth >= MAX_DEPTH {
        return Err(ContentError::TooDeep);
    }
    for part in multipart::decode(r).map_err(wsp_error)? {
        if part.content_type.is_multipart() {
            wsp_parts(&mut Reader::new(&part.data), depth + 1, out)?;
            continue;
        }
        if out.len() >= MAX_PARTS {
            return Err(ContentError::TooManyParts);
        }
        out.push(wsp_leaf(&part.content_type, Some(&part.headers), &part.data));
    }
    Ok(())
}

fn wsp_leaf(ct: &ContentType, headers: Option<&multipart::PartHeaders>, data: &[u8]) -> Part {
    let mut part = Part::new(&ct.media_type, data);
    let p = &ct.params;
    // A charset the codec has no name for (MIBenum 0, "unknown") is left out rather than
    // written as a name no reader knows.
    if let Some(name) = p.charset.and_then(Charset::name) {
        part.params.push(("charset".into(), name.into()));
    }
    let named = [("name", &p.name), ("filename", &p.filename), ("type", &p.related_type), ("start", &p.start)];
    for (name, value) in named {
        if let Some(v) = value {
            part.params.push((name.into(), v.clone()));
        }
    }
    for (name, value) in &p.other {
        part.params.push((name.to_ascii_lowercase(), value.clone()));
    }
    if let Some(h) = headers {
        part.content_id = h.content_id.as_deref().map(strip_angles);
        part.content_location = h.content_location.clone();
        let filename = h.content_disposition.as_ref().and_then(|d| d.params.filename.clone());
        if let (None, Some(f)) = (part.param("filename"), filename) {
            part.params.push(("filename".into(), f));
        }
    }
    part
}

/// Writes content in the form MM1 stores and serves: the WSP Content-Type field and the WSP
/// multipart, or the single entity for single-part content.
pub fn to_wsp(content: &Content) -> Vec<u8> {
    let mut out = Vec::new();
    let body = match (content.is_multipart(), content.parts.as_slice()) {
        (false, [part]) => Body { content_type: wsp_content_type(part), data: BodyData::Single((&part.data).into()) },
        _ => {
            let mut ct = ContentType::new(wsp_media_type(&content.media_type));
            ct.params.start = content.start.as_ref().map(|s| format!("<{s}>"));
            ct.params.related_type.clone_from(&content.related_type);
            let parts = content
                .parts
                .iter()
                .map(|part| {
                    let mut p = tern_codec::wsp::Part::new(wsp_content_type(part), part.data.as_slice());
                    p.headers.content_id = part.content_id.as_ref().map(|id| format!("<{id}>"));
                    p.headers.content_location.clone_from(&part.content_location);
                    p
                })
                .collect();
            Body::multipart(ct, parts)
        }
    };
    body.encode(&mut out);
    out
}

fn wsp_content_type(part: &Part) -> ContentType {
    let mut params = Params::default();
    for (name, value) in &part.params {
        match name.as_str() {
            "charset" => match Charset::from_name(value) {
                Some(cs) => params.charset = Some(cs),
                None => params.other.push((name.clone(), value.clone())),
            },
            "name" => params.name = Some(value.clone()),
            "filename" => params.filename = Some(value.clone()),
            "type" => params.related_type = Some(value.clone()),
            "start" => params.start = Some(value.clone()),
            _ => params.other.push((name.clone(), value.clone())),
        }
    }
    ContentType { media_type: part.media_type.clone(), params }
}

/// Reads the content of a whole RFC 5322 message (its header fields other than the MIME ones
/// are ignored here). Transfer encodings are undone, text is converted to UTF-8 and labelled
/// `charset=utf-8`, text/html becomes text/plain, and multiparts are flattened as the module
/// header says.
pub fn from_mime(mail: &[u8]) -> Result<Content, ContentError> {
    let message = MessageParser::default().parse(mail).ok_or(ContentError::NotMime)?;
    from_message(&message)
}

/// [`from_mime`] on a message already parsed.
pub fn from_message(message: &Message<'_>) -> Result<Content, ContentError> {
    let root = message.parts.first().ok_or(ContentError::NotMime)?;
    let mut parts = Vec::new();
    collect(message, 0, 0, &mut parts)?;
    if !root.is_multipart() {
        return parts.pop().map(Content::single).ok_or(ContentError::NotMime);
    }
    let ct = root.content_type();
    let subtype = ct.and_then(|c| c.subtype()).unwrap_or("mixed").to_ascii_lowercase();
    let (media_type, start, related_type) = match subtype.as_str() {
        "related" => (
            "multipart/related".to_owned(),
            ct.and_then(|c| c.attribute("start")).map(strip_angles),
            ct.and_then(|c| c.attribute("type")).map(str::to_ascii_lowercase),
        ),
        // An alternative is reduced to one part, and the other multipart kinds (signed, report)
        // mean nothing to a handset: both are read as a list of parts.
        _ => ("multipart/mixed".to_owned(), None, None),
    };
    Ok(Content { media_type, start, related_type, parts })
}

/// Appends the leaves under part `id`, choosing one child of each multipart/alternative.
fn collect(message: &Message<'_>, id: usize, depth: usize, out: &mut Vec<Part>) -> Result<(), ContentError> {
    if depth >= MAX_DEPTH {
        return Err(ContentError::TooDeep);
    }
    let Some(part) = message.parts.get(id) else { return Ok(()) };
    let ct = part.content_type();
    let is_alternative = ct.is_some_and(|c| c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("alternative")));
    match &part.body {
        PartType::Multipart(children) if is_alternative => {
            let ids = || children.iter().map(|c| *c as usize);
            let plain = ids().find(|c| message.parts.get(*c).is_some_and(|p| matches!(p.body, PartType::Text(_))));
            let text = ids().find(|c| message.parts.get(*c).is_some_and(|p| p.is_text()));
            let best = plain.or(text).or_else(|| ids().next());
            if let Some(best) = best {
                collect(message, best, depth + 1, out)?;
            }
        }
        PartType::Multipart(children) => {
            for child in children {
                collect(message, *child as usize, depth + 1, out)?;
            }
        }
        body => {
            if out.len() >= MAX_PARTS {
                return Err(ContentError::TooManyParts);
            }
            out.push(mime_leaf(part, body));
        }
    }
    Ok(())
}

fn mime_leaf(part: &mail_parser::MessagePart<'_>, body: &PartType<'_>) -> Part {
    let ct = part.content_type();
    let declared = match ct {
        Some(c) => match c.subtype() {
            Some(sub) => format!("{}/{}", c.ctype(), sub),
            None => c.ctype().to_owned(),
        },
        None => "text/plain".to_owned(),
    };
    let (media_type, data, is_text) = match body {
        PartType::Text(text) => (declared, text.as_bytes().to_vec(), true),
        PartType::Html(html) => ("text/plain".to_owned(), html_to_text(html).into_bytes(), true),
        PartType::Message(nested) => ("message/rfc822".to_owned(), nested.raw_message().to_vec(), false),
        _ => (declared, part.contents().to_vec(), false),
    };
    let mut leaf = Part::new(media_type, data);
    if is_text {
        leaf.params.push(("charset".into(), "utf-8".into()));
    }
    if let Some(attributes) = ct.and_then(|c| c.attributes()) {
        for a in attributes {
            let name = a.name.to_ascii_lowercase();
            // Text was converted to UTF-8 above, so its declared charset no longer applies.
            if !(name == "boundary" || is_text && name == "charset") {
                leaf.params.push((name, a.value.to_string()));
            }
        }
    }
    let filename = part.content_disposition().and_then(|d| d.attribute("filename"));
    if let (None, Some(filename)) = (leaf.param("name"), filename) {
        leaf.params.push(("name".into(), filename.to_owned()));
    }
    leaf.content_id = part.content_id().map(strip_angles);
    leaf.content_location = part.content_location().map(str::to_owned);
    leaf
}

/// One part as a MIME leaf: its Content-Type with the parameters, Content-ID in angle brackets,
/// Content-Location. The bytes go as they are, so text keeps its charset; mail-builder picks
/// the transfer encoding (7bit, quoted-printable or base64 for text, base64 for anything else).
pub fn mime_leaf_part(part: &Part) -> MimePart<'_> {
    let mut ct = MimeType::new(part.media_type.as_str());
    for (name, value) in &part.params {
        ct = ct.attribute(name.as_str(), value.as_str());
    }
    let mut mime = MimePart::new(ct, BodyPart::Binary(part.data.as_slice().into()));
    if let Some(id) = &part.content_id {
        mime = mime.cid(id.as_str());
    }
    if let Some(location) = &part.content_location {
        mime = mime.location(location.as_str());
    }
    mime
}

/// The content as one MIME entity to put in a mail built with mail-builder: the leaf of a
/// single-part body, or the multipart with its `type` and `start` and a leaf per part.
pub fn mime_part(content: &Content) -> MimePart<'_> {
    if let (false, [part]) = (content.is_multipart(), content.parts.as_slice()) {
        return mime_leaf_part(part);
    }
    mime_multipart(content, content.parts.iter().map(mime_leaf_part).collect())
}

/// The multipart of `content` around the given leaves.
pub fn mime_multipart<'a>(content: &'a Content, leaves: Vec<MimePart<'a>>) -> MimePart<'a> {
    let media_type = if content.is_multipart() { content.media_type.as_str() } else { "multipart/mixed" };
    let mut ct = MimeType::new(media_type);
    if let Some(t) = &content.related_type {
        ct = ct.attribute("type", t.as_str());
    }
    if let Some(start) = &content.start {
        ct = ct.attribute("start", format!("<{start}>"));
    }
    MimePart::new(ct, BodyPart::Multipart(leaves))
}

/// Escapes text for an XML attribute value (a control character becomes a space).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Content with a generated presentation, for parts that came without one (an e-mail): a SMIL
/// part (Content-ID `<smil>`) first, with one slide per image, video or audio part and the text
/// parts beside them in order (the first text on the first slide, and so on; texts left over
/// get slides of their own), as multipart/related with `start=<smil>` and
/// `type=application/smil`. Existing SMIL parts are dropped; every part is given a
/// Content-Location (its name, else `partN`) and a Content-ID when it has none, so that the
/// presentation can point at it.
pub fn with_smil(parts: Vec<Part>) -> Content {
    let mut parts: Vec<Part> = parts.into_iter().filter(|p| !p.is_smil()).collect();
    let mut locations: Vec<String> = Vec::new();
    for (i, part) in parts.iter_mut().enumerate() {
        let mut location = part.name().map(str::to_owned).unwrap_or_else(|| format!("part{i}"));
        if locations.contains(&location) {
            location = format!("part{i}-{location}");
        }
        part.content_location = Some(location.clone());
        locations.push(location);
        if part.content_id.is_none() {
            part.content_id = Some(format!("part{i}"));
        }
    }
    let media: Vec<&Part> = parts.iter().filter(|p| p.is_media()).collect();
    let texts: Vec<&Part> = parts.iter().filter(|p| p.is_text()).collect();
    let slides = media.len().max(texts.len());
    let mut smil = String::from(concat!(
        "<smil><head><layout><root-layout width=\"100%\" height=\"100%\"/>",
        "<region id=\"Image\" top=\"0%\" left=\"0%\" width=\"100%\" height=\"70%\" fit=\"meet\"/>",
        "<region id=\"Text\" top=\"70%\" left=\"0%\" width=\"100%\" height=\"30%\" fit=\"scroll\"/>",
        "</layout></head><body>"
    ));
    for slide in 0..slides {
        smil.push_str("<par dur=\"5000ms\">");
        if let Some(part) = media.get(slide) {
            let src = xml_escape(part.content_location.as_deref().unwrap_or_default());
            let element = match part.media_type.split('/').next() {
                Some("image") => format!("<img src=\"{src}\" region=\"Image\"/>"),
                Some("video") => format!("<video src=\"{src}\" region=\"Image\"/>"),
                _ => format!("<audio src=\"{src}\"/>"),
            };
            smil.push_str(&element);
        }
        if let Some(part) = texts.get(slide) {
            let src = xml_escape(part.content_location.as_deref().unwrap_or_default());
            smil.push_str(&format!("<text src=\"{src}\" region=\"Text\"/>"));
        }
        smil.push_str("</par>");
    }
    smil.push_str("</body></smil>");
    let mut presentation = Part::new("application/smil", smil.into_bytes()).with_param("charset", "utf-8");
    presentation.content_id = Some("smil".into());
    presentation.content_location = Some("smil.xml".into());
    parts.insert(0, presentation);
    Content {
        media_type: "multipart/related".into(),
        start: Some("smil".into()),
        related_type: Some("application/smil".into()),
        parts,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mail_builder::MessageBuilder;
    use tern_codec::wsp::Part as WspPart;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\xff\xfe\r\n.\r\n";

    /// The end of a typical m-send.req: SMIL, UTF-8 text, a PNG with Content-ID, Content-Location
    /// and Name.
    fn send_req_body() -> Vec<u8> {
        let mut ct = ContentType::new("application/vnd.wap.multipart.related");
        ct.params.related_type = Some("application/smil".into());
        ct.params.start = Some("<smil>".into());
        let mut smil = WspPart::new(ContentType::new("application/smil"), &b"<smil><body/></smil>"[..]);
        smil.headers.content_id = Some("<smil>".into());
        smil.headers.content_location = Some("smil.xml".into());
        let mut text = WspPart::new(ContentType::new("text/plain").with_charset(Charset::UTF_8), "Grüße".as_bytes());
        text.headers.content_id = Some("<text0>".into());
        text.headers.content_location = Some("text0.txt".into());
        let mut image_ct = ContentType::new("image/png");
        image_ct.params.name = Some("cat.png".into());
        let mut image = WspPart::new(image_ct, PNG);
        image.headers.content_id = Some("<image0>".into());
        image.headers.content_location = Some("cat.png".into());
        let mut out = Vec::new();
        Body::multipart(ct, vec![smil, text, image]).encode(&mut out);
        out
    }

    #[test]
    fn a_send_req_body_round_trips_through_content() {
        let body = send_req_body();
        let content = from_wsp(&body).unwrap();
        assert_eq!(content.media_type, "multipart/related");
        assert_eq!(content.start.as_deref(), Some("smil"));
        assert_eq!(content.related_type.as_deref(), Some("application/smil"));
        assert_eq!(content.parts.len(), 3);
        let text = &content.parts[1];
        assert_eq!(text.param("charset"), Some("utf-8"));
        assert_eq!(text.data, "Grüße".as_bytes());
        let image = &content.parts[2];
        assert_eq!(image.content_id.as_deref(), Some("image0"));
        assert_eq!(image.content_location.as_deref(), Some("cat.png"));
        assert_eq!(image.param("name"), Some("cat.png"));
        assert_eq!(to_wsp(&content), body);
    }

    #[test]
    fn single_part_bodies_and_bad_bodies() {
        let mut body = Vec::new();
        Body { content_type: ContentType::new("text/plain"), data: BodyData::Single((&b"hi"[..]).into()) }
            .encode(&mut body);
        let content = from_wsp(&body).unwrap();
        assert_eq!(content.media_type, "text/plain");
        assert_eq!(content.parts[0].data, b"hi");
        assert_eq!(to_wsp(&content), body);
        assert!(from_wsp(b"").is_err());
        assert!(from_wsp(b"Content-Type: text/plain").is_err());
        assert!(from_wsp(&body[..1]).is_err());
        assert!(from_wsp(&[0x84, 0xB3, 0x8F, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn nested_wsp_multiparts_are_flattened_and_bounded() {
        let leaf = WspPart::new(ContentType::new("text/plain"), &b"x"[..]);
        let mut inner = Vec::new();
        multipart::encode(&[leaf], &mut inner);
        for _ in 0..MAX_DEPTH + 2 {
            let part = WspPart::new(ContentType::new("application/vnd.wap.multipart.mixed"), inner.clone());
            inner.clear();
            multipart::encode(&[part], &mut inner);
        }
        let mut body = vec![0x84, 0xA3];
        body.extend_from_slice(&inner);
        assert_eq!(from_wsp(&body), Err(ContentError::TooDeep));
    }

    fn mail_of(content: &Content) -> Vec<u8> {
        let mut out = Vec::new();
        MessageBuilder::new()
            .from("a@example.net")
            .to("b@example.net")
            .date(0i64)
            .message_id("m@example.net")
            .body(mime_part(content))
            .serialize(&mut out);
        out
    }

    #[test]
    fn content_survives_a_mime_mail() {
        let mut content = from_wsp(&send_req_body()).unwrap();
        let mut binary = Part::new("application/octet-stream", (0..=255u8).collect::<Vec<_>>());
        binary.content_id = Some("bin".into());
        content.parts.push(binary);
        let back = from_mime(&mail_of(&content)).unwrap();
        assert_eq!(back.media_type, content.media_type);
        assert_eq!(back.start, content.start);
        assert_eq!(back.related_type, content.related_type);
        assert_eq!(back.parts.len(), content.parts.len());
        for (got, sent) in back.parts.iter().zip(&content.parts) {
            assert_eq!(got.media_type, sent.media_type);
            assert_eq!(got.content_id, sent.content_id);
            assert_eq!(got.content_location, sent.content_location);
            assert_eq!(got.data, sent.data, "{}", sent.media_type);
            assert_eq!(got.param("name"), sent.param("name"));
        }
    }

    #[test]
    fn mime_leaves_are_decoded_and_alternatives_chosen() {
        let mail = concat!(
            "From: a@example.net\r\nSubject: x\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n",
            "--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n",
            "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>rich</p>\r\n",
            "--alt\r\nContent-Type: text/plain; charset=iso-8859-1\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n--alt--\r\n",
            "--outer\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n",
            "Content-Disposition: attachment; filename=\"a.gif\"\r\nContent-ID: <g1>\r\n\r\nR0lGODlh\r\n",
            "--outer\r\nContent-Type: text/html\r\n\r\n<p>only html</p>\r\n--outer--\r\n",
        );
        let content = from_mime(mail.as_bytes()).unwrap();
        assert_eq!(content.media_type, "multipart/mixed");
        let types: Vec<&str> = content.parts.iter().map(|p| p.media_type.as_str()).collect();
        assert_eq!(types, ["text/plain", "image/gif", "text/plain"]);
        assert_eq!(content.parts[0].data, "Grüße".as_bytes());
        assert_eq!(content.parts[0].param("charset"), Some("utf-8"));
        assert_eq!(content.parts[1].data, b"GIF89a");
        assert_eq!(content.parts[1].param("name"), Some("a.gif"));
        assert_eq!(content.parts[1].content_id.as_deref(), Some("g1"));
        let html = String::from_utf8_lossy(&content.parts[2].data).into_owned();
        assert!(html.contains("only html"), "{html:?}");
    }

    #[test]
    fn a_plain_mail_is_one_part() {
        let content = from_mime(b"From: a@example.net\r\nSubject: hi\r\n\r\nHello\r\n").unwrap();
        assert_eq!(content.media_type, "text/plain");
        assert_eq!(content.parts.len(), 1);
        assert!(content.parts[0].data.starts_with(b"Hello"));
    }

    #[test]
    fn hostile_mail_is_refused_without_panic() {
        let mut deep = String::from("From: a@b\r\n");
        for i in 0..64 {
            deep.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
        }
        deep.push_str("Content-Type: text/plain\r\n\r\nx\r\n");
        assert_eq!(from_mime(deep.as_bytes()), Err(ContentError::TooDeep));
        let mut many = String::from("From: a@b\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
        for _ in 0..MAX_PARTS + 1 {
            many.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        assert_eq!(from_mime(many.as_bytes()), Err(ContentError::TooManyParts));
        for junk in [&b""[..], b"\0\xff\xfe", b"\r\n\r\n", b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x"] {
            let _ = from_mime(junk);
        }
        let huge = format!("Subject: {}\r\n\r\nbody", "x".repeat(1 << 20));
        assert!(from_mime(huge.as_bytes()).is_ok());
    }

    #[test]
    fn generated_smil_escapes_names_and_points_at_every_part() {
        let image = Part::new("image/jpeg", &b"jpg"[..]).with_param("name", "a&b\"<x>.jpg");
        let text = Part::new("text/plain", &b"hello"[..]).with_param("charset", "utf-8");
        let extra = Part::new("text/plain", &b"more"[..]);
        let old = Part::new("application/smil", &b"<smil/>"[..]);
        let content = with_smil(vec![text, image, extra, old]);
        assert_eq!(content.media_type, "multipart/related");
        assert_eq!(content.start.as_deref(), Some("smil"));
        assert_eq!(content.parts.len(), 4);
        let smil = String::from_utf8(content.parts[0].data.clone()).unwrap();
        assert_eq!(content.parts[0].content_id.as_deref(), Some("smil"));
        assert!(smil.contains("<img src=\"a&amp;b&quot;&lt;x&gt;.jpg\" region=\"Image\"/>"), "{smil}");
        assert!(smil.contains("<text src=\"part0\" region=\"Text\"/>"), "{smil}");
        assert_eq!(smil.matches("<par ").count(), 2);
        assert!(content.parts.iter().all(|p| p.content_id.is_some() && p.content_location.is_some()));
    }
}
