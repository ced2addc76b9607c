//! Character sets named by IANA MIBenum, as WSP encodes them, and their conversion to Unicode.
//!
//! Conversion uses `encoding_rs`, except for the sets where its WHATWG mappings differ from
//! what MMS peers mean: us-ascii and iso-8859-1 are mapped octet for octet, and UCS-2/UTF-16
//! are written by hand because `encoding_rs` only decodes them. KS_C_5601 decodes as CP949.

use encoding_rs::Encoding;

/// A character set, by its IANA MIBenum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Charset(pub u32);

const TABLE: &[(u32, &str)] = &[
    (3, "us-ascii"),
    (4, "iso-8859-1"),
    (5, "iso-8859-2"),
    (6, "iso-8859-3"),
    (7, "iso-8859-4"),
    (8, "iso-8859-5"),
    (9, "iso-8859-6"),
    (10, "iso-8859-7"),
    (11, "iso-8859-8"),
    (12, "iso-8859-9"),
    (13, "iso-8859-10"),
    (17, "shift_jis"),
    (18, "euc-jp"),
    (36, "ks_c_5601-1987"),
    (37, "iso-2022-kr"),
    (38, "euc-kr"),
    (39, "iso-2022-jp"),
    (106, "utf-8"),
    (109, "iso-8859-13"),
    (110, "iso-8859-14"),
    (111, "iso-8859-15"),
    (112, "iso-8859-16"),
    (113, "gbk"),
    (114, "gb18030"),
    (1000, "iso-10646-ucs-2"),
    (1013, "utf-16be"),
    (1014, "utf-16le"),
    (1015, "utf-16"),
    (2025, "gb2312"),
    (2026, "big5"),
    (2084, "koi8-r"),
    (2088, "koi8-u"),
    (2250, "windows-1250"),
    (2251, "windows-1251"),
    (2252, "windows-1252"),
    (2253, "windows-1253"),
    (2254, "windows-1254"),
    (2255, "windows-1255"),
    (2256, "windows-1256"),
    (2257, "windows-1257"),
    (2258, "windows-1258"),
];

enum Codec {
    Ascii,
    Latin1,
    Utf16 { little_endian: bool, bom: bool },
    Whatwg(&'static Encoding),
}

impl Charset {
    pub const US_ASCII: Charset = Charset(3);
    pub const ISO_8859_1: Charset = Charset(4);
    pub const UTF_8: Charset = Charset(106);
    pub const UCS_2: Charset = Charset(1000);
    pub const UTF_16: Charset = Charset(1015);

    /// The preferred MIME name, when the MIBenum is one we know.
    pub fn name(self) -> Option<&'static str> {
        TABLE.iter().find(|(n, _)| *n == self.0).map(|(_, name)| *name)
    }

    /// Looks a charset up by name (case-insensitive, common aliases included).
    pub fn from_name(name: &str) -> Option<Charset> {
        let lower = name.trim().to_ascii_lowercase();
        let alias = match lower.as_str() {
            "ascii" | "us_ascii" => "us-ascii",
            "utf8" => "utf-8",
            "latin1" | "iso_8859-1" | "iso8859-1" => "iso-8859-1",
            "ks_c_5601" | "ksc5601" | "cp949" => "ks_c_5601-1987",
            "sjis" | "shift-jis" => "shift_jis",
            "ucs-2" => "iso-10646-ucs-2",
            other => other,
        };
        TABLE.iter().find(|(_, n)| *n == alias).map(|(mib, _)| Charset(*mib))
    }

    fn codec(self) -> Option<Codec> {
        let label: &[u8] = match self.0 {
            3 => return Some(Codec::Ascii),
            4 => return Some(Codec::Latin1),
            1000 | 1013 => return Some(Codec::Utf16 { little_endian: false, bom: false }),
            1014 => return Some(Codec::Utf16 { little_endian: true, bom: false }),
            1015 => return Some(Codec::Utf16 { little_endian: false, bom: true }),
            36 => b"euc-kr",
            2025 => b"gbk",
            _ => self.name()?.as_bytes(),
        };
        Encoding::for_label(label).map(Codec::Whatwg)
    }

    /// Decodes `bytes` to Unicode. Unknown charsets are read as UTF-8, replacing bad sequences.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self.codec() {
            Some(Codec::Ascii | Codec::Latin1) => bytes.iter().map(|b| char::from(*b)).collect(),
            Some(Codec::Utf16 { little_endian, bom }) => decode_utf16(bytes, little_endian, bom),
            Some(Codec::Whatwg(enc)) => enc.decode_without_bom_handling(bytes).0.into_owned(),
            None => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// Encodes `text` in this charset; `None` when it cannot represent the text exactly.
    pub fn encode(self, text: &str) -> Option<Vec<u8>> {
        match self.codec()? {
            Codec::Ascii => text.is_ascii().then(|| text.as_bytes().to_vec()),
            Codec::Latin1 => text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect(),
            Codec::Utf16 { little_endian, bom } => {
                let mut out = Vec::with_capacity(text.len() * 2 + 2);
                let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
                for unit in units {
                    let b = if little_endian { unit.to_le_bytes() } else { unit.to_be_bytes() };
                    out.extend_from_slice(&b);
                }
                Some(out)
            }
            Codec::Whatwg(enc) => {
                let (bytes, used, unmappable) = enc.encode(text);
                // Some encoders map a character to a near one rather than report it (ISO-2022-JP
                // writes half-width katakana as full-width), so the bytes must read back as the text.
                let exact = !unmappable && used == enc && enc.decode_without_bom_handling(&bytes).0 == text;
                exact.then(|| bytes.into_owned())
            }
        }
    }

    /// Whether text in this charset may contain NUL octets (and so cannot end at the first NUL).
    pub fn is_wide(self) -> bool {
        matches!(self.codec(), Some(Codec::Utf16 { .. }))
    }
}

fn decode_utf16(bytes: &[u8], mut little_endian: bool, bom: bool) -> String {
    let mut body = bytes;
    if bom {
        match bytes {
            [0xFE, 0xFF, rest @ ..] => body = rest,
            [0xFF, 0xFE, rest @ ..] => {
                little_endian = true;
                body = rest;
            }
            _ => {}
        }
    }
    let units = body
        .chunks_exact(2)
        .map(|c| if little_endian { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) });
    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

impl std::fmt::Display for Charset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "mibenum-{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_charsets_handsets_send() {
        assert_eq!(Charset(106).decode("Привет".as_bytes()), "Привет");
        assert_eq!(Charset(4).decode(&[0x48, 0xE9, 0x80]), "Hé\u{80}");
        assert_eq!(Charset(1015).decode(&[0xFE, 0xFF, 0, b'h', 0, b'i']), "hi");
        assert_eq!(Charset(1015).decode(&[0xFF, 0xFE, b'h', 0, b'i', 0]), "hi");
        assert_eq!(Charset(36).decode(&[0xBE, 0xC8, 0xB3, 0xE7]), "안녕");
        assert_eq!(Charset(17).decode(&[0x82, 0xA0]), "あ");
        assert_eq!(Charset(2026).decode(&[0xA4, 0xA4]), "中");
        assert_eq!(Charset(2025).decode(&[0xD6, 0xD0]), "中");
        assert_eq!(Charset(2251).decode(&[0xCF]), "П");
        assert_eq!(Charset(111).decode(&[0xA4]), "€");
    }

    #[test]
    fn encodes_back_or_says_it_cannot() {
        for (mib, text) in [(106, "Привет"), (4, "Hé"), (1015, "hi ☺"), (36, "안녕"), (2026, "中"), (3, "ok")]
        {
            let cs = Charset(mib);
            assert_eq!(cs.decode(&cs.encode(text).unwrap()), text, "{cs}");
        }
        assert_eq!(Charset(3).encode("é"), None);
        assert_eq!(Charset(4).encode("€"), None);
        assert_eq!(Charset(9999).encode("x"), None);
    }

    /// Found by the decode_mms fuzz target: ISO-2022-JP reads half-width katakana (the JIS X
    /// 0201 escape) but writes them as full-width ones, so a Subject in it changed on a round trip.
    #[test]
    fn a_charset_that_would_change_the_text_is_not_used() {
        let iso_2022_jp = Charset(39);
        let half_width = iso_2022_jp.decode(b"\x1b(I/*\x1b(B");
        assert_eq!(half_width, "\u{FF6F}\u{FF6A}");
        assert_eq!(iso_2022_jp.encode(&half_width), None);
        assert_eq!(iso_2022_jp.decode(&iso_2022_jp.encode("\u{30C3}").unwrap()), "\u{30C3}");
    }

    #[test]
    fn names_and_aliases() {
        assert_eq!(Charset::from_name("UTF-8"), Some(Charset::UTF_8));
        assert_eq!(Charset::from_name("KS_C_5601"), Some(Charset(36)));
        assert_eq!(Charset(2025).to_string(), "gb2312");
        assert_eq!(Charset(4242).to_string(), "mibenum-4242");
    }
}
