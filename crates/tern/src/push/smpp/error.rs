//! Why a push did not go out over SMPP, and which SMSC refusals are worth trying again.
//!
//! Every error leaves the push in the queue for the delivery worker to retry; the
//! transient/permanent word in the message tells the operator which refusals will clear by
//! themselves (a busy or throttling SMSC) and which need someone to look (a bad address or PDU).

use std::time::Duration;

use rusmpp::CommandStatus;
use tern_codec::sms::segment::SegmentError;

#[derive(Debug, thiserror::Error)]
pub enum SmppError {
    #[error("no SMPP link is bound")]
    NotBound,
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("{0:?} is not a destination address SMPP can carry (ASCII, at most 20 characters)")]
    Destination(String),
    #[error("SMSC {link} did not answer within {timeout:?} (transient)")]
    Timeout { link: String, timeout: Duration },
    #[error("SMSC {link}: the link is down: {source}")]
    Link { link: String, source: super::session::Fault },
    #[error("SMSC {link} refused the message ({}): {status:?} (0x{:08x})", transience(*.status), u32::from(*.status))]
    Refused { link: String, status: CommandStatus },
    /// The SMSC answered the submit_sm with generic_nack: it could not take the PDU as a
    /// submit_sm at all (a length or command it did not accept), or was too busy to look.
    #[error("SMSC {link} answered generic_nack ({}): {status:?} (0x{:08x})", transience(*.status), u32::from(*.status))]
    Nack { link: String, status: CommandStatus },
}

impl SmppError {
    /// The SMSC's status, for the answers that carry one.
    pub fn status(&self) -> Option<CommandStatus> {
        match self {
            SmppError::Refused { status, .. } | SmppError::Nack { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn transience(status: CommandStatus) -> &'static str {
    if is_transient(status) { "transient" } else { "permanent" }
}

/// Refusals that say "not now" rather than "not this": the SMSC is busy, throttling us, failed
/// internally, or had a temporary application error. Everything else (bad addresses, lengths,
/// classes, data codings, TLVs, unknown vendor codes) is a property of the message or the bind
/// and is called permanent. Only [`backs_off`] statuses also slow the link down.
pub fn is_transient(status: CommandStatus) -> bool {
    matches!(
        status,
        // A generic_nack that names no error says nothing about the message.
        CommandStatus::EsmeRok
            | CommandStatus::EsmeRsyserr
            | CommandStatus::EsmeRinvbndsts
            | CommandStatus::EsmeRmsgqful
            | CommandStatus::EsmeRsubmitfail
            | CommandStatus::EsmeRthrottled
            | CommandStatus::EsmeRxTAppn
            | CommandStatus::EsmeRdeliveryfailure
            | CommandStatus::EsmeRunknownerr
    )
}

/// The SMSC asks the ESME to slow down: ESME_RTHROTTLED (0x58) and ESME_RMSGQFUL (0x14).
pub fn backs_off(status: CommandStatus) -> bool {
    matches!(status, CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_transient_and_backs_off_bad_addresses_are_permanent() {
        for status in [CommandStatus::EsmeRthrottled, CommandStatus::EsmeRmsgqful] {
            assert!(is_transient(status) && backs_off(status), "{status:?}");
        }
        assert!(is_transient(CommandStatus::EsmeRsyserr) && !backs_off(CommandStatus::EsmeRsyserr));
        for status in [CommandStatus::EsmeRinvdstadr, CommandStatus::EsmeRinvesmclass, CommandStatus::Other(0x400)] {
            assert!(!is_transient(status), "{status:?}");
        }
        let refused = SmppError::Refused { link: "smsc:2775".into(), status: CommandStatus::EsmeRthrottled };
        assert_eq!(refused.to_string(), "SMSC smsc:2775 refused the message (transient): EsmeRthrottled (0x00000058)");
        let refused = SmppError::Refused { link: "smsc:2775".into(), status: CommandStatus::EsmeRinvdstadr };
        assert!(refused.to_string().contains("(permanent)"), "{refused}");
        let nack = SmppError::Nack { link: "smsc:2775".into(), status: CommandStatus::EsmeRinvcmdlen };
        assert_eq!(nack.to_string(), "SMSC smsc:2775 answered generic_nack (permanent): EsmeRinvcmdlen (0x00000002)");
        assert_eq!(nack.status(), Some(CommandStatus::EsmeRinvcmdlen));
    }
}
