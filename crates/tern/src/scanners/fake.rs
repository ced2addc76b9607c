//! Misbehaving scanners for the unit tests, on 127.0.0.1: the faults a real clamd or spamd
//! cannot be made to show (never answering, closing at once, answering without end), each
//! counting the connections it accepted.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy)]
pub(super) enum Behaviour {
    /// Reads everything and never answers.
    Silent,
    /// Closes each connection as soon as it is accepted.
    Close,
    /// Sends garbage without end, never a line end or a NUL.
    Endless,
}

#[derive(Debug)]
pub(super) struct Fake {
    pub(super) address: String,
    accepted: Arc<AtomicUsize>,
}

impl Fake {
    pub(super) async fn start(behaviour: Behaviour) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(conn, behaviour));
            }
        });
        Fake { address, accepted }
    }

    pub(super) fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn serve(mut conn: TcpStream, behaviour: Behaviour) {
    match behaviour {
        Behaviour::Silent => {
            let mut sink = [0; 4096];
            while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
            // A client that half-closes after its request still waits for an answer: keep the
            // connection open, silent, until the test ends.
            std::future::pending::<()>().await;
        }
        Behaviour::Close => drop(conn),
        Behaviour::Endless => {
            let garbage = [b'A'; 64 * 1024];
            while conn.write_all(&garbage).await.is_ok() {}
        }
    }
}

/// An address on 127.0.0.1 where nothing listens.
pub(super) fn no_listener() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}
