//! The HTTP front of MM1 and MM7: the accept loop and each connection's HTTP/1.1 (hyper), over
//! TLS when the interface has a certificate, with what keeps a flood of clients from exhausting
//! the relay's descriptors: the open-file limit raised at start
//! and the connection cap drawn from it, idle connections closed first at the cap, a minimal 503
//! when no slot comes free, hyper's header-read timeout, which also ends idle keep-alive
//! connections, and a timeout on writes a client does not take (`socket.rs`, which also sends
//! stored bodies from their files). What a request gets is
//! the interface's router's business; each request carries the peer's address as
//! `ConnectInfo<SocketAddr>`. On `stop` it stops accepting, closes idle connections and waits
//! for the requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::socket::{FileSends, Socket};
use crate::store::MAPS_MAX;

/// One interface's connection metrics: open now, shed at the cap, refused for want of a slot.
#[derive(Debug, Clone)]
pub struct Meters {
    pub open: metrics::Gauge,
    pub shed: metrics::Counter,
    pub refused: metrics::Counter,
}

/// What bounds one interface's connections, and what counts them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `mm1` or `mm7`, for the logs.
    pub name: &'static str,
    pub meters: Meters,
    /// The longest wait for a request head (and for a TLS handshake), which also ends idle
    /// keep-alive connections.
    pub header_timeout: Duration,
    /// How long a connection beyond the cap waits for a slot before it is refused.
    pub busy_wait: Duration,
    /// How long a write may wait for the client to take more.
    pub body_stall: Duration,
}

/// Descriptors kept from the HTTP interfaces for the store's files (among them the segments
/// open for sending bodies from, at most `MAPS_MAX`), the bearers' links, the admin endpoint and
/// the moment a refused connection is open.
const RESERVED_FILES: u64 = 256 + MAPS_MAX as u64;

/// hyper's buffer size limit, which also bounds a request's head: ample for a handset's headers,
/// and small enough that thousands of connections reading bodies at once hold little memory.
const MAX_BUFFER: usize = 16 * 1024;

/// What the accept loop tells the connections.
#[derive(Debug, Clone, Copy, Default)]
struct Signal {
    /// Bumped at the cap: connections with no request in flight close.
    shed: u64,
    /// Every connection closes once its request in flight (if any) is answered.
    stopping: bool,
}

/// Raises the soft open-file limit to the hard one, then returns `configured` lowered to what the
/// limit leaves for MM1 connections.
pub fn connection_cap(configured: usize) -> usize {
    let before = getrlimit(Resource::Nofile);
    let soft = before.current.unwrap_or(u64::MAX);
    // An unlimited hard limit still stops at the kernel's nr_open, 2^20 by default.
    let hard = before.maximum.unwrap_or(1 << 20);
    let open_files = if soft < hard {
        match setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: before.maximum }) {
            Ok(()) => hard,
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit");
                soft
            }
        }
    } else {
        soft
    };
    let cap = cap_for(configured, open_files);
    tracing::info!(
        soft = open_files,
        was = soft,
        hard,
        connections = cap,
        "MM1 connection cap from the open-file limit"
    );
    cap
}

fn cap_for(configured: usize, open_files: u64) -> usize {
    let available = open_files.saturating_sub(RESERVED_FILES).max(open_files / 2).max(1);
    configured.min(usize::try_from(available).unwrap_or(usize::MAX)).min(u32::MAX as usize)
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `stop` resolves, then lets
/// the requests in flight finish. Without TLS, answers' bodies lent from `sends`'s files are
/// sent from there.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    cap: usize,
    tls: Option<TlsAcceptor>,
    sends: Option<FileSends>,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(cap));
    let (signal, signals) = watch::channel(Signal::default());
    let mut http = http1::Builder::new();
    // hyper starts this timer whenever it waits for a request head, on a new connection and
    // again after each answer, so it bounds idle keep-alive connections as well as slow headers.
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(MAX_BUFFER);
    let (wait, stall, name) = (limits.busy_wait, limits.body_stall, limits.name);
    let open = limits.meters.open.clone();
    let mut last_warning: Option<Instant> = None;
    let mut refused_at: Option<Instant> = None;
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e, &signal, &mut last_warning).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            // A wait that has just ended without a slot says the next one would too: refusing at
            // once keeps the connections queued behind it from waiting their turns one by one.
            Err(_) if refused_at.is_some_and(|at| at.elapsed() < wait) => {
                refuse(&stream, &limits.meters.refused);
                continue;
            }
            Err(_) => {
                // At the cap idle connections go first, as a server reuses its idle connections;
                // then the new one waits a little for a slot.
                signal.send_modify(|s| s.shed += 1);
                let slot = tokio::select! {
                    slot = tokio::time::timeout(wait, slots.clone().acquire_owned()) => slot.ok().and_then(Result::ok),
                    () = &mut stop => break,
                };
                match slot {
                    Some(slot) => slot,
                    None => {
                        refused_at = Some(Instant::now());
                        refuse(&stream, &limits.meters.refused);
                        continue;
                    }
                }
            }
        };
        let in_flight = Arc::new(AtomicUsize::new(0));
        let service = {
            let (app, in_flight) = (app.clone(), in_flight.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let busy = InFlight::new(in_flight.clone());
                let call = tower::ServiceExt::oneshot(app.clone(), request);
                async move {
                    let response = call.await;
                    drop(busy);
                    response
                }
            })
        };
        let socket = Socket::new(stream, stall, if tls.is_none() { sends.clone() } else { None });
        let mut signals = signals.clone();
        // A shed asked for before this connection was accepted is not for it.
        signals.borrow_and_update();
        let open = open.clone();
        open.increment(1.0);
        let (http, tls, handshake, shed) =
            (http.clone(), tls.clone(), limits.header_timeout, limits.meters.shed.clone());
        tokio::spawn(async move {
            let ended = match tls {
                None => drive(&http, socket, service, signals, &in_flight, &shed).await,
                Some(tls) => match tokio::time::timeout(handshake, tls.accept(socket)).await {
                    Ok(Ok(socket)) => drive(&http, socket, service, signals, &in_flight, &shed).await,
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("TLS handshake timed out".to_owned()),
                },
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "{name} connection ended");
            }
            open.decrement(1.0);
            drop(slot);
        });
    }
    drop(listener);
    signal.send_modify(|s| s.stopping = true);
    // Every connection holds a slot until it ends.
    let _ = slots.acquire_many(u32::try_from(cap).unwrap_or(u32::MAX)).await;
}

/// Serves one connection's requests until it ends, or until the accept loop sheds it (when it
/// has no request in flight) or stops.
async fn drive<I, S>(
    http: &http1::Builder,
    io: I,
    service: S,
    mut signals: watch::Receiver<Signal>,
    in_flight: &AtomicUsize,
    shed: &metrics::Counter,
) -> Result<(), String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = axum::response::Response>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
{
    let connection = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let ended = loop {
        tokio::select! {
            ended = connection.as_mut() => break ended,
            changed = signals.changed() => {
                let stopping = changed.is_err() || signals.borrow_and_update().stopping;
                if stopping || in_flight.load(Ordering::Acquire) == 0 {
                    if !stopping {
                        shed.increment(1);
                    }
                    // Never cuts a request: hyper closes at once only when idle, and
                    // otherwise after the answer.
                    connection.as_mut().graceful_shutdown();
                    break connection.as_mut().await;
                }
            }
        }
    };
    ended.map_err(|e| e.to_string())
}

/// Counts a request in flight on its connection for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        InFlight(count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// No slot came free: a minimal 503, written only if the socket takes it at once, then close.
fn refuse(stream: &TcpStream, refused: &metrics::Counter) {
    refused.increment(1);
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 5\r\n\r\n",
    );
}

/// An accept error. Out of descriptors or memory, idle connections are closed and the loop
/// pauses, rather than spinning on the error; a connection that failed before it was accepted
/// is skipped.
async fn accept_failed(e: &std::io::Error, signal: &watch::Sender<Signal>, last_warning: &mut Option<Instant>) {
    use std::io::ErrorKind;
    if matches!(e.kind(), ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused) {
        return;
    }
    if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
        tracing::warn!(error = %e, "accept error");
        *last_warning = Some(Instant::now());
    }
    if matches!(Errno::from_io_error(e), Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) {
        signal.send_modify(|s| s.shed += 1);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_the_rest() {
        assert_eq!(cap_for(4096, 1024), 704);
        assert_eq!(cap_for(100, 1024), 100);
        assert_eq!(cap_for(4096, 1 << 20), 4096);
        // A small limit is shared rather than all taken by the reserve.
        assert_eq!(cap_for(4096, 300), 150);
        assert_eq!(cap_for(4096, 0), 1);
    }
}
