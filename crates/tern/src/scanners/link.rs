//! The connection to one scanner: its address (`host:port` over TCP, or a unix socket path),
//! the permits that limit the scans in flight, the deadline of a whole scan, and the reading of
//! the scanner's answer with a size cap. The protocol modules say what is sent and when an
//! answer is complete; everything that can go wrong on the way is decided here once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Semaphore;

use super::{ScanError, quoted};
use crate::core::protection::ScannerConfig;

/// A connected stream, TCP or unix socket alike.
pub(super) trait Conn: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Conn for T {}

pub(super) type Stream = Pin<Box<dyn Conn>>;

/// How much of an answer is read at a time.
const READ_CHUNK: usize = 1024;

#[derive(Debug)]
pub(super) struct Link {
    /// The scanner's name in errors (`clamd`, `spamd`).
    name: &'static str,
    address: String,
    timeout: Duration,
    max_size: usize,
    permits: Semaphore,
}

impl Link {
    pub(super) fn new(name: &'static str, cfg: &ScannerConfig) -> Link {
        Link {
            name,
            address: cfg.address.clone(),
            timeout: Duration::from_millis(cfg.timeout_ms),
            max_size: cfg.max_size,
            // No permit at all would make every scan wait out its timeout.
            permits: Semaphore::new(cfg.max_concurrent.max(1)),
        }
    }

    /// Runs one scan of `size` octets: refused at once over the maximum, otherwise `exchange`
    /// gets a fresh connection once a permit is free, and the whole of it, the wait included,
    /// is bounded by the timeout.
    pub(super) async fn scan<T, F, Fut>(&self, size: usize, exchange: F) -> Result<T, ScanError>
    where
        F: FnOnce(Stream) -> Fut,
        Fut: Future<Output = Result<T, ScanError>>,
    {
        if size > self.max_size {
            return Err(ScanError::TooLarge { size, max: self.max_size });
        }
        let whole = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| ScanError::Unavailable(format!("{} client closed", self.name)))?;
            let conn = self.connect().await?;
            exchange(conn).await
        };
        tokio::time::timeout(self.timeout, whole).await.map_err(|_| ScanError::Timeout)?
    }

    async fn connect(&self) -> Result<Stream, ScanError> {
        let conn: io::Result<Stream> = if self.address.starts_with('/') {
            UnixStream::connect(&self.address).await.map(|s| Box::pin(s) as Stream)
        } else {
            TcpStream::connect(&self.address).await.map(|s| {
                // Requests go out in a few writes; waiting to coalesce them only adds latency.
                let _ = s.set_nodelay(true);
                Box::pin(s) as Stream
            })
        };
        conn.map_err(|e| ScanError::Unavailable(format!("cannot connect to {} at {}: {e}", self.name, self.address)))
    }

    /// Reads the answer to a request whose sending ended with `sent`, up to `cap` octets and
    /// until `complete` says it is whole or the scanner closes the connection. A scanner may
    /// answer and close before reading the whole request (clamd over its stream limit), so an
    /// answer read after a failed send still counts.
    pub(super) async fn answer(
        &self,
        conn: &mut Stream,
        sent: io::Result<()>,
        cap: usize,
        complete: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, ScanError> {
        let answer = self.read_capped(conn, cap, complete).await;
        match (sent, answer) {
            (_, Ok(answer)) if !answer.is_empty() => Ok(answer),
            (Err(e), _) => Err(ScanError::Unavailable(format!("{} dropped the connection: {e}", self.name))),
            (Ok(()), Ok(_)) => {
                Err(ScanError::Unavailable(format!("{} closed the connection without an answer", self.name)))
            }
            (Ok(()), Err(e)) => Err(e),
        }
    }

    async fn read_capped(
        &self,
        conn: &mut Stream,
        cap: usize,
        complete: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, ScanError> {
        let mut answer = Vec::new();
        let mut chunk = [0; READ_CHUNK];
        loop {
            let n = conn
                .read(&mut chunk)
                .await
                .map_err(|e| ScanError::Unavailable(format!("{} dropped the connection: {e}", self.name)))?;
            if n == 0 {
                return Ok(answer);
            }
            answer.extend_from_slice(&chunk[..n]);
            if answer.len() > cap {
                return Err(ScanError::Protocol(format!(
                    "{} answered more than {cap} octets: {}",
                    self.name,
                    quoted(&answer)
                )));
            }
            if complete(&answer) {
                return Ok(answer);
            }
        }
    }
}
