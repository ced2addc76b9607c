//! The state machines of delivery. A recipient: where it stands in the delivery lifecycle
//! (accepted -> notified -> retrieved -> acknowledged for a local one, accepted -> forwarded ->
//! retrieved for one behind another relay; or deferred, rejected, unrecognised, expired,
//! failed, or cancelled by its sender before it was fetched), the events that move it, and the
//! transition table that says which event moves which states to which. An outbound job (a
//! forward, a report, an answer to a peer): pending -> leased -> sent, or back to pending for a
//! retry, or failed, expired, cancelled. Every transition is conditional: a recipient in a state
//! the event does not move from stays where it is, so a repeated or late event (a second GET,
//! an acknowledgement after expiry) changes nothing. The store applies a transition with its
//! condition, atomically (`Change::Transition`); [`super::events`] says which transition each
//! handset event is.

use std::str::FromStr;

/// Where a recipient stands in the delivery lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    /// Stored; the notification is not out yet.
    Accepted,
    /// A notification went out; the message waits to be fetched.
    Notified,
    /// The recipient fetched the message.
    Retrieved,
    /// The recipient acknowledged the retrieval.
    Acknowledged,
    /// The recipient asked to fetch it later.
    Deferred,
    Rejected,
    /// The recipient's handset did not recognise the notification.
    Unrecognised,
    Expired,
    /// A recipient for which no route is configured.
    NoRoute,
    /// Handed to the next relay or the mail system, which answers for it from now on.
    Forwarded,
    /// The next relay or the mail system refused it for good, a routing rule refused it, or
    /// its queue gave up.
    Failed,
    /// The sender cancelled the message before the recipient fetched it.
    Cancelled,
}

impl RecipientState {
    pub const ALL: [RecipientState; 12] = [
        RecipientState::Accepted,
        RecipientState::Notified,
        RecipientState::Retrieved,
        RecipientState::Acknowledged,
        RecipientState::Deferred,
        RecipientState::Rejected,
        RecipientState::Unrecognised,
        RecipientState::Expired,
        RecipientState::NoRoute,
        RecipientState::Forwarded,
        RecipientState::Failed,
        RecipientState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Accepted => "accepted",
            RecipientState::Notified => "notified",
            RecipientState::Retrieved => "retrieved",
            RecipientState::Acknowledged => "acknowledged",
            RecipientState::Deferred => "deferred",
            RecipientState::Rejected => "rejected",
            RecipientState::Unrecognised => "unrecognised",
            RecipientState::Expired => "expired",
            RecipientState::NoRoute => "no-route",
            RecipientState::Forwarded => "forwarded",
            RecipientState::Failed => "failed",
            RecipientState::Cancelled => "cancelled",
        }
    }
}

/// A name that is not one of a [`RecipientState`]'s.
#[derive(Debug, thiserror::Error)]
#[error("unknown recipient state {0}")]
pub struct UnknownState(pub String);

impl FromStr for RecipientState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        RecipientState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// What happens to a recipient, as the transition table knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientEvent {
    /// The first notification to the recipient went out.
    Notified,
    /// The recipient fetched the message (a GET, or an m-notifyresp.ind or m-acknowledge.ind
    /// saying it has it).
    Retrieved,
    /// The recipient asked to fetch it later (m-notifyresp.ind Deferred).
    Deferred,
    /// The recipient refused it (m-notifyresp.ind Rejected).
    Rejected,
    /// The recipient's handset did not recognise the notification (any other m-notifyresp.ind
    /// status).
    Unrecognised,
    /// The recipient acknowledged the retrieval (m-acknowledge.ind).
    Acknowledged,
    /// The message expired before the recipient fetched it.
    Expired,
    /// The next relay or the mail system took it.
    Forwarded,
    /// The next relay or the mail system refused it for good, or its queue gave up.
    Failed,
    /// The sender cancelled the message (MM7 CancelReq) while the recipient still waited for
    /// it here.
    Cancelled,
}

/// One row of the transition table: a recipient in one of `from` moves to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: &'static [RecipientState],
    pub to: RecipientState,
}

/// The states in which a recipient still waits for its message here.
pub const WAITING: &[RecipientState] = &[RecipientState::Accepted, RecipientState::Notified, RecipientState::Deferred];
/// The states in which a recipient waits, here or behind the relay it was forwarded to, whose
/// report can still say what became of it.
pub const OUTSTANDING: &[RecipientState] =
    &[RecipientState::Accepted, RecipientState::Notified, RecipientState::Deferred, RecipientState::Forwarded];
/// The states from which a recipient can still defer, here or behind the next relay.
pub const DEFERRABLE: &[RecipientState] =
    &[RecipientState::Accepted, RecipientState::Notified, RecipientState::Forwarded];
/// The state of a recipient whose first notification is not out yet.
pub const NOT_YET_NOTIFIED: &[RecipientState] = &[RecipientState::Accepted];
/// The state of a recipient that fetched the message and has not acknowledged it yet.
pub const RETRIEVED: &[RecipientState] = &[RecipientState::Retrieved];

impl RecipientEvent {
    pub const ALL: [RecipientEvent; 10] = [
        RecipientEvent::Notified,
        RecipientEvent::Retrieved,
        RecipientEvent::Deferred,
        RecipientEvent::Rejected,
        RecipientEvent::Unrecognised,
        RecipientEvent::Acknowledged,
        RecipientEvent::Expired,
        RecipientEvent::Forwarded,
        RecipientEvent::Failed,
        RecipientEvent::Cancelled,
    ];

    /// The transition table, one row an event: the states it moves a recipient from, and the
    /// state it moves it to.
    pub const fn transition(self) -> Transition {
        use RecipientState as S;
        let (from, to) = match self {
            RecipientEvent::Notified => (NOT_YET_NOTIFIED, S::Notified),
            RecipientEvent::Retrieved => (OUTSTANDING, S::Retrieved),
            RecipientEvent::Deferred => (DEFERRABLE, S::Deferred),
            RecipientEvent::Rejected => (OUTSTANDING, S::Rejected),
            RecipientEvent::Unrecognised => (OUTSTANDING, S::Unrecognised),
            RecipientEvent::Acknowledged => (RETRIEVED, S::Acknowledged),
            RecipientEvent::Expired => (OUTSTANDING, S::Expired),
            RecipientEvent::Forwarded => (NOT_YET_NOTIFIED, S::Forwarded),
            RecipientEvent::Failed => (NOT_YET_NOTIFIED, S::Failed),
            // Only a copy still held here can be taken back: one fetched, or handed to another
            // relay, is out of reach.
            RecipientEvent::Cancelled => (WAITING, S::Cancelled),
        };
        Transition { from, to }
    }
}

impl RecipientState {
    /// The state `event` moves a recipient in this state to, or `None` when it stays where it is.
    pub fn after(self, event: RecipientEvent) -> Option<RecipientState> {
        let t = event.transition();
        t.from.contains(&self).then_some(t.to)
    }
}

/// Where an outbound job (a forward to a peer or the mail system, a report, an answer) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundState {
    /// Waiting for its next attempt.
    Pending,
    /// Being sent; due again if the lease runs out before its outcome is recorded.
    Leased,
    /// The next hop took it.
    Sent,
    /// The next hop refused it for good, or the attempts ran out.
    Failed,
    /// Its message expired before it could go.
    Expired,
    /// Nothing is left for it to do (its message expired and was freed).
    Cancelled,
}

impl OutboundState {
    pub const ALL: [OutboundState; 6] = [
        OutboundState::Pending,
        OutboundState::Leased,
        OutboundState::Sent,
        OutboundState::Failed,
        OutboundState::Expired,
        OutboundState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboundState::Pending => "pending",
            OutboundState::Leased => "leased",
            OutboundState::Sent => "sent",
            OutboundState::Failed => "failed",
            OutboundState::Expired => "expired",
            OutboundState::Cancelled => "cancelled",
        }
    }

    /// The state `event` moves a job in this state to, or `None` when it stays where it is.
    pub fn after(self, event: OutboundEvent) -> Option<OutboundState> {
        let (from, to) = event.transition();
        from.contains(&self).then_some(to)
    }
}

impl FromStr for OutboundState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        OutboundState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// What happens to an outbound job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundEvent {
    /// A worker takes it (a pending job, or a leased one whose lease ran out).
    Leased,
    /// The next hop took it.
    Sent,
    /// The attempt failed in a way worth retrying, with attempts and time left.
    Retry,
    /// The next hop refused it for good, or no attempts are left.
    Failed,
    /// Its expiry passed before it went.
    Expired,
    /// Its message was freed.
    Cancelled,
}

impl OutboundEvent {
    pub const ALL: [OutboundEvent; 6] = [
        OutboundEvent::Leased,
        OutboundEvent::Sent,
        OutboundEvent::Retry,
        OutboundEvent::Failed,
        OutboundEvent::Expired,
        OutboundEvent::Cancelled,
    ];

    /// The outbound transition table: the states an event moves a job from, and to.
    pub const fn transition(self) -> (&'static [OutboundState], OutboundState) {
        use OutboundState as S;
        const OPEN: &[OutboundState] = &[OutboundState::Pending, OutboundState::Leased];
        const LEASED: &[OutboundState] = &[OutboundState::Leased];
        match self {
            OutboundEvent::Leased => (OPEN, S::Leased),
            OutboundEvent::Sent => (LEASED, S::Sent),
            OutboundEvent::Retry => (LEASED, S::Pending),
            OutboundEvent::Failed => (LEASED, S::Failed),
            OutboundEvent::Expired => (OPEN, S::Expired),
            OutboundEvent::Cancelled => (OPEN, S::Cancelled),
        }
    }
}

#[cfg(test)]
mod outbound_tests {
    use super::OutboundEvent as E;
    use super::OutboundState::{self, *};

    #[rustfmt::skip]
    const TABLE: [(OutboundState, [Option<OutboundState>; 6]); 6] = {
        const __: Option<OutboundState> = None;
        const fn to(s: OutboundState) -> Option<OutboundState> {
            Some(s)
        }
        [
            //           Leased      Sent      Retry        Failed      Expired      Cancelled
            (Pending,   [to(Leased), __,       __,          __,         to(Expired), to(Cancelled)]),
            (Leased,    [to(Leased), to(Sent), to(Pending), to(Failed), to(Expired), to(Cancelled)]),
            (Sent,      [__,         __,       __,          __,         __,          __           ]),
            (Failed,    [__,         __,       __,          __,         __,          __           ]),
            (Expired,   [__,         __,       __,          __,         __,          __           ]),
            (Cancelled, [__,         __,       __,          __,         __,          __           ]),
        ]
    };

    #[test]
    fn every_state_and_event_gives_the_expected_next_state() {
        assert_eq!(TABLE.map(|(state, _)| state), OutboundState::ALL, "one row a state");
        assert_eq!(E::ALL, [E::Leased, E::Sent, E::Retry, E::Failed, E::Expired, E::Cancelled], "the columns");
        for (state, row) in TABLE {
            for (event, expected) in E::ALL.into_iter().zip(row) {
                assert_eq!(state.after(event), expected, "{state:?} on {event:?}");
            }
        }
    }

    #[test]
    fn states_keep_their_stored_names() {
        for state in OutboundState::ALL {
            assert_eq!(state.as_str().parse::<OutboundState>().ok(), Some(state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RecipientEvent as E;
    use super::RecipientState::{self, *};

    /// The whole table: for each state, its next state on each event, in the order of
    /// [`RecipientEvent::ALL`] (`__` where the event leaves the state as it is).
    #[rustfmt::skip]
    const TABLE: [(RecipientState, [Option<RecipientState>; 10]); 12] = {
        const __: Option<RecipientState> = None;
        const fn to(s: RecipientState) -> Option<RecipientState> {
            Some(s)
        }
        [
            //              Notified      Retrieved      Deferred      Rejected      Unrecognised      Acknowledged      Expired      Forwarded      Failed      Cancelled
            (Accepted,     [to(Notified), to(Retrieved), to(Deferred), to(Rejected), to(Unrecognised), __,               to(Expired), to(Forwarded), to(Failed), to(Cancelled)]),
            (Notified,     [__,           to(Retrieved), to(Deferred), to(Rejected), to(Unrecognised), __,               to(Expired), __,            __,         to(Cancelled)]),
            (Retrieved,    [__,           __,            __,           __,           __,               to(Acknowledged), __,          __,            __,         __           ]),
            (Acknowledged, [__,           __,            __,           __,           __,               __,               __,          __,            __,         __           ]),
            (Deferred,     [__,           to(Retrieved), __,           to(Rejected), to(Unrecognised), __,               to(Expired), __,            __,         to(Cancelled)]),
            (Rejected,     [__,           __,            __,           __,           __,               __,               __,          __,            __,         __           ]),
            (Unrecognised, [__,           __,            __,           __,           __,               __,               __,          __,            __,         __           ]),
            (Expired,      [__,           __,            __,           __,           __,               __,               __,          __,            __,         __           ]),
            (NoRoute,      [__,           __,            __,           __,           __,               __,               __,          __,            __,         __           ]),
            (Forwarded,    [__,           to(Retrieved), to(Deferred), to(Rejected), to(Unrecognised), __,               to(Expired), __,            __,         __           ]),
            (Failed,       [__,           __,            __,           __,           __,               __,               __,          __,            __,         __           ]),
            (Cancelled,    [__,           __,            __,           __,           __,               __,               __,          __,            __,         __           ]),
        ]
    };

    #[test]
    fn every_state_and_event_gives_the_expected_next_state() {
        assert_eq!(TABLE.map(|(state, _)| state), RecipientState::ALL, "one row a state");
        assert_eq!(
            E::ALL,
            [
                E::Notified,
                E::Retrieved,
                E::Deferred,
                E::Rejected,
                E::Unrecognised,
                E::Acknowledged,
                E::Expired,
                E::Forwarded,
                E::Failed,
                E::Cancelled
            ],
            "the columns"
        );
        for (state, row) in TABLE {
            for (event, expected) in E::ALL.into_iter().zip(row) {
                assert_eq!(state.after(event), expected, "{state:?} on {event:?}");
            }
        }
    }

    #[test]
    fn states_keep_their_stored_names() {
        for state in RecipientState::ALL {
            assert_eq!(state.as_str().parse::<RecipientState>().ok(), Some(state));
        }
        assert_eq!(NoRoute.as_str(), "no-route");
        assert_eq!(Cancelled.as_str(), "cancelled");
        assert!("lost".parse::<RecipientState>().is_err());
    }
}
