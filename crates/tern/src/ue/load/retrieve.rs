//! The receiving side of a load run: every recipient handset at once, on one UDP socket that
//! the relay's `udp` bearer pushes to. Each m-notification.ind is fetched from its
//! Content-Location and answered with an m-notifyresp.ind, as a handset with automatic
//! retrieval does; the m-retrieve.conf's Message-ID ties the retrieval to the submission the
//! relay confirmed with that Message-ID, which gives the end-to-end latency.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tern_codec::mms::{Message, NotifyRespInd, Pdu, Status, Version};
use tern_codec::push::Push;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use super::tally::{OK, Tally};
use crate::ue::client::{Client, RequestError};

/// Where a submission and its retrievals meet; either may come first, since the relay can
/// push a notification before its m-send.conf reaches the sender.
#[derive(Debug, Default)]
struct Track {
    sent: Option<Instant>,
    /// Retrievals finished before the submission's m-send.conf was read.
    early: Vec<Instant>,
}

/// Shared by the sending and the receiving sides.
#[derive(Debug)]
pub struct Meeting {
    tracks: Mutex<HashMap<String, Track>>,
    tally: Arc<Mutex<Tally>>,
}

impl Meeting {
    pub fn new(tally: Arc<Mutex<Tally>>) -> Meeting {
        Meeting { tracks: Mutex::new(HashMap::new()), tally }
    }

    /// The relay accepted a submission started at `start` and named it `message_id`.
    pub fn sent(&self, message_id: String, start: Instant) {
        let early = {
            let mut tracks = lock(&self.tracks);
            let track = tracks.entry(message_id).or_default();
            track.sent = Some(start);
            std::mem::take(&mut track.early)
        };
        let mut tally = lock(&self.tally);
        for done in early {
            tally.end_to_end.record(done.saturating_duration_since(start));
        }
    }

    fn retrieved(&self, message_id: String, done: Instant) {
        let sent = {
            let mut tracks = lock(&self.tracks);
            let track = tracks.entry(message_id).or_default();
            if track.sent.is_none() {
                track.early.push(done);
            }
            track.sent
        };
        if let Some(start) = sent {
            lock(&self.tally).end_to_end.record(done.saturating_duration_since(start));
        }
    }
}

/// A poisoned lock only means another task panicked mid-count; the counts are still usable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Clone)]
pub struct Retriever {
    /// With no subscriber of its own: the unguessable URL is the proof, as the relay allows.
    pub client: Client,
    /// Where m-notifyresp.ind are POSTed: the relay's MM1 URL.
    pub relay: String,
    pub version: Version,
    pub meeting: Arc<Meeting>,
    pub limit: Arc<Semaphore>,
}

impl Retriever {
    /// Receives pushes on `socket` until the task is dropped.
    pub async fn listen(self, socket: UdpSocket) {
        let mut buf = crate::ue::inputs::datagram_buffer();
        loop {
            let len = match crate::ue::inputs::receive(&socket, &mut buf).await {
                Ok((len, _)) => len,
                Err(e) => {
                    tracing::error!(error = %e, "receiving pushes");
                    return;
                }
            };
            let datagram = buf[..len].to_vec();
            let this = self.clone();
            tokio::spawn(async move { this.push(&datagram).await });
        }
    }

    async fn push(&self, datagram: &[u8]) {
        let pdu = Push::decode(datagram).ok().filter(Push::is_mms).and_then(|p| {
            let body = p.body.into_owned();
            Message::decode(&body).ok().map(Message::into_owned)
        });
        let tally = &self.meeting.tally;
        match pdu.map(|m| m.pdu) {
            Some(Pdu::NotificationInd(n)) => {
                lock(tally).notifications += 1;
                let (Some(tid), Some(url)) = (n.transaction_id, n.content_location) else {
                    lock(tally).garbage += 1;
                    return;
                };
                let Ok(_permit) = self.limit.acquire().await else { return };
                let (outcome, message_id) = self.fetch(&url).await;
                let done = Instant::now();
                *lock(tally).retrievals.entry(outcome.clone()).or_insert(0) += 1;
                let status = if outcome == OK { Status::RETRIEVED } else { Status::DEFERRED };
                if let Some(id) = message_id.filter(|_| outcome == OK) {
                    self.meeting.retrieved(id, done);
                }
                self.notify_response(tid, status).await;
            }
            Some(Pdu::DeliveryInd(_) | Pdu::ReadOrigInd(_)) => lock(tally).reports += 1,
            _ => lock(tally).garbage += 1,
        }
    }

    /// GETs a message; the outcome's name, and the Message-ID when it was retrieved.
    async fn fetch(&self, url: &str) -> (String, Option<String>) {
        let answer = match self.client.get(url).await {
            Ok(answer) => answer,
            Err(e) => return (failure(&e), None),
        };
        match Message::decode(&answer.body).map(|m| m.pdu) {
            Ok(Pdu::RetrieveConf(conf)) => match conf.retrieve_status {
                Some(s) if s.0 != 0x80 => (s.to_string(), None),
                _ => (OK.to_owned(), conf.message_id),
            },
            _ => (format!("HTTP {} without an m-retrieve-conf", answer.status), None),
        }
    }

    async fn notify_response(&self, tid: String, status: Status) {
        let ind = NotifyRespInd {
            transaction_id: Some(tid),
            mms_version: Some(self.version),
            status: Some(status),
            ..NotifyRespInd::default()
        };
        let sent = self.client.post(&self.relay, Message::new(ind).encode()).await;
        if !sent.is_ok_and(|a| (200..300).contains(&a.status)) {
            lock(&self.meeting.tally).notifyresp_errors += 1;
        }
    }
}

/// The name a failed request is counted under.
pub fn failure(e: &RequestError) -> String {
    match e {
        RequestError::Http(e) if e.is_timeout() => "timeout".to_owned(),
        RequestError::Http(e) if e.is_connect() => "connection failed".to_owned(),
        RequestError::Http(_) => "HTTP error".to_owned(),
        RequestError::TooLarge => "answer too large".to_owned(),
        RequestError::Identity(_) => "not a usable MSISDN header value".to_owned(),
    }
}

/// Binds the socket the relay pushes to; its address is what `push.udp_target` must name.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    use anyhow::Context;
    UdpSocket::bind(addr).await.with_context(|| format!("listening on udp {addr}"))
}
