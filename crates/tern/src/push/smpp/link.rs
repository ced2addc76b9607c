//! One ESME link to an SMSC: a task that connects, binds, keeps the bind alive and answers what
//! the SMSC sends, and reconnects with backoff when the link drops; and the submit path that
//! senders share, bounded by the window (outstanding submit_sm) and the throughput limit.
//!
//! rusmppc runs the connection itself (framing, sequence numbers, matching responses, response
//! timeouts, sending and answering enquire_link); this module adds what it leaves to its user:
//! the window, the pacing, reconnecting, and answering deliver_sm and unbind.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use rusmpp::Pdu;
use rusmpp::pdus::{DeliverSmResp, SubmitSm};
use rusmpp::{Command, CommandId, CommandStatus};
use rusmppc::{Client, ConnectionBuilder, Event};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::error::{SmppError, backs_off};
use super::pdu;
use super::receipt::{self, Receipt};
use crate::config::{SmppBind, SmppLink};

/// Reconnect backoff: 1 s after a failure, doubling up to 30 s; back to 1 s once a bind held.
const RECONNECT_MIN: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// How long a TCP connect may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long submissions on a link pause after the SMSC says it is throttling or its queue is full.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// How many times one submit_sm is sent again after such a refusal before the push fails (and
/// goes back to the delivery queue, which retries it later).
const THROTTLE_RESENDS: u32 = 5;
/// How many times one submit_sm whose answer did not come in time is sent again before the push
/// fails.
const TIMEOUT_RESENDS: u32 = 2;
/// Longest wait for the unbind_resp when stopping: stopping must not hang on a silent SMSC.
const UNBIND_WAIT: Duration = Duration::from_secs(2);
/// Largest PDU accepted from the SMSC; a deliver_sm is at most a few hundred octets.
const MAX_COMMAND_LENGTH: usize = 64 * 1024;

#[derive(Debug)]
pub struct Link {
    /// `host:port`, for logs and errors.
    pub name: String,
    cfg: SmppLink,
    /// The bound session's client, `None` while connecting or down.
    client: watch::Sender<Option<Client>>,
    window: Semaphore,
    pacer: Pacer,
    counters: Counters,
    receipts: mpsc::UnboundedSender<Receipt>,
}

/// The link's metrics, looked up once rather than per submit_sm.
struct Counters {
    in_window: metrics::Gauge,
    submitted: metrics::Counter,
    acknowledged: metrics::Counter,
    throttled: metrics::Counter,
    timed_out: metrics::Counter,
    failed: metrics::Counter,
}

impl Counters {
    fn new(link: &str) -> Counters {
        let label = || [("link", link.to_owned())];
        Counters {
            in_window: metrics::gauge!("tern_smpp_window_in_use", &label()),
            submitted: metrics::counter!("tern_smpp_submitted_total", &label()),
            acknowledged: metrics::counter!("tern_smpp_acknowledged_total", &label()),
            throttled: metrics::counter!("tern_smpp_throttled_total", &label()),
            timed_out: metrics::counter!("tern_smpp_timed_out_total", &label()),
            failed: metrics::counter!("tern_smpp_failed_total", &label()),
        }
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counters")
    }
}

/// How a bound session ended.
enum Ended {
    Stopped,
    /// The link went down; why, when rusmppc said.
    Dropped(Option<rusmppc::error::Error>),
}

impl Link {
    pub fn new(cfg: SmppLink, receipts: mpsc::UnboundedSender<Receipt>) -> Link {
        let window = usize::try_from(cfg.window).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        let interval = if cfg.throughput == 0 { Duration::ZERO } else { Duration::from_secs(1) / cfg.throughput };
        Link {
            name: format!("{}:{}", cfg.host, cfg.port),
            client: watch::Sender::new(None),
            window: Semaphore::new(window),
            pacer: Pacer::new(interval),
            counters: Counters::new(&format!("{}:{}", cfg.host, cfg.port)),
            receipts,
            cfg,
        }
    }

    pub fn cfg(&self) -> &SmppLink {
        &self.cfg
    }

    /// The client of the current bind, if the link is bound. `is_closed` only reads the
    /// connection's state: `is_active` would queue a ping per push ahead of the submit_sm, and
    /// rusmppc 0.4 takes only a few queued requests each time its task runs, so a burst of pushes
    /// left submit_sm unsent with their window slots held.
    pub fn bound(&self) -> Option<Client> {
        self.client.borrow().clone().filter(|c| !c.is_closed())
    }

    /// Submits one short message and waits for its submit_sm_resp. When the SMSC says to slow
    /// down, the link pauses and the same submit_sm goes again after the pause; when its answer
    /// does not come in time, the same submit_sm goes again at once. Sending only this part
    /// again keeps the parts already acknowledged from reaching the handset twice, which a retry
    /// of the whole push would do.
    pub async fn submit(&self, client: &Client, submit: SubmitSm) -> Result<String, SmppError> {
        let (mut throttled, mut timed_out) = (0, 0);
        loop {
            // The semaphore is never closed, so acquiring only fails if that changes.
            let permit = self.window.acquire().await.map_err(|_| SmppError::NotBound)?;
            self.pacer.wait().await;
            self.counters.in_window.increment(1.0);
            self.counters.submitted.increment(1);
            let result = client.submit_sm(submit.clone()).await;
            self.counters.in_window.decrement(1.0);
            drop(permit);
            let e = match result {
                Ok(resp) => {
                    self.counters.acknowledged.increment(1);
                    return Ok(resp.message_id().to_string());
                }
                Err(e) => self.error(e),
            };
            if e.status().is_some_and(backs_off) {
                self.counters.throttled.increment(1);
                self.pacer.hold(THROTTLE_PAUSE);
                if throttled == THROTTLE_RESENDS {
                    return Err(e);
                }
                throttled += 1;
                tracing::debug!(link = %self.name, error = %e, throttled, "SMSC asked to slow down; sending again");
            } else if matches!(e, SmppError::Timeout { .. }) && timed_out < TIMEOUT_RESENDS {
                self.counters.timed_out.increment(1);
                timed_out += 1;
                tracing::debug!(link = %self.name, timed_out, "no submit_sm_resp in time; sending again");
            } else {
                self.counters.failed.increment(1);
                return Err(e);
            }
        }
    }

    fn error(&self, e: rusmppc::error::Error) -> SmppError {
        use rusmppc::error::Error;
        let link = self.name.clone();
        match e {
            Error::ResponseTimeout { timeout, .. } => SmppError::Timeout { link, timeout },
            Error::UnexpectedResponse { response } if response.id() == CommandId::GenericNack => {
                SmppError::Nack { link, status: response.status() }
            }
            Error::UnexpectedResponse { response } if response.status() != CommandStatus::EsmeRok => {
                SmppError::Refused { link, status: response.status() }
            }
            source => SmppError::Link { link, source },
        }
    }

    /// The link's task: bind, serve the bind until it drops, wait, bind again; until `stop`'s
    /// sender is dropped, when a bound link unbinds before the task ends.
    pub async fn run(&self, mut stop: watch::Receiver<()>) {
        let mut backoff = RECONNECT_MIN;
        loop {
            let held = match self.session(&mut stop).await {
                Ok(Ended::Stopped) => return,
                Ok(Ended::Dropped(reason)) => {
                    let reason = reason.map_or_else(|| "connection closed".to_owned(), |e| e.to_string());
                    tracing::warn!(link = %self.name, %reason, retry_in = ?RECONNECT_MIN, "SMPP link down");
                    true
                }
                Err(e) => {
                    tracing::warn!(link = %self.name, error = %e, retry_in = ?backoff, "SMPP bind failed");
                    false
                }
            };
            self.client.send_replace(None);
            metrics::gauge!("tern_smpp_bound", "link" => self.name.clone()).set(0.0);
            if held {
                backoff = RECONNECT_MIN;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(RECONNECT_MAX);
        }
    }

    /// Connects and binds, then serves the bind until it drops or `stop` fires.
    async fn session(&self, stop: &mut watch::Receiver<()>) -> Result<Ended, SessionError> {
        let (client, mut events) = tokio::select! {
            bound = self.bind() => bound?,
            _ = stop.changed() => return Ok(Ended::Stopped),
        };
        tracing::info!(link = %self.name, bind = ?self.cfg.bind, "SMPP link bound");
        self.client.send_replace(Some(client.clone()));
        metrics::gauge!("tern_smpp_bound", "link" => self.name.clone()).set(1.0);
        let mut reason = None;
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = stop.changed() => {
                    self.client.send_replace(None);
                    unbind(&client, &self.name).await;
                    return Ok(Ended::Stopped);
                }
            };
            match event {
                None => return Ok(Ended::Dropped(reason)),
                Some(Event::Incoming(command)) => {
                    if self.answer(&client, command).await {
                        return Ok(Ended::Dropped(None));
                    }
                }
                // rusmppc reports fatal errors just before it ends the event stream.
                Some(Event::Error(e)) => {
                    tracing::debug!(link = %self.name, error = %e, "SMPP link error");
                    reason = Some(e);
                }
            }
        }
    }

    async fn bind(&self) -> Result<(Client, impl futures_util::Stream<Item = Event> + Unpin), SessionError> {
        let cfg = &self.cfg;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((cfg.host.as_str(), cfg.port)))
            .await
            .map_err(|_| SessionError::Connect(std::io::ErrorKind::TimedOut.into()))?
            .map_err(SessionError::Connect)?;
        // Pushes are small and latency matters more than packet count.
        stream.set_nodelay(true).map_err(SessionError::Connect)?;
        let timeout = Duration::from_secs(cfg.response_timeout_secs);
        let (client, events) = ConnectionBuilder::new()
            // rusmppc speaks SMPP 5.0 unless told otherwise; the binds below ask for 3.4.
            .disable_interface_version_check()
            .max_command_length(MAX_COMMAND_LENGTH)
            .enquire_link_interval(Duration::from_secs(cfg.enquire_link_secs))
            .enquire_link_response_timeout(timeout)
            .response_timeout(timeout)
            .connected(stream);
        let bound = match cfg.bind {
            SmppBind::Transmitter => client.bind_transmitter(pdu::bind_transmitter(cfg)).await.map(drop),
            SmppBind::Transceiver => client.bind_transceiver(pdu::bind_transceiver(cfg)).await.map(drop),
        };
        match bound {
            Ok(()) => Ok((client, events)),
            Err(e) => {
                // Dropping the client ends the connection; closing first says goodbye on TCP.
                let _ = client.close().await;
                Err(match e {
                    rusmppc::error::Error::UnexpectedResponse { response } => SessionError::Refused(response.status()),
                    e => SessionError::Bind(e),
                })
            }
        }
    }

    /// Answers a request from the SMSC; true when the SMSC ended the bind.
    async fn answer(&self, client: &Client, command: Command) -> bool {
        let (id, sequence) = (command.id(), command.sequence_number());
        let sent = match id {
            CommandId::DeliverSm => {
                // Receipts are passed on; mobile-originated messages are acknowledged only.
                if let Some(Pdu::DeliverSm(deliver)) = command.pdu()
                    && let Some(receipt) = receipt::parse(&self.name, deliver.short_message().as_ref())
                {
                    tracing::debug!(link = %self.name, ?receipt, "delivery receipt");
                    let _ = self.receipts.send(receipt);
                }
                tracing::debug!(link = %self.name, sequence, "deliver_sm acknowledged");
                metrics::counter!("tern_smpp_deliver_sm_total", "link" => self.name.clone()).increment(1);
                client.deliver_sm_resp(sequence, DeliverSmResp::default()).await
            }
            CommandId::Unbind => {
                tracing::info!(link = %self.name, "SMSC unbound the link");
                let _ = client.unbind_resp(sequence).await;
                let _ = client.close().await;
                return true;
            }
            // Late answers to requests that already timed out.
            id if id.is_response() => Ok(()),
            id => {
                tracing::debug!(link = %self.name, ?id, "unsupported request from the SMSC refused");
                client.status(CommandStatus::EsmeRinvcmdid).generic_nack(sequence).await
            }
        };
        if let Err(e) = sent {
            tracing::warn!(link = %self.name, error = %e, ?id, "cannot answer the SMSC");
        }
        false
    }
}

/// Unbinds and closes, waiting a bounded time: stopping must not hang on a silent SMSC.
async fn unbind(client: &Client, link: &str) {
    match tokio::time::timeout(UNBIND_WAIT, client.unbind()).await {
        Ok(Ok(())) => tracing::info!(%link, "SMPP link unbound"),
        Ok(Err(e)) => tracing::debug!(%link, error = %e, "unbind failed"),
        Err(_) => tracing::debug!(%link, "no unbind_resp in time"),
    }
    let _ = tokio::time::timeout(UNBIND_WAIT, client.close_and_wait()).await;
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("bind: {0}")]
    Bind(rusmppc::error::Error),
    #[error("the SMSC refused the bind: {0:?}")]
    Refused(CommandStatus),
}

/// Spaces submissions `interval` apart (throughput), and holds them all back for a while when
/// the SMSC asks the link to slow down.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    /// The earliest moment the next submission may go.
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(interval: Duration) -> Pacer {
        Pacer { interval, next: Mutex::new(Instant::now()) }
    }

    async fn wait(&self) {
        let now = Instant::now();
        let at = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        // Even an elapsed deadline would wait for the timer's next tick: skip it when unpaced.
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }

    fn hold(&self, pause: Duration) {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        *next = (*next).max(Instant::now() + pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pacer_spaces_submissions_and_holds_them_when_told() {
        let pacer = Pacer::new(Duration::from_millis(50));
        let start = Instant::now();
        for _ in 0..3 {
            pacer.wait().await;
        }
        let spaced = start.elapsed();
        assert!(spaced >= Duration::from_millis(100) && spaced < Duration::from_millis(400), "{spaced:?}");
        pacer.hold(Duration::from_millis(300));
        let held = Instant::now();
        pacer.wait().await;
        assert!(held.elapsed() >= Duration::from_millis(250), "{:?}", held.elapsed());

        let unlimited = Pacer::new(Duration::ZERO);
        let start = Instant::now();
        for _ in 0..100 {
            unlimited.wait().await;
        }
        assert!(start.elapsed() < Duration::from_millis(100), "{:?}", start.elapsed());
    }
}
