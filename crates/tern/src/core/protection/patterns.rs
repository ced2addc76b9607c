//! Address patterns, as policies and endpoint filters give them: a wildcard pattern over the
//! canonical address (`*` any run of characters, `?` one; `+1555*` is a number range), or a
//! regular expression after `re:` (`re:^\+1555019[0-9]{4}$`, `re:@example\.com$`). Wildcards
//! match the whole address, in any case; a regular expression matches anywhere unless anchored.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A pattern that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address pattern {pattern:?}: {message}")]
pub struct PatternError {
    pub pattern: String,
    pub message: String,
}

/// A compiled address pattern, kept with the text it was written as.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddressPattern {
    text: String,
    regex: Regex,
}

/// Longest pattern text, and the compiled size a regular expression may take: patterns come
/// from the operator, but a mistyped one must not eat the relay's memory.
const MAX_PATTERN: usize = 1024;
const MAX_REGEX_SIZE: usize = 1 << 20;

impl AddressPattern {
    pub fn new(text: &str) -> Result<AddressPattern, PatternError> {
        let error = |message: String| PatternError { pattern: text.to_owned(), message };
        if text.is_empty() || text.len() > MAX_PATTERN {
            return Err(error(format!("must have 1 to {MAX_PATTERN} characters")));
        }
        let source = match text.strip_prefix("re:") {
            Some(re) => re.to_owned(),
            None => {
                let mut re = String::from("(?i)^");
                for c in text.chars() {
                    match c {
                        '*' => re.push_str(".*"),
                        '?' => re.push('.'),
                        c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
                    }
                }
                re.push('$');
                re
            }
        };
        let regex =
            regex::RegexBuilder::new(&source).size_limit(MAX_REGEX_SIZE).build().map_err(|e| error(e.to_string()))?;
        Ok(AddressPattern { text: text.to_owned(), regex })
    }

    pub fn matches(&self, address: &str) -> bool {
        self.regex.is_match(address)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for AddressPattern {
    type Error = PatternError;
    fn try_from(text: String) -> Result<AddressPattern, PatternError> {
        AddressPattern::new(&text)
    }
}

impl From<AddressPattern> for String {
    fn from(p: AddressPattern) -> String {
        p.text
    }
}

impl PartialEq for AddressPattern {
    fn eq(&self, other: &AddressPattern) -> bool {
        self.text == other.text
    }
}

impl Eq for AddressPattern {}

impl fmt::Debug for AddressPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wildcards_match_whole_addresses_and_regexes_anywhere() {
        let range = AddressPattern::new("+1555*").unwrap();
        assert!(range.matches("+15550100001") && !range.matches("+4415550100001"));
        let one = AddressPattern::new("+1555010000?").unwrap();
        assert!(one.matches("+15550100009") && !one.matches("+155501000010"));
        let mail = AddressPattern::new("*@Example.com").unwrap();
        assert!(mail.matches("alice@example.COM") && !mail.matches("alice@example.com.evil"));
        let re = AddressPattern::new(r"re:@example\.(com|net)").unwrap();
        assert!(re.matches("bob@example.net") && !re.matches("bob@example.org"));
        assert!(AddressPattern::new("re:(").is_err());
        assert!(AddressPattern::new("").is_err());
        let parsed: Vec<AddressPattern> = serde_json::from_str(r#"["+1*", "re:^1234$"]"#).unwrap();
        assert!(parsed[1].matches("1234") && parsed[0].as_str() == "+1*");
    }
}
