//! `tern demo`: the whole MM1 flow on one machine, in one command. An MMSC runs in-process on
//! embedded defaults (a scratch data directory, loopback ports), with its `udp` bearer pushing
//! to two simulated handsets; Alice sends Bob a picture message asking for a delivery report,
//! Bob's handset is notified, retrieves the message and answers, and the delivery report is
//! pushed back to Alice. Every step is printed as `tern ue` prints it; the exit status says
//! whether the flow completed.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use tern_codec::mms::{Message, Pdu, Status, Version};

use crate::config::{Bearer, Config};
use crate::ue::client::Client;
use crate::ue::compose::{self, Attachment, Draft};
use crate::ue::inputs::{Incoming, Source};
use crate::ue::origin::Origin;
use crate::ue::output::Output;
use crate::ue::policy::Policy;
use crate::ue::receive::{Handset, Setup};

const ALICE: &str = "+15550100001";
const BOB: &str = "+15550100002";
/// A small picture of a tern over the sea, so the message has an image part a phone can show.
const PICTURE: &[u8] = include_bytes!("../../../samples/tern.png");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the relay's data and the parts Bob saved in DIR (created if missing); otherwise
    /// a scratch directory is used and removed at the end.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Print one JSON object a step instead of text.
    #[arg(long)]
    json: bool,
    /// Give up on a step after SECS seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    timeout: u64,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    crate::logging::init("warn")?;
    let (dir, scratch) = match &args.keep {
        Some(dir) => (dir.clone(), false),
        None => (std::env::temp_dir().join(format!("tern-demo-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(demo(args, &dir));
    drop(runtime);
    if scratch {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// A loopback TCP port free right now, for the relay to listen on.
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A simulated phone: its number, and the UDP socket the relay pushes to.
struct Phone {
    msisdn: &'static str,
    addr: SocketAddr,
    pushes: Source,
}

impl Phone {
    async fn listen(msisdn: &'static str) -> anyhow::Result<Phone> {
        let pushes = Source::listen(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = pushes.local_addr().ok_or_else(|| anyhow!("no local address"))?;
        Ok(Phone { msisdn, addr, pushes })
    }

    /// Waits for the next push, hands it to `handset` (which shows it and acts on it) and
    /// returns the MMS PDU it carried.
    async fn next_push(&mut self, handset: &mut Handset, timeout: Duration) -> anyhow::Result<Message<'static>> {
        let next = tokio::time::timeout(timeout, self.pushes.next())
            .await
            .map_err(|_| anyhow!("nothing was pushed to {} within {} s", self.msisdn, timeout.as_secs()))?;
        match next? {
            Some(Incoming::Push { source, decoded }) => {
                handset.push(&source, &decoded).await;
                decoded.mms.ok_or_else(|| anyhow!("the push to {} carried no MMS PDU", self.msisdn))
            }
            Some(Incoming::Garbage { error, .. }) => bail!("{} got something that is not a push: {error}", self.msisdn),
            None => bail!("the socket of {} closed", self.msisdn),
        }
    }

    /// This phone's user agent, with `relay` as its home relay.
    fn handset(&self, out: Output, relay: &str, save: Option<PathBuf>) -> anyhow::Result<Handset> {
        Handset::new(Setup {
            out,
            msisdn_header: crate::ue::default_msisdn_header(),
            msisdn: Some(self.msisdn.to_owned()),
            policy: Policy::new(Some(Origin::of(relay)?), Vec::new(), Vec::new(), None, false)?,
            held: None,
            save,
            read_report: false,
            version: Version::V1_2,
            mm1_path: "/mms".to_owned(),
        })
    }
}

async fn demo(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout);
    let mut alice = Phone::listen(ALICE).await?;
    let mut bob = Phone::listen(BOB).await?;
    let mm1 = free_port()?;
    let mut cfg = Config::default();
    cfg.mm1.listen = mm1;
    cfg.mm1.public_base_url = format!("http://{mm1}");
    cfg.admin.listen = free_port()?;
    cfg.store.data_dir = dir.join("relay");
    cfg.push.bearer = Bearer::Udp;
    cfg.push.udp_clients = [(ALICE.to_owned(), alice.addr), (BOB.to_owned(), bob.addr)].into();
    let relay = format!("http://{mm1}/mms");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve::serve(Arc::new(cfg.clone()), async {
        let _ = stopped.await;
    }));
    wait_listening(mm1, timeout).await?;

    let out = Output::new(args.json);
    let inbox = dir.join("bob-inbox");
    out.step(
        "start",
        format!(
            "An MMSC on embedded defaults: MM1 at {relay}, store in {}. Pushes go as WDP over UDP \
             to Alice ({ALICE}) at udp {} and to Bob ({BOB}) at udp {}.",
            cfg.store.data_dir.display(),
            alice.addr,
            bob.addr
        ),
        json!({ "relay": relay, "data_dir": cfg.store.data_dir.display().to_string(),
                "alice": { "msisdn": ALICE, "udp": alice.addr.to_string() },
                "bob": { "msisdn": BOB, "udp": bob.addr.to_string() } }),
    );
    let flow = async {
        scene(&out, 1, "Alice sends Bob a picture message and asks for a delivery report.");
        let draft = Draft {
            transaction_id: crate::core::ids::transaction_id(),
            version: Version::V1_2,
            from: None,
            to: vec![BOB.to_owned()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: Some("A tern".to_owned()),
            text: Some("Look what flew past the pier!".to_owned()),
            attachments: vec![Attachment { name: "tern.png".to_owned(), data: PICTURE.to_vec() }],
            delivery_report: true,
            read_report: false,
        };
        let client = Client::new(&crate::ue::default_msisdn_header(), Some(ALICE))?;
        let conf = crate::ue::send::submit(&out, &client, &relay, &compose::send_req(&draft)?).await?;
        let message_id = conf.message_id.ok_or_else(|| anyhow!("the m-send.conf has no Message-ID"))?;

        scene(&out, 2, "The relay notifies Bob's phone, which fetches the message and answers the relay.");
        let mut bob_handset = bob.handset(out, &relay, Some(inbox.clone()))?;
        let notification = bob.next_push(&mut bob_handset, timeout).await?;
        if !matches!(notification.pdu, Pdu::NotificationInd(_)) {
            bail!("Bob's phone got an {}, not an m-notification.ind", notification.pdu.message_type());
        }
        let picture = std::fs::read(inbox.join(&message_id).join("tern.png"))
            .with_context(|| format!("Bob's phone did not save the picture of message {message_id}"))?;
        if picture != PICTURE {
            bail!("the picture Bob's phone saved is not the one Alice sent");
        }

        scene(&out, 3, "The relay pushes a delivery report back to Alice's phone.");
        let mut alice_handset = alice.handset(out, &relay, None)?;
        let report = alice.next_push(&mut alice_handset, timeout).await?;
        match report.pdu {
            Pdu::DeliveryInd(r)
                if r.status == Some(Status::RETRIEVED) && r.message_id.as_deref() == Some(&message_id) =>
            {
                Ok(())
            }
            Pdu::DeliveryInd(r) => bail!("the delivery report says {:?} for {:?}", r.status, r.message_id),
            other => bail!("Alice's phone got an {}, not an m-delivery.ind", other.message_type()),
        }
    };
    let result = flow.await;
    let _ = stop.send(());
    server.await.context("the relay")??;
    if result.is_ok() {
        out.step(
            "done",
            "Done: the picture went from Alice through the MMSC to Bob, and the delivery report came back.",
            json!({ "ok": true }),
        );
    }
    result
}

fn scene(out: &Output, n: u32, what: &str) {
    out.step("scene", format!("\n=== {n}. {what}"), json!({ "scene": n, "what": what }));
}

/// Waits until the relay accepts connections on `addr`.
async fn wait_listening(addr: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if tokio::time::Instant::now() >= deadline {
            bail!("the relay did not start listening on {addr}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
