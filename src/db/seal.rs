//! Sealing tokens at rest with XChaCha20-Poly1305 (an AEAD) under TOKEN_KEY.
//!
//! A sealed value is `nonce (24 bytes) || ciphertext+tag`. The random 192-bit
//! nonce makes collisions negligible without a counter. Each value is bound to
//! where it is stored through the associated data (for example
//! `provider_tokens.access_token:42`), so a row's sealed token cannot be copied
//! into another row and still open.

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

const NONCE_LEN: usize = 24;

/// Seals and opens secrets with the token key.
#[derive(Clone)]
pub struct TokenSealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSealer(<key redacted>)")
    }
}

impl TokenSealer {
    pub fn new(key: &[u8; 32]) -> Self {
        TokenSealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Encrypts `plaintext`, binding it to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key only fails for inputs beyond 256 GiB.
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts a value sealed for `context`; `None` if the key, the context or
    /// the bytes are not the ones it was sealed with.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        self.cipher.decrypt(XNonce::from_slice(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_says_what_it_is_and_never_shows_the_key() {
        // A sealer inside a logged struct must still say what it is.
        let shown = format!("{:?}", TokenSealer::new(&[0xAB; 32]));
        assert_eq!(shown, "TokenSealer(<key redacted>)");
    }

    #[test]
    fn sealed_value_opens_only_with_the_same_key_and_context() {
        let sealer = TokenSealer::new(&[1u8; 32]);
        let sealed = sealer.seal("row:1", b"access-token-value");
        assert!(!sealed.windows(6).any(|window| window == b"access"));
        assert_eq!(
            sealer.open("row:1", &sealed).as_deref(),
            Some(&b"access-token-value"[..])
        );
        assert_eq!(sealer.open("row:2", &sealed), None, "other context");
        assert_eq!(
            TokenSealer::new(&[2u8; 32]).open("row:1", &sealed),
            None,
            "other key"
        );
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(sealer.open("row:1", &tampered), None, "tampered");
        assert_eq!(sealer.open("row:1", b"short"), None, "truncated");
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let sealer = TokenSealer::new(&[1u8; 32]);
        assert_ne!(sealer.seal("c", b"same"), sealer.seal("c", b"same"));
    }
}
