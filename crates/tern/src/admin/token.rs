//! The admin endpoint's bearer token: only its SHA-256 is configured (`admin.token_sha256`),
//! and a presented token is hashed and compared with it in constant time. `tern admin-token`
//! makes a random token and prints the line that configures it.
//!
//! A plain hash suffices (no salt, no slow key derivation) because the token is random with 256
//! bits of entropy: nothing about it can be guessed from a dictionary.

use sha2::{Digest, Sha256};

pub use crate::core::secret::TokenHash;

/// Random bytes in a generated token (shown as twice as many hex digits).
const TOKEN_BYTES: usize = 32;

/// The configured form of `token`'s hash: lower-case hex.
pub fn hash_hex(token: &[u8]) -> String {
    hex::encode(Sha256::digest(token))
}

/// `tern admin-token`: prints a new random token and how to configure its hash.
pub fn run() -> anyhow::Result<()> {
    let mut random = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no random bytes from the system: {e}"))?;
    let token = hex::encode(random);
    let hash = hash_hex(token.as_bytes());
    println!("token: {token}");
    println!("Send it to the admin endpoint as \"Authorization: Bearer <token>\"; Tern keeps only its hash.");
    println!("Put this in the configuration's [admin] section:");
    println!("token_sha256 = \"{hash}\"");
    println!("or set TERN_ADMIN__TOKEN_SHA256={hash}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_its_hash_only() {
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hash_hex(b"abc"), abc);
        let hash = TokenHash::from_hex(abc).unwrap();
        assert!(hash.matches(b"abc"));
        assert!(!hash.matches(b"abd"));
        assert!(!hash.matches(b""));
        assert!(TokenHash::from_hex("abc").is_err());
    }
}
