//! The demo provider's ID-token signing key: an ES256 (ECDSA P-256 with SHA-256)
//! key pair generated at start, its public half as a JWK Set, and JWS compact
//! serialisation (RFC 7515 §3.1, §7.1) to sign and check tokens.
//!
//! This module must not know what the claims mean; `id_token.rs` builds them.
//! The private key never leaves this struct: it is not logged, serialised or
//! stored, so a restart is a key rotation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::zeroize::Zeroizing;
use rand::RngCore as _;
use serde::Serialize;

use crate::crypto::sha256_url_safe;

/// The JWS algorithm we sign with (RFC 7518 §3.4), as advertised in discovery.
pub(crate) const SIGNING_ALGORITHM: &str = "ES256";

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(rand::Error),
    #[error("no valid P-256 key after {0} attempts")]
    NoValidKey(usize),
    #[error("the public key has no affine coordinates")]
    PublicKeyEncoding,
    #[error("could not serialise the JWS header or claims: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error("ECDSA signing failed")]
    Signing,
}

/// The provider's signing key with its key id.
pub(crate) struct SigningKeys {
    signing_key: SigningKey,
    public_jwk: PublicJwk,
}

/// The public key as a JWK (RFC 7517 §4, RFC 7518 §6.2.1).
#[derive(Debug, Clone, Serialize)]
struct PublicJwk {
    kty: &'static str,
    crv: &'static str,
    x: String,
    y: String,
    #[serde(rename = "use")]
    public_key_use: &'static str,
    alg: &'static str,
    kid: String,
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

impl SigningKeys {
    /// Generates a new P-256 key from the operating system's CSPRNG.
    ///
    /// A P-256 private key is a number in `1..n` (n is just below 2^256), so
    /// 32 random bytes are a valid key except with probability about 2^-32;
    /// we simply draw again in that case.
    pub(crate) fn generate() -> Result<Self, KeyError> {
        const ATTEMPTS: usize = 8;
        let mut candidate = Zeroizing::new([0u8; 32]);
        for _ in 0..ATTEMPTS {
            rand::rngs::OsRng
                .try_fill_bytes(candidate.as_mut())
                .map_err(KeyError::Randomness)?;
            if let Ok(signing_key) = SigningKey::from_slice(candidate.as_ref()) {
                return Self::from_signing_key(signing_key);
            }
        }
        Err(KeyError::NoValidKey(ATTEMPTS))
    }

    fn from_signing_key(signing_key: SigningKey) -> Result<Self, KeyError> {
        // Uncompressed SEC1 point: 0x04 || X || Y, each coordinate 32 bytes.
        let point = signing_key.verifying_key().to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(KeyError::PublicKeyEncoding);
        };
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        let kid = jwk_thumbprint(&x, &y);
        Ok(Self {
            signing_key,
            public_jwk: PublicJwk {
                kty: "EC",
                crv: "P-256",
                x,
                y,
                public_key_use: "sig",
                alg: SIGNING_ALGORITHM,
                kid,
            },
        })
    }

    /// The JWK Set served at `/jwks` (RFC 7517 §5).
    pub(crate) fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.public_jwk] })
    }

    /// Signs `claims` as a JWT in JWS compact serialisation:
    /// `BASE64URL(header) . BASE64URL(claims) . BASE64URL(signature)`.
    pub(crate) fn sign_jwt<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let header = JwsHeader {
            alg: SIGNING_ALGORITHM,
            typ: "JWT",
            kid: &self.public_jwk.kid,
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let signature: Signature = self
            .signing_key
            .try_sign(signing_input.as_bytes())
            .map_err(|_| KeyError::Signing)?;
        // RFC 7518 §3.4: the JWS signature is R || S, 32 bytes each, not the
        // DER encoding that many other ECDSA APIs produce.
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }

    /// Checks a compact JWS signed by this key and returns its claims.
    ///
    /// Only the signature and header are checked, not `exp` or `aud`: the
    /// end-session endpoint accepts expired ID tokens as hints (RP-Initiated
    /// Logout 1.0 §2), and it checks the audience itself.
    pub(crate) fn verify_jwt(&self, token: &str) -> Option<serde_json::Value> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        // Never let the token choose the algorithm (RFC 8725 §3.1).
        if header.get("alg")?.as_str()? != SIGNING_ALGORITHM {
            return None;
        }
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        self.verifying_key()
            .verify(signing_input.as_bytes(), &signature)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }

    fn verifying_key(&self) -> &VerifyingKey {
        self.signing_key.verifying_key()
    }
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic
/// order with no whitespace, base64url-encoded. A stable, content-derived `kid`.
fn jwk_thumbprint(x: &str, y: &str) -> String {
    sha256_url_safe(&format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_with_the_same_key_and_has_a_64_byte_signature() {
        let keys = SigningKeys::generate().expect("key");
        let token = keys
            .sign_jwt(&serde_json::json!({"sub": "alice"}))
            .expect("sign");
        let signature = token.rsplit('.').next().expect("signature part");
        assert_eq!(URL_SAFE_NO_PAD.decode(signature).expect("b64").len(), 64);
        let claims = keys.verify_jwt(&token).expect("verifies");
        assert_eq!(claims["sub"], "alice");
    }

    #[test]
    fn a_token_with_changed_claims_or_another_key_does_not_verify() {
        let keys = SigningKeys::generate().expect("key");
        let other = SigningKeys::generate().expect("key");
        let token = keys
            .sign_jwt(&serde_json::json!({"sub": "alice"}))
            .expect("sign");
        assert!(other.verify_jwt(&token).is_none());

        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#);
        parts[1] = &forged;
        assert!(keys.verify_jwt(&parts.join(".")).is_none());
        assert!(keys.verify_jwt("not.a-token").is_none());
    }

    #[test]
    fn the_header_names_es256_and_the_key_id_published_in_the_jwks() {
        let keys = SigningKeys::generate().expect("key");
        let token = keys.sign_jwt(&serde_json::json!({})).expect("sign");
        let header_part = token.split('.').next().expect("header");
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_part).expect("b64"))
                .expect("json");
        let jwks = keys.jwks();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
        assert_eq!(jwks["keys"][0]["crv"], "P-256");
        assert_eq!(jwks["keys"][0]["use"], "sig");
    }

    #[test]
    fn the_thumbprint_matches_the_rfc_7638_method() {
        // The RFC's own example is an RSA key; for EC the required members are
        // crv, kty, x, y. We check the hashing input is exactly that JSON.
        let expected = sha256_url_safe(r#"{"crv":"P-256","kty":"EC","x":"AA","y":"BB"}"#);
        assert_eq!(jwk_thumbprint("AA", "BB"), expected);
    }
}
