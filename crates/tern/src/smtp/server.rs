//! The SMTP server (RFC 5321): the accept loop with its connection cap, and each connection's
//! session loop, which reads lines within the configured limits, has smtp-proto parse each
//! command, asks the [`Handler`] at each step and writes the replies, batched as pipelining
//! (RFC 2920) allows. DATA is read through smtp-proto's dot-unstuffing receiver and handed to
//! the handler whole, only once its final dot has arrived. STARTTLS (RFC 3207) restarts the
//! session over rustls; AUTH PLAIN and LOGIN (RFC 4954) are offered only under TLS unless the
//! configuration allows them in the clear. On shutdown the loop stops accepting, sessions
//! waiting for a command are told 421, and those reading DATA or waiting on the handler get a
//! bounded time to finish first.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver};
use smtp_proto::{EhloResponse, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;

use super::reply::Reply;
use crate::tls::{self, TlsError, TlsFiles};

/// The SMTP server's settings, self-contained so that an interface's configuration can embed
/// them as a table of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on; whoever starts the server binds it and hands [`serve`]
    /// the listener.
    pub listen: SocketAddr,
    /// This server's name, in the 220 greeting and the EHLO answer.
    pub hostname: String,
    /// Largest message accepted, in bytes after dot-unstuffing; advertised as `SIZE`. A larger
    /// message is read to its end and thrown away (never held), then answered 552.
    pub max_message_size: usize,
    /// Most recipients in one transaction; the next RCPT is answered 452.
    pub max_recipients: usize,
    /// Most sessions at once; a connection beyond them is answered 421 and closed.
    pub max_connections: usize,
    /// Longest command line, CRLF included (at least 64); a longer one is read to its end,
    /// thrown away and answered 500.
    pub max_line_length: usize,
    /// Bad commands (syntax, sequence, failed AUTH) a session may send before it is closed
    /// with 421.
    pub max_errors: u32,
    /// Commands a session may send in all before it is closed with 421.
    pub max_commands: u32,
    /// How long the server waits for each command, and for a client to take a reply.
    pub command_timeout_secs: u64,
    /// How long a message's DATA may take in all, from the 354 to the final dot.
    pub data_timeout_secs: u64,
    /// On shutdown, how long sessions reading DATA or waiting on the handler get to finish
    /// before they are cut.
    pub shutdown_grace_secs: u64,
    /// The certificate chain and key for STARTTLS, which is offered only when they are set.
    pub tls: Option<TlsFiles>,
    /// Offers AUTH on connections without TLS too, where the password crosses in the clear.
    pub allow_auth_without_tls: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 2525)),
            hostname: "localhost".to_owned(),
            max_message_size: 10 * 1024 * 1024,
            // RFC 5321 section 4.5.3.1.8: a server must take at least 100 recipients.
            max_recipients: 100,
            max_connections: 256,
            // RFC 5321 section 4.5.3.1.6 (a text line); command lines with extension
            // parameters and AUTH initial responses may exceed the 512 of section 4.5.3.1.4.
            max_line_length: 1000,
            max_errors: 10,
            max_commands: 1000,
            // RFC 5321 section 4.5.3.2.7: five minutes waiting for a command.
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            shutdown_grace_secs: 30,
            tls: None,
            allow_auth_without_tls: false,
        }
    }
}

/// What the session knows of its client when it asks the handler.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// The name the client gave in EHLO or HELO.
    pub helo: Option<String>,
    /// Whether the session runs over TLS (after STARTTLS).
    pub tls: bool,
    /// The identity [`Handler::authenticate`] returned, once AUTH has succeeded.
    pub identity: Option<String>,
}

/// What the user of the server decides. Every call may take its time (a lookup, a durable
/// write); the client waits for the reply meanwhile. A call may be dropped before it resolves
/// when the server's shutdown grace runs out.
pub trait Handler: Send + Sync + 'static {
    /// A new connection from `peer`, before the greeting: `Err` (such as
    /// [`Reply::not_admitted`]) is sent instead of the greeting and the connection closed.
    fn connect(&self, peer: SocketAddr) -> Result<(), Reply> {
        let _ = peer;
        Ok(())
    }

    /// AUTH PLAIN or LOGIN credentials: the identity the session carries from then on, or the
    /// reply to refuse them (such as [`Reply::bad_credentials`]). Refuses every one by default.
    fn authenticate(
        &self,
        session: &Session,
        user: &str,
        password: &str,
    ) -> impl Future<Output = Result<String, Reply>> + Send {
        let _ = (session, user, password);
        async { Err(Reply::bad_credentials()) }
    }

    /// MAIL FROM: whether this sender (empty for the null reverse-path) may send here.
    /// Accepts every one by default.
    fn sender(&self, session: &Session, from: &str) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (session, from);
        async { Ok(()) }
    }

    /// RCPT TO: whether `to` is accepted in this transaction from `from`.
    fn recipient(&self, session: &Session, from: &str, to: &str) -> impl Future<Output = Result<(), Reply>> + Send;

    /// The whole message after DATA, dot-unstuffed, ending in CRLF, for the recipients
    /// accepted. The reply goes to the client only once this resolves, so a 250 must mean the
    /// message is stored durably.
    fn data(
        &self,
        session: &Session,
        from: &str,
        to: &[String],
        message: Vec<u8>,
    ) -> impl Future<Output = Reply> + Send;
}

/// Serves SMTP on `listener`, calling `handler`, until `shutdown` resolves; then stops
/// accepting, closes idle sessions with 421 and waits up to `shutdown_grace_secs` for the rest.
/// Fails at once if the TLS files cannot be used.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    cfg: ServerConfig,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), TlsError> {
    let acceptor = cfg.tls.as_ref().map(tls::acceptor).transpose()?;
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let shared = Arc::new(Shared { cfg, acceptor, handler });
    let (stop, stopping) = watch::channel(false);
    let mut sessions = JoinSet::new();
    tracing::info!(addr = ?listener.local_addr().ok(), tls = shared.acceptor.is_some(), "SMTP server listening");
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: pause rather than spin on the error.
                    tracing::warn!(error = %e, "SMTP accept error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "SMTP connection refused: at the connection cap");
            let mut out = Vec::new();
            Reply::new(421, [4, 3, 2], format!("{} Too many connections, try again later", shared.cfg.hostname))
                .write(&mut out);
            // Only what the socket takes at once: a refused client gets no task to wait on it.
            let _ = stream.try_write(&out);
            continue;
        };
        let (shared, stopping) = (shared.clone(), stopping.clone());
        sessions.spawn(async move {
            run_session(stream, peer, &shared, stopping).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let grace = Duration::from_secs(shared.cfg.shutdown_grace_secs);
    if timeout(grace, async { while sessions.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!(sessions = sessions.len(), "SMTP sessions cut at the end of the shutdown grace");
        sessions.shutdown().await;
    }
    tracing::info!("SMTP server stopped");
    Ok(())
}

/// What every session of one server shares.
struct Shared<H> {
    cfg: ServerConfig,
    acceptor: Option<TlsAcceptor>,
    handler: Arc<H>,
}

/// One connection, from the greeting to the close, with its restart over TLS.
async fn run_session<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared<H>,
    stopping: watch::Receiver<bool>,
) {
    let cfg = &shared.cfg;
    let _ = stream.set_nodelay(true);
    let mut wire = Wire::new(stream, cfg);
    if let Err(reply) = shared.handler.connect(peer) {
        tracing::info!(%peer, %reply, "SMTP connection refused by the handler");
        wire.reply(&reply);
        let _ = wire.flush().await;
        return;
    }
    tracing::debug!(%peer, "SMTP session open");
    let session = Session { peer, helo: None, tls: false, identity: None };
    let mut talk = Conversation { shared, session, tx: Transaction::default(), errors: 0, commands: 0, stopping };
    wire.reply(&Reply::plain(220, format!("{} ESMTP Tern", cfg.hostname)));
    let ended = match talk.converse(&mut wire).await {
        Ok(Flow::StartTls) => match &shared.acceptor {
            Some(acceptor) => match timeout(wire.idle, acceptor.accept(wire.io)).await {
                Ok(Ok(tls)) => {
                    // RFC 3207 section 4.2: the session starts again, forgetting what the client
                    // said before TLS.
                    talk.session = Session { peer, helo: None, tls: true, identity: None };
                    talk.tx = Transaction::default();
                    talk.converse(&mut Wire::new(tls, cfg)).await.map(|_| ())
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(io::ErrorKind::TimedOut.into()),
            },
            None => Ok(()),
        },
        Ok(Flow::Continue | Flow::Close) => Ok(()),
        Err(e) => Err(e),
    };
    match ended {
        Ok(()) => tracing::debug!(%peer, "SMTP session closed"),
        Err(e) => tracing::debug!(%peer, error = %e, "SMTP session ended"),
    }
}

/// The transaction in progress (RFC 5321 section 3.3).
#[derive(Debug, Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

/// What the session does after a command.
enum Flow {
    Continue,
    Close,
    StartTls,
}

/// A command line, or one that was too long and has been thrown away.
enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// DATA as it arrived.
enum Data {
    Message(Vec<u8>),
    TooLarge,
    /// The client went away (or stalled) before the final dot.
    Cut,
}

/// One connection's bytes both ways: what has been read and not yet used, and the replies not
/// yet written, which go out when the client's pipelined commands are used up.
struct Wire<S> {
    io: S,
    input: Vec<u8>,
    output: Vec<u8>,
    max_line: usize,
    idle: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    fn new(io: S, cfg: &ServerConfig) -> Self {
        Wire {
            io,
            input: Vec::with_capacity(1024),
            output: Vec::new(),
            max_line: cfg.max_line_length.max(64),
            idle: Duration::from_secs(cfg.command_timeout_secs.max(1)),
        }
    }

    fn reply(&mut self, reply: &Reply) {
        reply.write(&mut self.output);
    }

    /// Writes the replies held so far, within the command timeout.
    async fn flush(&mut self) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            self.io.write_all(&self.output).await?;
            self.io.flush().await
        };
        timeout(self.idle, write).await.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        self.output.clear();
        Ok(())
    }

    /// Reads more input by `deadline`; false at the end of the stream. Replies held are written
    /// first: the client waits for them before it sends more.
    async fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        self.flush().await?;
        let mut chunk = [0u8; 8192];
        let n = timeout_at(deadline, self.io.read(&mut chunk))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        self.input.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The next line, LF included; `None` at the end of the stream.
    async fn line(&mut self) -> io::Result<Option<Line>> {
        let mut discarding = false;
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=end).collect();
                return Ok(Some(if discarding || line.len() > self.max_line {
                    Line::TooLong
                } else {
                    Line::Text(line)
                }));
            }
            if self.input.len() > self.max_line {
                // Held no further: the rest of the line is read and dropped as it comes.
                discarding = true;
                self.input.clear();
            }
            if !self.fill(Instant::now() + self.idle).await? {
                return Ok(None);
            }
        }
    }

    /// The message after a 354, up to the line holding only a dot, within `max` bytes and by
    /// `deadline`. Beyond `max` the rest is still read to the dot, so the session stays in step,
    /// but thrown away.
    async fn data(&mut self, max: usize, deadline: Instant) -> io::Result<Data> {
        let mut receiver = DataReceiver::new();
        let mut message = Vec::new();
        // The receiver starts as if in the middle of a line, but the data starts a line: a CRLF
        // fed first lets it unstuff a dot on the first line, or end at a lone one.
        receiver.ingest(&mut b"\r\n".iter(), &mut message);
        message.clear();
        let mut discard: Option<DummyDataReceiver> = None;
        loop {
            let mut bytes = self.input.iter();
            let done = match &mut discard {
                Some(discard) => discard.ingest(&mut bytes),
                None => receiver.ingest(&mut bytes, &mut message),
            };
            let used = self.input.len() - bytes.as_slice().len();
            self.input.drain(..used);
            if discard.is_none() && message.len() > max {
                discard = Some(DummyDataReceiver::new_data(&receiver));
                message = Vec::new();
            }
            if done {
                return Ok(if discard.is_some() { Data::TooLarge } else { Data::Message(message) });
            }
            let wait = (Instant::now() + self.idle).min(deadline);
            match self.fill(wait).await {
                Ok(true) => {}
                Ok(false) => return Ok(Data::Cut),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(Data::Cut),
                Err(e) => return Err(e),
            }
        }
    }
}

/// One session's state: what the handler is told, the transaction, and its counters.
struct Conversation<'a, H> {
    shared: &'a Shared<H>,
    session: Session,
    tx: Transaction,
    errors: u32,
    commands: u32,
    stopping: watch::Receiver<bool>,
}

impl<H: Handler> Conversation<'_, H> {
    /// Commands until QUIT, the end of the stream, a limit, shutdown, or STARTTLS.
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(&mut self, wire: &mut Wire<S>) -> io::Result<Flow> {
        let cfg = &self.shared.cfg;
        loop {
            let line = tokio::select! {
                line = wire.line() => line,
                // An idle session goes at once on shutdown; one in a transaction finishes it first.
                () = stopped(&mut self.stopping) => {
                    wire.reply(&Reply::new(421, [4, 3, 2], format!("{} Service shutting down", cfg.hostname)));
                    wire.flush().await?;
                    return Ok(Flow::Close);
                }
            };
            let line = match line {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(Flow::Close),
                Err(e) => {
                    if e.kind() == io::ErrorKind::TimedOut {
                        wire.output.clear();
                        wire.reply(&Reply::new(421, [4, 4, 2], format!("{} Timeout, closing", cfg.hostname)));
                        let _ = wire.flush().await;
                    }
                    return Err(e);
                }
            };
            self.commands += 1;
            if self.commands > cfg.max_commands {
                wire.reply(&Reply::new(421, [4, 7, 0], format!("{} Too many commands, closing", cfg.hostname)));
                wire.flush().await?;
                return Ok(Flow::Close);
            }
            let flow = match line {
                Line::TooLong => {
                    self.refuse(wire, Reply::new(500, [5, 5, 2], "Line too long"));
                    Flow::Continue
                }
                Line::Text(bytes) => match Request::parse(&mut bytes.iter()) {
                    Ok(request) => self.command(request.into_owned(), wire).await?,
                    Err(e) => {
                        self.refuse(wire, parse_error(e));
                        Flow::Continue
                    }
                },
            };
            match flow {
                Flow::Continue if self.errors > cfg.max_errors => {
                    tracing::info!(peer = %self.session.peer, "SMTP session closed after too many errors");
                    wire.reply(&Reply::new(421, [4, 7, 0], format!("{} Too many errors, closing", cfg.hostname)));
                    wire.flush().await?;
                    return Ok(Flow::Close);
                }
                Flow::Continue => {}
                Flow::Close | Flow::StartTls => {
                    wire.flush().await?;
                    return Ok(flow);
                }
            }
        }
    }

    /// A reply to a client's mistake, counted against `max_errors`.
    fn refuse<S>(&mut self, wire: &mut Wire<S>, reply: Reply) {
        self.errors += 1;
        reply.write(&mut wire.output);
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        request: Request<String>,
        wire: &mut Wire<S>,
    ) -> io::Result<Flow> {
        let cfg = &self.shared.cfg;
        let handler = &self.shared.handler;
        let sequence = |text: &str| Reply::new(503, [5, 5, 1], text);
        match request {
            Request::Ehlo { host } => {
                self.session.helo = Some(host);
                self.tx = Transaction::default();
                let mut ehlo = EhloResponse::new(cfg.hostname.as_str());
                ehlo.capabilities = smtp_proto::EXT_PIPELINING
                    | smtp_proto::EXT_8BIT_MIME
                    | smtp_proto::EXT_SIZE
                    | smtp_proto::EXT_ENHANCED_STATUS_CODES;
                ehlo.size = cfg.max_message_size;
                if self.shared.acceptor.is_some() && !self.session.tls {
                    ehlo.capabilities |= smtp_proto::EXT_START_TLS;
                }
                if self.auth_offered() {
                    ehlo.capabilities |= smtp_proto::EXT_AUTH;
                    ehlo.auth_mechanisms = smtp_proto::AUTH_PLAIN | smtp_proto::AUTH_LOGIN;
                }
                // Writing into a Vec cannot fail.
                let _ = ehlo.write(&mut wire.output);
            }
            Request::Helo { host } => {
                self.session.helo = Some(host);
                self.tx = Transaction::default();
                wire.reply(&Reply::plain(250, cfg.hostname.as_str()));
            }
            Request::Mail { from } => {
                if self.session.helo.is_none() {
                    self.refuse(wire, sequence("Send EHLO or HELO first"));
                } else if self.tx.from.is_some() {
                    self.refuse(wire, sequence("Sender already given"));
                } else if from.size > cfg.max_message_size {
                    wire.reply(&too_large(cfg.max_message_size));
                } else {
                    match handler.sender(&self.session, &from.address).await {
                        Ok(()) => {
                            self.tx.from = Some(from.address);
                            wire.reply(&Reply::new(250, [2, 1, 0], "Sender OK"));
                        }
                        Err(reply) => wire.reply(&reply),
                    }
                }
            }
            Request::Rcpt { to } => match &self.tx.from {
                None => self.refuse(wire, sequence("Send MAIL first")),
                Some(_) if self.tx.to.len() >= cfg.max_recipients => {
                    wire.reply(&Reply::new(452, [4, 5, 3], "Too many recipients"));
                }
                Some(from) => match handler.recipient(&self.session, from, &to.address).await {
                    Ok(()) => {
                        self.tx.to.push(to.address);
                        wire.reply(&Reply::new(250, [2, 1, 5], "Recipient OK"));
                    }
                    Err(reply) => wire.reply(&reply),
                },
            },
            Request::Data => {
                if self.tx.from.is_none() {
                    self.refuse(wire, sequence("Send MAIL first"));
                } else if self.tx.to.is_empty() {
                    self.refuse(wire, sequence("No valid recipients"));
                } else {
                    return self.data(wire).await;
                }
            }
            Request::Auth { mechanism, initial_response } => return self.auth(mechanism, initial_response, wire).await,
            Request::StartTls => {
                if self.session.tls {
                    self.refuse(wire, sequence("TLS already active"));
                } else if self.shared.acceptor.is_none() {
                    wire.reply(&Reply::new(502, [5, 5, 1], "STARTTLS not available"));
                } else {
                    wire.reply(&Reply::new(220, [2, 0, 0], "Ready to start TLS"));
                    // RFC 3207 section 6: whatever the client sent after STARTTLS in the clear
                    // must not be taken as said under TLS.
                    wire.input.clear();
                    return Ok(Flow::StartTls);
                }
            }
            Request::Rset => {
                self.tx = Transaction::default();
                wire.reply(&Reply::new(250, [2, 0, 0], "OK"));
            }
            Request::Noop { .. } => wire.reply(&Reply::new(250, [2, 0, 0], "OK")),
            Request::Vrfy { .. } => {
                wire.reply(&Reply::new(
                    252,
                    [2, 5, 0],
                    "Cannot VRFY user, but will accept message and attempt delivery",
                ));
            }
            Request::Quit => {
                wire.reply(&Reply::new(221, [2, 0, 0], format!("{} Closing connection", cfg.hostname)));
                return Ok(Flow::Close);
            }
            other => {
                tracing::debug!(peer = %self.session.peer, command = other.name(), "SMTP command not implemented");
                wire.reply(&Reply::new(502, [5, 5, 1], "Command not implemented"));
            }
        }
        Ok(Flow::Continue)
    }

    fn auth_offered(&self) -> bool {
        self.session.tls || self.shared.cfg.allow_auth_without_tls
    }

    /// DATA: the 354, the message, and the handler's reply once it has the message.
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(&mut self, wire: &mut Wire<S>) -> io::Result<Flow> {
        let cfg = &self.shared.cfg;
        wire.reply(&Reply::plain(354, "End data with <CR><LF>.<CR><LF>"));
        let deadline = Instant::now() + Duration::from_secs(cfg.data_timeout_secs.max(1));
        let data = wire.data(cfg.max_message_size, deadline).await?;
        let tx = std::mem::take(&mut self.tx);
        let from = tx.from.unwrap_or_default();
        let peer = self.session.peer;
        match data {
            Data::Cut => {
                tracing::info!(%peer, %from, "SMTP client went away or stalled in DATA; message dropped");
                Ok(Flow::Close)
            }
            Data::TooLarge => {
                tracing::info!(%peer, %from, limit = cfg.max_message_size, "SMTP message over the size limit");
                wire.reply(&too_large(cfg.max_message_size));
                Ok(Flow::Continue)
            }
            Data::Message(message) => {
                let size = message.len();
                let reply = self.shared.handler.data(&self.session, &from, &tx.to, message).await;
                tracing::info!(%peer, %from, recipients = tx.to.len(), size, %reply, "SMTP message");
                wire.reply(&reply);
                Ok(Flow::Continue)
            }
        }
    }

    /// AUTH PLAIN or LOGIN (RFC 4954, RFC 4616), with the initial response or after 334
    /// challenges.
    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        mechanism: u64,
        initial: String,
        wire: &mut Wire<S>,
    ) -> io::Result<Flow> {
        if !self.auth_offered() {
            self.refuse(
                wire,
                Reply::new(538, [5, 7, 11], "Encryption required for requested authentication mechanism"),
            );
            return Ok(Flow::Continue);
        }
        if self.session.identity.is_some() {
            self.refuse(wire, Reply::new(503, [5, 5, 1], "Already authenticated"));
            return Ok(Flow::Continue);
        }
        if self.tx.from.is_some() {
            self.refuse(wire, Reply::new(503, [5, 5, 1], "AUTH not allowed in a mail transaction"));
            return Ok(Flow::Continue);
        }
        let credentials = match mechanism {
            smtp_proto::AUTH_PLAIN => {
                let response = match initial.as_str() {
                    "" => challenge(wire, "").await?,
                    given => Answer::Given(given.as_bytes().to_vec()),
                };
                response.decode().map(|plain| {
                    // authzid NUL authcid NUL password; an authorization identity is not
                    // supported apart from the authentication one, which the handler decides on.
                    let mut parts = plain.splitn(3, |&b| b == 0).skip(1);
                    let user = parts.next().unwrap_or_default();
                    let password = parts.next().unwrap_or_default();
                    (String::from_utf8_lossy(user).into_owned(), String::from_utf8_lossy(password).into_owned())
                })
            }
            smtp_proto::AUTH_LOGIN => {
                let user = match initial.as_str() {
                    "" => challenge(wire, "VXNlcm5hbWU6").await?,
                    given => Answer::Given(given.as_bytes().to_vec()),
                };
                match user.decode() {
                    Ok(user) => challenge(wire, "UGFzc3dvcmQ6").await?.decode().map(|password| {
                        (String::from_utf8_lossy(&user).into_owned(), String::from_utf8_lossy(&password).into_owned())
                    }),
                    Err(failure) => Err(failure),
                }
            }
            _ => Err(Failure::Refused(Reply::new(504, [5, 5, 4], "Unrecognized authentication type"))),
        };
        let (user, password) = match credentials {
            Ok(credentials) => credentials,
            Err(Failure::Closed) => return Ok(Flow::Close),
            Err(Failure::Refused(reply)) => {
                self.refuse(wire, reply);
                return Ok(Flow::Continue);
            }
        };
        match self.shared.handler.authenticate(&self.session, &user, &password).await {
            Ok(identity) => {
                tracing::info!(peer = %self.session.peer, %identity, "SMTP client authenticated");
                self.session.identity = Some(identity);
                wire.reply(&Reply::new(235, [2, 7, 0], "Authentication succeeded"));
            }
            Err(reply) => {
                tracing::info!(peer = %self.session.peer, %user, %reply, "SMTP authentication refused");
                self.refuse(wire, reply);
            }
        }
        Ok(Flow::Continue)
    }
}

/// A client's answer in an AUTH exchange, still base64.
enum Answer {
    Given(Vec<u8>),
    Cancelled,
    TooLong,
    Closed,
}

/// Why an AUTH exchange ended without credentials.
enum Failure {
    Refused(Reply),
    Closed,
}

impl Answer {
    fn decode(self) -> Result<Vec<u8>, Failure> {
        match self {
            // RFC 4954 section 4: "=" is an empty initial response.
            Answer::Given(text) if text == b"=" => Ok(Vec::new()),
            Answer::Given(text) => {
                BASE64.decode(&text).map_err(|_| Failure::Refused(Reply::new(501, [5, 5, 2], "Invalid base64 data")))
            }
            Answer::Cancelled => Err(Failure::Refused(Reply::new(501, [5, 0, 0], "Authentication cancelled"))),
            Answer::TooLong => {
                Err(Failure::Refused(Reply::new(500, [5, 5, 6], "Authentication exchange line too long")))
            }
            Answer::Closed => Err(Failure::Closed),
        }
    }
}

/// Sends a 334 challenge and reads the client's answer line.
async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(wire: &mut Wire<S>, prompt: &str) -> io::Result<Answer> {
    wire.reply(&Reply::plain(334, prompt));
    Ok(match wire.line().await? {
        None => Answer::Closed,
        Some(Line::TooLong) => Answer::TooLong,
        Some(Line::Text(line)) => {
            let text = line.trim_ascii_end().to_vec();
            if text == b"*" { Answer::Cancelled } else { Answer::Given(text) }
        }
    })
}

/// Resolves once the server is stopping (or gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn too_large(limit: usize) -> Reply {
    Reply::new(552, [5, 3, 4], format!("Message size exceeds the limit of {limit} bytes"))
}

/// The reply to a line smtp-proto could not parse.
fn parse_error(e: smtp_proto::Error) -> Reply {
    use smtp_proto::Error;
    match e {
        Error::UnknownCommand | Error::NeedsMoreData { .. } => Reply::new(500, [5, 5, 2], "Command not recognized"),
        Error::InvalidSenderAddress => Reply::new(501, [5, 1, 7], "Bad sender address syntax"),
        Error::InvalidRecipientAddress => Reply::new(501, [5, 1, 3], "Bad recipient address syntax"),
        Error::SyntaxError { syntax } => Reply::new(501, [5, 5, 4], format!("Syntax: {syntax}")),
        Error::InvalidParameter { param } => Reply::new(501, [5, 5, 4], format!("Invalid parameter {param}")),
        Error::UnsupportedParameter { param } => Reply::new(504, [5, 5, 4], format!("Unsupported parameter {param}")),
        Error::ResponseTooLong => Reply::new(500, [5, 5, 2], "Line too long"),
        Error::InvalidResponse { .. } => Reply::new(500, [5, 5, 2], "Command not recognized"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message DATA yields from `sent`, and what is left for the next command.
    async fn data_of(sent: &[u8], max: usize) -> (Data, Vec<u8>) {
        let (client, server) = tokio::io::duplex(64);
        let mut wire = Wire::new(server, &ServerConfig::default());
        let sent = sent.to_vec();
        // The client closes once it has written: the end of what it sent is the end of the stream.
        let writer = tokio::spawn(async move {
            let mut client = client;
            client.write_all(&sent).await.unwrap();
        });
        let data = wire.data(max, Instant::now() + Duration::from_secs(5)).await.unwrap();
        writer.await.unwrap();
        (data, wire.input)
    }

    #[tokio::test]
    async fn data_is_unstuffed_from_its_first_line() {
        let (data, rest) = data_of(b"..first\r\nsecond\r\n..\r\n.\r\nQUIT\r\n", 1000).await;
        let Data::Message(message) = data else { panic!("a message") };
        assert_eq!(message, b".first\r\nsecond\r\n.\r\n");
        assert_eq!(rest, b"QUIT\r\n");
        let (data, _) = data_of(b".\r\n", 1000).await;
        assert!(matches!(data, Data::Message(m) if m.is_empty()));
    }

    #[tokio::test]
    async fn data_over_the_limit_is_read_through_and_dropped() {
        let mut sent = vec![b'x'; 500];
        sent.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
        let (data, rest) = data_of(&sent, 100).await;
        assert!(matches!(data, Data::TooLarge));
        assert_eq!(rest, b"NOOP\r\n");
        let (data, _) = data_of(b"half a message", 100).await;
        assert!(matches!(data, Data::Cut));
    }
}
