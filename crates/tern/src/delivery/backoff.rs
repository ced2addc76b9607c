//! The retry schedule: how long a push waits before it is sent again, doubling from
//! `delivery.initial_backoff_secs` up to `delivery.max_backoff_secs`.

use crate::config::Config;

/// Seconds to wait before attempt `attempts + 1`: doubling from the initial backoff, capped.
pub fn backoff(cfg: &Config, attempts: u32) -> i64 {
    let initial = cfg.delivery.initial_backoff_secs.max(1);
    let factor = 1u64.checked_shl(attempts.saturating_sub(1)).unwrap_or(u64::MAX);
    i64::try_from(initial.saturating_mul(factor).min(cfg.delivery.max_backoff_secs)).unwrap_or(i64::MAX)
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
