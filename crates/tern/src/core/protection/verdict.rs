//! What one message's decisions add up to. A message takes the strongest of block, quarantine
//! and replace (in that order: a blocked message is neither held nor rewritten), and every
//! archive, notify and log any decision asks for.

use super::{Action, Decision, Scope};

/// The decisions of every profile that screened one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub decisions: Vec<Decision>,
}

/// Which parts the `replace` action takes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    Nothing,
    /// These parts, by index, in rising order.
    Parts(Vec<usize>),
    /// Every part: a check on the whole message asked for it.
    All,
}

impl Verdict {
    /// The first decision that blocks the message.
    pub fn block(&self) -> Option<&Decision> {
        self.decisions.iter().find(|d| d.takes(Action::Block))
    }

    /// The first decision that holds the message, unless it is blocked.
    pub fn quarantine(&self) -> Option<&Decision> {
        self.block().is_none().then(|| self.decisions.iter().find(|d| d.takes(Action::Quarantine))).flatten()
    }

    /// The parts replaced, unless the message is blocked or held.
    pub fn replaced(&self) -> Replaced {
        if self.block().is_some() || self.quarantine().is_some() {
            return Replaced::Nothing;
        }
        let mut parts = Vec::new();
        for d in self.decisions.iter().filter(|d| d.takes(Action::Replace)) {
            match d.scope {
                Scope::Message => return Replaced::All,
                Scope::Part(i) => parts.push(i),
            }
        }
        parts.sort_unstable();
        parts.dedup();
        if parts.is_empty() { Replaced::Nothing } else { Replaced::Parts(parts) }
    }

    /// The first decision that asks for a copy in the archive.
    pub fn archive(&self) -> Option<&Decision> {
        self.decisions.iter().find(|d| d.takes(Action::Archive))
    }

    /// The decisions the administrator hears of.
    pub fn notify(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.takes(Action::Notify))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(scope: Scope, actions: &[Action]) -> Decision {
        Decision { profile: "p".into(), check: "virus", detail: String::new(), scope, actions: actions.to_vec() }
    }

    #[test]
    fn block_beats_quarantine_beats_replace_and_archive_and_notify_always_happen() {
        let replace = decision(Scope::Part(2), &[Action::Replace]);
        let replace0 = decision(Scope::Part(0), &[Action::Replace, Action::Archive]);
        let hold = decision(Scope::Message, &[Action::Quarantine, Action::Notify]);
        let block = decision(Scope::Part(1), &[Action::Block]);
        let v = Verdict { decisions: vec![replace.clone(), replace0.clone(), replace.clone()] };
        assert_eq!((v.block(), v.quarantine(), v.replaced()), (None, None, Replaced::Parts(vec![0, 2])));
        assert!(v.archive().is_some() && v.notify().next().is_none());
        let v = Verdict { decisions: vec![replace.clone(), hold.clone()] };
        assert_eq!((v.quarantine(), v.replaced()), (Some(&hold), Replaced::Nothing));
        assert_eq!(v.notify().count(), 1);
        let v = Verdict { decisions: vec![hold, block.clone(), replace0] };
        assert_eq!((v.block(), v.quarantine(), v.replaced()), (Some(&block), None, Replaced::Nothing));
        assert!(v.archive().is_some(), "a blocked message is still archived");
        let all = decision(Scope::Message, &[Action::Replace]);
        assert_eq!(Verdict { decisions: vec![replace, all] }.replaced(), Replaced::All);
    }
}
