//! Secrets kept only as their SHA-256 (the admin token, MM4 peers' passwords) or their Argon2
//! hash (content providers' passwords), and the comparison of a presented secret with one in
//! constant time, so the time taken says nothing about how much of it matched.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
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

/// Text that is not an Argon2 hash in PHC form.
#[derive(Debug, thiserror::Error)]
#[error("not an Argon2 hash in PHC form ($argon2id$v=19$...): {0}")]
pub struct NotAPasswordHash(String);

/// The Argon2 hash of a password, in PHC form: slow to test guesses against, so a leaked
/// configuration does not give the passwords away.
#[derive(Clone)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    pub fn parse(phc: &str) -> Result<PasswordHash, NotAPasswordHash> {
        let parsed = Phc::new(phc).map_err(|e| NotAPasswordHash(e.to_string()))?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(NotAPasswordHash(format!("algorithm {}", parsed.algorithm)));
        }
        Ok(PasswordHash(phc.to_owned()))
    }

    /// A new hash of `password` with a random salt and Argon2id's default cost.
    pub fn of(password: &[u8]) -> Result<String, NotAPasswordHash> {
        Argon2::default().hash_password(password).map(|h| h.to_string()).map_err(|e| NotAPasswordHash(e.to_string()))
    }

    /// Whether `password` is the one hashed (the crate compares the outputs in constant time).
    pub fn matches(&self, password: &[u8]) -> bool {
        Phc::new(&self.0).is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
    }
}
