//! The retry schedules: how long a push waits before it is sent again, doubling from
//! `delivery.initial_backoff_secs` up to `delivery.max_backoff_secs`, and an outbound job the
//! same way by `[outbound]`.

use crate::config::Config;

/// Seconds to wait before attempt `attempts + 1` of a push: doubling from the initial backoff,
/// capped.
pub fn backoff(cfg: &Config, attempts: u32) -> i64 {
    doubling(cfg.delivery.initial_backoff_secs, cfg.delivery.max_backoff_secs, attempts)
}

/// The same for an outbound job.
pub fn outbound_backoff(cfg: &Config, attempts: u32) -> i64 {
    doubling(cfg.outbound.initial_backoff_secs, cfg.outbound.max_backoff_secs, attempts)
}

fn doubling(initial: u64, max: u64, attempts: u32) -> i64 {
    let factor = 1u64.checked_shl(attempts.saturating_sub(1)).unwrap_or(u64::MAX);
    i64::try_from(initial.max(1).saturating_mul(factor).min(max)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let cfg = Config::default();
        let waits: Vec<i64> = (1..=9).map(|a| backoff(&cfg, a)).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(&cfg, u32::MAX), 3600);
    }
}
