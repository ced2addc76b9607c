//! Addresses: bringing the many ways a handset or a proxy writes one (MMS `/TYPE=PLMN` text,
//! national or international dialling, spaced-out numbers, e-mail with a display name, short
//! codes) to one canonical form, and its kind (a number of ours, another network's, e-mail, a
//! short code); [`super::routing`] decides where each goes.

use std::fmt;
use std::net::IpAddr;

use super::settings::SubscribersConfig;

/// E.164 allows at most 15 digits; fewer than 6 is no real number.
const E164_DIGITS: std::ops::RangeInclusive<usize> = 6..=15;
/// Longer runs of digits are phone numbers.
const SHORT_CODE_DIGITS: std::ops::RangeInclusive<usize> = 3..=8;
/// The most an alphanumeric sender ID can hold in GSM.
const ALPHANUMERIC_MAX: usize = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// A subscriber of this relay.
    Local,
    /// A phone number served by another operator's relay.
    RemotePlmn,
    Email,
    ShortCode,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Route::Local => "local",
            Route::RemotePlmn => "remote-plmn",
            Route::Email => "email",
            Route::ShortCode => "short-code",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Normalized {
    /// `+15551234567` for phones; `user@example.net` (domain lower-cased) for e-mail; a short
    /// code as given.
    pub canonical: String,
    pub route: Route,
}

impl Normalized {
    pub fn is_phone(&self) -> bool {
        matches!(self.route, Route::Local | Route::RemotePlmn)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("invalid address {address:?}: {reason}")]
    Invalid { address: String, reason: &'static str },
    /// A well-formed address of a kind this relay does not route to (IP addresses).
    #[error("unsupported address {address:?}: this relay does not route {kind} addresses")]
    Unsupported { address: String, kind: String },
}

pub fn normalize(raw: &str, cfg: &SubscribersConfig) -> Result<Normalized, AddressError> {
    let n = classify(raw, cfg)?;
    // Short numbers a lab or private network gives its own handsets are local subscribers.
    let served = |code: &str| cfg.local_short_codes.iter().any(|p| code.starts_with(p.as_str()));
    Ok(match n.route {
        Route::ShortCode if n.canonical.bytes().all(|b| b.is_ascii_digit()) && served(&n.canonical) => {
            Normalized { route: Route::Local, ..n }
        }
        _ => n,
    })
}

fn classify(raw: &str, cfg: &SubscribersConfig) -> Result<Normalized, AddressError> {
    let invalid = |reason| AddressError::Invalid { address: raw.to_owned(), reason };
    let unsupported = |kind: &str| AddressError::Unsupported { address: raw.to_owned(), kind: kind.to_owned() };

    let text = raw.trim();
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    // The MMS `/TYPE=` suffix: PLMN is a phone number; IPv4, IPv6 and escaped types are not.
    if let Some(at) = text.to_ascii_lowercase().rfind("/type=") {
        let kind = &text[at + "/type=".len()..];
        if !kind.eq_ignore_ascii_case("PLMN") {
            return Err(unsupported(kind));
        }
        return phone_or_short_code(&text[..at], cfg).ok_or_else(|| invalid("not a phone number"));
    }
    if text.contains('@') {
        return email(text).ok_or_else(|| invalid("not an e-mail address"));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Err(unsupported(if ip.is_ipv4() { "IPv4" } else { "IPv6" }));
    }
    if text.len() <= ALPHANUMERIC_MAX
        && text.bytes().all(|b| b.is_ascii_alphanumeric())
        && text.bytes().any(|b| b.is_ascii_alphabetic())
    {
        return Ok(Normalized { canonical: text.to_owned(), route: Route::ShortCode });
    }
    phone_or_short_code(text, cfg).ok_or_else(|| invalid("not a phone number, short code or e-mail address"))
}

/// The address as MMS header text.
pub fn to_mms(n: &Normalized) -> String {
    if n.is_phone() { format!("{}/TYPE=PLMN", n.canonical) } else { n.canonical.clone() }
}

/// Dialled forms are tried longest prefix first: international, national, then bare digits
/// (a phone number when long, a short code when short).
fn phone_or_short_code(text: &str, cfg: &SubscribersConfig) -> Option<Normalized> {
    let text = text.trim();
    let (plus, rest) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    // No country code begins with 0.
    let e164 =
        |number: &str| (E164_DIGITS.contains(&number.len()) && !number.starts_with('0')).then(|| format!("+{number}"));

    let canonical = if plus {
        e164(&digits)?
    } else if let Some(n) = strip_nonempty(&digits, &cfg.international_prefix).and_then(e164) {
        n
    } else if let Some(n) =
        strip_nonempty(&digits, &cfg.national_prefix).and_then(|n| e164(&format!("{}{n}", cfg.country_code)))
    {
        n
    } else if digits.len() > *SHORT_CODE_DIGITS.end() {
        e164(&digits)?
    } else if SHORT_CODE_DIGITS.contains(&digits.len()) {
        return Some(Normalized { canonical: digits, route: Route::ShortCode });
    } else {
        return None;
    };
    let local = cfg.local.iter().any(|prefix| canonical.starts_with(prefix.as_str()));
    Some(Normalized { canonical, route: if local { Route::Local } else { Route::RemotePlmn } })
}

fn strip_nonempty<'a>(digits: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() { None } else { digits.strip_prefix(prefix) }
}

/// `user@example.net` or `Name <user@example.net>`. Deliberately loose about the local part:
/// the receiving mail server is the judge of it.
fn email(text: &str) -> Option<Normalized> {
    let addr = match text.rfind('<') {
        Some(open) => text[open + 1..].strip_suffix('>')?.trim(),
        None => text,
    };
    let (local, domain) = addr.rsplit_once('@')?;
    let local_ok = !local.is_empty()
        && local.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '@' | ',' | '"' | '(' | ')'));
    let domain_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    (local_ok && domain_ok)
        .then(|| Normalized { canonical: format!("{local}@{}", domain.to_ascii_lowercase()), route: Route::Email })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SubscribersConfig {
        SubscribersConfig::default()
    }

    fn norm(raw: &str) -> (String, Route) {
        let n = normalize(raw, &cfg()).unwrap_or_else(|e| panic!("{raw}: {e}"));
        (n.canonical, n.route)
    }

    fn local(s: &str) -> (String, Route) {
        (s.to_owned(), Route::Local)
    }

    #[test]
    fn plmn_forms() {
        assert_eq!(norm("+15551234567/TYPE=PLMN"), local("+15551234567"));
        assert_eq!(norm("+15551234567/type=plmn"), local("+15551234567"));
        assert_eq!(norm(" +15551234567/Type=Plmn "), local("+15551234567"));
        assert_eq!(norm("+15551234567"), local("+15551234567"));
        assert_eq!(norm("+1 555-123 4567"), local("+15551234567"));
        assert_eq!(norm("+1 (555) 123.4567"), local("+15551234567"));
        assert_eq!(norm("+1 (555) 123-4567/TYPE=PLMN"), local("+15551234567"));
    }

    #[test]
    fn dialled_forms() {
        assert_eq!(norm("0015551234567"), local("+15551234567"));
        assert_eq!(norm("05551234567"), local("+15551234567"));
        assert_eq!(norm("0555 123 4567"), local("+15551234567"));
        assert_eq!(norm("15551234567"), local("+15551234567"));
        assert_eq!(norm("447700900123"), ("+447700900123".into(), Route::RemotePlmn));
        assert_eq!(norm("00447700900123/TYPE=PLMN"), ("+447700900123".into(), Route::RemotePlmn));
    }

    #[test]
    fn numbering_plan_comes_from_config() {
        let uk = SubscribersConfig {
            country_code: "44".into(),
            international_prefix: "00".into(),
            national_prefix: "0".into(),
            local: vec!["+447700".into()],
            ..cfg()
        };
        let n = normalize("07700 900123", &uk).unwrap();
        assert_eq!((n.canonical.as_str(), n.route), ("+447700900123", Route::Local));
        let n = normalize("0015551234567", &uk).unwrap();
        assert_eq!((n.canonical.as_str(), n.route), ("+15551234567", Route::RemotePlmn));

        let no_prefixes =
            SubscribersConfig { national_prefix: String::new(), international_prefix: String::new(), ..uk };
        assert_eq!(normalize("4915123456789", &no_prefixes).unwrap().canonical, "+4915123456789");
        assert!(normalize("0015551234567", &no_prefixes).is_err());
    }

    #[test]
    fn route_is_remote_outside_local_ranges() {
        assert_eq!(norm("+15561234567"), ("+15561234567".into(), Route::RemotePlmn));
        let two = SubscribersConfig { local: vec!["+1555".into(), "+1666".into()], ..cfg() };
        assert_eq!(normalize("+16661234567", &two).unwrap().route, Route::Local);
    }

    #[test]
    fn short_codes() {
        assert_eq!(norm("123"), ("123".into(), Route::ShortCode));
        assert_eq!(norm("12345678"), ("12345678".into(), Route::ShortCode));
        assert_eq!(norm("12345/TYPE=PLMN"), ("12345".into(), Route::ShortCode));
        assert_eq!(norm("VoteNow"), ("VoteNow".into(), Route::ShortCode));
        assert_eq!(norm("Info24"), ("Info24".into(), Route::ShortCode));
        // A short code beginning with the national prefix that is too short to be a number.
        assert_eq!(norm("0123"), ("0123".into(), Route::ShortCode));
    }

    #[test]
    fn email_addresses() {
        assert_eq!(norm("User@Example.NET"), ("User@example.net".into(), Route::Email));
        assert_eq!(
            norm("Jane Doe <Jane.Doe+mms@Mail.Example.com>"),
            ("Jane.Doe+mms@mail.example.com".into(), Route::Email)
        );
        assert_eq!(norm("\"Doe, Jane\" <jd@example.com>"), ("jd@example.com".into(), Route::Email));
    }

    #[test]
    fn to_mms_text() {
        let cfg = cfg();
        assert_eq!(to_mms(&normalize("05551234567", &cfg).unwrap()), "+15551234567/TYPE=PLMN");
        assert_eq!(to_mms(&normalize("+447700900123", &cfg).unwrap()), "+447700900123/TYPE=PLMN");
        assert_eq!(to_mms(&normalize("A <a@B.org>", &cfg).unwrap()), "a@b.org");
        assert_eq!(to_mms(&normalize("12345", &cfg).unwrap()), "12345");
    }

    #[test]
    fn ip_addresses_are_unsupported() {
        for raw in ["10.0.0.1/TYPE=IPv4", "fe80::1/TYPE=IPV6", "10.0.0.1", "::1", "x/TYPE=USER"] {
            assert!(matches!(normalize(raw, &cfg()), Err(AddressError::Unsupported { .. })), "{raw}");
        }
    }

    #[test]
    fn invalid() {
        for raw in [
            "",
            "   ",
            "+",
            "+12345",            // too short for E.164
            "+1234567890123456", // too long for E.164
            "+05551234567",      // no country code begins with 0
            "12",
            "12345678901234567",
            "+1555abc4567",
            "555_1234",
            "TooLongForASender",
            "@example.net",
            "user@",
            "user@exa mple.net",
            "user@-example.net",
            "user@example..net",
            "a b@example.net",
            "Name <user@example.net",
            "abc/TYPE=PLMN",
            "+1/TYPE=PLMN",
        ] {
            assert!(matches!(normalize(raw, &cfg()), Err(AddressError::Invalid { .. })), "{raw:?}");
        }
    }

    #[test]
    fn route_names() {
        let names = [Route::Local, Route::RemotePlmn, Route::Email, Route::ShortCode].map(|r| r.to_string());
        assert_eq!(names, ["local", "remote-plmn", "email", "short-code"]);
    }
}
