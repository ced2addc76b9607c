//! A SubmitReq from a VASP as a neutral submission, and the intake's refusal as an MM7 status:
//! the VASP's own identity and addresses are checked here, routing and storage are the core's.

use crate::config::Vasp;
use crate::core::accept::{Submission, When};
use crate::core::address::{self, Normalized};
use crate::core::envelope::{BodyFormat, Class, Field, Origin, Priority};
use crate::core::policy::{Refusal, RefusalKind};
use crate::core::settings::SubscribersConfig;

use super::soap::{self, Attachment, RecipientField, Status, StatusCode, SubmitReq};

/// A status with its own text.
pub fn status(code: StatusCode, text: impl Into<String>) -> Status {
    Status { code, text: Some(text.into()), details: None }
}

/// The submission `req` from `vasp` makes, with `content` as its body (stored exactly as sent),
/// or the status that refuses it.
pub fn submission(
    vasp: &Vasp,
    req: &SubmitReq,
    content: &Attachment,
    subs: &SubscribersConfig,
) -> Result<Submission, Status> {
    let sender = &req.sender;
    if sender.vasp_id.as_deref().is_some_and(|id| id != vasp.vasp_id) {
        return Err(status(StatusCode::IMPROPER_IDENTIFICATION, "VASPID is not this account's"));
    }
    if let Some(vas) = &sender.vas_id
        && !vasp.vas_ids.is_empty()
        && !vasp.vas_ids.contains(vas)
    {
        return Err(status(StatusCode::IMPROPER_IDENTIFICATION, format!("VASID {vas} is not this account's")));
    }
    let originator = originator(vasp, sender.address.as_ref(), subs)?;
    let mut recipients = Vec::new();
    let mut listed = Vec::new();
    for r in &req.recipients {
        let field = match r.field {
            RecipientField::To => Field::To,
            RecipientField::Cc => Field::Cc,
            RecipientField::Bcc => Field::Bcc,
        };
        let entry = (field, r.address.value().to_owned());
        if r.display_only { listed.push(entry) } else { recipients.push(entry) }
    }
    // Reports go back only to a VASP that takes them and has somewhere to receive them.
    let reports = vasp.reports && vasp.url.is_some();
    let origin = Origin::Mm7 {
        vasp: vasp.name.clone(),
        vas_id: sender.vas_id.clone(),
        service_code: req.service_code.clone(),
        linked_id: req.linked_id.clone(),
    };
    let format = BodyFormat::Mime;
    let media_type = content.content.media_type.clone();
    Ok(Submission {
        recipients,
        listed,
        subject: req.subject.clone(),
        class: req.message_class.as_deref().map(Class::from_token),
        priority: req.priority.map(priority),
        expiry: req.expiry.and_then(|t| u64::try_from(t).ok()).map(When::Absolute),
        delivery_time: req.earliest_delivery.and_then(|t| u64::try_from(t).ok()).map(When::Absolute),
        delivery_report: reports && req.delivery_report.unwrap_or(false),
        read_report: reports && req.read_reply.unwrap_or(false),
        applic_id: req.applic_id.clone(),
        reply_applic_id: req.reply_applic_id.clone(),
        aux_applic_info: req.aux_applic_info.clone(),
        content_class: req.content_class.clone(),
        drm: req.drm_content.unwrap_or(false),
        no_distribution: req.distribution_indicator == Some(false),
        date: req.time_stamp,
        ..Submission::new(origin, originator, media_type, format, content.entity.clone().into())
    })
}

/// The sender: the SenderAddress when it is one of the VASP's, else its first short code or
/// address; a VASP with neither must name one.
pub(super) fn originator(
    vasp: &Vasp,
    given: Option<&soap::Address>,
    subs: &SubscribersConfig,
) -> Result<Normalized, Status> {
    let raw = match given {
        Some(a) => a.value().to_owned(),
        None => vasp.short_codes.iter().chain(&vasp.senders).next().cloned().ok_or_else(|| {
            status(StatusCode::ADDRESS_ERROR, "no SenderAddress, and the account has no short code or sender address")
        })?,
    };
    let n =
        address::normalize(&raw, subs).map_err(|e| status(StatusCode::ADDRESS_ERROR, format!("SenderAddress {e}")))?;
    if !vasp.may_send_as(&n.canonical) && !vasp.may_send_as(&raw) {
        return Err(status(
            StatusCode::OPERATION_RESTRICTED,
            format!("{raw} is not one of this account's sender addresses"),
        ));
    }
    Ok(n)
}

fn priority(p: soap::Priority) -> Priority {
    match p {
        soap::Priority::High => Priority::High,
        soap::Priority::Normal => Priority::Normal,
        soap::Priority::Low => Priority::Low,
    }
}

/// The MM7 status of a refusal by the intake.
pub fn refused(r: &Refusal) -> Status {
    let code = match r.kind {
        RefusalKind::ServiceDenied => StatusCode::SERVICE_DENIED,
        RefusalKind::AddressUnresolved => StatusCode::ADDRESS_ERROR,
        RefusalKind::FormatCorrupt => StatusCode::MESSAGE_FORMAT_CORRUPT,
        RefusalKind::ContentNotAccepted => StatusCode::CONTENT_REFUSED,
        RefusalKind::Unsupported => StatusCode::NOT_POSSIBLE,
        RefusalKind::Transient => StatusCode::SERVICE_UNAVAILABLE,
    };
    status(code, r.text.clone())
}
