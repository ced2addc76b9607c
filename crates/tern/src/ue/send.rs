//! `tern ue send`: composes an m-send.req as a handset does and POSTs it to the relay, with the
//! sender's number in the header an operator's proxy adds; shows the m-send.conf. Fails (exit
//! status 1) unless the relay answers Ok.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;
use tern_codec::mms::{Message, Pdu, ResponseStatus, SendConf};

use super::client::Client;
use super::compose::{self, Attachment, Draft};
use super::output::Output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The relay's MM1 URL, where the m-send.req is POSTed.
    #[arg(long, value_name = "URL")]
    relay: String,
    /// The sender's number, sent in the MSISDN header (the relay fills in the From field).
    #[arg(long, value_name = "NUMBER")]
    from: Option<String>,
    /// Put --from in the From field too, instead of the insert-address token.
    #[arg(long, requires = "from")]
    explicit_from: bool,
    /// A recipient (a phone number, an e-mail address or a short code); repeatable.
    #[arg(long, value_name = "ADDRESS")]
    to: Vec<String>,
    /// A Cc recipient; repeatable.
    #[arg(long, value_name = "ADDRESS")]
    cc: Vec<String>,
    /// A Bcc recipient; repeatable.
    #[arg(long, value_name = "ADDRESS")]
    bcc: Vec<String>,
    #[arg(long)]
    subject: Option<String>,
    /// The message text (a text/plain part in UTF-8).
    #[arg(long)]
    text: Option<String>,
    /// A file to attach, typed by its extension; repeatable.
    #[arg(long = "attach", value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Ask for a delivery report (m-delivery.ind pushed back to the sender).
    #[arg(long)]
    delivery_report: bool,
    /// Ask for a read report (m-read-orig.ind pushed back to the sender).
    #[arg(long)]
    read_report: bool,
    #[command(flatten)]
    common: super::Common,
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let out = Output::new(args.common.json);
    let mut attachments = Vec::with_capacity(args.attach.len());
    for file in &args.attach {
        let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        attachments.push(Attachment { name, data });
    }
    let draft = Draft {
        transaction_id: crate::core::ids::transaction_id(),
        version: args.common.mms_version.version(),
        from: args.from.clone().filter(|_| args.explicit_from),
        to: args.to.clone(),
        cc: args.cc.clone(),
        bcc: args.bcc.clone(),
        subject: args.subject.clone(),
        text: args.text.clone(),
        attachments,
        delivery_report: args.delivery_report,
        read_report: args.read_report,
    };
    let message = compose::send_req(&draft)?;
    let client = Client::new(&args.common.msisdn_header, args.from.as_deref())?;
    submit(&out, &client, &args.relay, &message).await.map(drop)
}

/// POSTs `message` to the relay at `url`, showing both sides; the m-send.conf if it says Ok.
pub async fn submit(out: &Output, client: &Client, url: &str, message: &Message<'_>) -> anyhow::Result<SendConf> {
    let headline = format!("POST {url} {}", message.pdu.message_type());
    out.pdu("request", headline, json!({ "method": "POST", "url": url }), message);
    let answer = client.post(url, message.encode()).await.with_context(|| format!("POST {url}"))?;
    match out.answer(url, &answer).map(|m| m.pdu) {
        Some(Pdu::SendConf(conf)) if conf.response_status == Some(ResponseStatus::OK) => Ok(conf),
        Some(Pdu::SendConf(conf)) => {
            let status = conf.response_status.map_or_else(|| "no Response-Status".to_owned(), |s| s.to_string());
            let text = conf.response_text.map_or_else(String::new, |t| format!(": {}", t.text));
            bail!("the relay did not accept the message: {status}{text}")
        }
        Some(other) => bail!("the relay answered with an {}, not an m-send-conf", other.message_type()),
        None => bail!("the relay answered HTTP {} without an MMS PDU", answer.status),
    }
}
