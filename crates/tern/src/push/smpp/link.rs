//! One ESME link to an SMSC: a task that connects, binds, and reconnects with backoff when the
//! link drops; and the submit path that senders share, paced by the throughput limit.
//!
//! The session ([`super::session`]) runs the connection itself (framing, sequence numbers, the
//! window, matching responses, response timeouts, enquire_link, answering the SMSC); this module
//! adds the bind, the pacing, resending, and reconnecting.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusmpp::pdus::SubmitSm;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::error::{SmppError, backs_off};
use super::pdu;
use super::receipt::Receipt;
use super::session::{self, Ended, Fault, Session};
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

#[derive(Debug)]
pub struct Link {
    /// `host:port`, for logs and errors.
    pub name: String,
    cfg: SmppLink,
    /// The bound session, `None` while connecting or down.
    client: watch::Sender<Option<Session>>,
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

impl Link {
    /// `name` tells the link apart in logs, metrics and receipts (see [`super::names`]).
    pub fn new(name: String, cfg: SmppLink, receipts: mpsc::UnboundedSender<Receipt>) -> Link {
        let interval = if cfg.throughput == 0 { Duration::ZERO } else { Duration::from_secs(1) / cfg.throughput };
        Link {
            counters: Counters::new(&name),
            name,
            client: watch::Sender::new(None),
            pacer: Pacer::new(interval),
            receipts,
            cfg,
        }
    }

    pub fn cfg(&self) -> &SmppLink {
        &self.cfg
    }

    /// The current session, if the link is bound.
    pub fn bound(&self) -> Option<Session> {
        self.client.borrow().clone().filter(|c| !c.is_closed())
    }

    /// A view of the link's session for another thread or runtime: whether it is bound.
    pub fn watch(&self) -> watch::Receiver<Option<Session>> {
        self.client.subscribe()
    }

    /// Submits one short message and waits for its submit_sm_resp. When the SMSC says to slow
    /// down, the link pauses and the same submit_sm goes again after the pause; when its answer
    /// does not come in time, the same submit_sm goes again at once. Sending only this part
    /// again keeps the parts already acknowledged from reaching the handset twice, which a retry
    /// of the whole push would do.
    pub async fn submit(&self, client: &Session, submit: SubmitSm) -> Result<String, SmppError> {
        let (mut throttled, mut timed_out) = (0, 0);
        loop {
            // The pacer spaces submissions; the session then holds each until the window has room.
            self.pacer.wait().await;
            self.counters.submitted.increment(1);
            let result = client.request(submit.clone()).await;
            let e = match self.judge(result) {
                Ok(id) => {
                    self.counters.acknowledged.increment(1);
                    return Ok(id);
                }
                Err(e) => e,
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

    /// The message id of an acknowledged submit_sm, or why it was not.
    fn judge(&self, result: Result<Command, Fault>) -> Result<String, SmppError> {
        let link = self.name.clone();
        let command = match result {
            Ok(command) => command,
            Err(Fault::Timeout(timeout)) => return Err(SmppError::Timeout { link, timeout }),
            Err(fault) => return Err(SmppError::Link { link, source: fault }),
        };
        let status = command.status();
        match command.pdu() {
            _ if command.id() == CommandId::GenericNack => Err(SmppError::Nack { link, status }),
            _ if status != CommandStatus::EsmeRok => Err(SmppError::Refused { link, status }),
            Some(Pdu::SubmitSmResp(resp)) => Ok(resp.message_id().to_string()),
            _ => Err(SmppError::Link { link, source: Fault::Ended("an answer that is not a submit_sm_resp".into()) }),
        }
    }

    /// The link's task: bind, serve the bind until it drops, wait, bind again; until `stop`'s
    /// sender is dropped, when a bound link unbinds before the task ends.
    pub async fn run(&self, mut stop: watch::Receiver<()>) {
        let mut backoff = RECONNECT_MIN;
        loop {
            let held = match self.session(&mut stop).await {
                Ok(None) => return,
                Ok(Some(reason)) => {
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

    /// Connects and binds, then serves the bind until it drops (returning why) or `stop` fires
    /// (returning nothing).
    async fn session(&self, stop: &mut watch::Receiver<()>) -> Result<Option<String>, SessionError> {
        let (client, mut ended) = tokio::select! {
            bound = self.bind() => bound?,
            _ = stop.changed() => return Ok(None),
        };
        tracing::info!(link = %self.name, bind = ?self.cfg.bind, "SMPP link bound");
        self.client.send_replace(Some(client.clone()));
        metrics::gauge!("tern_smpp_bound", "link" => self.name.clone()).set(1.0);
        tokio::select! {
            how = &mut ended => Ok(Some(match how {
                Ok(Ended::Unbound) => {
                    tracing::info!(link = %self.name, "SMSC unbound the link");
                    "unbound by the SMSC".to_owned()
                }
                Ok(Ended::Dropped(why)) => why,
                Ok(Ended::Closed) | Err(_) => "session closed".to_owned(),
            })),
            _ = stop.changed() => {
                self.client.send_replace(None);
                unbind(&client, &self.name).await;
                let _ = tokio::time::timeout(UNBIND_WAIT, ended).await;
                Ok(None)
            }
        }
    }

    async fn bind(&self) -> Result<(Session, tokio::sync::oneshot::Receiver<Ended>), SessionError> {
        let cfg = &self.cfg;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((cfg.host.as_str(), cfg.port)))
            .await
            .map_err(|_| SessionError::Connect(std::io::ErrorKind::TimedOut.into()))?
            .map_err(SessionError::Connect)?;
        // Pushes are small and latency matters more than packet count.
        stream.set_nodelay(true).map_err(SessionError::Connect)?;
        let options = session::Options {
            link: self.name.clone(),
            response_timeout: Duration::from_secs(cfg.response_timeout_secs),
            enquire_link: Duration::from_secs(cfg.enquire_link_secs),
            window: usize::try_from(cfg.window).unwrap_or(usize::MAX).max(1),
            in_window: self.counters.in_window.clone(),
            receipts: self.receipts.clone(),
        };
        let (client, ended) = Session::start(stream, options);
        let answer = match cfg.bind {
            SmppBind::Transmitter => client.request(pdu::bind_transmitter(cfg)).await,
            SmppBind::Transceiver => client.request(pdu::bind_transceiver(cfg)).await,
        };
        let refused = match answer {
            Ok(resp) if resp.status() == CommandStatus::EsmeRok && resp.id() != CommandId::GenericNack => {
                return Ok((client, ended));
            }
            Ok(resp) => SessionError::Refused(resp.status()),
            Err(fault) => SessionError::Bind(fault),
        };
        client.close();
        Err(refused)
    }
}

/// Unbinds and closes, waiting a bounded time: stopping must not hang on a silent SMSC.
async fn unbind(client: &Session, link: &str) {
    match tokio::time::timeout(UNBIND_WAIT, client.request(Pdu::Unbind)).await {
        Ok(Ok(resp)) if resp.status() == CommandStatus::EsmeRok => tracing::info!(%link, "SMPP link unbound"),
        Ok(Ok(resp)) => tracing::debug!(%link, status = ?resp.status(), "unbind refused"),
        Ok(Err(e)) => tracing::debug!(%link, error = %e, "unbind failed"),
        Err(_) => tracing::debug!(%link, "no unbind_resp in time"),
    }
    client.close();
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("bind: {0}")]
    Bind(Fault),
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
