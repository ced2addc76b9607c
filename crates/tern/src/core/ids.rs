//! Identifiers the relay hands out: retrieval tokens (unguessable: 152 random bits after the
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

/// The time in 256ths of a second as 10 hex digits, what tokens and Transaction-IDs start
/// with: ids made together sort together, so the store's unique indexes over them grow at their
/// end instead of at random places all over a large index (which costs the page cache a read
/// per insert once the store holds millions of messages). Finer than seconds, because the ids
/// of one second spread over a hundred index pages at thousands of messages a second, and
/// each commit writes every page it touched to the WAL: with ticks of 4 ms, the ids of one
/// commit fall on a few pages.
fn time_prefix() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let ticks = (u64::from(t.as_secs() as u32) << 8) | u64::from(t.subsec_nanos() / (1_000_000_000 / 256));
    format!("{ticks:010x}")
}

/// A retrieval token: the time (see [`time_prefix`]) and 152 random bits, URL-safe.
pub fn token() -> String {
    time_prefix() + &random_hex(19)
}

/// A Message-ID: the time, a per-process counter and 64 random bits, so it is unique across
/// restarts and instances without coordination.
pub fn message_id(now: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{now:x}{n:x}-{}", random_hex(8))
}

/// A Transaction-ID for a PDU the relay starts (notifications, retrievals): the time and 88
/// random bits.
pub fn transaction_id() -> String {
    time_prefix() + &random_hex(11)
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
        assert_eq!(transaction_id().len(), 32);
        // Made later, they sort later.
        let before = token();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(token() > before);
        assert!(transaction_id()[..10] > before[..10]);
        assert_ne!(message_id(1), message_id(1));
    }
}
