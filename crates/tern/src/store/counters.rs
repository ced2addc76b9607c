//! Event counters in fixed windows, for the protection stage's flood check (messages per sender)
//! and duplicate check (identical content): [`Counters::count`] counts one more event under a
//! key and says how many the key's current window holds. A window starts at the key's first
//! event and lasts the caller's length; the first event at or after its end starts a new one.
//!
//! The embedded backend keeps them in memory, not in the database: a count is asked for every
//! message, and a commit each would cost the group commit its point, while a count lost now
//! and then costs little (the checks catch the next window). So a restart of the embedded
//! store starts every count again. A shared backend (PostgreSQL) will keep them in a table,
//! so that the relays sharing it share the counts.
//!
//! Memory is bounded whatever the keys: a key is kept as its SHA-256, and windows that have
//! ended are pruned whenever the map has grown past a mark (doubled after each pruning, so the
//! cost is amortised over the insertions). At [`KEYS_MAX`] windows still running, the oldest
//! eighth of them (by start) are dropped: their keys count from 1 again at their next event.
//! Under a flood of distinct keys the oldest counts give way, never the relay's memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// The most windows kept at once: some 20 MiB of map.
pub const KEYS_MAX: usize = 1 << 18;

/// The map is first pruned at this many windows.
const FIRST_MARK: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    end: i64,
    count: u64,
}

struct Windows {
    map: HashMap<[u8; 32], Window>,
    /// Ended windows are pruned when a new key would take the map past this size.
    mark: usize,
    cap: usize,
}

/// The counters, shared by every clone of the store.
pub struct Counters(Mutex<Windows>);

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let windows = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Counters").field("keys", &windows.map.len()).field("cap", &windows.cap).finish()
    }
}

impl Default for Counters {
    fn default() -> Counters {
        Counters::with_cap(KEYS_MAX)
    }
}

impl Counters {
    /// Counters keeping at most `cap` windows (at least 8).
    pub fn with_cap(cap: usize) -> Counters {
        let cap = cap.max(8);
        Counters(Mutex::new(Windows { map: HashMap::new(), mark: FIRST_MARK.min(cap), cap }))
    }

    /// Counts one event under `key` at `now` in a window of `window_secs`; the count of the
    /// key's window, this event included.
    pub fn count(&self, key: &str, window_secs: u64, now: i64) -> u64 {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let length = i64::try_from(window_secs).unwrap_or(i64::MAX);
        // A panic elsewhere while the lock was held leaves at worst a count off by one.
        let mut windows = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(window) = windows.map.get_mut(&digest) {
            if now < window.end {
                window.count = window.count.saturating_add(1);
            } else {
                *window = Window { start: now, end: now.saturating_add(length), count: 1 };
            }
            return window.count;
        }
        windows.make_room(now);
        windows.map.insert(digest, Window { start: now, end: now.saturating_add(length), count: 1 });
        1
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).map.len()
    }
}

impl Windows {
    /// Before a new key goes in: prunes ended windows once past the mark, and at the cap drops
    /// the oldest eighth of those still running.
    fn make_room(&mut self, now: i64) {
        if self.map.len() < self.mark {
            return;
        }
        self.map.retain(|_, w| now < w.end);
        if self.map.len() >= self.cap {
            let mut starts: Vec<i64> = self.map.values().map(|w| w.start).collect();
            let drop = self.cap / 8;
            let (_, &mut cut, _) = starts.select_nth_unstable(drop);
            // Windows that started before the cut go; at most `drop` of them, so ties at the
            // cut may leave fewer room than an eighth, which the next pass makes up.
            self.map.retain(|_, w| w.start >= cut);
            if self.map.len() >= self.cap {
                // Every window started at the same second: any eighth will do.
                let gone: Vec<[u8; 32]> = self.map.keys().take(drop).copied().collect();
                for key in gone {
                    self.map.remove(&key);
                }
            }
        }
        self.mark = (self.map.len() * 2).clamp(FIRST_MARK.min(self.cap), self.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_until_it_ends_then_starts_again() {
        let counters = Counters::default();
        let start = 1_900_000_000;
        let counts: Vec<u64> = (0..35).map(|i| counters.count("+15550100001", 60, start + i)).collect();
        assert_eq!(counts, (1..=35).collect::<Vec<_>>());
        assert_eq!(counters.count("+15550100001", 60, start + 59), 36, "the last second is in the window");
        assert_eq!(counters.count("+15550100001", 60, start + 60), 1, "the window ended: a new one starts");
        assert_eq!(counters.count("+15550100001", 60, start + 119), 2, "the new window runs from its first event");
        assert_eq!(counters.count("+15550100001", 60, start + 120), 1);
    }

    #[test]
    fn keys_count_apart() {
        let counters = Counters::default();
        let now = 1_900_000_000;
        assert_eq!(counters.count("sender:+15550100001", 60, now), 1);
        assert_eq!(counters.count("sender:+15550100001", 60, now), 2);
        assert_eq!(counters.count("sender:+15550100002", 60, now), 1);
        assert_eq!(counters.count("content:ab12", 3600, now), 1);
        assert_eq!(counters.count("sender:+15550100001", 60, now + 1), 3);
        assert_eq!(counters.count("content:ab12", 3600, now + 600), 2, "each key has its own window length");
    }

    #[test]
    fn ended_windows_are_pruned_and_the_cap_drops_the_oldest() {
        let counters = Counters::with_cap(64);
        let now = 1_900_000_000;
        // Windows that have ended make way for new keys.
        for i in 0..64 {
            counters.count(&format!("old-{i}"), 10, now + i);
        }
        for i in 0..64 {
            counters.count(&format!("new-{i}"), 1000, now + 100 + i);
        }
        assert!(counters.len() <= 64);
        assert_eq!(counters.count("new-63", 1000, now + 200), 2, "the newest windows are kept");
        // At the cap with every window running, the oldest go: their keys start again.
        for i in 0..200 {
            counters.count(&format!("more-{i}"), 1000, now + 300 + i);
            assert!(counters.len() <= 64, "never more than the cap");
        }
        assert_eq!(counters.count("new-0", 1000, now + 600), 1, "the oldest window was dropped");
        assert_eq!(counters.count("more-199", 1000, now + 600), 2, "the newest is kept");
    }
}
