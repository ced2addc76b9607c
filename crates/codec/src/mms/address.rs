//! MMS addresses (OMA-MMS-ENC §8): `+E164/TYPE=PLMN`, IPv4/IPv6, e-mail, short codes and the
//! aliases real relays send. The text is kept as received; its kind is derived on demand.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wsp::EncodedString;

/// An address as carried in To/Cc/Bcc/From: encoded text, possibly with a charset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address(pub EncodedString);

/// What an address designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressKind<'a> {
    /// A phone number (`+4478.../TYPE=PLMN`, or digits without the type suffix).
    Phone(&'a str),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Email(&'a str),
    /// A numeric short code (up to 8 digits, no `+`).
    ShortCode(&'a str),
    /// `value/TYPE=other` with a type we do not know, or an IP type that does not parse.
    Other {
        value: &'a str,
        kind: &'a str,
    },
    /// Anything else: an alphanumeric short code or a display name such as "Erotik".
    Alias(&'a str),
}

impl Address {
    pub fn new(text: impl Into<String>) -> Self {
        Address(EncodedString::auto(text))
    }

    /// A phone number in the canonical `+E164/TYPE=PLMN` form.
    pub fn phone(number: &str) -> Self {
        Address::new(format!("{number}/TYPE=PLMN"))
    }

    pub fn text(&self) -> &str {
        &self.0.text
    }

    pub fn kind(&self) -> AddressKind<'_> {
        let text = self.text().trim();
        if let Some(at) = find_ignore_case(text, "/TYPE=") {
            let (value, kind) = (&text[..at], &text[at + 6..]);
            return match kind.to_ascii_uppercase().as_str() {
                "PLMN" => AddressKind::Phone(value),
                "IPV4" => value.parse().map_or(AddressKind::Other { value, kind }, AddressKind::Ipv4),
                "IPV6" => value.parse().map_or(AddressKind::Other { value, kind }, AddressKind::Ipv6),
                _ => AddressKind::Other { value, kind },
            };
        }
        let digits = text.strip_prefix('+').unwrap_or(text);
        if text.contains('@') {
            AddressKind::Email(text)
        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if text.starts_with('+') || digits.len() > 8 {
                AddressKind::Phone(text)
            } else {
                AddressKind::ShortCode(text)
            }
        } else {
            AddressKind::Alias(text)
        }
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|i| h[*i..*i + n.len()].eq_ignore_ascii_case(n))
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let k = |s: &str| format!("{:?}", Address::new(s).kind());
        assert_eq!(k("+447785342749/TYPE=PLMN"), "Phone(\"+447785342749\")");
        assert_eq!(k("10.0.0.1/TYPE=IPv4"), "Ipv4(10.0.0.1)");
        assert_eq!(k("::1/TYPE=IPV6"), "Ipv6(::1)");
        assert_eq!(k("300.0.0.1/TYPE=IPv4"), "Other { value: \"300.0.0.1\", kind: \"IPv4\" }");
        assert_eq!(k("tdpt@ajajg.cdm"), "Email(\"tdpt@ajajg.cdm\")");
        assert_eq!(k("12345"), "ShortCode(\"12345\")");
        assert_eq!(k("+12345"), "Phone(\"+12345\")");
        assert_eq!(k("0612345678"), "Phone(\"0612345678\")");
        assert_eq!(k("Erotik"), "Alias(\"Erotik\")");
        assert_eq!(k("x/TYPE=foo"), "Other { value: \"x\", kind: \"foo\" }");
    }
}
