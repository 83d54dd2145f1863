//! Small cryptographic helpers shared by the app and the demo provider:
//! unguessable random values and one-way hashes for looking them up.
//!
//! This module must not hold keys or know about tokens' meaning; sealing tokens
//! at rest lives in `db::seal`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// A random value of `bytes` bytes from the operating system's CSPRNG,
/// base64url-encoded without padding (safe in URLs, forms and cookies).
///
/// 32 bytes (256 bits) is what we use for `state`, `nonce` and session secrets:
/// RFC 9700 §4.7.1 asks for values an attacker cannot guess, and
/// `oauth2::CsrfToken::new_random()` only gives 128 bits.
pub fn random_url_safe(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// SHA-256 of `value`, base64url-encoded without padding.
///
/// Used to store lookup keys (such as the hash of `state`) so that a copy of the
/// database does not hand out values an attacker could replay.
pub fn sha256_url_safe(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// Compares two strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_have_the_requested_entropy_and_differ() {
        let a = random_url_safe(32);
        let b = random_url_safe(32);
        assert_eq!(a.len(), 43, "32 bytes are 43 base64url characters");
        assert_ne!(a, b);
    }

    #[test]
    fn sha256_matches_the_fips_180_2_test_vector() {
        // FIPS 180-2 Appendix B.1: SHA-256("abc") = ba7816bf…f20015ad, here base64url.
        assert_eq!(
            sha256_url_safe("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
