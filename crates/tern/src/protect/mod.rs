//! The protection stage with its I/O: what `core::protection` decides, asked of the scanners
//! (clamd, spamd), the counters behind the store (flood, duplicate) and the content checks,
//! for one message at a time, then logged, counted and told to the administrator. The intake
//! (for a new message) and MM1 retrieval (for a message fetched) call [`Screener::screen`] and
//! act on its [`Screening`]: refuse, hold, rewrite or archive.
//!
//! Screening runs in the request's own task, before the message reaches the committer: a
//! slow scanner holds up only the messages it scans (each scanner takes a bounded number at
//! once, each within its timeout), never the commits of others.
//!
//! - `scan.rs`: the scanners asked for one message, concurrently.
//! - `rate.rs`: the flood and duplicate counts.
//! - `notify.rs`: the administrator's notifications, at most one per period.
//! - `rewrite.rs`: content with parts replaced by a profile's text.

mod notify;
mod rate;
mod rewrite;
mod scan;

use std::sync::Arc;

use crate::config::Config;
use crate::content::Content;
use crate::core::model::HoldReason;
use crate::core::protection::{
    self, Decision, EndpointAction, Interface, OnError, Profile, ProtectionConfig, Scope, Subject, Verdict,
};
use crate::store::Store;

pub use notify::Notifier;
pub use rewrite::{replace, replacement_only};

/// Runs the protection profiles on messages; made once and shared.
#[derive(Debug, Clone)]
pub struct Screener {
    cfg: Arc<ProtectionConfig>,
    scanners: scan::Scanners,
    store: Store,
    notifier: Notifier,
}

/// One message as it is screened.
#[derive(Debug, Clone, Copy)]
pub struct Screened<'a> {
    pub who: Subject<'a>,
    pub message_id: &'a str,
    /// The message's subject line.
    pub title: Option<&'a str>,
    pub content: &'a Content,
}

/// A scanner that could not answer for a check of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerDown {
    pub profile: String,
    pub scanner: &'static str,
    pub error: String,
    pub on_error: OnError,
}

/// What screening found for one message.
#[derive(Debug, Clone, Default)]
pub struct Screening {
    pub verdict: Verdict,
    pub down: Vec<ScannerDown>,
}

impl Screening {
    /// A scanner that could not answer for a check that fails closed: the message is refused
    /// for now, and the sender tries again.
    pub fn unavailable(&self) -> Option<&ScannerDown> {
        self.down.iter().find(|d| d.on_error == OnError::Closed)
    }
}

/// How the sender of a message a profile blocks is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAnswer {
    /// The check that blocked it.
    pub check: &'static str,
    /// The text the sender is given: the profile's replacement text, with what was found when
    /// the profile informs senders of viruses; nothing beyond a bare refusal for the flood and
    /// duplicate checks, which would teach an attacker the thresholds.
    pub text: String,
}

impl Screener {
    /// The screener of the `[protection]` table. Scanners are set up only when a profile in use
    /// asks for them; notifications go by mail only when they have addresses.
    pub fn new(cfg: &Config, store: Store) -> anyhow::Result<Screener> {
        let protection = Arc::new(cfg.protection.clone());
        Ok(Screener {
            scanners: scan::Scanners::new(&protection),
            notifier: Notifier::start(&protection.notify, &cfg.smtp_out)?,
            cfg: protection,
            store,
        })
    }

    /// Whether a policy may screen messages of `interface`, so their content must be read.
    pub fn screens(&self, interface: Interface) -> bool {
        self.cfg.screens(interface)
    }

    /// The endpoint filter for the sender of a new message, logged and counted when one
    /// applies.
    pub fn endpoint(&self, interface: Interface, sender: &str) -> Option<EndpointAction> {
        let action = self.cfg.endpoint(sender)?;
        if action != EndpointAction::Exempt && action != EndpointAction::ExemptFlood {
            tracing::warn!(%sender, interface = interface.name(), check = "endpoint", action = action.name(), "protection");
        } else {
            tracing::debug!(%sender, interface = interface.name(), action = action.name(), "protection endpoint");
        }
        count(interface, "endpoint", action.name());
        Some(action)
    }

    /// Every profile whose policies match the message screens it: the scanners are asked once
    /// for all of them, the counters counted once per profile (unless `counted` is false: the
    /// sender is exempt from them, or the message is being fetched rather than sent). The
    /// decisions are logged, counted and, where a profile says so, told to the administrator.
    pub async fn screen(&self, m: &Screened<'_>, counted: bool) -> Screening {
        let profiles = self.cfg.profiles_for(&m.who);
        if profiles.is_empty() {
            return Screening::default();
        }
        let parts: Vec<protection::Part<'_>> = m
            .content
            .parts
            .iter()
            .map(|p| protection::Part { declared: &p.media_type, charset: p.param("charset"), data: &p.data })
            .collect();
        let need_virus = profiles.iter().any(|p| p.virus.is_some());
        let need_spam = profiles.iter().any(|p| p.spam.is_some());
        let scans = self.scanners.run(need_virus, need_spam, m.who.sender, m.title, &parts).await;
        let digest = rate::digest(&parts);
        let now = crate::core::ids::now();
        let mut screening = Screening::default();
        for profile in profiles {
            screening.verdict.decisions.extend(scan::decisions(profile, &scans, &mut screening.down));
            screening.verdict.decisions.extend(protection::content_decisions(profile, m.title, &parts));
            if counted {
                let counts = rate::decisions(&self.store, profile, m.who.sender, &digest, now).await;
                screening.verdict.decisions.extend(counts);
            }
        }
        self.record(m, &screening);
        screening
    }

    /// Logs and counts every decision and scanner failure, and hands those that ask for it to
    /// the notifier.
    fn record(&self, m: &Screened<'_>, screening: &Screening) {
        let interface = m.who.interface.name();
        for d in &screening.verdict.decisions {
            let actions: Vec<&str> = d.actions.iter().map(|a| a.name()).collect();
            tracing::warn!(message_id = %m.message_id, sender = %m.who.sender, interface, profile = %d.profile,
                check = d.check, detail = %d.detail, ?actions, "protection");
            for action in &actions {
                count(m.who.interface, d.check, action);
            }
        }
        for down in &screening.down {
            let action = match down.on_error {
                OnError::Open => "fail-open",
                OnError::Closed => "fail-closed",
            };
            tracing::error!(message_id = %m.message_id, interface, profile = %down.profile, scanner = down.scanner,
                error = %down.error, action, "protection scanner cannot answer");
            count(m.who.interface, "scanner-down", action);
        }
        for d in screening.verdict.notify() {
            self.notifier.note(notify::Note {
                interface: m.who.interface,
                profile: d.profile.clone(),
                check: d.check,
                detail: d.detail.clone(),
                message_id: m.message_id.to_owned(),
                sender: m.who.sender.to_owned(),
            });
        }
    }

    /// The profile a decision was made by.
    pub fn profile(&self, d: &Decision) -> Option<&Profile> {
        self.cfg.profiles.iter().find(|p| p.name == d.profile)
    }

    /// The replacement text of the profile that made `d`.
    pub fn replacement_text(&self, d: &Decision) -> &str {
        self.profile(d).map_or(protection::DEFAULT_REPLACEMENT, |p| p.replacement.as_str())
    }

    /// How the sender of a message blocked by `d` is answered.
    pub fn block_answer(&self, d: &Decision) -> BlockAnswer {
        let text = match d.check {
            "flood" | "duplicate" => String::new(),
            "virus" if self.profile(d).is_some_and(|p| p.inform_sender) => {
                format!("{} Found: {}", self.replacement_text(d), d.detail)
            }
            _ => self.replacement_text(d).to_owned(),
        };
        BlockAnswer { check: d.check, text }
    }

    /// The content with the parts the verdict replaces put in place by their profiles' text;
    /// `None` when nothing is replaced.
    pub fn rewrite(&self, screening: &Screening, content: &Content) -> Option<Content> {
        let replacing: Vec<&Decision> =
            screening.verdict.decisions.iter().filter(|d| d.takes(protection::Action::Replace)).collect();
        let first = replacing.first()?;
        match screening.verdict.replaced() {
            protection::Replaced::Nothing => None,
            protection::Replaced::All => Some(replacement_only(self.replacement_text(first))),
            protection::Replaced::Parts(parts) => {
                let text_of = |i: usize| {
                    replacing
                        .iter()
                        .find(|d| d.scope == Scope::Part(i))
                        .map_or(self.replacement_text(first), |d| self.replacement_text(d))
                };
                Some(replace(content, &parts, text_of))
            }
        }
    }
}

/// Why a message is held (quarantined, or archived) for `d`, as the store lists it.
pub fn hold_reason(interface: Interface, d: &Decision) -> HoldReason {
    HoldReason {
        interface: interface.name().to_owned(),
        profile: d.profile.clone(),
        check: d.check.to_owned(),
        detail: d.detail.clone(),
    }
}

fn count(interface: Interface, check: &'static str, action: &str) {
    metrics::counter!("tern_protection_decisions_total", "interface" => interface.name(), "check" => check,
        "action" => action.to_owned())
    .increment(1);
}
