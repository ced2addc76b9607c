//! Names that become file names or part locations: whatever a relay, a push or a user's file
//! name says, the result is one plain path component (no separators, no `..`, no hidden or
//! control characters), unique within its message.

use std::collections::HashSet;

/// Longest name kept, in characters; file systems allow 255 octets and a suffix may be added.
const MAX_LEN: usize = 100;

/// A safe file name from `raw`: its last path component with every character outside
/// `A-Z a-z 0-9 . _ -` replaced by `_`, no leading dot, at most [`MAX_LEN`] characters. `None`
/// when nothing usable is left.
pub fn sanitize(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(MAX_LEN)
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    (!cleaned.is_empty() && cleaned.chars().any(|c| c.is_ascii_alphanumeric())).then(|| cleaned.to_owned())
}

/// `name`, or `name-2`, `name-3`... (before the extension) if a name equal to it ignoring case
/// is already in `taken`, since case-insensitive file systems would merge them.
pub fn unique(name: &str, taken: &mut HashSet<String>) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    let mut candidate = name.to_owned();
    let mut n = 1;
    while !taken.insert(candidate.to_ascii_lowercase()) {
        n += 1;
        candidate = format!("{stem}-{n}{ext}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_in_their_directory() {
        for (raw, want) in [
            ("photo.jpg", Some("photo.jpg")),
            ("../../etc/passwd", Some("passwd")),
            ("C:\\Users\\x\\evil.exe", Some("evil.exe")),
            ("..", None),
            (".hidden", Some("hidden")),
            ("", None),
            ("/", None),
            ("a b\u{0}c\n.txt", Some("a_b_c_.txt")),
            ("фото.jpg", Some("____.jpg")),
            ("<smil>", Some("_smil_")),
            ("___", None),
        ] {
            assert_eq!(sanitize(raw).as_deref(), want, "{raw:?}");
        }
        assert_eq!(sanitize(&"x".repeat(500)).map(|s| s.len()), Some(MAX_LEN));
    }

    #[test]
    fn duplicates_get_a_number_before_the_extension() {
        let mut taken = HashSet::new();
        assert_eq!(unique("a.jpg", &mut taken), "a.jpg");
        assert_eq!(unique("A.JPG", &mut taken), "A-2.JPG");
        assert_eq!(unique("a.jpg", &mut taken), "a-3.jpg");
        assert_eq!(unique("noext", &mut taken), "noext");
        assert_eq!(unique("noext", &mut taken), "noext-2");
    }
}
