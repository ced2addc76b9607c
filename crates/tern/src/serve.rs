//! `tern serve`: the relay. Opens the store, starts the committer, the delivery worker (on a
//! thread of its own, with the bearers), the sweeper and the admin endpoint, and, when MM4 or
//! MM3 is enabled, the SMTP listener and the outbound worker; then serves MM1. On
//! SIGINT/SIGTERM it stops accepting, lets in-flight requests finish, then lets the committer
//! write everything queued before it exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{oneshot, watch};

use crate::config::Config;
use crate::delivery;
use crate::http::{self, FileSends, Limits, Meters};
use crate::mailroom::Mailroom;
use crate::mm1::body::Budget;
use crate::mm1::{self, Mm1};
use crate::push::Bearers;
use crate::push::smpp::LinkStates;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); without it every key has its default (see tern.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let cfg = Config::load(args.config.as_deref())?;
    crate::logging::init("info")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let stop = signal()?;
        serve(Arc::new(cfg), stop).await
    })
}

/// Runs the relay until `stop` resolves, then shuts it down in order; also what `tern demo`
/// runs in-process.
pub async fn serve(cfg: Arc<Config>, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let metrics = crate::admin::metrics::recorder()?;
    // Before anything opens files, so that the store and the bearers get the raised limit too.
    let cap = http::connection_cap(cfg.mm1.max_connections);
    let (store, committer) = Store::open(&cfg.store.data_dir, cfg.store.commit_batch_max)
        .await
        .with_context(|| format!("opening the store in {}", cfg.store.data_dir.display()))?;
    let (receipts, incoming) = tokio::sync::mpsc::unbounded_channel();
    let (stopping, stopped) = watch::channel(false);
    let (delivering, links) = start_delivery(store.clone(), cfg.clone(), receipts, stopped.clone()).await?;
    crate::admin::metrics::register(&links);
    let receipts = tokio::spawn(delivery::receipts(store.clone(), incoming));
    let mut admin_stop = stopped.clone();
    let sweeper = tokio::spawn(delivery::sweeper(store.clone(), cfg.clone(), stopped));

    let admin = tokio::net::TcpListener::bind(cfg.admin.listen)
        .await
        .with_context(|| format!("listening on {} (admin)", cfg.admin.listen))?;
    let admin_addr = admin.local_addr()?;
    let access = crate::admin::Access::new(&cfg.admin.token_sha256, admin_addr)?;
    crate::admin::announce(admin_addr, &access);
    let admin_routes = crate::admin::router(crate::admin::Admin { metrics, store: store.clone(), links, access });
    let admin = tokio::spawn(
        axum::serve(admin, admin_routes.into_make_service())
            .with_graceful_shutdown(async move {
                let _ = admin_stop.changed().await;
            })
            .into_future(),
    );

    let intake = crate::intake::Intake::new(store.clone(), cfg.clone()).context("setting up routing")?;
    let mail = if cfg.mm4.enabled || cfg.mm3.enabled {
        let listener = tokio::net::TcpListener::bind(cfg.smtp.listen)
            .await
            .with_context(|| format!("listening on {} (SMTP)", cfg.smtp.listen))?;
        tracing::info!(listen = %listener.local_addr()?, mm4 = cfg.mm4.enabled, mm3 = cfg.mm3.enabled, "SMTP ready");
        let room = Arc::new(Mailroom { intake: intake.clone(), store: store.clone(), cfg: cfg.clone() });
        let mut mail_stop = stopping.subscribe();
        let smtp_cfg = cfg.smtp.clone();
        let mail = tokio::spawn(async move {
            let stop = async move {
                let _ = mail_stop.changed().await;
            };
            if let Err(e) = crate::smtp::serve(listener, smtp_cfg, room, stop).await {
                tracing::error!(error = %e, "the SMTP listener stopped");
            }
        });
        Some(mail)
    } else {
        None
    };
    let outbound = if cfg.mm4.enabled || cfg.mm3.enabled || cfg.mm7.enabled {
        let worker =
            delivery::outbound(store.clone(), cfg.clone(), stopping.subscribe()).context("starting MM4/MM3/MM7")?;
        Some(tokio::spawn(worker))
    } else {
        None
    };
    let vasps = if cfg.mm7.enabled { Some(start_mm7(&cfg, &store, &intake, cap, &stopping).await?) } else { None };

    let socket = tokio::net::TcpListener::bind(cfg.mm1.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.mm1.listen))?;
    tracing::info!(listen = %socket.local_addr()?, data = %cfg.store.data_dir.display(), "MM1 ready");
    let app = mm1::router(Mm1 {
        store: store.clone(),
        intake: intake.clone(),
        cfg: cfg.clone(),
        budget: Budget::new(&cfg.mm1),
    });
    let meters = Meters {
        open: metrics::gauge!("tern_mm1_connections"),
        shed: metrics::counter!("tern_mm1_connections_shed_total"),
        refused: metrics::counter!("tern_mm1_connections_refused_total"),
    };
    let limits = limits(&cfg, "mm1", meters);
    let sends =
        FileSends { files: store.body_files(), octets: metrics::counter!("tern_mm1_octets_sent_from_files_total") };
    http::serve(socket, app, &limits, cap, None, Some(sends), stop).await;

    tracing::info!("stopping");
    let _ = stopping.send(true);
    let _ = delivering.await;
    let _ = sweeper.await;
    // The bearers are gone with the worker, so the receipt channel closes.
    let _ = receipts.await;
    let _ = admin.await;
    if let Some(mail) = mail {
        let _ = mail.await;
    }
    if let Some(outbound) = outbound {
        let _ = outbound.await;
    }
    if let Some(vasps) = vasps {
        let _ = vasps.await;
    }
    drop(intake);
    drop(store);
    committer.closed().await;
    tracing::info!("stopped; everything accepted is stored");
    Ok(())
}

/// The bounds of an HTTP interface's connections: MM1's timeouts serve MM7 too (VASPs are fewer
/// than handsets, but no kinder).
fn limits(cfg: &Config, name: &'static str, meters: Meters) -> Limits {
    Limits {
        name,
        meters,
        header_timeout: Duration::from_secs(cfg.mm1.header_timeout_secs),
        busy_wait: Duration::from_millis(cfg.mm1.busy_wait_ms),
        body_stall: Duration::from_secs(cfg.mm1.body_timeout_secs),
    }
}

/// Starts the MM7 and EAIF endpoint, which stops when `stopping` turns true.
async fn start_mm7(
    cfg: &Arc<Config>,
    store: &Store,
    intake: &crate::intake::Intake,
    cap: usize,
    stopping: &watch::Sender<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let tls = cfg.mm7.tls.as_ref().map(crate::tls::acceptor).transpose().context("mm7.tls")?;
    let accounts = Arc::new(crate::mm7::Accounts::new(&cfg.mm7)?);
    let socket = tokio::net::TcpListener::bind(cfg.mm7.listen)
        .await
        .with_context(|| format!("listening on {} (MM7)", cfg.mm7.listen))?;
    tracing::info!(listen = %socket.local_addr()?, https = tls.is_some(), vasps = cfg.mm7.vasps.len(), "MM7 ready");
    let app = crate::mm7::router(crate::mm7::Mm7 {
        store: store.clone(),
        intake: intake.clone(),
        cfg: cfg.clone(),
        accounts,
        checks: Arc::new(tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))),
    });
    let meters = Meters {
        open: metrics::gauge!("tern_mm7_connections"),
        shed: metrics::counter!("tern_mm7_connections_shed_total"),
        refused: metrics::counter!("tern_mm7_connections_refused_total"),
    };
    let limits = limits(cfg, "mm7", meters);
    let mut stop = stopping.subscribe();
    Ok(tokio::spawn(async move {
        let stop = async move {
            let _ = stop.changed().await;
        };
        http::serve(socket, app, &limits, cap, tls, None, stop).await;
    }))
}

/// Starts the bearers and the delivery worker on a thread of their own, with a single-threaded
/// runtime, and returns once the bearers are up, with a view of the SMPP links for the admin
/// endpoint; the receiver resolves when delivery has stopped (after `stopped` turns true) and
/// the SMPP links have unbound.
///
/// On one thread a push goes from the worker to the SMPP session and back to the recorder
/// without waking another thread: on a small machine those wake-ups cost more than the work,
/// and with a small window they set the pace of the link. It also keeps MM1 traffic from
/// delaying an SMSC's next submit_sm.
async fn start_delivery(
    store: Store,
    cfg: Arc<Config>,
    receipts: tokio::sync::mpsc::UnboundedSender<crate::push::Receipt>,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<(oneshot::Receiver<()>, LinkStates)> {
    let (started, starting) = oneshot::channel::<anyhow::Result<LinkStates>>();
    let (finished, done) = oneshot::channel();
    let run = move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = started.send(Err(anyhow::Error::new(e).context("starting the delivery runtime")));
                return;
            }
        };
        runtime.block_on(async move {
            let bearer = match Bearers::from_config(&cfg.push, receipts).await {
                Ok(bearer) => Arc::new(bearer),
                Err(e) => {
                    let _ = started.send(Err(anyhow::Error::new(e).context("starting the push bearer")));
                    return;
                }
            };
            let _ = started.send(Ok(bearer.link_states()));
            delivery::worker(store, bearer.clone(), cfg, stopped).await;
            bearer.stop().await;
        });
        let _ = finished.send(());
    };
    std::thread::Builder::new().name("tern-delivery".into()).spawn(run).context("starting the delivery thread")?;
    let links = starting.await.context("the delivery thread ended while starting")??;
    Ok((done, links))
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed now, before anything listens: a
/// signal that came before them (a service manager stopping the relay as soon as its port
/// opened) would end the process at once, without its orderly shutdown.
fn signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
