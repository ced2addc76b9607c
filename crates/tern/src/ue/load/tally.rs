//! What a load run counts: answers by status, latencies as HDR histograms (microseconds, three
//! significant digits, so percentiles stay exact enough at any rate without keeping every
//! sample), and the summary printed at the end, for people or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies above an hour are recorded as an hour; no request lives that long.
const HIGHEST_US: u64 = 3_600_000_000;

#[derive(Debug)]
pub struct Latency(Histogram<u64>);

impl Latency {
    fn new() -> Latency {
        // The bounds are constants that hdrhistogram accepts (1 <= low, high >= 2 * low, 3 digits).
        Latency(Histogram::new_with_bounds(1, HIGHEST_US, 3).unwrap_or_else(|_| unreachable!("valid bounds")))
    }

    pub fn record(&mut self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(HIGHEST_US).clamp(1, HIGHEST_US);
        self.0.saturating_record(us);
    }

    fn count(&self) -> u64 {
        self.0.len()
    }

    /// (name, milliseconds) for p50, p90, p99 and max.
    fn percentiles(&self) -> [(&'static str, f64); 4] {
        let ms = |us: u64| us as f64 / 1000.0;
        [
            ("p50", ms(self.0.value_at_quantile(0.50))),
            ("p90", ms(self.0.value_at_quantile(0.90))),
            ("p99", ms(self.0.value_at_quantile(0.99))),
            ("max", ms(self.0.max())),
        ]
    }

    fn text(&self) -> String {
        if self.count() == 0 {
            return "no samples".to_owned();
        }
        self.percentiles().iter().map(|(name, ms)| format!("{name} {ms:.1}")).collect::<Vec<_>>().join("  ")
    }

    fn json(&self) -> Value {
        if self.count() == 0 {
            return Value::Null;
        }
        let mut o: serde_json::Map<String, Value> =
            self.percentiles().iter().map(|(name, ms)| (format!("{name}_ms"), json!(ms))).collect();
        o.insert("count".into(), json!(self.count()));
        Value::Object(o)
    }
}

/// Everything counted during a run.
#[derive(Debug)]
pub struct Tally {
    /// Submissions by outcome: `ok`, a Response-Status name, `HTTP <code>`, or a transport error.
    pub sends: BTreeMap<String, u64>,
    pub send_latency: Latency,
    /// Retrievals by outcome: `ok`, a Retrieve-Status name, `HTTP <code>`, or a transport error.
    pub retrievals: BTreeMap<String, u64>,
    /// From the start of a submission to the end of a recipient's retrieval of it.
    pub end_to_end: Latency,
    /// Notifications received, and other pushes (delivery reports).
    pub notifications: u64,
    pub reports: u64,
    /// Pushes that were not an MMS PDU a handset expects.
    pub garbage: u64,
    /// m-notifyresp.ind the relay did not take.
    pub notifyresp_errors: u64,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            sends: BTreeMap::new(),
            send_latency: Latency::new(),
            retrievals: BTreeMap::new(),
            end_to_end: Latency::new(),
            notifications: 0,
            reports: 0,
            garbage: 0,
            notifyresp_errors: 0,
        }
    }

    pub fn accepted(&self) -> u64 {
        self.sends.get(OK).copied().unwrap_or(0)
    }

    pub fn answered(&self) -> u64 {
        self.sends.values().sum()
    }

    pub fn retrieved(&self) -> u64 {
        self.retrievals.get(OK).copied().unwrap_or(0)
    }
}

pub const OK: &str = "ok";

/// The settings and timings a summary reports beside the tally.
#[derive(Debug)]
pub struct Run {
    pub relay: String,
    pub rate: f64,
    pub planned: u64,
    pub size: usize,
    pub recipients: usize,
    /// From the first submission to the last answer.
    pub send_phase: Duration,
    /// Retrievals expected: accepted submissions times recipients (when retrieving).
    pub expected_retrievals: Option<u64>,
}

fn counts_text(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

pub fn text(run: &Run, t: &Tally) -> String {
    let secs = run.send_phase.as_secs_f64();
    let achieved = if secs > 0.0 { t.answered() as f64 / secs } else { 0.0 };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "load: {} m-send.req of {} planned to {} in {secs:.1} s ({} recipient(s), {} octets of text each)",
        t.answered(),
        run.planned,
        run.relay,
        run.recipients,
        run.size
    );
    let _ = writeln!(out, "rate: asked {:.1}/s, achieved {achieved:.1}/s", run.rate);
    let _ = writeln!(out, "answers: {}", counts_text(&t.sends));
    let _ = writeln!(out, "send latency (ms): {}", t.send_latency.text());
    if let Some(expected) = run.expected_retrievals {
        let _ = writeln!(
            out,
            "notifications: {}, retrievals {} of {expected} expected ({}), delivery reports {}",
            t.notifications,
            t.retrieved(),
            counts_text(&t.retrievals),
            t.reports
        );
        if t.garbage > 0 || t.notifyresp_errors > 0 {
            let _ = writeln!(
                out,
                "problems: {} pushes not understood, {} m-notifyresp.ind refused",
                t.garbage, t.notifyresp_errors
            );
        }
        let _ = writeln!(out, "end-to-end latency (ms): {}", t.end_to_end.text());
    }
    out
}

pub fn json(run: &Run, t: &Tally) -> Value {
    let secs = run.send_phase.as_secs_f64();
    let mut v = json!({
        "relay": run.relay,
        "planned": run.planned,
        "rate_asked": run.rate,
        "seconds": secs,
        "answered": t.answered(),
        "accepted": t.accepted(),
        "rate_achieved": if secs > 0.0 { t.answered() as f64 / secs } else { 0.0 },
        "size": run.size,
        "recipients": run.recipients,
        "answers": t.sends,
        "send_latency": t.send_latency.json(),
    });
    if let (Some(expected), Value::Object(o)) = (run.expected_retrievals, &mut v) {
        o.insert("expected_retrievals".into(), json!(expected));
        o.insert("notifications".into(), json!(t.notifications));
        o.insert("retrieved".into(), json!(t.retrieved()));
        o.insert("retrievals".into(), json!(t.retrievals));
        o.insert("delivery_reports".into(), json!(t.reports));
        o.insert("garbage_pushes".into(), json!(t.garbage));
        o.insert("notifyresp_errors".into(), json!(t.notifyresp_errors));
        o.insert("end_to_end_latency".into(), t.end_to_end.json());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_samples() {
        let mut l = Latency::new();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        let p = l.percentiles();
        assert!((p[0].1 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p[1].1 - 90.0).abs() < 0.1, "{p:?}");
        assert!((p[2].1 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p[3].1 - 100.0).abs() < 0.1, "{p:?}");
        assert_eq!(l.json()["count"], 100);
        assert_eq!(Latency::new().json(), Value::Null);
    }

    #[test]
    fn the_summary_names_every_outcome() {
        let mut t = Tally::new();
        t.sends.insert(OK.into(), 9);
        t.sends.insert("HTTP 503".into(), 1);
        t.retrievals.insert(OK.into(), 8);
        let run = Run {
            relay: "http://127.0.0.1:8002/mms".into(),
            rate: 10.0,
            planned: 10,
            size: 100,
            recipients: 1,
            send_phase: Duration::from_secs(1),
            expected_retrievals: Some(9),
        };
        let text = text(&run, &t);
        assert!(text.contains("answers: HTTP 503 1, ok 9"), "{text}");
        assert!(text.contains("retrievals 8 of 9 expected"), "{text}");
        let j = json(&run, &t);
        assert_eq!(j["accepted"], 9);
        assert_eq!(j["rate_achieved"], 10.0);
        assert_eq!(j["retrieved"], 8);
    }
}
