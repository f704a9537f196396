//! The clientState secret of a subscription: generated from the OS-seeded CSPRNG,
//! sent to Graph once, and kept only as a SHA-256 digest compared in constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Random bytes per secret; hex-encoded they make 64 characters (Graph allows 128).
const SECRET_BYTES: usize = 32;

/// A freshly generated clientState value. Its `Debug` never shows it.
pub struct ClientState(String);

impl ClientState {
    /// 32 random bytes from the thread's CSPRNG (seeded by the OS), hex-encoded.
    pub fn generate() -> ClientState {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        ClientState(hex(&bytes))
    }

    /// The value to put in the subscription request; never log or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hex SHA-256 digest that is stored instead of the secret.
    pub fn hash(&self) -> String {
        hash_client_state(&self.0)
    }
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientState(***)")
    }
}

/// Hex SHA-256 of a clientState value, as stored in `subscriptions.client_state_hash`.
pub fn hash_client_state(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// Whether `presented` hashes to `stored_hash`. Both digests have a fixed length, and
/// they are compared without an early exit, so the time taken reveals nothing.
pub fn client_state_matches(presented: &str, stored_hash: &str) -> bool {
    constant_time_eq(
        hash_client_state(presented).as_bytes(),
        stored_hash.as_bytes(),
    )
}

/// Equality whose running time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_verify_only_against_their_hash() {
        let a = ClientState::generate();
        let b = ClientState::generate();
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
        assert!(client_state_matches(a.expose(), &a.hash()));
        assert!(!client_state_matches(b.expose(), &a.hash()));
        assert!(!client_state_matches("", &a.hash()));
        assert!(!client_state_matches(a.expose(), ""));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn sha256_of_a_known_value() {
        assert_eq!(
            hash_client_state("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
