//! Which relay a URL belongs to: its origin, the scheme, host and port (the scheme's default
//! port when none is written), compared the way browsers compare origins. The multi-relay rule
//! keys everything on it: which relays are trusted, and where a notification's retrieval and
//! indications go.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;

/// The scheme, host and port of an `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    /// As the URL parser normalises it: domains lower-cased, IPv6 in brackets.
    host: String,
    port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("{url:?} is not a URL: {reason}")]
    Parse { url: String, reason: String },
    #[error("{0:?} is not an http:// or https:// URL")]
    Scheme(String),
    #[error("{0:?} names no host")]
    NoHost(String),
}

impl Origin {
    /// The origin of an absolute URL (a path, query and fragment may follow).
    pub fn of(url: &str) -> Result<Origin, OriginError> {
        let parsed =
            Url::parse(url.trim()).map_err(|e| OriginError::Parse { url: url.to_owned(), reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OriginError::Scheme(url.to_owned()));
        }
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| OriginError::NoHost(url.to_owned()))?;
        // Known for http and https, which are the only schemes let through.
        let port = parsed.port_or_known_default().ok_or_else(|| OriginError::Scheme(url.to_owned()))?;
        Ok(Origin { scheme: parsed.scheme().to_owned(), host: host.to_owned(), port })
    }

    /// `path` (which starts with `/`) on this origin.
    pub fn join(&self, path: &str) -> String {
        format!("{self}{path}")
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Origin, OriginError> {
        Origin::of(s)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(url: &str) -> Origin {
        Origin::of(url).unwrap()
    }

    #[test]
    fn same_scheme_host_and_port_is_the_same_relay() {
        assert_eq!(o("http://127.0.0.1:8002/m/abc"), o("http://127.0.0.1:8002"));
        assert_eq!(o("http://127.0.0.1:8002/mms?x=1#f"), o("HTTP://127.0.0.1:8002/"));
        assert_eq!(o("http://MMSC.Example.NET/m/1"), o("http://mmsc.example.net:80"));
        assert_eq!(o("https://mmsc.example.net/x"), o("https://mmsc.example.net:443/y"));
        assert_eq!(o("http://user:pw@mmsc.example.net/"), o("http://mmsc.example.net/"));
        assert_eq!(o("http://[::1]:8002/m/x"), o("http://[0:0::1]:8002"));
    }

    #[test]
    fn any_difference_is_another_relay() {
        let home = o("http://127.0.0.1:8002/mms");
        for other in [
            "http://127.0.0.1:8003/m/abc",
            "https://127.0.0.1:8002/m/abc",
            "http://localhost:8002/m/abc",
            "http://127.0.0.2:8002/m/abc",
            "http://127.0.0.1/m/abc",
        ] {
            assert_ne!(o(other), home, "{other}");
        }
        assert_ne!(o("http://mmsc.example.net/"), o("http://mmsc.example.net.evil.org/"));
    }

    #[test]
    fn shown_with_its_port_and_joined_to_a_path() {
        assert_eq!(o("http://MMS/m/1").to_string(), "http://mms:80");
        assert_eq!(o("https://[::1]/").join("/mms"), "https://[::1]:443/mms");
    }

    #[test]
    fn only_absolute_web_urls_have_one() {
        for bad in ["", "/m/abc", "mms/m/abc", "ftp://host/x", "file:///etc/passwd", "http://", "\u{0}"] {
            assert!(Origin::of(bad).is_err(), "{bad:?}");
        }
    }
}
