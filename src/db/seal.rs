//! Sealing tokens at rest with XChaCha20-Poly1305 (an AEAD) under TOKEN_KEY.
//!
//! A sealed value is `nonce (24 bytes) || ciphertext+tag`. The random 192-bit
//! nonce makes collisions negligible without a counter. Each value is bound to
//! where it is stored through the associated data (for example
//! `provider_tokens.access_token:42`), so a row's sealed token cannot be copied
//! into another row and still open.
//!
//! Rotation: with TOKEN_KEY_PREVIOUS set, a value that does not open under
//! TOKEN_KEY is tried under that key too; sealing always uses TOKEN_KEY, and
//! every value still under the previous key is sealed again under the new
//! one ([`TokenSealer::reseal`], at start-up: `db::tokens::reseal_batch`),
//! so removing TOKEN_KEY_PREVIOUS afterwards loses nothing. An AEAD says for
//! sure which key a value was sealed with (the tag checks under one key
//! only), so trying two keys cannot open a value wrongly.

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

const NONCE_LEN: usize = 24;

/// Seals and opens secrets with the token key.
#[derive(Clone)]
pub struct TokenSealer {
    cipher: XChaCha20Poly1305,
    /// TOKEN_KEY_PREVIOUS: opens, never seals.
    previous: Option<XChaCha20Poly1305>,
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
            previous: None,
        }
    }

    /// Also opens what `previous` sealed (TOKEN_KEY_PREVIOUS, while rotating).
    #[must_use]
    pub fn with_previous(mut self, previous: &[u8; 32]) -> Self {
        self.previous = Some(XChaCha20Poly1305::new(previous.into()));
        self
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

    /// Whether TOKEN_KEY_PREVIOUS is set: a rotation is under way.
    pub fn is_rotating(&self) -> bool {
        self.previous.is_some()
    }

    /// `sealed` sealed again under TOKEN_KEY, when it opens only under
    /// TOKEN_KEY_PREVIOUS; `None` when it needs nothing (already under
    /// TOKEN_KEY) or cannot be opened at all.
    pub fn reseal(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let payload = || Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let nonce = XNonce::from_slice(nonce);
        if self.cipher.decrypt(nonce, payload()).is_ok() {
            return None;
        }
        let plaintext = self.previous.as_ref()?.decrypt(nonce, payload()).ok()?;
        Some(self.seal(context, &plaintext))
    }

    /// Decrypts a value sealed for `context`, under TOKEN_KEY or else
    /// TOKEN_KEY_PREVIOUS; `None` if neither key, or the context or the
    /// bytes, are the ones it was sealed with.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = || Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let nonce = XNonce::from_slice(nonce);
        self.cipher.decrypt(nonce, payload()).ok().or_else(|| {
            self.previous
                .as_ref()
                .and_then(|previous| previous.decrypt(nonce, payload()).ok())
        })
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
    fn the_previous_key_opens_what_it_sealed_and_seals_nothing() {
        let (old, new) = (TokenSealer::new(&[1u8; 32]), [2u8; 32]);
        let sealed_before = old.seal("row:1", b"token");
        let rotating = TokenSealer::new(&new).with_previous(&[1u8; 32]);
        assert_eq!(
            rotating.open("row:1", &sealed_before).as_deref(),
            Some(&b"token"[..]),
            "a value sealed under the previous key still opens"
        );
        assert_eq!(rotating.open("row:2", &sealed_before), None, "context");
        let sealed_now = rotating.seal("row:1", b"token");
        assert_eq!(
            old.open("row:1", &sealed_now),
            None,
            "sealed with the new key"
        );
        assert_eq!(
            TokenSealer::new(&new).open("row:1", &sealed_now).as_deref(),
            Some(&b"token"[..])
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let sealer = TokenSealer::new(&[1u8; 32]);
        assert_ne!(sealer.seal("c", b"same"), sealer.seal("c", b"same"));
    }

    #[test]
    fn resealing_moves_a_value_to_the_new_key_once() {
        let old = TokenSealer::new(&[1u8; 32]);
        let rotating = TokenSealer::new(&[2u8; 32]).with_previous(&[1u8; 32]);
        let sealed_before = old.seal("row:1", b"token");
        let resealed = rotating.reseal("row:1", &sealed_before).expect("moved");
        let new_only = TokenSealer::new(&[2u8; 32]);
        assert_eq!(
            new_only.open("row:1", &resealed).as_deref(),
            Some(&b"token"[..])
        );
        assert_eq!(rotating.reseal("row:1", &resealed), None, "already moved");
        assert_eq!(
            rotating.reseal("row:2", &sealed_before),
            None,
            "other context"
        );
        assert_eq!(
            new_only.reseal("row:1", &sealed_before),
            None,
            "no previous key"
        );
        assert_eq!(rotating.reseal("row:1", b"short"), None);
    }
}
