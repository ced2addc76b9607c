//! The memory MM1 bodies hold: the body budget shared by every request (bytes of request bodies
//! being read and kept, and of retrieved messages being sent), the reading of one request body
//! within `mm1.max_message_size`, `mm1.body_timeout_secs` and `mm1.request_timeout_secs`, and
//! what went wrong when a body could not be read (too large, malformed, cut short, too slow, or
//! no budget for it).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::Mm1Config;

/// Bytes of bodies held in memory over all requests. A request takes its share before it reads
/// (or composes) a body and gives it back when the body is gone.
#[derive(Debug, Clone)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    total: u64,
    wait: Duration,
}

impl Budget {
    pub fn new(cfg: &Mm1Config) -> Self {
        let total = usize::try_from(cfg.body_budget_bytes).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        Budget {
            bytes: Arc::new(Semaphore::new(total)),
            total: total as u64,
            wait: Duration::from_millis(cfg.busy_wait_ms),
        }
    }

    /// `n` bytes of the budget (all of it if `n` is more), waiting up to `mm1.busy_wait_ms` for
    /// them; `None` if they did not come free in that time.
    pub async fn take(&self, n: u64) -> Option<OwnedSemaphorePermit> {
        // One piece is counted in 32 bits; a message body is at most that (see config.rs).
        let n = u32::try_from(n.min(self.total)).unwrap_or(u32::MAX);
        // Taking what is free without queueing lets a small request past a large one that waits.
        if let Ok(permit) = self.bytes.clone().try_acquire_many_owned(n) {
            return Some(permit);
        }
        tokio::time::timeout(self.wait, self.bytes.clone().acquire_many_owned(n)).await.ok()?.ok()
    }
}

/// Why a request body was not taken.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than `mm1.max_message_size`, as declared or as sent.
    TooLarge,
    /// Broken chunked framing; what was read before it, for the Transaction-ID.
    Malformed(Vec<u8>),
    /// The client closed or reset the connection before the end; what was read before it.
    Aborted(Vec<u8>),
    /// A pause longer than `mm1.body_timeout_secs`, or the whole body slower than
    /// `mm1.request_timeout_secs`.
    TimedOut,
    /// No body budget came free within `mm1.busy_wait_ms`.
    Busy,
}

/// A body read whole, with its share of the budget, which it holds until it is dropped.
#[derive(Debug)]
pub struct Received {
    pub bytes: Bytes,
    _held: Option<OwnedSemaphorePermit>,
}

/// Reads a request body. Bytes past `mm1.max_message_size` are never kept: the rest of an
/// oversize body is read and dropped, up to a bound, so that the client hears the answer rather
/// than a reset while it is still sending.
pub async fn read(body: Body, cfg: &Mm1Config, budget: &Budget) -> Result<Received, BodyError> {
    let start = Instant::now();
    let whole = start + Duration::from_secs(cfg.request_timeout_secs);
    let pause = Duration::from_secs(cfg.body_timeout_secs);
    let limit = cfg.max_message_size;
    let declared = body.size_hint().exact();
    let mut frames = body.into_data_stream();
    let timer = tokio::time::sleep_until(whole.min(start + pause));
    tokio::pin!(timer);

    if declared.is_some_and(|n| n > limit) {
        drain(&mut frames, 0, limit, timer, whole, pause).await;
        return Err(BodyError::TooLarge);
    }
    // With a Content-Length the whole share is taken at once; a chunked body takes it as its
    // buffer grows.
    let mut held = match declared {
        Some(0) | None => None,
        Some(n) => Some(budget.take(n).await.ok_or(BodyError::Busy)?),
    };
    let mut bytes = Vec::with_capacity(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
    loop {
        let next = tokio::select! {
            biased;
            next = frames.next() => next,
            () = &mut timer => return Err(BodyError::TimedOut),
        };
        let data = match next {
            None => return Ok(Received { bytes: Bytes::from(bytes), _held: held }),
            Some(Err(e)) => return Err(classify(&e, bytes)),
            Some(Ok(data)) => data,
        };
        timer.as_mut().reset(whole.min(Instant::now() + pause));
        let needed = bytes.len() + data.len();
        if needed as u64 > limit {
            drop((held, bytes));
            drain(&mut frames, needed as u64, limit, timer, whole, pause).await;
            return Err(BodyError::TooLarge);
        }
        if needed > bytes.capacity() {
            // Only a chunked body gets here. Its buffer grows by doubling, up to the limit, and
            // takes budget for what it allocates rather than for what it holds so far.
            let grown = needed.max(bytes.capacity() * 2).min(usize::try_from(limit).unwrap_or(usize::MAX));
            let more = budget.take((grown - bytes.capacity()) as u64).await.ok_or(BodyError::Busy)?;
            match &mut held {
                Some(held) => held.merge(more),
                None => held = Some(more),
            }
            bytes.reserve_exact(grown - bytes.len());
        }
        bytes.extend_from_slice(&data);
    }
}

/// Reads and drops the rest of an oversize body, until it ends, fails, stalls, or passes twice
/// the limit (at least the limit plus 1 MiB), when the connection is closed after the answer.
async fn drain(
    frames: &mut axum::body::BodyDataStream,
    mut read: u64,
    limit: u64,
    mut timer: Pin<&mut tokio::time::Sleep>,
    whole: Instant,
    pause: Duration,
) {
    let bound = limit.saturating_mul(2).max(limit.saturating_add(1 << 20));
    while read <= bound {
        let next = tokio::select! {
            biased;
            next = frames.next() => next,
            () = &mut timer => return,
        };
        match next {
            Some(Ok(data)) => read += data.len() as u64,
            None | Some(Err(_)) => return,
        }
        timer.as_mut().reset(whole.min(Instant::now() + pause));
    }
}

/// A framing error (hyper's decoder reports those as invalid data or input) or a connection that
/// ended or failed mid-body.
fn classify(e: &axum::Error, partial: Vec<u8>) -> BodyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => BodyError::Malformed(partial),
                _ => BodyError::Aborted(partial),
            };
        }
        source = err.source();
    }
    BodyError::Aborted(partial)
}

/// An answer's body that holds its share of the budget until hyper has taken all of it but what
/// its write buffer may still hold. It is handed over in chunks as they were made (a PDU's own
/// fields, then the stored body), so that a large body is never copied to join them.
#[derive(Debug)]
pub struct Held {
    chunks: VecDeque<Bytes>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    pub fn new(data: Vec<u8>, permit: OwnedSemaphorePermit) -> Self {
        Held::chunks(vec![Bytes::from(data)], permit)
    }

    /// A body that is these chunks, in order.
    pub fn chunks(chunks: Vec<Bytes>, permit: OwnedSemaphorePermit) -> Self {
        let chunks = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        Held { chunks, permit: Some(permit) }
    }
}

impl HttpBody for Held {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        // Not ending the stream with the data makes hyper come back for the end only once its
        // write buffer has room again, which is when most of the data has gone to the socket.
        Poll::Ready(match self.chunks.pop_front() {
            Some(data) => Some(Ok(Frame::data(data))),
            None => {
                self.permit = None;
                None
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.permit.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Mm1Config {
        Mm1Config { max_message_size: 10, body_budget_bytes: 16, busy_wait_ms: 50, ..Mm1Config::default() }
    }

    #[tokio::test]
    async fn a_body_holds_its_share_until_dropped() {
        let cfg = cfg();
        let budget = Budget::new(&cfg);
        let first = read(Body::from(vec![1; 10]), &cfg, &budget).await.unwrap();
        assert_eq!(first.bytes.len(), 10);
        assert!(matches!(read(Body::from(vec![2; 10]), &cfg, &budget).await, Err(BodyError::Busy)));
        // A small body still fits beside it.
        assert!(read(Body::from(vec![3; 6]), &cfg, &budget).await.is_ok());
        drop(first);
        assert!(read(Body::from(vec![2; 10]), &cfg, &budget).await.is_ok());
    }

    #[tokio::test]
    async fn a_chunked_body_holds_what_its_buffer_allocates() {
        let cfg = cfg();
        let budget = Budget::new(&cfg);
        let chunks = futures_util::stream::iter([Ok::<_, Infallible>(vec![0u8; 3]), Ok(vec![0; 3]), Ok(vec![0; 3])]);
        let body = read(Body::from_stream(chunks), &cfg, &budget).await.unwrap();
        assert_eq!(body.bytes.len(), 9);
        // Its buffer grew to 10 (6, doubled, within the limit), and holds that much.
        assert!(budget.take(7).await.is_none());
        assert!(budget.take(6).await.is_some());
    }

    #[tokio::test]
    async fn oversize_bodies_are_refused_declared_or_not() {
        let cfg = cfg();
        let budget = Budget::new(&cfg);
        assert!(matches!(read(Body::from(vec![0; 11]), &cfg, &budget).await, Err(BodyError::TooLarge)));
        let chunks = futures_util::stream::iter([Ok::<_, Infallible>(vec![0u8; 6]), Ok(vec![0; 6])]);
        assert!(matches!(read(Body::from_stream(chunks), &cfg, &budget).await, Err(BodyError::TooLarge)));
        // Nothing of either is held.
        assert!(budget.take(16).await.is_some());
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let cfg = Mm1Config { body_timeout_secs: 1, ..cfg() };
        let budget = Budget::new(&cfg);
        let stalled =
            futures_util::stream::iter([Ok::<_, Infallible>(vec![0u8; 3])]).chain(futures_util::stream::pending());
        assert!(matches!(read(Body::from_stream(stalled), &cfg, &budget).await, Err(BodyError::TimedOut)));
        assert!(budget.take(16).await.is_some());
    }

    #[tokio::test]
    async fn held_answers_give_their_share_back_at_the_end() {
        let budget = Budget::new(&cfg());
        let mut body = Held::new(vec![7; 5], budget.take(16).await.unwrap());
        assert_eq!(body.size_hint().exact(), Some(5));
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert_eq!(frame.unwrap().unwrap().into_data().unwrap().len(), 5);
        assert!(!body.is_end_stream());
        assert!(budget.take(1).await.is_none());
        assert!(std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await.is_none());
        assert!(body.is_end_stream());
        assert!(budget.take(16).await.is_some());
    }
}
