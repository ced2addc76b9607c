//! The upgrade of messages stored by releases before schema 5, which kept MM1 wire fragments
//! (the encoded m-retrieve.conf fields) instead of the neutral envelope: each such message gets
//! its envelope from those fields, its recipients and its body's Content-Type, once, inside
//! the migration's transaction.

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use tern_codec::mms::{self, Message, Pdu};
use tern_codec::wsp::{ContentType, Reader};

use super::payloads::{self, Location};
use super::{Result, StoreError, format_name};
use crate::core::envelope::{BodyFormat, Class, Destination, Envelope, Field, Origin, Priority, Recipient};

/// Gives every message without an envelope one built from its stored MM1 fields.
pub async fn envelopes(conn: &mut SqliteConnection, payloads: &Path) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT id, message_id, sender, date, expires_at, deliver_after, delivery_report, read_report, retrieve, \
         segment, body_offset, body_length, body_crc FROM messages WHERE envelope IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut done = 0;
    for row in &rows {
        let id: i64 = row.try_get(0)?;
        let recipients =
            sqlx::query("SELECT address, route, status_text FROM recipients WHERE message = ? ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        let listed: Vec<(String, String, Option<String>)> =
            recipients.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect::<Result<_>>()?;
        let mut retrieve = vec![0x8C, 0x84];
        retrieve.extend_from_slice(&row.try_get::<Vec<u8>, _>(8)?);
        let Ok(Pdu::RetrieveConf(conf)) = Message::decode(&retrieve).map(|m| m.pdu) else {
            return Err(StoreError::Schema(format!("message {id}: its stored MM1 fields do not decode")));
        };
        let at = Location {
            segment: row.try_get(9)?,
            offset: u64::try_from(row.try_get::<i64, _>(10)?).unwrap_or(0),
            length: u64::try_from(row.try_get::<i64, _>(11)?).unwrap_or(0),
            crc: row.try_get::<Option<i64>, _>(12)?.map(|c| c as u32),
        };
        // A body that cannot be read now is still kept: its retrieval answers that it is
        // damaged, as it would have before the upgrade.
        let content_type = payloads::read(payloads, at)
            .ok()
            .and_then(|body| ContentType::decode(&mut Reader::new(&body)).ok())
            .map_or_else(|| "application/vnd.wap.multipart.mixed".to_owned(), |ct| ct.media_type);
        let bare = |a: &mms::Address| {
            let t = a.text();
            t.to_ascii_lowercase().rfind("/type=").map_or(t, |at| &t[..at]).to_owned()
        };
        let to: Vec<String> = conf.to.iter().map(bare).collect();
        let cc: Vec<String> = conf.cc.iter().map(bare).collect();
        let envelope = Envelope {
            message_id: row.try_get(1)?,
            originator: row.try_get(2)?,
            recipients: listed
                .into_iter()
                .map(|(address, route, status)| Recipient {
                    field: if to.contains(&address) {
                        Field::To
                    } else if cc.contains(&address) {
                        Field::Cc
                    } else {
                        Field::Bcc
                    },
                    destination: if route == "local" {
                        Destination::Local
                    } else {
                        Destination::NoRoute { reason: status.unwrap_or_default() }
                    },
                    address,
                })
                .collect(),
            subject: conf.subject.map(|s| s.text),
            class: conf.message_class.map(|c| match c {
                mms::MessageClass::Personal => Class::Personal,
                mms::MessageClass::Advertisement => Class::Advertisement,
                mms::MessageClass::Informational => Class::Informational,
                mms::MessageClass::Auto => Class::Auto,
                mms::MessageClass::Other(s) => Class::Other(s),
            }),
            priority: conf.priority.and_then(|p| match p {
                mms::Priority::LOW => Some(Priority::Low),
                mms::Priority::NORMAL => Some(Priority::Normal),
                mms::Priority::HIGH => Some(Priority::High),
                _ => None,
            }),
            date: row.try_get(3)?,
            expires_at: row.try_get(4)?,
            deliver_after: row.try_get(5)?,
            delivery_report: row.try_get(6)?,
            read_report: row.try_get(7)?,
            sender_visible: conf.from.is_some(),
            content_type,
            forwarded_from: conf.previously_sent_by.first().map(|p| bare(&p.address)),
            applic_id: conf.applic_id,
            reply_applic_id: conf.reply_applic_id,
            aux_applic_info: conf.aux_applic_info,
            content_class: conf.content_class.and_then(|c| c.name()).map(str::to_owned),
            drm: conf.drm_content == Some(true),
            no_distribution: conf.distribution_indicator == Some(false),
            origin: Origin::Mm1,
        };
        let json = serde_json::to_string(&envelope).map_err(std::io::Error::other)?;
        sqlx::query("UPDATE messages SET envelope = ?, body_format = ? WHERE id = ?")
            .bind(json)
            .bind(format_name(BodyFormat::Wsp))
            .bind(id)
            .execute(&mut *conn)
            .await?;
        done += 1;
    }
    Ok(done)
}
