//! The flood and duplicate checks: each message counted in its profile's window, by its sender
//! (flood) or by its content (duplicate, whoever sends it), in counters kept behind the store so
//! that relays sharing a store share them. A count the store cannot give is not a reason to
//! refuse a message: it is logged and the check is skipped.

use sha2::{Digest, Sha256};

use crate::core::protection::{self, Decision, Profile, RateCheck, Scope};
use crate::store::Store;

/// The content's fingerprint for the duplicate check: the SHA-256 of every part's bytes (each
/// with its length, so parts cannot run into each other), presentation parts left out, since
/// each interface writes its own.
pub fn digest(parts: &[protection::Part<'_>]) -> String {
    let mut hash = Sha256::new();
    for part in parts.iter().filter(|p| !p.declared.eq_ignore_ascii_case("application/smil")) {
        hash.update((part.data.len() as u64).to_be_bytes());
        hash.update(part.data);
    }
    hex::encode(hash.finalize())
}

/// The decisions of `profile`'s flood and duplicate checks on one more message from `sender`
/// with content `digest`.
pub async fn decisions(store: &Store, profile: &Profile, sender: &str, digest: &str, now: i64) -> Vec<Decision> {
    let mut out = Vec::new();
    let checks = [("flood", &profile.flood, sender), ("duplicate", &profile.duplicate, digest)];
    for (check, rate, key) in checks {
        let Some(rate) = rate else { continue };
        if let Some(d) = counted(store, profile, check, rate, key, now).await {
            out.push(d);
        }
    }
    out
}

async fn counted(
    store: &Store,
    profile: &Profile,
    check: &'static str,
    rate: &RateCheck,
    key: &str,
    now: i64,
) -> Option<Decision> {
    let counter = format!("{check}\0{}\0{key}", profile.name);
    let count = match store.count(&counter, rate.window_secs, now).await {
        Ok(count) => count,
        Err(e) => {
            tracing::error!(error = %e, profile = %profile.name, check, "protection counter unavailable; not counted");
            return None;
        }
    };
    let threshold = rate.reached(count)?;
    let what = if check == "flood" { format!("from {key}") } else { "with the same content".to_owned() };
    Some(Decision {
        profile: profile.name.clone(),
        check,
        detail: format!("message {count} {what} within {} s (threshold {})", rate.window_secs, threshold.count),
        scope: Scope::Message,
        actions: threshold.actions.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_parts_bytes_without_the_presentation() {
        let part = |declared, data| protection::Part { declared, charset: None, data };
        let a = digest(&[part("text/plain", b"ab"), part("text/plain", b"c")]);
        let b = digest(&[part("text/plain", b"a"), part("text/plain", b"bc")]);
        assert_ne!(a, b, "lengths keep parts apart");
        let smil = digest(&[part("application/smil", b"<smil/>"), part("text/plain", b"ab"), part("text/plain", b"c")]);
        assert_eq!(a, smil);
    }
}
