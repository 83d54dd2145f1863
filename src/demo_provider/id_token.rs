//! The claims about a user: in the ID token (OpenID Connect Core §2, §3.1.3.6)
//! and at the UserInfo endpoint (§5.3).
//!
//! What it owns: which claims go out for which scopes (§5.4: `profile` gives
//! the name claims, `email` gives `email` and `email_verified`), and the ID
//! token's protocol claims (`iss`, `aud`, `exp`, `nonce`, `at_hash`…). It must
//! not sign anything itself (`keys.rs` does) or decide whether a token may be
//! issued (`token.rs` does).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha512};

use super::keys::{KeyError, SigningKeys};
use super::mailbox::DemoUser;
use super::scopes::Scope;

/// An ID token says who signed in; it is checked once, right away, so it
/// never needs to outlive an hour even if access tokens do.
const MAX_ID_TOKEN_LIFETIME: Duration = Duration::hours(1);

/// `sub` plus the claims the granted scopes allow.
#[derive(Debug, Serialize)]
pub(crate) struct UserClaims<'a> {
    /// Stable and never reassigned (OpenID Connect Core §5.7): the one claim a
    /// client may use as the account key.
    sub: &'a str,
    #[serde(flatten)]
    profile: Option<ProfileClaims<'a>>,
    #[serde(flatten)]
    email: Option<EmailClaims<'a>>,
}

#[derive(Debug, Serialize)]
struct ProfileClaims<'a> {
    name: &'a str,
    given_name: &'a str,
    family_name: &'a str,
    preferred_username: &'a str,
}

#[derive(Debug, Serialize)]
struct EmailClaims<'a> {
    email: &'a str,
    /// The demo domain is ours, so the addresses count as verified.
    email_verified: bool,
}

impl<'a> UserClaims<'a> {
    pub(crate) fn new(user: &'a DemoUser, scopes: &[Scope]) -> Self {
        Self {
            sub: user.id,
            profile: scopes.contains(&Scope::Profile).then_some(ProfileClaims {
                name: user.display_name,
                given_name: user.given_name,
                family_name: user.family_name,
                // Like Microsoft, the user principal name.
                preferred_username: user.email,
            }),
            email: scopes.contains(&Scope::Email).then_some(EmailClaims {
                email: user.email,
                email_verified: true,
            }),
        }
    }
}

#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    /// Echoes the authorization request's nonce, which binds this token to
    /// the browser session that started the sign-in (Core §3.1.2.1, §15.5.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    #[serde(flatten)]
    user: UserClaims<'a>,
}

/// What an ID token is made from.
pub(crate) struct IdTokenInput<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) user: &'a DemoUser,
    pub(crate) scopes: &'a [Scope],
    pub(crate) auth_time: DateTime<Utc>,
    /// `None` on refresh (Core §12.2 does not carry the nonce forward).
    pub(crate) nonce: Option<&'a str>,
    pub(crate) access_token: &'a str,
    pub(crate) access_token_lifetime: Duration,
    pub(crate) now: DateTime<Utc>,
}

pub(crate) fn sign_id_token(
    keys: &SigningKeys,
    input: &IdTokenInput<'_>,
) -> Result<String, KeyError> {
    let lifetime = input.access_token_lifetime.min(MAX_ID_TOKEN_LIFETIME);
    keys.sign_jwt(&IdTokenClaims {
        iss: input.issuer,
        aud: input.client_id,
        exp: (input.now + lifetime).timestamp(),
        iat: input.now.timestamp(),
        auth_time: input.auth_time.timestamp(),
        nonce: input.nonce,
        at_hash: at_hash(input.access_token),
        user: UserClaims::new(input.user, input.scopes),
    })
}

/// OpenID Connect Core §3.1.3.6: the base64url encoding of the left-most half
/// of the hash of the access token, with the hash that goes with the JWS `alg`.
/// For EdDSA with Ed25519 that is SHA-512 (Ed25519 hashes with it, RFC 8032
/// §5.1), as OpenID Connect clients, the openidconnect crate among them,
/// compute it. Lets the client check the access token came with this ID token.
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = Sha512::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo_provider::mailbox::DEMO_USERS;

    #[test]
    fn at_hash_is_the_left_half_of_sha512() {
        // 32 bytes of hash are 43 base64url characters.
        let value = at_hash("an-access-token");
        assert_eq!(value.len(), 43);
        let full = Sha512::digest(b"an-access-token");
        assert_eq!(URL_SAFE_NO_PAD.decode(&value).expect("b64"), full[..32]);
    }

    #[test]
    fn claims_follow_the_granted_scopes() {
        let user = &DEMO_USERS[0];
        let only_openid =
            serde_json::to_value(UserClaims::new(user, &[Scope::OpenId])).expect("json");
        assert_eq!(only_openid, serde_json::json!({ "sub": user.id }));
        let all = serde_json::to_value(UserClaims::new(
            user,
            &[Scope::OpenId, Scope::Profile, Scope::Email],
        ))
        .expect("json");
        assert_eq!(all["name"], "Alice Adams");
        assert_eq!(all["email_verified"], true);
    }

    #[test]
    fn an_id_token_carries_nonce_audience_and_a_bounded_expiry() {
        let keys = SigningKeys::generate().expect("key");
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let token = sign_id_token(
            &keys,
            &IdTokenInput {
                issuer: "http://127.0.0.1:8081",
                client_id: "app",
                user: &DEMO_USERS[1],
                scopes: &[Scope::OpenId, Scope::Profile],
                auth_time: now,
                nonce: Some("n-0S6_WzA2Mj"),
                access_token: "at",
                access_token_lifetime: Duration::hours(8),
                now,
            },
        )
        .expect("signed");
        let claims = keys.verify_jwt(&token).expect("verifies");
        assert_eq!(claims["aud"], "app");
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["exp"], now.timestamp() + 3600);
        assert_eq!(claims["at_hash"], at_hash("at"));
        assert_eq!(claims["sub"], DEMO_USERS[1].id);
    }
}
