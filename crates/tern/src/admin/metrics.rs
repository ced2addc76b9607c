//! The metrics recorder and the list of every series Tern emits. Each series is described and
//! registered at start with the label sets known then (every Response-Status, every push
//! outcome, every SMPP link in use), so that the first scrape shows them all at zero rather than
//! an empty page, and a series appears before its first event. A test keeps the list in step with
//! the `counter!`/`gauge!`/`histogram!` calls in the source.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tern_codec::mms::ResponseStatus;

use crate::core::protection::{Action, CHECKS, Interface};
use crate::push::smpp::LinkStates;

/// Installs the process-wide metrics recorder; what it records is rendered by `/metrics`.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    Ok(PrometheusBuilder::new().install_recorder()?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// Which label sets a series has at start.
#[derive(Debug, Clone, Copy)]
enum Labels {
    /// `status`: `ok` or a Response-Status name, as MM1 answers m-send.req.
    Status,
    /// `outcome`: what became of a push handed to a bearer.
    Outcome,
    /// `type`: an MM4 message type.
    Mm4Type,
    /// `outcome`: how an outbound send ended.
    OutboundOutcome,
    /// `outcome`: how an ENUM lookup ended.
    EnumOutcome,
    /// `answer`: the MM7 operation or Fault the endpoint answered with.
    Mm7Answer,
    /// `outcome`: an EAIF submission taken or refused.
    EaifOutcome,
    /// `interface`, `check` and `action` of a protection decision.
    Protection,
    /// `outcome`: how an administrator's notification ended.
    NotifyOutcome,
    /// `link`: each SMPP link in use.
    Link,
    /// No labels: one series.
    None,
}

struct Series {
    name: &'static str,
    kind: Kind,
    labels: Labels,
    help: &'static str,
}

const SERIES: [Series; 27] = [
    Series {
        name: "tern_mm1_submissions_total",
        kind: Kind::Counter,
        labels: Labels::Status,
        help: "m-send.req answered, by Response-Status",
    },
    Series {
        name: "tern_pushes_total",
        kind: Kind::Counter,
        labels: Labels::Outcome,
        help: "Pushes handed to a bearer: sent, waiting for a bearer, or failed",
    },
    Series { name: "tern_smpp_bound", kind: Kind::Gauge, labels: Labels::Link, help: "1 while the SMPP link is bound" },
    Series {
        name: "tern_smpp_window_in_use",
        kind: Kind::Gauge,
        labels: Labels::Link,
        help: "submit_sm awaiting their response",
    },
    Series { name: "tern_smpp_submitted_total", kind: Kind::Counter, labels: Labels::Link, help: "submit_sm sent" },
    Series {
        name: "tern_smpp_acknowledged_total",
        kind: Kind::Counter,
        labels: Labels::Link,
        help: "submit_sm_resp with status 0",
    },
    Series {
        name: "tern_smpp_throttled_total",
        kind: Kind::Counter,
        labels: Labels::Link,
        help: "ESME_RTHROTTLED or ESME_RMSGQFUL answers",
    },
    Series {
        name: "tern_smpp_timed_out_total",
        kind: Kind::Counter,
        labels: Labels::Link,
        help: "submit_sm sent again after no response in time",
    },
    Series {
        name: "tern_smpp_failed_total",
        kind: Kind::Counter,
        labels: Labels::Link,
        help: "submit_sm refused, nacked, timed out after the resends, or lost with their link",
    },
    Series {
        name: "tern_smpp_deliver_sm_total",
        kind: Kind::Counter,
        labels: Labels::Link,
        help: "deliver_sm received (receipts and mobile-originated messages)",
    },
    Series { name: "tern_mm1_connections", kind: Kind::Gauge, labels: Labels::None, help: "MM1 connections open" },
    Series {
        name: "tern_mm1_connections_shed_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "Idle MM1 connections closed to make room at the connection cap",
    },
    Series {
        name: "tern_mm1_connections_refused_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "MM1 connections answered 503 because no slot came free at the cap",
    },
    Series {
        name: "tern_mm1_octets_sent_from_files_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "Octets of stored bodies the kernel sent to MM1 clients straight from the store's files",
    },
    Series {
        name: "tern_store_damaged_bodies_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "Stored bodies that failed their length or checksum check when read, and were not served",
    },
    Series {
        name: "tern_enum_lookups_total",
        kind: Kind::Counter,
        labels: Labels::EnumOutcome,
        help: "ENUM lookups of numbers: answered (hit), no relay named (miss), timed out, failed, or served from the cache",
    },
    Series {
        name: "tern_mm4_received_total",
        kind: Kind::Counter,
        labels: Labels::Mm4Type,
        help: "MM4 mail taken from peers, by X-Mms-Message-Type",
    },
    Series {
        name: "tern_mm3_received_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "E-mail taken for subscribers",
    },
    Series {
        name: "tern_outbound_total",
        kind: Kind::Counter,
        labels: Labels::OutboundOutcome,
        help: "MM4, MM3 and MM7 sends: taken by the next hop, to be retried, or refused for good",
    },
    Series {
        name: "tern_mm7_connections",
        kind: Kind::Gauge,
        labels: Labels::None,
        help: "MM7 and EAIF connections open",
    },
    Series {
        name: "tern_mm7_connections_shed_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "Idle MM7 connections closed at the connection cap",
    },
    Series {
        name: "tern_mm7_connections_refused_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "MM7 connections refused with 503 at the cap",
    },
    Series {
        name: "tern_mm7_requests_total",
        kind: Kind::Counter,
        labels: Labels::Mm7Answer,
        help: "MM7 requests from VASPs, by the answer given",
    },
    Series {
        name: "tern_mm7_submitted_total",
        kind: Kind::Counter,
        labels: Labels::None,
        help: "Messages from VASPs (MM7 and EAIF) stored",
    },
    Series {
        name: "tern_eaif_submissions_total",
        kind: Kind::Counter,
        labels: Labels::EaifOutcome,
        help: "EAIF submissions, taken or refused",
    },
    Series {
        name: "tern_protection_decisions_total",
        kind: Kind::Counter,
        labels: Labels::Protection,
        help: "What the protection profiles found, by interface, check and action taken",
    },
    Series {
        name: "tern_protection_notifications_total",
        kind: Kind::Counter,
        labels: Labels::NotifyOutcome,
        help: "Administrator notifications of protection decisions: sent, failed, or logged only",
    },
];

/// The actions `tern_protection_decisions_total` counts besides the profiles' own: an
/// endpoint's exemptions, and a scanner that could not answer letting the message through or
/// refusing it for now.
const PROTECTION_OTHER_ACTIONS: [&str; 4] = ["exempt", "exempt-flood", "fail-open", "fail-closed"];

/// The outcomes `tern_protection_notifications_total` counts (see `protect::notify`).
const NOTIFY_OUTCOMES: [&str; 3] = ["sent", "failed", "logged"];

/// The answers `tern_mm7_requests_total` counts (see `mm7::server`).
const MM7_ANSWERS: [&str; 5] = ["SubmitRsp", "CancelRsp", "ReplaceRsp", "RSErrorRsp", "Fault"];

/// The outcomes `tern_eaif_submissions_total` counts.
const EAIF_OUTCOMES: [&str; 2] = ["taken", "refused"];

/// The `status` of a submission whose body could not be read (see `mm1::answer`).
const UNREAD_BODIES: [&str; 4] = ["body-malformed", "body-aborted", "body-timeout", "busy"];

/// The outcomes `tern_pushes_total` counts (see the delivery worker).
const PUSH_OUTCOMES: [&str; 3] = ["sent", "waiting", "failed"];

/// The MM4 types `tern_mm4_received_total` counts.
const MM4_TYPES: [&str; 6] = [
    "MM4_forward.REQ",
    "MM4_forward.RES",
    "MM4_delivery_report.REQ",
    "MM4_delivery_report.RES",
    "MM4_read_reply_report.REQ",
    "MM4_read_reply_report.RES",
];

/// The outcomes `tern_outbound_total` counts (see the outbound worker).
const OUTBOUND_OUTCOMES: [&str; 3] = ["sent", "retry", "refused"];

/// The outcomes `tern_enum_lookups_total` counts (see `routing::enum_lookup`).
const ENUM_OUTCOMES: [&str; 5] = ["hit", "miss", "timeout", "error", "cached"];

/// Describes every series and registers it, at zero, for each label set known at start. A
/// series already counting (a link that bound first) keeps its value.
pub fn register(links: &LinkStates) {
    // Besides the Response-Status names, what a request whose body could not be read ended as.
    let statuses: Vec<&str> =
        (0x80..=0xFF).filter_map(|octet| ResponseStatus(octet).name()).chain(UNREAD_BODIES).collect();
    for series in &SERIES {
        let label_sets: Vec<Vec<(&str, String)>> = match series.labels {
            Labels::Status => statuses.iter().map(|v| vec![("status", (*v).to_owned())]).collect(),
            Labels::Outcome => PUSH_OUTCOMES.iter().map(|v| vec![("outcome", (*v).to_owned())]).collect(),
            Labels::Mm4Type => MM4_TYPES.iter().map(|v| vec![("type", (*v).to_owned())]).collect(),
            Labels::OutboundOutcome => OUTBOUND_OUTCOMES.iter().map(|v| vec![("outcome", (*v).to_owned())]).collect(),
            Labels::EnumOutcome => ENUM_OUTCOMES.iter().map(|v| vec![("outcome", (*v).to_owned())]).collect(),
            Labels::NotifyOutcome => NOTIFY_OUTCOMES.iter().map(|v| vec![("outcome", (*v).to_owned())]).collect(),
            Labels::Mm7Answer => MM7_ANSWERS.iter().map(|v| vec![("answer", (*v).to_owned())]).collect(),
            Labels::EaifOutcome => EAIF_OUTCOMES.iter().map(|v| vec![("outcome", (*v).to_owned())]).collect(),
            Labels::Protection => Interface::ALL
                .iter()
                .flat_map(|i| CHECKS.iter().map(move |c| (i, c)))
                .flat_map(|(i, c)| {
                    Action::ALL.iter().map(|a| a.name()).chain(PROTECTION_OTHER_ACTIONS).map(move |a| (i, c, a))
                })
                .map(|(i, c, a)| {
                    vec![("interface", i.name().to_owned()), ("check", (*c).to_owned()), ("action", a.to_owned())]
                })
                .collect(),
            Labels::Link => links.names().map(|v| vec![("link", v.to_owned())]).collect(),
            Labels::None => vec![Vec::new()],
        };
        match series.kind {
            Kind::Counter => metrics::describe_counter!(series.name, series.help),
            Kind::Gauge => metrics::describe_gauge!(series.name, series.help),
        }
        for labels in label_sets {
            // Looking a series up registers it.
            match series.kind {
                Kind::Counter => drop(metrics::counter!(series.name, &labels)),
                Kind::Gauge => drop(metrics::gauge!(series.name, &labels)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every literal series name passed to a metrics macro under `src/`, with its kind.
    fn emitted() -> Vec<(String, String, Option<Kind>)> {
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (macro_name, kind) in
                    [("counter!(\"", Some(Kind::Counter)), ("gauge!(\"", Some(Kind::Gauge)), ("histogram!(\"", None)]
                {
                    for (at, _) in text.match_indices(macro_name) {
                        let rest = &text[at + macro_name.len()..];
                        let name = &rest[..rest.find('"').unwrap()];
                        // A histogram (`None`) matches no entry until the list has a kind for it.
                        found.push((path.display().to_string(), name.to_owned(), kind));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_series_the_source_emits_is_registered_at_start() {
        let emitted = emitted();
        assert!(emitted.len() >= SERIES.len(), "the source scan found too little: {emitted:?}");
        for (file, name, kind) in &emitted {
            assert!(
                SERIES.iter().any(|s| s.name == name && Some(s.kind) == *kind),
                "{file} emits {name} ({kind:?}), which admin::metrics::SERIES does not list: add it, with its \
                 label sets known at start"
            );
        }
        for series in &SERIES {
            assert!(emitted.iter().any(|(_, name, _)| name == series.name), "{} is emitted nowhere", series.name);
        }
    }

    #[test]
    fn registered_series_render_at_zero() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || register(&LinkStates::default()));
        let text = handle.render();
        assert!(text.contains("tern_mm1_submissions_total{status=\"ok\"} 0"), "{text}");
        assert!(text.contains("tern_mm1_submissions_total{status=\"error-permanent-lack-of-prepaid\"} 0"), "{text}");
        for outcome in PUSH_OUTCOMES {
            assert!(text.contains(&format!("tern_pushes_total{{outcome=\"{outcome}\"}} 0")), "{text}");
        }
        for outcome in ENUM_OUTCOMES {
            assert!(text.contains(&format!("tern_enum_lookups_total{{outcome=\"{outcome}\"}} 0")), "{text}");
        }
        assert!(text.contains("# HELP tern_pushes_total "), "{text}");
        assert!(!text.contains("tern_smpp_"), "no link, no link series: {text}");
    }
}
