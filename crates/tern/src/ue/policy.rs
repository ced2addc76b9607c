//! The multi-relay rule: which relays' notifications are fetched. The home relay and `--trust`
//! origins are fetched at once, `--blacklist` origins are refused unfetched, and any other relay
//! waits for the user: asked at the terminal, or decided by `--unknown`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use tern_codec::mms::NotificationInd;

use super::origin::Origin;

/// How the user decides about a notification from an unknown relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// Fetch it.
    Accept,
    /// Refuse it (m-notifyresp.ind Rejected), without fetching it.
    Reject,
    /// Leave it at the relay (m-notifyresp.ind Deferred) for a later decision.
    Defer,
}

/// Where a relay stands with this handset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Home,
    Trusted,
    Blacklisted,
    Unknown,
}

impl Standing {
    pub fn name(self) -> &'static str {
        match self {
            Standing::Home => "home",
            Standing::Trusted => "trusted",
            Standing::Blacklisted => "blacklisted",
            Standing::Unknown => "unknown",
        }
    }
}

/// What to do with a notification now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Decided(Choice),
    /// Hold it (Deferred) and ask the user at the terminal.
    Ask,
}

#[derive(Debug)]
pub struct Policy {
    home: Option<Origin>,
    trusted: Vec<Origin>,
    blacklisted: Vec<Origin>,
    unknown: Option<Choice>,
    interactive: bool,
}

impl Policy {
    /// `stdin_is_input` says the pushes themselves come from standard input, which then cannot
    /// also answer questions.
    pub fn new(
        home: Option<Origin>,
        trusted: Vec<Origin>,
        blacklisted: Vec<Origin>,
        unknown: Option<Choice>,
        stdin_is_input: bool,
    ) -> anyhow::Result<Policy> {
        if let Some(both) = blacklisted.iter().find(|b| trusted.contains(b) || home.as_ref() == Some(*b)) {
            bail!("{both} is both trusted (or the home relay) and blacklisted");
        }
        let interactive = unknown.is_none() && !stdin_is_input && std::io::stdin().is_terminal();
        Ok(Policy { home, trusted, blacklisted, unknown, interactive })
    }

    pub fn standing(&self, origin: &Origin) -> Standing {
        if self.home.as_ref() == Some(origin) {
            Standing::Home
        } else if self.trusted.contains(origin) {
            Standing::Trusted
        } else if self.blacklisted.contains(origin) {
            Standing::Blacklisted
        } else {
            Standing::Unknown
        }
    }

    pub fn action(&self, standing: Standing) -> Action {
        match standing {
            Standing::Home | Standing::Trusted => Action::Decided(Choice::Accept),
            Standing::Blacklisted => Action::Decided(Choice::Reject),
            Standing::Unknown => match self.unknown {
                Some(choice) => Action::Decided(choice),
                None if self.interactive => Action::Ask,
                None => Action::Decided(Choice::Defer),
            },
        }
    }
}

/// Asks the user at the terminal what to do with a notification from an unknown relay; an
/// answer that cannot be read leaves it deferred.
pub async fn ask(origin: &Origin, notification: &NotificationInd) -> Choice {
    let from = notification.from.as_ref().map_or_else(|| "unknown sender".to_owned(), ToString::to_string);
    let subject = notification.subject.as_ref().map_or_else(String::new, |s| format!(", \"{}\"", s.text));
    let size = notification.message_size.map_or_else(String::new, |s| format!(", {s} octets"));
    let question = format!(
        "A message from {from}{subject}{size} waits at {origin}, a relay that is neither home nor trusted.\n\
         Fetch it? [a]ccept, [r]eject, [d]efer: "
    );
    tokio::task::spawn_blocking(move || {
        let mut stderr = std::io::stderr();
        loop {
            let _ = stderr.write_all(question.as_bytes());
            let _ = stderr.flush();
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(0) | Err(_) => return Choice::Defer,
                Ok(_) => {}
            }
            match line.trim().to_ascii_lowercase().as_str() {
                "a" | "accept" | "y" | "yes" => return Choice::Accept,
                "r" | "reject" | "n" | "no" => return Choice::Reject,
                "d" | "defer" | "" => return Choice::Defer,
                _ => continue,
            }
        }
    })
    .await
    .unwrap_or(Choice::Defer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(url: &str) -> Origin {
        Origin::of(url).unwrap()
    }

    #[test]
    fn each_origin_has_its_standing_and_action() {
        let policy = Policy::new(
            Some(o("http://127.0.0.1:8002/mms")),
            vec![o("http://127.0.0.1:8004")],
            vec![o("http://127.0.0.1:8006")],
            None,
            true,
        )
        .unwrap();
        let cases = [
            ("http://127.0.0.1:8002/m/x", Standing::Home, Action::Decided(Choice::Accept)),
            ("http://127.0.0.1:8004/m/x", Standing::Trusted, Action::Decided(Choice::Accept)),
            ("http://127.0.0.1:8006/m/x", Standing::Blacklisted, Action::Decided(Choice::Reject)),
            ("http://127.0.0.1:8008/m/x", Standing::Unknown, Action::Decided(Choice::Defer)),
            ("https://127.0.0.1:8002/m/x", Standing::Unknown, Action::Decided(Choice::Defer)),
        ];
        for (url, standing, action) in cases {
            assert_eq!(policy.standing(&o(url)), standing, "{url}");
            assert_eq!(policy.action(standing), action, "{url}");
        }
        let accepting = Policy::new(None, vec![], vec![], Some(Choice::Accept), true).unwrap();
        assert_eq!(accepting.action(accepting.standing(&o("http://x/"))), Action::Decided(Choice::Accept));
    }

    #[test]
    fn an_origin_cannot_be_trusted_and_blacklisted() {
        let relay = o("http://127.0.0.1:8004");
        assert!(Policy::new(None, vec![relay.clone()], vec![relay.clone()], None, true).is_err());
        assert!(Policy::new(Some(relay.clone()), vec![], vec![relay], None, true).is_err());
    }
}
