//! `tern ue load`: many simulated handsets against one relay. Submissions go out open-loop at
//! a fixed rate (each on its own task, up to a concurrency bound), from handsets numbered
//! `--number-base` upwards to the next handsets in that range; with `--retrieve` the same
//! program is every recipient too, fetching and acknowledging each notified message. A
//! progress bar runs meanwhile; the summary gives throughput, outcomes by status and latency
//! percentiles for submission and end to end (docs/UE.md).

mod retrieve;
mod tally;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tern_codec::mms::{Message, Pdu, ResponseStatus};
use tokio::sync::Semaphore;

use self::retrieve::{Meeting, Retriever, lock};
use self::tally::{OK, Run, Tally};
use super::client::Client;
use super::compose::{self, Draft};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The relay's MM1 URL.
    #[arg(long, value_name = "URL")]
    relay: String,
    /// Submissions started per second.
    #[arg(long, value_name = "R", default_value_t = 10.0)]
    rate: f64,
    /// How long to submit, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    duration: f64,
    /// Octets of text in each message (its text/plain part).
    #[arg(long, value_name = "OCTETS", default_value_t = 1000)]
    size: usize,
    /// Recipients of each message: the handsets after its sender in the range.
    #[arg(long, value_name = "N", default_value_t = 1)]
    recipients: usize,
    /// Simulated handsets, numbered from --number-base upwards.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    handsets: u64,
    /// The first handset's number (+ and digits); the others follow it.
    #[arg(long, value_name = "NUMBER", default_value = "+15557000000")]
    number_base: String,
    /// Most requests awaiting an answer at once, for submissions and for retrievals each.
    #[arg(long, value_name = "N", default_value_t = 256)]
    concurrency: usize,
    /// Also be the recipients: take the relay's pushes on this UDP address (point its `udp`
    /// bearer's `udp_target` here), retrieve every message and answer m-notifyresp.ind.
    #[arg(long, value_name = "ADDR")]
    retrieve: Option<SocketAddr>,
    /// With --retrieve: how long to wait for outstanding retrievals after the last answer.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    drain: u64,
    /// Ask for delivery reports (with --retrieve, counted as they are pushed back, and waited
    /// for like the retrievals).
    #[arg(long)]
    delivery_report: bool,
    #[command(flatten)]
    common: super::Common,
}

/// The handsets' numbers: a base and a count, all of the same length.
#[derive(Debug, Clone)]
struct Numbers {
    base: u64,
    width: usize,
    count: u64,
}

impl Numbers {
    fn new(base: &str, count: u64) -> anyhow::Result<Numbers> {
        let digits = base.strip_prefix('+').unwrap_or(base);
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            bail!("--number-base {base:?} is not an E.164 number (+ and up to 15 digits)");
        }
        let parsed: u64 = digits.parse().context("--number-base")?;
        let width = digits.len();
        let last = parsed.checked_add(count.saturating_sub(1)).filter(|l| l.to_string().len() <= width);
        if last.is_none() {
            bail!("{count} handsets from {base} do not fit in {width} digits");
        }
        Ok(Numbers { base: parsed, width, count })
    }

    fn number(&self, i: u64) -> String {
        format!("+{:0width$}", self.base + i % self.count, width = self.width)
    }
}

/// One message's text, `size` octets of readable ASCII.
fn text(size: usize) -> String {
    const LINE: &str = "Tern load test message. ";
    LINE.repeat(size / LINE.len() + 1)[..size].to_owned()
}

#[derive(Debug, Clone)]
struct Sender {
    /// Each submission names its handset itself (`Client::post_as`).
    client: Client,
    args: Arc<Args>,
    numbers: Numbers,
    body: Arc<String>,
    tally: Arc<Mutex<Tally>>,
    meeting: Option<Arc<Meeting>>,
}

impl Sender {
    async fn submit(&self, k: u64) {
        let from = k % self.numbers.count;
        let to = (1..=self.args.recipients as u64).map(|j| self.numbers.number(from + j)).collect();
        let draft = Draft {
            transaction_id: crate::core::ids::transaction_id(),
            version: self.args.common.mms_version.version(),
            from: None,
            to,
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: Some(format!("load {k}")),
            text: Some(self.body.as_ref().clone()),
            attachments: Vec::new(),
            delivery_report: self.args.delivery_report,
            read_report: false,
        };
        let outcome = match compose::send_req(&draft) {
            Ok(message) => self.post(&self.numbers.number(from), message).await,
            Err(e) => format!("not composed: {e}"),
        };
        *lock(&self.tally).sends.entry(outcome).or_insert(0) += 1;
    }

    /// POSTs one m-send.req; returns the outcome's name.
    async fn post(&self, msisdn: &str, message: Message<'_>) -> String {
        let start = Instant::now();
        let answer = match self.client.post_as(msisdn, &self.args.relay, message.encode()).await {
            Ok(answer) => answer,
            Err(e) => return retrieve::failure(&e),
        };
        lock(&self.tally).send_latency.record(start.elapsed());
        match Message::decode(&answer.body).map(|m| m.pdu) {
            Ok(Pdu::SendConf(conf)) if conf.response_status == Some(ResponseStatus::OK) => {
                if let (Some(meeting), Some(id)) = (&self.meeting, conf.message_id) {
                    meeting.sent(id, start);
                }
                OK.to_owned()
            }
            Ok(Pdu::SendConf(conf)) => {
                conf.response_status.map_or_else(|| "no Response-Status".to_owned(), |s| s.to_string())
            }
            _ => format!("HTTP {}", answer.status),
        }
    }
}

fn progress(planned: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(planned);
    let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} submitted  {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn status_line(tally: &Mutex<Tally>, retrieving: bool) -> String {
    let t = lock(tally);
    let errors = t.answered() - t.accepted();
    if retrieving {
        format!("ok {}  errors {errors}  retrieved {}", t.accepted(), t.retrieved())
    } else {
        format!("ok {}  errors {errors}", t.accepted())
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number");
    }
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!("--duration must be a positive number of seconds");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.recipients == 0 || args.recipients as u64 >= args.handsets {
        bail!("--recipients must be at least 1 and fewer than --handsets");
    }
    let numbers = Numbers::new(&args.number_base, args.handsets)?;
    let planned = (args.rate * args.duration).round().max(1.0) as u64;
    let client = Client::new(&args.common.msisdn_header, None)?;
    let tally = Arc::new(Mutex::new(Tally::new()));
    let meeting = args.retrieve.map(|_| Arc::new(Meeting::new(tally.clone())));
    let listener = match (args.retrieve, &meeting) {
        (Some(addr), Some(meeting)) => {
            let socket = retrieve::bind(addr).await?;
            let retriever = Retriever {
                client: client.clone(),
                relay: args.relay.clone(),
                version: args.common.mms_version.version(),
                meeting: meeting.clone(),
                limit: Arc::new(Semaphore::new(args.concurrency)),
            };
            Some(tokio::spawn(retriever.listen(socket)))
        }
        _ => None,
    };
    let args = Arc::new(args);
    let bar = progress(planned, args.common.json);
    let sender =
        Sender { client, args: args.clone(), numbers, body: Arc::new(text(args.size)), tally: tally.clone(), meeting };
    let limit = Arc::new(Semaphore::new(args.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for k in 0..planned {
        let due = start + Duration::from_secs_f64(k as f64 / args.rate);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        // At the bound the schedule slips, and the achieved rate shows it.
        let permit = limit.clone().acquire_owned().await.context("submission limit")?;
        let sender = sender.clone();
        let bar = bar.clone();
        let retrieving = args.retrieve.is_some();
        tasks.spawn(async move {
            sender.submit(k).await;
            drop(permit);
            bar.inc(1);
            bar.set_message(status_line(&sender.tally, retrieving));
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let send_phase = start.elapsed();
    bar.finish_and_clear();

    let expected_retrievals = args.retrieve.map(|_| lock(&tally).accepted() * args.recipients as u64);
    if let (Some(expected), Some(listener)) = (expected_retrievals, listener) {
        let waiting = progress(expected, args.common.json);
        waiting.set_message("retrieved");
        let deadline = Instant::now() + Duration::from_secs(args.drain);
        loop {
            let (done, reports) = {
                let t = lock(&tally);
                (t.retrievals.values().sum::<u64>(), t.reports)
            };
            waiting.set_position(done);
            // A delivery report follows each retrieval's m-notifyresp.ind, so wait for those too.
            let reported = !args.delivery_report || reports >= expected;
            if (done >= expected && reported) || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        waiting.finish_and_clear();
        listener.abort();
    }

    let run = Run {
        relay: args.relay.clone(),
        rate: args.rate,
        planned,
        size: args.size,
        recipients: args.recipients,
        send_phase,
        expected_retrievals,
    };
    let t = lock(&tally);
    if args.common.json {
        println!("{}", tally::json(&run, &t));
    } else {
        print!("{}", tally::text(&run, &t));
    }
    if t.accepted() == 0 {
        bail!("the relay accepted none of the submissions");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_base_and_keep_its_length() {
        let n = Numbers::new("+15557000000", 1000).unwrap();
        assert_eq!(n.number(0), "+15557000000");
        assert_eq!(n.number(999), "+15557000999");
        assert_eq!(n.number(1000), "+15557000000");
        let n = Numbers::new("+0015", 10).unwrap();
        assert_eq!(n.number(9), "+0024");
        assert!(Numbers::new("+99", 2).is_err());
        assert!(Numbers::new("+1555x", 2).is_err());
        assert!(Numbers::new("+", 2).is_err());
    }

    #[test]
    fn the_text_has_the_asked_size() {
        for size in [0, 1, 24, 25, 1000] {
            assert_eq!(text(size).len(), size);
        }
    }
}
