//! Identifiers the relay hands out: retrieval tokens (unguessable: 160 random bits after the
//! time), message IDs (unique and stable) and transaction IDs, all from the operating system's
//! CSPRNG.

use std::sync::atomic::{AtomicU64, Ordering};

fn random_hex(bytes: usize) -> String {
    let mut buf = [0u8; 32];
    let buf = &mut buf[..bytes.min(32)];
    // The OS generator failing is not recoverable for a relay that must hand out secrets.
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random generator failed: {e}");
    }
    hex::encode(buf)
}

/// The time in seconds as 8 hex digits, what tokens and Transaction-IDs start with: ids made
/// together sort together, so the store's unique indexes over them grow at their end instead
/// of at random places all over a large index (which costs the page cache a read per insert
/// once the store holds millions of messages).
fn time_prefix() -> String {
    format!("{:08x}", now() as u32)
}

/// A retrieval token: the time (see [`time_prefix`]) and 160 random bits, URL-safe.
pub fn token() -> String {
    time_prefix() + &random_hex(20)
}

/// A Message-ID: the time, a per-process counter and 64 random bits, so it is unique across
/// restarts and instances without coordination.
pub fn message_id(now: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{now:x}{n:x}-{}", random_hex(8))
}

/// A Transaction-ID for a PDU the relay starts (notifications, retrievals): the time and 96
/// random bits.
pub fn transaction_id() -> String {
    time_prefix() + &random_hex(12)
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = token();
        assert_eq!(a.len(), 48);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, token());
        assert_ne!(message_id(1), message_id(1));
    }
}
