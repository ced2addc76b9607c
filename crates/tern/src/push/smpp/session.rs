//! One SMPP session over one TCP connection, framed by rusmpp's codec and driven by one task
//! that owns the socket. Requests (a bind, submit_sm, unbind) come in over a channel and wait in
//! the task for room in the window (requests awaiting their response); each time the task runs
//! it writes every request there is room for and flushes once, and a response makes room for
//! the next request at once, without a round trip through the task that asked. It numbers
//! requests, matches responses to them by sequence number, fails the ones not answered in time,
//! keeps the link alive with enquire_link, and answers what the SMSC sends: deliver_sm (receipts
//! are passed on), enquire_link, unbind, and generic_nack for anything else.
//!
//! rusmppc 0.4 ran sessions before; its connection task took a few queued requests each time it
//! ran and did not wake itself for the rest, which held a window of 64 to a third of what the
//! SMSC takes (docs/BENCHMARKS.md).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use rusmpp::pdus::DeliverSmResp;
use rusmpp::tokio_codec::{CommandCodec, DecodeError};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::receipt::{self, Receipt};

/// Largest PDU accepted from the SMSC; a deliver_sm is at most a few hundred octets.
const MAX_COMMAND_LENGTH: usize = 64 * 1024;
/// Most requests taken from the queue before the task flushes and looks at the socket again.
const BATCH: usize = 256;

/// Why a request got no response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Fault {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("the session ended: {0}")]
    Ended(Arc<str>),
}

/// How a session ended.
#[derive(Debug)]
pub enum Ended {
    /// It was closed from this side.
    Closed,
    /// The SMSC unbound it (and was answered).
    Unbound,
    /// The connection failed, or the SMSC stopped answering enquire_link.
    Dropped(String),
}

/// What the session needs to know besides its socket.
#[derive(Debug, Clone)]
pub struct Options {
    /// The link's name, for logs and receipts.
    pub link: String,
    pub response_timeout: Duration,
    pub enquire_link: Duration,
    /// Most requests awaiting their response at once.
    pub window: usize,
    /// Shows how many do.
    pub in_window: metrics::Gauge,
    pub receipts: mpsc::UnboundedSender<Receipt>,
}

/// Where the response to a request goes.
type Reply = oneshot::Sender<Result<Command, Fault>>;

enum Op {
    Request { pdu: Box<Pdu>, reply: Reply },
    Close,
}

/// A handle on a running session; clones share it.
#[derive(Debug, Clone)]
pub struct Session {
    ops: mpsc::UnboundedSender<Op>,
    ended: Arc<AtomicBool>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Request { .. } => f.write_str("Request"),
            Op::Close => f.write_str("Close"),
        }
    }
}

impl Session {
    /// Starts the session's task on `stream`; the receiver says how it ended.
    pub fn start(stream: TcpStream, options: Options) -> (Session, oneshot::Receiver<Ended>) {
        let (ops, queued) = mpsc::unbounded_channel();
        let ended = Arc::new(AtomicBool::new(false));
        let (done, finished) = oneshot::channel();
        let framed = Framed::new(stream, CommandCodec::new().with_max_length(MAX_COMMAND_LENGTH));
        let task = Task::new(framed, options);
        let flag = ended.clone();
        tokio::spawn(async move {
            let how = task.run(queued).await;
            flag.store(true, Ordering::Release);
            let _ = done.send(how);
        });
        (Session { ops, ended }, finished)
    }

    /// Sends `pdu` and waits for the SMSC's response to it (whatever its status: a refusal or
    /// a generic_nack is the caller's to judge).
    pub async fn request(&self, pdu: impl Into<Pdu>) -> Result<Command, Fault> {
        let (reply, response) = oneshot::channel();
        let ended = || Fault::Ended(Arc::from("the session is closed"));
        self.ops.send(Op::Request { pdu: Box::new(pdu.into()), reply }).map_err(|_| ended())?;
        response.await.map_err(|_| ended())?
    }

    /// Ends the session from this side, after writing what the window has room for among the
    /// requests queued before; the others fail.
    pub fn close(&self) {
        let _ = self.ops.send(Op::Close);
    }

    pub fn is_closed(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

struct Task {
    framed: Framed<TcpStream, CommandCodec>,
    options: Options,
    next_sequence: u32,
    /// Requests not written yet, for want of room in the window.
    waiting: VecDeque<(Box<Pdu>, Reply)>,
    pending: HashMap<u32, Reply>,
    /// Sequence numbers by when their responses are due; the timeout is the same for all, so
    /// this is in order.
    deadlines: VecDeque<(Instant, u32)>,
    /// The enquire_link awaiting its response, if any.
    enquiring: Option<u32>,
    /// The window use last shown in the gauge.
    shown: usize,
    /// Responses read and not yet handed to their askers.
    answered: Vec<(Reply, Command)>,
}

impl Task {
    fn new(framed: Framed<TcpStream, CommandCodec>, options: Options) -> Task {
        Task {
            framed,
            options,
            next_sequence: 1,
            waiting: VecDeque::new(),
            pending: HashMap::new(),
            deadlines: VecDeque::new(),
            enquiring: None,
            shown: 0,
            answered: Vec::new(),
        }
    }

    async fn run(mut self, mut queued: mpsc::UnboundedReceiver<Op>) -> Ended {
        let how = self.serve(&mut queued).await;
        // Responses read before the end are answers all the same.
        for (reply, command) in self.answered.drain(..) {
            let _ = reply.send(Ok(command));
        }
        let why: Arc<str> = match &how {
            Ended::Closed => Arc::from("closed"),
            Ended::Unbound => Arc::from("the SMSC unbound the link"),
            Ended::Dropped(why) => Arc::from(why.as_str()),
        };
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(Fault::Ended(why.clone())));
        }
        for (_, reply) in self.waiting.drain(..) {
            let _ = reply.send(Err(Fault::Ended(why.clone())));
        }
        self.options.in_window.set(0.0);
        queued.close();
        while let Ok(op) = queued.try_recv() {
            if let Op::Request { reply, .. } = op {
                let _ = reply.send(Err(Fault::Ended(why.clone())));
            }
        }
        how
    }

    async fn serve(&mut self, queued: &mut mpsc::UnboundedReceiver<Op>) -> Ended {
        let mut ops = Vec::with_capacity(BATCH);
        let start = Instant::now() + self.options.enquire_link;
        let mut enquire = tokio::time::interval_at(start, self.options.enquire_link);
        enquire.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = self.deadlines.front().map(|(at, _)| *at);
            let step = tokio::select! {
                // Unbiased, so a busy socket cannot starve the queue or the timers.
                incoming = self.framed.next() => self.read(incoming).await,
                taken = queued.recv_many(&mut ops, BATCH) => {
                    // Every handle dropped: nobody can use the session any more.
                    if taken == 0 {
                        return Ended::Closed;
                    }
                    self.write(&mut ops).await
                }
                () = sleep_until(due), if due.is_some() => self.expire().await,
                _ = enquire.tick() => self.enquire().await,
            };
            if let Err(how) = step {
                return how;
            }
        }
    }

    fn sequence(&mut self) -> u32 {
        let n = self.next_sequence;
        // Sequence numbers run 1 to 0x7FFFFFFF (SMPP 3.4 section 3.2).
        self.next_sequence = if n >= 0x7FFF_FFFF { 1 } else { n + 1 };
        n
    }

    /// Takes the queued requests, writes as many as the window has room for, then flushes once.
    async fn write(&mut self, ops: &mut Vec<Op>) -> Result<(), Ended> {
        let mut closing = false;
        for op in ops.drain(..) {
            match op {
                Op::Request { pdu, reply } => self.waiting.push_back((pdu, reply)),
                Op::Close => closing = true,
            }
        }
        self.fill().await?;
        self.flush().await?;
        if closing { Err(Ended::Closed) } else { Ok(()) }
    }

    /// Writes waiting requests while the window has room (without flushing).
    async fn fill(&mut self) -> Result<(), Ended> {
        while self.pending.len() < self.options.window {
            let Some((pdu, reply)) = self.waiting.pop_front() else { break };
            // Its asker gave up (a timeout of its own, a shutdown): nothing to send.
            if reply.is_closed() {
                continue;
            }
            let sequence = self.sequence();
            self.framed
                .feed(Command::new(CommandStatus::EsmeRok, sequence, *pdu))
                .await
                .map_err(|e| Ended::Dropped(format!("writing: {e}")))?;
            self.pending.insert(sequence, reply);
            self.deadlines.push_back((Instant::now() + self.options.response_timeout, sequence));
        }
        if self.pending.len() != self.shown {
            self.shown = self.pending.len();
            self.options.in_window.set(self.shown as f64);
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Ended> {
        SinkExt::<Command>::flush(&mut self.framed).await.map_err(|e| Ended::Dropped(format!("writing: {e}")))
    }

    /// Queues `command` for the next flush.
    async fn feed(&mut self, command: Command) -> Result<(), Ended> {
        self.framed.feed(command).await.map_err(|e| Ended::Dropped(format!("writing: {e}")))
    }

    /// Handles what was read, and whatever else has already arrived (up to a batch), then
    /// fills the room the responses made and flushes once.
    async fn read(&mut self, mut incoming: Option<Result<Command, DecodeError>>) -> Result<(), Ended> {
        for _ in 0..BATCH {
            match incoming {
                None => return Err(Ended::Dropped("the SMSC closed the connection".to_owned())),
                Some(Err(e)) => return Err(Ended::Dropped(format!("reading: {e}"))),
                Some(Ok(command)) => self.incoming(command).await?,
            }
            match self.framed.next().now_or_never() {
                Some(next) => incoming = next,
                None => break,
            }
        }
        // The next requests go out before their askers are woken: waking each costs more
        // than writing, and the SMSC is waiting.
        self.fill().await?;
        let flushed = self.flush().await;
        for (reply, command) in self.answered.drain(..) {
            let _ = reply.send(Ok(command));
        }
        flushed
    }

    async fn incoming(&mut self, command: Command) -> Result<(), Ended> {
        let (id, sequence) = (command.id(), command.sequence_number());
        let link = &self.options.link;
        if id.is_response() || id == CommandId::GenericNack {
            if self.enquiring == Some(sequence) {
                self.enquiring = None;
            } else if let Some(reply) = self.pending.remove(&sequence) {
                self.answered.push((reply, command));
            } else {
                // A late answer to a request that already timed out.
                tracing::debug!(%link, ?id, sequence, "response to nothing pending; ignored");
            }
            return Ok(());
        }
        match id {
            CommandId::DeliverSm => {
                // Receipts are passed on; mobile-originated messages are acknowledged only.
                if let Some(Pdu::DeliverSm(deliver)) = command.pdu()
                    && let Some(receipt) = receipt::parse(link, deliver.short_message().as_ref())
                {
                    tracing::debug!(%link, ?receipt, "delivery receipt");
                    let _ = self.options.receipts.send(receipt);
                }
                metrics::counter!("tern_smpp_deliver_sm_total", "link" => link.clone()).increment(1);
                self.feed(Command::new(CommandStatus::EsmeRok, sequence, DeliverSmResp::default())).await
            }
            CommandId::EnquireLink => {
                self.feed(Command::new(CommandStatus::EsmeRok, sequence, Pdu::EnquireLinkResp)).await
            }
            CommandId::Unbind => {
                self.feed(Command::new(CommandStatus::EsmeRok, sequence, Pdu::UnbindResp)).await?;
                self.flush().await?;
                Err(Ended::Unbound)
            }
            id => {
                tracing::debug!(%link, ?id, "unsupported request from the SMSC refused");
                self.feed(Command::new(CommandStatus::EsmeRinvcmdid, sequence, Pdu::GenericNack)).await
            }
        }
    }

    /// Fails the requests whose responses are overdue and fills the room they leave; an overdue
    /// enquire_link ends the session.
    async fn expire(&mut self) -> Result<(), Ended> {
        let now = Instant::now();
        while let Some(&(at, sequence)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if self.enquiring == Some(sequence) {
                return Err(Ended::Dropped("no enquire_link_resp in time".to_owned()));
            }
            if let Some(reply) = self.pending.remove(&sequence) {
                let _ = reply.send(Err(Fault::Timeout(self.options.response_timeout)));
            }
        }
        self.fill().await?;
        self.flush().await
    }

    async fn enquire(&mut self) -> Result<(), Ended> {
        // One at a time: the one out still has its own deadline.
        if self.enquiring.is_some() {
            return Ok(());
        }
        let sequence = self.sequence();
        self.feed(Command::new(CommandStatus::EsmeRok, sequence, Pdu::EnquireLink)).await?;
        self.flush().await?;
        self.enquiring = Some(sequence);
        self.deadlines.push_back((Instant::now() + self.options.response_timeout, sequence));
        Ok(())
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
