//! Password hashing: argon2id with its default parameters, stored as a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Why a password could not be hashed (never the password itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// Hashes `password` for storage, with a random 128-bit salt: the PHC string the store keeps.
///
/// # Performance
/// One argon2id run with the default parameters (19 MiB, two passes): tens of milliseconds.
/// Run it off async threads.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` is the one `hash` (a PHC string of [`hash_password`]) was made from;
/// false for a hash that cannot be read. Costs what [`hash_password`] costs, right or wrong.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_is_salted() {
        let a = hash_password("tide-lantern-47").expect("hash");
        let b = hash_password("tide-lantern-47").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a random salt per hash");
        assert!(!a.contains("tide-lantern-47"));
        assert!(verify_password("tide-lantern-47", &a));
        assert!(verify_password("tide-lantern-47", &b));
        assert!(!verify_password("tide-lantern-48", &a));
        assert!(!verify_password("tide-lantern-47", "not a hash"));
    }
}
