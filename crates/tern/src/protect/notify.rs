//! The administrator's notifications (the `notify` action). The first decision after a quiet
//! period is told at once; the ones after it are gathered and told together when the period
//! has passed, so the administrator gets at most one mail per `period_secs` however many
//! messages a flood brings. Each notification is logged; it is mailed when `to` has addresses,
//! through `relay` or each domain's mail exchangers. A notification is a courtesy, not a
//! message the relay accepted: one that cannot be sent is logged and dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mail_builder::MessageBuilder;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::core::protection::{Interface, NotifyConfig};
use crate::smtp::{self, SendTarget};

/// Notes waiting for the notifier beyond this are dropped (and counted as dropped in the next
/// notification): a flood must not grow the relay's memory.
const QUEUE: usize = 4096;

/// Decisions told one by one in a notification; the rest are counted.
const SAMPLES: usize = 20;

/// One decision the administrator should hear of.
#[derive(Debug, Clone)]
pub struct Note {
    pub interface: Interface,
    pub profile: String,
    pub check: &'static str,
    pub detail: String,
    pub message_id: String,
    pub sender: String,
}

/// Hands notes to the notifier task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    notes: mpsc::Sender<Note>,
    /// Notes dropped because the queue was full, since the last notification.
    dropped: Arc<AtomicU64>,
}

/// What one notification sums up.
#[derive(Debug, Default)]
struct Summary {
    /// Decisions by interface, profile and check.
    counts: BTreeMap<(&'static str, String, &'static str), u64>,
    samples: Vec<Note>,
    total: u64,
    dropped: u64,
}

impl Summary {
    fn add(&mut self, note: Note) {
        *self.counts.entry((note.interface.name(), note.profile.clone(), note.check)).or_default() += 1;
        self.total += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(note);
        }
    }

    fn is_empty(&self) -> bool {
        self.total == 0 && self.dropped == 0
    }

    fn text(&self) -> String {
        let mut out = format!("The protection stage took {} decisions that notify the administrator", self.total);
        if self.dropped > 0 {
            out.push_str(&format!(" (and {} more while it was busy)", self.dropped));
        }
        out.push_str(".\r\n\r\nBy interface, profile and check:\r\n");
        for ((interface, profile, check), n) in &self.counts {
            out.push_str(&format!("  {interface} {profile} {check}: {n}\r\n"));
        }
        out.push_str("\r\nThe first of them:\r\n");
        for n in &self.samples {
            out.push_str(&format!(
                "  {} from {} ({} {} {}): {}\r\n",
                n.message_id,
                n.sender,
                n.interface.name(),
                n.profile,
                n.check,
                n.detail
            ));
        }
        out
    }
}

impl Notifier {
    /// Starts the notifier task (on the current runtime); it ends when the last `Notifier` is
    /// dropped, telling what it still holds.
    pub fn start(cfg: &NotifyConfig, smtp_out: &smtp::ClientConfig) -> anyhow::Result<Notifier> {
        let client = if cfg.to.is_empty() { None } else { Some(Arc::new(smtp::Client::new(smtp_out.clone())?)) };
        let (notes, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(cfg.clone(), client, rx, dropped.clone()));
        Ok(Notifier { notes, dropped })
    }

    pub fn note(&self, note: Note) {
        if self.notes.try_send(note).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn run(
    cfg: NotifyConfig,
    client: Option<Arc<smtp::Client>>,
    mut rx: mpsc::Receiver<Note>,
    dropped: Arc<AtomicU64>,
) {
    let period = Duration::from_secs(cfg.period_secs.max(1));
    let mut summary = Summary::default();
    // When the last notification went out; none yet means the next note is told at once.
    let mut last: Option<Instant> = None;
    loop {
        let due = last.map(|at| at + period);
        let note = match due {
            Some(due) if !summary.is_empty() => tokio::select! {
                note = rx.recv() => note,
                () = tokio::time::sleep_until(due) => {
                    summary.dropped += dropped.swap(0, Ordering::Relaxed);
                    send(&cfg, client.as_deref(), &std::mem::take(&mut summary)).await;
                    last = Some(Instant::now());
                    continue;
                }
            },
            _ => rx.recv().await,
        };
        let Some(note) = note else { break };
        summary.add(note);
        if last.is_none_or(|at| at.elapsed() >= period) {
            summary.dropped += dropped.swap(0, Ordering::Relaxed);
            send(&cfg, client.as_deref(), &std::mem::take(&mut summary)).await;
            last = Some(Instant::now());
        }
    }
    if !summary.is_empty() {
        send(&cfg, client.as_deref(), &summary).await;
    }
}

async fn send(cfg: &NotifyConfig, client: Option<&smtp::Client>, summary: &Summary) {
    tracing::warn!(decisions = summary.total, dropped = summary.dropped, "protection notification");
    let Some(client) = client else {
        metrics::counter!("tern_protection_notifications_total", "outcome" => "logged").increment(1);
        return;
    };
    let mail = MessageBuilder::new()
        .from(cfg.from.as_str())
        .to(cfg.to.iter().map(String::as_str).collect::<Vec<_>>())
        .subject(format!("Tern protection: {} decisions", summary.total + summary.dropped))
        .text_body(summary.text())
        .write_to_vec();
    let mail = match mail {
        Ok(mail) => mail,
        Err(e) => {
            tracing::error!(error = %e, "protection notification cannot be written");
            return;
        }
    };
    let mut ok = true;
    for (target, to) in targets(cfg) {
        if let Err(e) = client.send(&target, &cfg.from, &to, &mail).await {
            tracing::error!(error = %e, to = ?to, "protection notification not sent");
            ok = false;
        }
    }
    let outcome = if ok { "sent" } else { "failed" };
    metrics::counter!("tern_protection_notifications_total", "outcome" => outcome).increment(1);
}

/// Where the notification goes: all of `to` through the relay, or each domain's addresses to
/// its exchangers.
fn targets(cfg: &NotifyConfig) -> Vec<(SendTarget, Vec<String>)> {
    // The configuration's check made sure a relay is host:port.
    if let Some((host, port)) = cfg.relay.rsplit_once(':')
        && let Ok(port) = port.parse()
    {
        return vec![(SendTarget::Relay { host: host.to_owned(), port }, cfg.to.clone())];
    }
    let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for to in &cfg.to {
        let domain = to.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase();
        by_domain.entry(domain).or_default().push(to.clone());
    }
    by_domain.into_iter().map(|(domain, to)| (SendTarget::Mx { domain, port: 25 }, to)).collect()
}
