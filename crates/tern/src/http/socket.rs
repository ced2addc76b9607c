//! A connection's socket as the listener hands it to hyper. Two things are added to the plain
//! TCP stream:
//! - Writes fail once they have waited longer than the stall timeout for the client to take
//!   more: hyper has no write timeout, and a client that stops reading its answers would
//!   otherwise hold its connection (and an answer's budget) for good.
//! - A large slice of an answer that is a stored body lent from its segment's mapping is sent
//!   from the segment's file by the kernel (`sendfile`), page cache to socket, without the copy
//!   into the socket's buffers that a write makes: for a 300 KB retrieval that copy was the
//!   largest single cost (see docs/BENCHMARKS.md). hyper gives its writes as slices of memory,
//!   so such a body is recognised by its address ([`Lender::file_of`]); what comes before it
//!   (the status line, the headers, the m-retrieve.conf's fields) is written first. The bytes
//!   sent are the ones checked: the mapping shows the same pages of the page cache that
//!   `sendfile` reads. Whatever `sendfile` cannot send (a file system without it) is written as
//!   before. (Holding the headers back with `MSG_MORE` to send them with the body's start was
//!   tried and cost more CPU per retrieval than it saved.)

use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use rustix::io::Errno;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::store::Lender;

/// Shorter slices are copied, as before: sending one from its file takes a system call of its
/// own (and the headers before it one more), which only a large copy saved pays for.
const FROM_FILE_MIN: usize = 64 * 1024;

/// Stored bodies that may be sent from their files, and the count of octets that were.
#[derive(Debug, Clone)]
pub struct FileSends {
    pub files: Arc<Lender>,
    pub octets: metrics::Counter,
}

pub struct Socket {
    io: TcpStream,
    stall: Duration,
    /// Made at the first write that has to wait; armed while writes wait.
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
    /// `None` over TLS (what goes out is not the stored bytes), and once `sendfile` has failed
    /// on this connection for want of support.
    sends: Option<FileSends>,
}

impl Socket {
    pub fn new(io: TcpStream, stall: Duration, sends: Option<FileSends>) -> Self {
        if sends.is_some() {
            // `sendfile` hands a body to TCP in pieces of the kernel's pipe size; with Nagle's
            // algorithm the last short piece could wait for the client's delayed ACK, and did
            // (a quarter of the retrievals per second were served). An answer is written whole
            // at once, so there is nothing for Nagle to gather.
            let _ = io.set_nodelay(true);
        }
        Socket { io, stall, timer: None, armed: false, sends }
    }

    /// Passes on a write's outcome, turning a wait longer than the stall timeout into an error.
    fn timed<T>(&mut self, cx: &mut Context<'_>, outcome: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.armed = false;
            return outcome;
        }
        let deadline = Instant::now() + self.stall;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes a first part of `bufs`: what comes before the first slice a file holds, or that
    /// slice from the file.
    fn write(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.file_slice(bufs) {
            None => Pin::new(&mut self.io).poll_write_vectored(cx, bufs),
            Some((first, file, offset)) if bufs[..first].iter().all(|b| b.is_empty()) => {
                self.send_file(cx, &file, offset, &bufs[first])
            }
            Some((first, ..)) => Pin::new(&mut self.io).poll_write_vectored(cx, &bufs[..first]),
        }
    }

    /// The first slice of `bufs` long enough to be worth sending from its file, if a file holds
    /// it: its index, the file and the offset there.
    fn file_slice(&self, bufs: &[IoSlice<'_>]) -> Option<(usize, Arc<File>, u64)> {
        let files = &self.sends.as_ref()?.files;
        bufs.iter().enumerate().filter(|(_, b)| b.len() >= FROM_FILE_MIN).find_map(|(i, b)| {
            let (file, offset) = files.file_of(b)?;
            Some((i, file, offset))
        })
    }

    /// Sends as much of `body`, which `file` holds at `offset`, as the socket takes.
    fn send_file(&mut self, cx: &mut Context<'_>, file: &File, offset: u64, body: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.io.poll_write_ready(cx))?;
            let mut at = offset;
            let sent = self
                .io
                .try_io(Interest::WRITABLE, || Ok(rustix::fs::sendfile(&self.io, file, Some(&mut at), body.len())?));
            match sent {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(sends) = &self.sends {
                        sends.octets.increment(n as u64);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if matches!(Errno::from_io_error(&e), Some(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)) => {
                    tracing::debug!(error = %e, "sendfile cannot send stored bodies here; they are copied");
                    self.sends = None;
                    break;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        // No sendfile here, or the file ended before the body did (a stored body's never does):
        // the bytes in memory go, as they would have without sendfile.
        Pin::new(&mut self.io).poll_write(cx, body)
    }
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = this.write(cx, &[IoSlice::new(buf)]);
        this.timed(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = this.write(cx, bufs);
        this.timed(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::body::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpSocket};

    use super::*;
    use crate::store::samples::{message, scratch};
    use crate::store::{Change, Store};

    /// A socket whose client takes what it is sent in small pieces, and the count of octets
    /// sent from files.
    async fn pair(sends: impl FnOnce(Arc<AtomicU64>) -> Option<FileSends>) -> (Socket, TcpStream, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let client = client.connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let count = Arc::new(AtomicU64::new(0));
        (Socket::new(server, Duration::from_secs(10), sends(Arc::clone(&count))), client, count)
    }

    /// Writes `head` and `body` as hyper does (both offered in each write, the rest after a
    /// short one), then closes, while the client reads everything; returns what it read.
    async fn exchange(mut socket: Socket, mut client: TcpStream, head: &[u8], body: Bytes) -> Vec<u8> {
        let head = head.to_vec();
        let writer = tokio::spawn(async move {
            let (mut head, mut body) = (&head[..], &body[..]);
            while !head.is_empty() || !body.is_empty() {
                let n = socket.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]).await.unwrap();
                let from_head = n.min(head.len());
                (head, body) = (&head[from_head..], &body[n - from_head..]);
            }
            socket.shutdown().await.unwrap();
        });
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        writer.await.unwrap();
        received
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stored_body_goes_from_its_file_after_what_precedes_it() {
        let dir = scratch("socket-sendfile");
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        let stored: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
        store.apply(vec![Change::Accept(Box::new(message("big", &stored)))]).await.unwrap();
        let d = store.by_token("token-big").await.unwrap().unwrap();
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 307200\r\n\r\n";

        let sends = |count| Some(FileSends { files: store.body_files(), octets: metrics::Counter::from_arc(count) });
        let (socket, client, sent) = pair(sends).await;
        let received = exchange(socket, client, head, store.body(&d.body).await.unwrap()).await;
        assert_eq!(&received[..head.len()], head);
        assert!(received[head.len()..] == stored[..], "the body arrived altered");
        // Sent from the file, all but a tail shorter than the smallest such send.
        let sent = sent.load(Ordering::Relaxed);
        assert!(sent >= (stored.len() - FROM_FILE_MIN) as u64 && sent <= stored.len() as u64, "{sent}");

        // The same bytes from the relay's own memory are written as they are.
        let (socket, client, sent) = pair(sends).await;
        let received = exchange(socket, client, head, Bytes::from(stored.clone())).await;
        assert!(received[head.len()..] == stored[..]);
        assert_eq!(sent.load(Ordering::Relaxed), 0);
    }
}
