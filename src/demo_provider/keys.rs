//! The demo provider's ID-token signing key: an Ed25519 key pair (JWS `alg`
//! "EdDSA", RFC 8037) generated at start, its public half as a JWK Set, and JWS
//! compact serialisation (RFC 7515 §3.1, §7.1) to sign and check tokens.
//!
//! Why Ed25519 rather than the RS256 that Microsoft and Google use: checking an
//! ID token's signature is the largest single cost of a sign-in for the app,
//! and Ed25519 is the cheapest of the algorithms OpenID Connect clients accept
//! (docs/PERFORMANCE.md has the measurements; ES256 cost about five times as
//! much). The app validates RS256 and ES256 tokens the same way.
//!
//! This module must not know what the claims mean; `id_token.rs` builds them.
//! The private key never leaves this struct: it is not logged, serialised or
//! stored, so a restart is a key rotation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use rand::RngCore as _;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::crypto::sha256_url_safe;

/// The JWS algorithm we sign with (RFC 8037 §3.1), as advertised in discovery.
pub(crate) const SIGNING_ALGORITHM: &str = "EdDSA";

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(rand::Error),
    #[error("could not serialise the JWS header or claims: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// The provider's signing key with its key id.
pub(crate) struct SigningKeys {
    signing_key: SigningKey,
    public_jwk: PublicJwk,
}

/// The public key as a JWK (RFC 7517 §4, RFC 8037 §2).
#[derive(Debug, Clone, Serialize)]
struct PublicJwk {
    kty: &'static str,
    crv: &'static str,
    x: String,
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
    /// Generates a new key from the operating system's CSPRNG: any 32 random
    /// bytes are an Ed25519 private key (RFC 8032 §5.1.5).
    pub(crate) fn generate() -> Result<Self, KeyError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(secret.as_mut())
            .map_err(KeyError::Randomness)?;
        let signing_key = SigningKey::from_bytes(&secret);
        // RFC 8037 §2: the public key, base64url, in `x`.
        let x = URL_SAFE_NO_PAD.encode(signing_key.verifying_key().to_bytes());
        let kid = jwk_thumbprint(&x);
        Ok(Self {
            signing_key,
            public_jwk: PublicJwk {
                kty: "OKP",
                crv: "Ed25519",
                x,
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
        // RFC 8037 §3.1: the JWS signature is the 64-byte Ed25519 signature.
        let signature: Signature = self.signing_key.sign(signing_input.as_bytes());
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
        self.signing_key
            .verifying_key()
            .verify_strict(signing_input.as_bytes(), &signature)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic
/// order with no whitespace, base64url-encoded (for an OKP key: crv, kty, x;
/// RFC 8037 §2). A stable, content-derived `kid`.
fn jwk_thumbprint(x: &str) -> String {
    sha256_url_safe(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
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
    fn the_header_names_eddsa_and_the_key_id_published_in_the_jwks() {
        let keys = SigningKeys::generate().expect("key");
        let token = keys.sign_jwt(&serde_json::json!({})).expect("sign");
        let header_part = token.split('.').next().expect("header");
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_part).expect("b64"))
                .expect("json");
        let jwks = keys.jwks();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert_eq!(jwks["keys"][0]["use"], "sig");
    }

    #[test]
    fn the_thumbprint_matches_rfc_8037s_example() {
        // RFC 8037 Appendix A.3: the thumbprint of the Appendix A.2 public key.
        assert_eq!(
            jwk_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
