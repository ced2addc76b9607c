//! Secrets kept only as their SHA-256 (the admin token, MM4 peers' passwords), and the
//! comparison of a presented secret with one in constant time, so the time taken says nothing
//! about how much of it matched.

use sha2::{Digest, Sha256};

/// Text that is not a SHA-256 in hex.
#[derive(Debug, thiserror::Error)]
#[error("not a SHA-256 in hex: {0}")]
pub struct NotAHash(String);

/// The SHA-256 of a secret (an admin token, a peer's password).
#[derive(Clone)]
pub struct TokenHash([u8; 32]);

// The hash does not belong in logs either.
impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    pub fn from_hex(hex_digits: &str) -> Result<TokenHash, NotAHash> {
        let mut hash = [0; 32];
        hex::decode_to_slice(hex_digits, &mut hash).map_err(|e| NotAHash(e.to_string()))?;
        Ok(TokenHash(hash))
    }

    /// Whether `token` hashes to this. Every byte is compared whatever the earlier ones were,
    /// so the time taken says nothing about how much of the hash matched.
    pub fn matches(&self, token: &[u8]) -> bool {
        let presented: [u8; 32] = Sha256::digest(token).into();
        let difference = presented.iter().zip(&self.0).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        // Keeps the compiler from turning the fold into an early exit.
        std::hint::black_box(difference) == 0
    }
}
