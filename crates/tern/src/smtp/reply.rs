//! An SMTP reply: the three-digit code, the RFC 3463 enhanced status code when there is one, and
//! one line of text, with the replies the server and its handlers use most, and the writing of
//! a reply on the wire (through smtp-proto's response writer when it has an enhanced code).

use std::fmt;

/// One SMTP reply, as the server sends it or a handler decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code (RFC 5321 section 4.2): 2xx done, 3xx go on, 4xx try later, 5xx never.
    pub code: u16,
    /// The enhanced status code (RFC 3463) as its three numbers, such as `[5, 1, 1]`.
    pub enhanced: Option<[u8; 3]>,
    /// One line of text; line breaks in it are sent as spaces.
    pub text: String,
}

impl Reply {
    /// A reply with an enhanced status code.
    pub fn new(code: u16, enhanced: [u8; 3], text: impl Into<String>) -> Reply {
        Reply { code, enhanced: Some(enhanced), text: text.into() }
    }

    /// A reply without an enhanced status code.
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply { code, enhanced: None, text: text.into() }
    }

    /// 250 2.0.0: done.
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::new(250, [2, 0, 0], text)
    }

    /// 554 5.7.1: this client may not use this server.
    pub fn not_admitted() -> Reply {
        Reply::new(554, [5, 7, 1], "Not admitted")
    }

    /// 535 5.7.8: the credentials are wrong.
    pub fn bad_credentials() -> Reply {
        Reply::new(535, [5, 7, 8], "Authentication credentials invalid")
    }

    /// 550 5.1.1: no such recipient here.
    pub fn no_such_user() -> Reply {
        Reply::new(550, [5, 1, 1], "No such recipient")
    }

    /// 451 4.3.0: something on this side failed; the client should try again later.
    pub fn local_error() -> Reply {
        Reply::new(451, [4, 3, 0], "Local error, try again later")
    }

    /// Appends the reply, CRLF-terminated, to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        // A handler's text must not end the line early and smuggle a second reply in.
        let text: String = self.text.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
        match self.enhanced {
            Some(esc) => {
                let response = smtp_proto::Response { code: self.code, esc, message: text };
                // Writing into a Vec cannot fail.
                let _ = response.write(&mut *out);
            }
            None => out.extend_from_slice(format!("{} {text}\r\n", self.code).as_bytes()),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.enhanced {
            Some([a, b, c]) => write!(f, "{} {a}.{b}.{c} {}", self.code, self.text),
            None => write!(f, "{} {}", self.code, self.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_with_and_without_enhanced_code() {
        let mut out = Vec::new();
        Reply::new(550, [5, 1, 1], "No\r\nsuch").write(&mut out);
        Reply::plain(220, "mx.example ESMTP").write(&mut out);
        assert_eq!(out, b"550 5.1.1 No  such\r\n220 mx.example ESMTP\r\n");
    }
}
