//! `tern ue receive`: a handset's MMS user agent. For each m-notification.ind it decides by the
//! multi-relay rule, fetches the message from the relay that notified it (the Content-Location
//! is absolute, so the GET goes there), saves the parts, and answers that same relay: after an
//! immediate retrieval an m-notifyresp.ind with the outcome (OMA-MMS-ENC), after a retrieval of
//! a notification deferred earlier an m-acknowledge.ind. Reports pushed to the handset are
//! shown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::Url;
use serde_json::json;
use tern_codec::mms::{
    AcknowledgeInd, Message, NotificationInd, NotifyRespInd, Pdu, ReadRecInd, ReadStatus, RetrieveConf, Sender, Status,
    Version,
};

use super::client::{Client, RequestError};
use super::held::{self, Held};
use super::inputs::{FileKind, Incoming, Source};
use super::origin::Origin;
use super::output::Output;
use super::policy::{self, Action, Choice, Policy};
use super::save;
use crate::decode::detect::Decoded;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").args(["listen", "push", "sms"])))]
pub struct Args {
    /// Listen for WSP pushes as WDP datagrams on this UDP address (as the relay's `udp` bearer
    /// sends them; a handset listens on port 2948).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Read WSP pushes from FILE (`-`: standard input): binary, or hex with one push a line.
    #[arg(long, value_name = "FILE")]
    push: Option<String>,
    /// Read SMS user data or TPDUs from FILE (`-`: standard input): binary, or hex with one SMS a
    /// line; concatenated segments are reassembled.
    #[arg(long, value_name = "FILE")]
    sms: Option<String>,
    /// The home relay's MM1 URL: its notifications are trusted, and its path is where MM1
    /// POSTs go on every relay unless --mm1-path says otherwise.
    #[arg(long, value_name = "URL")]
    relay: Option<String>,
    /// This handset's number, sent in the MSISDN header with every request.
    #[arg(long, value_name = "NUMBER")]
    msisdn: Option<String>,
    /// The path of MM1 POSTs on the relay that sent a notification (default: the path of
    /// --relay, else `/`).
    #[arg(long, value_name = "PATH")]
    mm1_path: Option<String>,
    /// A relay (scheme://host:port) whose notifications are fetched at once; repeatable.
    #[arg(long = "trust", value_name = "ORIGIN")]
    trust: Vec<Origin>,
    /// A relay whose notifications are refused (m-notifyresp.ind Rejected) without fetching
    /// them; repeatable.
    #[arg(long = "blacklist", value_name = "ORIGIN")]
    blacklist: Vec<Origin>,
    /// What to do with a notification from any other relay. Unset: ask when standard input is a
    /// terminal (the relay is told Deferred meanwhile), else defer.
    #[arg(long, value_enum, value_name = "CHOICE")]
    unknown: Option<Choice>,
    /// Save each retrieved message's parts under DIR/<Message-ID>/.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// Keep deferred notifications in DIR, and decide the ones kept there by earlier runs
    /// (by --trust, --blacklist and --unknown, or at the terminal) before anything else.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Send a read report (m-read-rec.ind, Read) for each retrieved message whose sender asked
    /// for one.
    #[arg(long)]
    read_report: bool,
    /// Stop after N pushes.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Fail if no push arrives for SECS seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    #[command(flatten)]
    common: super::Common,
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let out = Output::new(args.common.json);
    let home = args.relay.as_deref().map(Origin::of).transpose().context("--relay")?;
    let mm1_path = match (&args.mm1_path, &args.relay) {
        (Some(path), _) => path.clone(),
        (None, Some(relay)) => Url::parse(relay).context("--relay")?.path().to_owned(),
        (None, None) => "/".to_owned(),
    };
    if !mm1_path.starts_with('/') {
        bail!("--mm1-path must start with '/'");
    }
    let stdin_is_input = [&args.push, &args.sms].iter().any(|f| f.as_deref() == Some("-"));
    let policy = Policy::new(home, args.trust.clone(), args.blacklist.clone(), args.unknown, stdin_is_input)?;
    let held = args.state.as_deref().map(Held::open).transpose().context("--state")?;
    let mut source = match (&args.listen, &args.push, &args.sms) {
        (Some(addr), _, _) => Some(Source::listen(*addr).await?),
        (_, Some(file), _) => Some(Source::file(file, FileKind::Push)?),
        (_, _, Some(file)) => Some(Source::file(file, FileKind::Sms)?),
        _ if held.is_some() => None,
        _ => bail!("nothing to receive: give --listen, --push or --sms (or --state to decide held notifications)"),
    };
    if let Some(addr) = source.as_ref().and_then(Source::local_addr) {
        out.step("listening", format!("listening for pushes on udp {addr}"), json!({ "address": addr.to_string() }));
    }
    let mut handset = Handset::new(Setup {
        out,
        msisdn_header: args.common.msisdn_header.clone(),
        msisdn: args.msisdn.clone(),
        policy,
        held,
        save: args.save.clone(),
        read_report: args.read_report,
        version: args.common.mms_version.version(),
        mm1_path,
    })?;
    handset.decide_held().await;
    let Some(source) = &mut source else { return Ok(()) };
    let mut handled = 0;
    while args.count.is_none_or(|n| handled < n) {
        let next = match args.timeout {
            Some(secs) => tokio::time::timeout(Duration::from_secs(secs), source.next())
                .await
                .map_err(|_| anyhow!("no push arrived within {secs} s"))?,
            None => source.next().await,
        };
        match next.context("receiving pushes")? {
            None => break,
            Some(Incoming::Garbage { source, error }) => out.note(format!("{source}: {error}; ignored")),
            Some(Incoming::Push { source, decoded }) => {
                handset.push(&source, &decoded).await;
                handled += 1;
            }
        }
    }
    Ok(())
}

/// What a GET of a retrieval URL came to.
enum Fetched {
    Retrieved(Box<RetrieveConf>),
    /// Nothing now, maybe later (a transient Retrieve-Status, a failed or refused request).
    Transient,
    /// Not a message, and never going to be one (a permanent Retrieve-Status, not a PDU).
    Unusable,
}

impl Fetched {
    /// The X-Mms-Status an m-notifyresp.ind reports for it, mapped as Firefox OS's MMS client
    /// does: a failure that may clear is Deferred (the relay keeps the message), others Unrecognised.
    fn status(&self) -> Status {
        match self {
            Fetched::Retrieved(_) => Status::RETRIEVED,
            Fetched::Transient => Status::DEFERRED,
            Fetched::Unusable => Status::UNRECOGNISED,
        }
    }
}

/// A notification's transaction, where it came from and where its message waits.
struct Notified {
    origin: Origin,
    tid: String,
    url: String,
}

/// What a handset is told at start, whatever feeds it pushes.
#[derive(Debug)]
pub struct Setup {
    pub out: Output,
    pub msisdn_header: String,
    pub msisdn: Option<String>,
    pub policy: Policy,
    pub held: Option<Held>,
    pub save: Option<PathBuf>,
    pub read_report: bool,
    pub version: Version,
    /// The path of MM1 POSTs on any relay.
    pub mm1_path: String,
}

/// A handset's MMS user agent: decides, fetches, saves and answers, one push at a time.
#[derive(Debug)]
pub struct Handset {
    out: Output,
    client: Client,
    policy: Policy,
    held: Option<Held>,
    save: Option<PathBuf>,
    read_report: bool,
    version: Version,
    mm1_path: String,
    /// The m-notifyresp.ind status given to each notification, so that one a relay sends again
    /// gets the same answer without a second retrieval.
    answered: HashMap<(Origin, String), Status>,
}

impl Handset {
    pub fn new(setup: Setup) -> anyhow::Result<Handset> {
        Ok(Handset {
            out: setup.out,
            client: Client::new(&setup.msisdn_header, setup.msisdn.as_deref())?,
            policy: setup.policy,
            held: setup.held,
            save: setup.save,
            read_report: setup.read_report,
            version: setup.version,
            mm1_path: setup.mm1_path,
            answered: HashMap::new(),
        })
    }

    pub async fn push(&mut self, source: &str, decoded: &Decoded) {
        self.out.push(source, decoded);
        let Some(message) = &decoded.mms else { return };
        match &message.pdu {
            Pdu::NotificationInd(n) => self.notification(n).await,
            Pdu::DeliveryInd(r) => {
                let to: Vec<String> = r.to.iter().map(ToString::to_string).collect();
                let status = r.status.map(|s| s.to_string());
                let line = format!("delivery report: message {} to {}", id_or_none(&r.message_id), to.join(", "));
                let json = json!({ "kind": "m-delivery-ind", "message_id": r.message_id, "to": to, "status": status });
                self.report(line, status, json);
            }
            Pdu::ReadOrigInd(r) => {
                let from = r.from.as_ref().map(ToString::to_string);
                let status = r.read_status.map(|s| s.to_string());
                let by = from.as_deref().unwrap_or("(no From)");
                let line = format!("read report: message {} by {by}", id_or_none(&r.message_id));
                let json = json!({ "kind": "m-read-orig-ind", "message_id": r.message_id, "from": from, "read_status": status });
                self.report(line, status, json);
            }
            other => self.out.note(format!("an {} is not pushed to handsets; ignored", other.message_type())),
        }
    }

    /// Shows a report the sender's handset got: `line`, then its status.
    fn report(&mut self, line: String, status: Option<String>, json: serde_json::Value) {
        self.out.step("report", format!("{line}: {}", status.as_deref().unwrap_or("(no status)")), json);
    }

    async fn notification(&mut self, n: &NotificationInd) {
        let Some(notified) = self.notified(n) else { return };
        let key = (notified.origin.clone(), notified.tid.clone());
        if let Some(&status) = self.answered.get(&key) {
            self.out.note(format!(
                "notification {} from {} was answered {status} before; answering the same again",
                notified.tid, notified.origin
            ));
            self.notify_response(&notified, status).await;
            return;
        }
        let action = self.decision(&notified, false);
        let status = match action {
            Action::Decided(Choice::Accept) => {
                let fetched = self.fetch(&notified).await;
                let status = fetched.status();
                self.notify_response(&notified, status).await;
                match fetched {
                    Fetched::Retrieved(conf) => self.send_read_report(&notified, &conf).await,
                    Fetched::Transient => {
                        self.hold(&notified, n);
                    }
                    Fetched::Unusable => {}
                }
                status
            }
            Action::Decided(Choice::Reject) => {
                self.notify_response(&notified, Status::REJECTED).await;
                Status::REJECTED
            }
            Action::Decided(Choice::Defer) => {
                self.notify_response(&notified, Status::DEFERRED).await;
                self.hold(&notified, n);
                Status::DEFERRED
            }
            Action::Ask => {
                // The relay hears Deferred at once, so it stops notifying while the user thinks.
                self.notify_response(&notified, Status::DEFERRED).await;
                self.answered.insert(key, Status::DEFERRED);
                let path = self.hold(&notified, n);
                let choice = policy::ask(&notified.origin, n).await;
                self.decide(&notified, path.as_deref(), choice).await;
                return;
            }
        };
        self.answered.insert(key, status);
    }

    /// Decides the notifications earlier runs left in the state directory.
    async fn decide_held(&mut self) {
        let Some(held) = &self.held else { return };
        let (entries, problems) = match held.entries() {
            Ok(found) => found,
            Err(e) => {
                self.out.note(format!("cannot read the held notifications: {e}"));
                return;
            }
        };
        for problem in problems {
            self.out.note(format!("{problem}; left alone"));
        }
        for entry in entries {
            let Some(notified) = self.notified(&entry.notification) else { continue };
            let choice = match self.decision(&notified, true) {
                Action::Decided(choice) => choice,
                Action::Ask => policy::ask(&notified.origin, &entry.notification).await,
            };
            self.decide(&notified, Some(&entry.path), choice).await;
        }
    }

    /// The user's decision on a notification the relay was told Deferred: a retrieval now is
    /// the deferred flow, confirmed with m-acknowledge.ind; a refusal is an m-notifyresp.ind.
    async fn decide(&mut self, notified: &Notified, path: Option<&Path>, choice: Choice) {
        match choice {
            Choice::Accept => match self.fetch(notified).await {
                Fetched::Retrieved(conf) => {
                    let tid = conf.transaction_id.clone().unwrap_or_else(|| notified.tid.clone());
                    self.acknowledge(notified, tid).await;
                    self.send_read_report(notified, &conf).await;
                    self.forget(path);
                }
                Fetched::Transient => self.out.note(format!("{} could not be fetched now; still held", notified.url)),
                Fetched::Unusable => {
                    self.out.note(format!("{} holds no message any more; forgotten", notified.url));
                    self.forget(path);
                }
            },
            Choice::Reject => {
                self.notify_response(notified, Status::REJECTED).await;
                self.forget(path);
            }
            Choice::Defer => self.out.note(format!("notification {} stays deferred", notified.tid)),
        }
    }

    /// The decision for a notification by the multi-relay rule, shown.
    fn decision(&self, notified: &Notified, held: bool) -> Action {
        let standing = self.policy.standing(&notified.origin);
        let action = self.policy.action(standing);
        let name = match action {
            Action::Decided(Choice::Accept) => "retrieve",
            Action::Decided(Choice::Reject) => "reject",
            Action::Decided(Choice::Defer) => "defer",
            Action::Ask => "ask",
        };
        let what = if held { "held notification" } else { "notification" };
        self.out.step(
            "decision",
            format!("{what} {} from {} ({} relay): {name}", notified.tid, notified.origin, standing.name()),
            json!({
                "transaction_id": notified.tid, "origin": notified.origin.to_string(), "url": notified.url,
                "standing": standing.name(), "action": name, "held": held,
            }),
        );
        action
    }

    /// The transaction, origin and retrieval URL of a notification, or why it cannot be answered.
    fn notified(&self, n: &NotificationInd) -> Option<Notified> {
        let Some(tid) = n.transaction_id.clone() else {
            self.out.note("the notification has no Transaction-ID, so it cannot be answered; ignored");
            return None;
        };
        let Some(url) = n.content_location.clone() else {
            self.out.note(format!("notification {tid} has no Content-Location; ignored"));
            return None;
        };
        match Origin::of(&url) {
            Ok(origin) => Some(Notified { origin, tid, url }),
            Err(e) => {
                self.out.note(format!("notification {tid}: {e}; ignored"));
                None
            }
        }
    }

    /// GETs the message, shows it and saves its parts.
    async fn fetch(&self, notified: &Notified) -> Fetched {
        let url = &notified.url;
        self.out.step("request", format!("GET {url}"), json!({ "method": "GET", "url": url }));
        let answer = match self.client.get(url).await {
            Ok(answer) => answer,
            Err(e) => {
                self.out.note(format!("GET {url} failed: {e}"));
                // Too large stays too large; a failed connection or a timeout may clear.
                return match e {
                    RequestError::TooLarge | RequestError::Identity(_) => Fetched::Unusable,
                    RequestError::Http(_) => Fetched::Transient,
                };
            }
        };
        let message = self.out.answer(url, &answer);
        if answer.status != 200 {
            return Fetched::Transient;
        }
        let Some(message) = message else {
            return if answer.body.is_empty() { Fetched::Transient } else { Fetched::Unusable };
        };
        let Pdu::RetrieveConf(conf) = message.pdu else {
            self.out.note(format!("the answer is an {}, not an m-retrieve-conf", message.pdu.message_type()));
            return Fetched::Unusable;
        };
        match conf.retrieve_status {
            Some(status) if status.0 != 0x80 => {
                let text = conf.retrieve_text.as_ref().map_or_else(String::new, |t| format!(" ({})", t.text));
                self.out.note(format!("the relay did not give the message: {status}{text}"));
                // As for Response-Status, 0xC0 to 0xDF are transient and the rest permanent.
                return if (0xC0..=0xDF).contains(&status.0) { Fetched::Transient } else { Fetched::Unusable };
            }
            _ => {}
        }
        if let Some(dir) = &self.save {
            let name = conf.message_id.as_deref().unwrap_or(&notified.tid);
            match &message.body {
                Some(body) => match save::parts(dir, name, body) {
                    Ok(files) => {
                        for (path, size) in files {
                            self.out.step(
                                "saved",
                                format!("saved {} ({size} octets)", path.display()),
                                json!({ "path": path.display().to_string(), "size": size }),
                            );
                        }
                    }
                    Err(e) => self.out.note(format!("cannot save the message in {}: {e}", dir.display())),
                },
                None => self.out.note("the message has no body to save"),
            }
        }
        Fetched::Retrieved(Box::new(conf))
    }

    async fn notify_response(&self, notified: &Notified, status: Status) {
        let ind = NotifyRespInd {
            transaction_id: Some(notified.tid.clone()),
            mms_version: Some(self.version),
            status: Some(status),
            ..NotifyRespInd::default()
        };
        self.post(&notified.origin, Message::new(ind)).await;
    }

    async fn acknowledge(&self, notified: &Notified, tid: String) {
        let ind =
            AcknowledgeInd { transaction_id: Some(tid), mms_version: Some(self.version), ..AcknowledgeInd::default() };
        self.post(&notified.origin, Message::new(ind)).await;
    }

    /// An m-read-rec.ind (MMS 1.1 and later, so any version this simulator speaks) when the
    /// user allows read reports and the sender asked for one.
    async fn send_read_report(&self, notified: &Notified, conf: &RetrieveConf) {
        if conf.read_report != Some(true) {
            return;
        }
        if !self.read_report {
            self.out.note("the sender asked for a read report; --read-report sends one");
            return;
        }
        let (Some(message_id), Some(Sender::Address(sender))) = (&conf.message_id, &conf.from) else {
            self.out.note("no read report: the message names no Message-ID or sender");
            return;
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let ind = ReadRecInd {
            mms_version: Some(self.version),
            message_id: Some(message_id.clone()),
            to: vec![sender.clone()],
            from: Some(Sender::InsertAddress),
            date: Some(now),
            read_status: Some(ReadStatus::READ),
            ..ReadRecInd::default()
        };
        self.post(&notified.origin, Message::new(ind)).await;
    }

    /// POSTs an indication to `origin`'s MM1 path and shows the answer.
    async fn post(&self, origin: &Origin, message: Message<'_>) {
        let url = origin.join(&self.mm1_path);
        let kind = message.pdu.message_type();
        self.out.pdu("request", format!("POST {url} {kind}"), json!({ "method": "POST", "url": url }), &message);
        match self.client.post(&url, message.encode()).await {
            Ok(answer) => {
                self.out.answer(&url, &answer);
            }
            Err(e) => self.out.note(format!("POST {url} failed: {e}")),
        }
    }

    /// Keeps a deferred notification for a later decision; returns where.
    fn hold(&self, notified: &Notified, n: &NotificationInd) -> Option<PathBuf> {
        let Some(held) = &self.held else {
            self.out.note(format!(
                "notification {} stays at {}; give --state DIR to decide it in a later run",
                notified.tid, notified.origin
            ));
            return None;
        };
        match held.keep(&notified.origin, n) {
            Ok(path) => {
                self.out.step(
                    "held",
                    format!("held notification {} in {}", notified.tid, path.display()),
                    json!({ "transaction_id": notified.tid, "path": path.display().to_string() }),
                );
                Some(path)
            }
            Err(e) => {
                self.out.note(format!("cannot keep notification {}: {e}", notified.tid));
                None
            }
        }
    }

    fn forget(&self, path: Option<&Path>) {
        if let Some(path) = path
            && let Err(e) = held::forget(path)
        {
            self.out.note(format!("cannot remove {}: {e}", path.display()));
        }
    }
}

fn id_or_none(message_id: &Option<String>) -> &str {
    message_id.as_deref().unwrap_or("(no Message-ID)")
}
