//! Content with parts taken out by the `replace` action: each replaced part becomes a text part
//! carrying its profile's text, under the same Content-ID (so a presentation that points at it
//! still finds a part) and a name that says what it is.

use crate::content::{Content, Part};

/// `content` with each part of `parts` (by index) replaced by the text `text_of` gives it.
pub fn replace<'a>(content: &Content, parts: &[usize], text_of: impl Fn(usize) -> &'a str) -> Content {
    let mut out = content.clone();
    for &i in parts {
        if let Some(part) = out.parts.get_mut(i) {
            let mut text = Part::new("text/plain", text_of(i)).with_param("charset", "utf-8");
            text.content_id = part.content_id.take();
            text.content_location = Some(format!("removed-{}.txt", i + 1));
            *part = text;
        }
    }
    out
}

/// Content that is only the text, as a multipart of one part (the form every handset reads):
/// what replaces a whole message.
pub fn replacement_only(text: &str) -> Content {
    let mut part = Part::new("text/plain", text).with_param("charset", "utf-8");
    part.content_location = Some("removed.txt".into());
    Content { media_type: "multipart/mixed".into(), start: None, related_type: None, parts: vec![part] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_parts_keep_their_place_and_content_id() {
        let mut picture = Part::new("image/png", b"\x89PNG".to_vec());
        picture.content_id = Some("pic".into());
        let content = Content {
            media_type: "multipart/related".into(),
            start: None,
            related_type: None,
            parts: vec![Part::new("text/plain", "hello"), picture],
        };
        let out = replace(&content, &[1, 7], |_| "removed");
        assert_eq!(out.parts[0], content.parts[0]);
        assert_eq!((out.parts[1].media_type.as_str(), out.parts[1].data.as_slice()), ("text/plain", &b"removed"[..]));
        assert_eq!(out.parts[1].content_id.as_deref(), Some("pic"));
        assert_eq!(out.parts[1].param("charset"), Some("utf-8"));
        let only = replacement_only("gone");
        assert_eq!((only.parts.len(), only.media_type.as_str()), (1, "multipart/mixed"));
    }
}
