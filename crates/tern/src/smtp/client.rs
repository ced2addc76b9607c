//! The SMTP client: sends one raw RFC 5322 message, as given, with lettre to a configured relay
//! or to a domain's mail exchangers (MX records through hickory, in order of preference; the
//! domain's own address when it has none, as RFC 5321 section 5.1 says), with STARTTLS when the
//! server offers it or always, AUTH when credentials are configured, and a timeout. A failure
//! comes back as [`SendError`]: transient (worth a retry later) or permanent, with the server's
//! reply when there was one, so a queue can decide.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials as LettreCredentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case", deny_unknown_fields)]
pub enum SendTarget {
    /// One server, such as a smarthost or a partner operator's MM4 relay; `host` is resolved
    /// by the system.
    Relay {
        host: String,
        #[serde(default = "smtp_port")]
        port: u16,
    },
    /// The mail exchangers of `domain`, looked up in DNS, tried in order of preference.
    Mx {
        domain: String,
        #[serde(default = "smtp_port")]
        port: u16,
    },
}

fn smtp_port() -> u16 {
    25
}

/// When the client uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTls {
    /// STARTTLS when the server offers it, the clear otherwise.
    #[default]
    Opportunistic,
    /// STARTTLS or nothing: a server that does not offer it, or whose certificate does not
    /// verify, gets no message (a permanent failure).
    Required,
    /// Never TLS.
    None,
}

/// AUTH credentials for the servers the client sends to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

/// The client's settings, self-contained so that an interface's configuration can embed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// The name this side gives in EHLO.
    pub hello_name: String,
    /// When to use STARTTLS.
    pub tls: ClientTls,
    /// CA certificates (PEM) trusted besides the system's, for servers with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Credentials for AUTH; without them the client does not authenticate.
    pub credentials: Option<Credentials>,
    /// How long the connection and each command may take.
    pub timeout_secs: u64,
    /// The DNS server for MX and address lookups; the `nameserver` lines of
    /// `/etc/resolv.conf` when unset.
    pub resolver: Option<SocketAddr>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            hello_name: "localhost".to_owned(),
            tls: ClientTls::Opportunistic,
            ca_file: None,
            credentials: None,
            timeout_secs: 60,
            resolver: None,
        }
    }
}

/// A server's acceptance of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The server that took it: the relay's host or the mail exchanger's name.
    pub server: String,
    /// Its reply to the end of DATA.
    pub code: u16,
    pub text: String,
}

/// Why a message was not sent. `code` is the server's reply code when a reply said so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth a retry later: the server could not be reached, timed out or answered 4xx, TLS
    /// failed where it was only opportunistic, DNS did not answer.
    Transient { code: Option<u16>, text: String },
    /// A retry would fail the same way: the server answered 5xx, the domain does not exist or
    /// takes no mail, an address is malformed, required TLS could not be had.
    Permanent { code: Option<u16>, text: String },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, code, text) = match self {
            SendError::Transient { code, text } => ("transient", code, text),
            SendError::Permanent { code, text } => ("permanent", code, text),
        };
        match code {
            Some(code) => write!(f, "{kind} failure: {code} {text}"),
            None => write!(f, "{kind} failure: {text}"),
        }
    }
}

impl SendError {
    /// Whether a retry later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }

    /// The server's reply code, when a reply caused the failure.
    pub fn code(&self) -> Option<u16> {
        match self {
            SendError::Transient { code, .. } | SendError::Permanent { code, .. } => *code,
        }
    }

    fn transient(text: impl Into<String>) -> SendError {
        SendError::Transient { code: None, text: text.into() }
    }

    fn permanent(text: impl Into<String>) -> SendError {
        SendError::Permanent { code: None, text: text.into() }
    }
}

/// A configuration the client cannot start with.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(String);

/// One server to try: the name TLS verifies and the address to connect to (the name itself
/// when the system resolves it).
struct Server {
    name: String,
    address: Option<IpAddr>,
    port: u16,
}

/// Sends messages; made once from its configuration and shared.
#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    ca_pem: Option<Vec<u8>>,
    resolver: TokioResolver,
}

impl Client {
    /// Reads `ca_file` and sets up the resolver.
    pub fn new(cfg: ClientConfig) -> Result<Client, SetupError> {
        let ca_pem = match &cfg.ca_file {
            Some(file) => {
                let pem = std::fs::read(file).map_err(|e| SetupError(format!("{}: {e}", file.display())))?;
                Certificate::from_pem(&pem).map_err(|e| SetupError(format!("{}: {e}", file.display())))?;
                Some(pem)
            }
            None => None,
        };
        let servers = match cfg.resolver {
            Some(server) => vec![server],
            None => system_name_servers(),
        };
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut config = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut config.connections {
                    connection.port = server.port();
                }
                config
            })
            .collect();
        let resolver = Resolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), name_servers),
            TokioRuntimeProvider::default(),
        )
        .build()
        .map_err(|e| SetupError(format!("DNS resolver: {e}")))?;
        Ok(Client { cfg, ca_pem, resolver })
    }

    /// Sends `message` as it is, from `from` (empty for the null reverse-path) to `to`. For an
    /// MX target each exchanger is tried in turn while they cannot be reached; the first
    /// server to answer decides.
    pub async fn send(
        &self,
        target: &SendTarget,
        from: &str,
        to: &[String],
        message: &[u8],
    ) -> Result<Accepted, SendError> {
        let envelope = envelope(from, to)?;
        let servers = match target {
            SendTarget::Relay { host, port } => vec![Server { name: host.clone(), address: None, port: *port }],
            SendTarget::Mx { domain, port } => self.exchangers(domain, *port).await?,
        };
        let mut last = SendError::transient("no server to send to");
        for server in servers {
            match self.send_to(&server, &envelope, message).await {
                Ok(accepted) => return Ok(accepted),
                Err(e) if e.is_transient() && e.code().is_none() => {
                    tracing::info!(server = %server.name, port = server.port, error = %e, "SMTP server not reached");
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// The servers for `domain`: its MX hosts' addresses in order of preference, or the
    /// domain's own addresses when it has no MX record.
    async fn exchangers(&self, domain: &str, port: u16) -> Result<Vec<Server>, SendError> {
        let hosts = match self.resolver.mx_lookup(domain).await {
            Ok(lookup) => {
                let mut records: Vec<_> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                        _ => None,
                    })
                    .collect();
                records.sort_by_key(|(preference, _)| *preference);
                // RFC 7505: a single MX of "." says the domain takes no mail.
                if let [(_, exchange)] = records.as_slice()
                    && exchange.is_root()
                {
                    return Err(SendError::Permanent {
                        code: Some(556),
                        text: format!("{domain} accepts no mail (null MX)"),
                    });
                }
                records.into_iter().map(|(_, exchange)| exchange.to_ascii()).collect()
            }
            Err(e) if e.is_nx_domain() => return Err(SendError::permanent(format!("no such domain: {domain}"))),
            Err(e) if e.is_no_records_found() => vec![domain.to_owned()],
            Err(e) => return Err(SendError::transient(format!("MX lookup of {domain}: {e}"))),
        };
        let mut servers = Vec::new();
        let mut failure = None;
        for host in hosts {
            let name = host.trim_end_matches('.').to_owned();
            match self.resolver.lookup_ip(name.as_str()).await {
                Ok(addresses) => servers.extend(addresses.iter().map(|address| Server {
                    name: name.clone(),
                    address: Some(address),
                    port,
                })),
                Err(e) => {
                    tracing::info!(host = %name, error = %e, "SMTP exchanger has no address");
                    failure = Some(format!("address lookup of {name}: {e}"));
                }
            }
        }
        match (servers.is_empty(), failure) {
            (true, Some(failure)) => Err(SendError::transient(failure)),
            _ => Ok(servers),
        }
    }

    async fn send_to(&self, server: &Server, envelope: &Envelope, message: &[u8]) -> Result<Accepted, SendError> {
        let required = self.cfg.tls == ClientTls::Required;
        let tls = match self.cfg.tls {
            ClientTls::None => Tls::None,
            ClientTls::Opportunistic => Tls::Opportunistic(self.tls_parameters(&server.name)?),
            ClientTls::Required => Tls::Required(self.tls_parameters(&server.name)?),
        };
        let host = server.address.map_or_else(|| server.name.clone(), |address| address.to_string());
        let timeout = Duration::from_secs(self.cfg.timeout_secs.max(1));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(server.port)
            .timeout(Some(timeout))
            .tls(tls)
            .hello_name(ClientId::Domain(self.cfg.hello_name.clone()));
        if let Some(credentials) = &self.cfg.credentials {
            builder =
                builder.credentials(LettreCredentials::new(credentials.username.clone(), credentials.password.clone()));
        }
        let transport = builder.build();
        // lettre ends the data with CRLF.CRLF whatever the message ends with: a message that
        // ends its last line itself would arrive with an empty line more.
        let message = message.strip_suffix(b"\r\n").unwrap_or(message);
        // lettre's timeout bounds each step; this bounds a server that trickles.
        let sent = tokio::time::timeout(timeout * 4, transport.send_raw(envelope, message))
            .await
            .map_err(|_| SendError::transient(format!("{}: timed out", server.name)))?;
        match sent {
            Ok(response) => Ok(Accepted {
                server: server.name.clone(),
                code: reply_code(&response.code()),
                text: response.message().collect::<Vec<_>>().join(" "),
            }),
            Err(e) => Err(classify(&e, required)),
        }
    }

    fn tls_parameters(&self, name: &str) -> Result<TlsParameters, SendError> {
        let mut builder = TlsParameters::builder(name.to_owned());
        if let Some(pem) = &self.ca_pem {
            let roots = Certificate::from_pem(pem).map_err(|e| SendError::permanent(format!("CA file: {e}")))?;
            builder = builder.add_root_certificate(roots);
        }
        builder.build_rustls().map_err(|e| SendError::permanent(format!("TLS parameters for {name}: {e}")))
    }
}

fn reply_code(code: &lettre::transport::smtp::response::Code) -> u16 {
    code.to_string().parse().unwrap_or(0)
}

/// lettre's error as the queue sees it.
fn classify(e: &lettre::transport::smtp::Error, tls_required: bool) -> SendError {
    let detail = std::error::Error::source(e).map(ToString::to_string).unwrap_or_else(|| e.to_string());
    if let Some(code) = e.status() {
        let code = Some(reply_code(&code));
        return if e.is_permanent() {
            SendError::Permanent { code, text: detail }
        } else {
            SendError::Transient { code, text: detail }
        };
    }
    if e.is_tls() && tls_required {
        return SendError::permanent(format!("TLS required: {e}"));
    }
    // lettre's own refusals: no STARTTLS where it is required, no AUTH mechanism in common.
    if e.is_client() {
        return SendError::permanent(e.to_string());
    }
    SendError::transient(e.to_string())
}

fn envelope(from: &str, to: &[String]) -> Result<Envelope, SendError> {
    let reverse = match from {
        "" => None,
        from => Some(from.parse::<Address>().map_err(|e| SendError::permanent(format!("sender {from}: {e}")))?),
    };
    let forward = to
        .iter()
        .map(|to| to.parse::<Address>().map_err(|e| SendError::permanent(format!("recipient {to}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(reverse, forward).map_err(|e| SendError::permanent(format!("envelope: {e}")))
}

/// The name servers of `/etc/resolv.conf`, or the local one when it names none.
fn system_name_servers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() { vec![SocketAddr::from(([127, 0, 0, 1], 53))] } else { servers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_from_toml() {
        #[derive(Deserialize)]
        struct Table {
            a: SendTarget,
            b: SendTarget,
        }
        let t: Table = toml::from_str(
            "a = { via = \"mx\", domain = \"op.example\" }\nb = { via = \"relay\", host = \"mx1\", port = 2525 }",
        )
        .unwrap();
        assert_eq!(t.a, SendTarget::Mx { domain: "op.example".into(), port: 25 });
        assert_eq!(t.b, SendTarget::Relay { host: "mx1".into(), port: 2525 });
        assert!(
            toml::from_str::<Table>(
                "a = { via = \"mx\", domain = \"x\", extra = 1 }\nb = { via = \"mx\", domain = \"y\" }"
            )
            .is_err()
        );
    }

    #[test]
    fn null_sender_and_bad_addresses() {
        assert!(envelope("", &["bob@op.example".to_owned()]).unwrap().from().is_none());
        assert!(!envelope("not an address", &["bob@op.example".to_owned()]).unwrap_err().is_transient());
        assert!(!envelope("a@op.example", &[]).unwrap_err().is_transient());
    }
}
