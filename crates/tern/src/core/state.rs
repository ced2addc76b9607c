//! The recipient state machine: where a recipient stands in the delivery lifecycle (accepted ->
//! notified -> retrieved -> acknowledged, or deferred, rejected, unrecognised, expired), the
//! events that move it, and the transition table that says which event moves which states to
//! which. Every transition is conditional: a recipient in a state the event does not move from
//! stays where it is, so a repeated or late event (a second GET, an acknowledgement after
//! expiry) changes nothing. The store applies a transition with its condition, atomically
//! (`Change::Transition`); [`super::events`] says which transition each handset event is.

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
    /// A recipient behind another interface (MM3/MM4/MM7) for which no route is configured.
    NoRoute,
}

impl RecipientState {
    pub const ALL: [RecipientState; 9] = [
        RecipientState::Accepted,
        RecipientState::Notified,
        RecipientState::Retrieved,
        RecipientState::Acknowledged,
        RecipientState::Deferred,
        RecipientState::Rejected,
        RecipientState::Unrecognised,
        RecipientState::Expired,
        RecipientState::NoRoute,
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
}

/// One row of the transition table: a recipient in one of `from` moves to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: &'static [RecipientState],
    pub to: RecipientState,
}

/// The states in which a recipient still waits for its message.
pub const WAITING: &[RecipientState] = &[RecipientState::Accepted, RecipientState::Notified, RecipientState::Deferred];
/// The state of a recipient whose first notification is not out yet.
pub const NOT_YET_NOTIFIED: &[RecipientState] = &[RecipientState::Accepted];
/// The states from which a recipient can still defer: waiting and not deferred already.
pub const NOT_YET_DEFERRED: &[RecipientState] = &[RecipientState::Accepted, RecipientState::Notified];
/// The state of a recipient that fetched the message and has not acknowledged it yet.
pub const RETRIEVED: &[RecipientState] = &[RecipientState::Retrieved];

impl RecipientEvent {
    pub const ALL: [RecipientEvent; 7] = [
        RecipientEvent::Notified,
        RecipientEvent::Retrieved,
        RecipientEvent::Deferred,
        RecipientEvent::Rejected,
        RecipientEvent::Unrecognised,
        RecipientEvent::Acknowledged,
        RecipientEvent::Expired,
    ];

    /// The transition table, one row an event: the states it moves a recipient from, and the
    /// state it moves it to.
    pub const fn transition(self) -> Transition {
        use RecipientState as S;
        let (from, to) = match self {
            RecipientEvent::Notified => (NOT_YET_NOTIFIED, S::Notified),
            RecipientEvent::Retrieved => (WAITING, S::Retrieved),
            RecipientEvent::Deferred => (NOT_YET_DEFERRED, S::Deferred),
            RecipientEvent::Rejected => (WAITING, S::Rejected),
            RecipientEvent::Unrecognised => (WAITING, S::Unrecognised),
            RecipientEvent::Acknowledged => (RETRIEVED, S::Acknowledged),
            RecipientEvent::Expired => (WAITING, S::Expired),
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

#[cfg(test)]
mod tests {
    use super::RecipientEvent as E;
    use super::RecipientState::{self, *};

    /// The whole table: for each state, its next state on each event, in the order of
    /// [`RecipientEvent::ALL`] (`__` where the event leaves the state as it is).
    #[rustfmt::skip]
    const TABLE: [(RecipientState, [Option<RecipientState>; 7]); 9] = {
        const __: Option<RecipientState> = None;
        const fn to(s: RecipientState) -> Option<RecipientState> {
            Some(s)
        }
        [
            //              Notified      Retrieved      Deferred      Rejected      Unrecognised      Acknowledged      Expired
            (Accepted,     [to(Notified), to(Retrieved), to(Deferred), to(Rejected), to(Unrecognised), __,               to(Expired)]),
            (Notified,     [__,           to(Retrieved), to(Deferred), to(Rejected), to(Unrecognised), __,               to(Expired)]),
            (Retrieved,    [__,           __,            __,           __,           __,               to(Acknowledged), __         ]),
            (Acknowledged, [__,           __,            __,           __,           __,               __,               __         ]),
            (Deferred,     [__,           to(Retrieved), __,           to(Rejected), to(Unrecognised), __,               to(Expired)]),
            (Rejected,     [__,           __,            __,           __,           __,               __,               __         ]),
            (Unrecognised, [__,           __,            __,           __,           __,               __,               __         ]),
            (Expired,      [__,           __,            __,           __,           __,               __,               __         ]),
            (NoRoute,      [__,           __,            __,           __,           __,               __,               __         ]),
        ]
    };

    #[test]
    fn every_state_and_event_gives_the_expected_next_state() {
        assert_eq!(TABLE.map(|(state, _)| state), RecipientState::ALL, "one row a state");
        assert_eq!(
            E::ALL,
            [E::Notified, E::Retrieved, E::Deferred, E::Rejected, E::Unrecognised, E::Acknowledged, E::Expired],
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
        assert!("lost".parse::<RecipientState>().is_err());
    }
}
