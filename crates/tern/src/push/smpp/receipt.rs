//! Delivery receipts: the deliver_sm an SMSC sends back for a submit_sm that asked for one
//! (registered_delivery), in the de-facto text format of SMPP 3.4 Appendix B
//! (`id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...`).

/// What a receipt says about one submitted short message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The link (`host:port`) it came over: message ids are unique only within one SMSC.
    pub link: String,
    /// The message_id the SMSC gave in its submit_sm_resp.
    pub smsc_id: String,
    /// The final state: DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN or REJECTD.
    pub state: String,
}

/// Reads a receipt from a deliver_sm's short message; `None` when it is not one (an
/// unsolicited mobile-originated message, say).
pub fn parse(link: &str, short_message: &[u8]) -> Option<Receipt> {
    let text = std::str::from_utf8(short_message).ok()?;
    let field = |name: &str| {
        text.split_whitespace().find_map(|word| {
            let (key, value) = word.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.to_owned())
        })
    };
    let smsc_id = field("id").filter(|id| !id.is_empty())?;
    let state = field("stat").filter(|s| !s.is_empty())?.to_ascii_uppercase();
    Some(Receipt { link: link.to_owned(), smsc_id, state })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_appendix_b_format_and_ignores_other_messages() {
        let r = parse(
            "smsc:2775",
            b"id:MSG7 sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text:",
        );
        assert_eq!(r, Some(Receipt { link: "smsc:2775".into(), smsc_id: "MSG7".into(), state: "DELIVRD".into() }));
        assert_eq!(parse("l", b"id:1 stat:undeliv").map(|r| r.state), Some("UNDELIV".into()));
        assert_eq!(parse("l", b"hello there"), None);
        assert_eq!(parse("l", &[0xFF, 0x00]), None);
    }
}
