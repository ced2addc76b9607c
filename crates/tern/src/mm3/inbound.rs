//! MM3 in: a mail to a subscriber's address (`+number@<mms domain>`) becomes an MMS for that
//! subscriber, with the mail's sender as its From. The mail is stored as received; the handset
//! gets its text and attachments with a generated presentation when it fetches it.

use std::net::IpAddr;

use crate::config::Config;
use crate::core::accept::Submission;
use crate::core::address;
use crate::core::envelope::{BodyFormat, Field, Origin};
use crate::core::policy::{Refusal, RefusalKind};
use crate::intake::Intake;
use crate::smtp::Reply;

use super::wire::{self, Mm3Error};

/// Takes one mail for the subscribers `rcpts` (RCPT TO, accepted already as this relay's).
pub async fn take(intake: &Intake, cfg: &Config, client: IpAddr, rcpts: &[String], mail: Vec<u8>) -> Reply {
    let inbound = match wire::parse_mail(&mail, cfg.mm3.max_message_size) {
        Ok(inbound) => inbound,
        Err(e @ Mm3Error::TooLarge { .. }) => return Reply::new(552, [5, 3, 4], e.to_string()),
        Err(e) => return Reply::new(554, [5, 6, 0], e.to_string()),
    };
    let originator = match address::normalize(&inbound.from, &cfg.subscribers) {
        Ok(n) => n,
        Err(e) => return Reply::new(553, [5, 1, 7], format!("sender {e}")),
    };
    metrics::counter!("tern_mm3_received_total").increment(1);
    let sub = Submission {
        recipients: rcpts.iter().map(|r| (Field::To, subscriber(r))).collect(),
        subject: inbound.subject,
        date: inbound.date,
        client: Some(client),
        ..Submission::new(Origin::Mm3, originator, inbound.content.media_type, BodyFormat::Mime, mail.into())
    };
    match intake.submit(sub).await {
        Ok(accepted) => Reply::ok(format!("taken as {}", accepted.message_id)),
        Err(Refusal { kind: RefusalKind::Transient, text }) => Reply::new(451, [4, 3, 0], text),
        Err(refusal) => Reply::new(550, [5, 7, 1], refusal.text),
    }
}

/// The subscriber a mail address names: its local part (`+15550100002`, `15550100002`).
pub fn subscriber(address: &str) -> String {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    address.rsplit_once('@').map_or(address, |(local, _)| local).to_owned()
}
