//! Validating an ID token (OpenID Connect Core §3.1.3.7) with the
//! `openidconnect` crate, and the settings the crate leaves to us: which
//! signature algorithms are allowed, how much clock skew we accept, that `iat`
//! must be recent (the crate does not check `iat` unless asked), `azp`,
//! `at_hash`, and what "the same issuer" means for the providers that
//! document an exception (`oauth::issuer`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, EmptyExtraTokenFields, IdTokenClaims, JsonWebKey as _,
    Nonce, OAuth2TokenResponse as _, StandardTokenResponse, TokenResponse as _,
};
use serde::{Deserialize, Serialize};

use super::identity::VerifiedIdentity;
use super::token::error_chain;
use super::{SignInError, issuer};
use crate::providers::{IssuerCheck, Provider};

/// Accepted difference between our clock and the provider's (for `exp` and `iat`).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// An ID token must have been issued at most this long ago: it comes straight from
/// the token endpoint, so an older one is a replay.
pub const MAX_ID_TOKEN_AGE: Duration = Duration::from_secs(5 * 60);
/// ID-token claims beyond the standard ones that we read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderClaims {
    /// Microsoft's tenant id, which names the issuer of multi-tenant sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

impl AdditionalClaims for ProviderClaims {}

/// The token endpoint's answer, with the ID token's fields.
pub type OidcTokenResponse = StandardTokenResponse<
    openidconnect::IdTokenFields<
        ProviderClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// The verifier with our choices: RS256, ES256 or EdDSA only (never `none` or
/// HMAC: RFC 8725 §3.1), `exp` with bounded skew, and `iat` neither in the
/// future nor stale. Microsoft and Google sign with RS256, the demo provider
/// with EdDSA.
fn id_token_verifier<'a>(client_verifier: CoreIdTokenVerifier<'a>) -> CoreIdTokenVerifier<'a> {
    client_verifier
        .set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EdDsa,
        ])
        // The crate rejects a token whose `exp` is not after this time; shifting
        // "now" back by the skew accepts a provider clock that runs a little behind.
        .set_time_fn(|| Utc::now() - MAX_CLOCK_SKEW)
        .set_issue_time_verifier_fn(|issued_at| check_issue_time(issued_at, Utc::now()))
}

/// `iat` may be up to [`MAX_CLOCK_SKEW`] ahead of `now` and at most
/// [`MAX_ID_TOKEN_AGE`] (plus the skew) behind it.
fn check_issue_time(issued_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if issued_at > now + MAX_CLOCK_SKEW {
        Err(format!("iat {issued_at} is in the future"))
    } else if issued_at < now - MAX_ID_TOKEN_AGE - MAX_CLOCK_SKEW {
        Err(format!("iat {issued_at} is too old"))
    } else {
        Ok(())
    }
}

/// What a valid ID token says.
pub struct ValidIdToken {
    pub identity: VerifiedIdentity,
    /// The issuer that keys the person, with `identity.subject`.
    pub issuer: String,
    /// The claims worth showing on `/flow`, as (name, value).
    pub shown: Vec<(String, String)>,
}

/// Validates the ID token of `response`: signature, `aud`, `exp`, `iat`,
/// `nonce` (`None` after a refresh, OIDC Core §12.2), `iss` by `check`,
/// `azp` and `at_hash`.
pub fn validate_id_token(
    provider: &Provider,
    verifier: CoreIdTokenVerifier<'_>,
    check: IssuerCheck,
    document_issuer: &str,
    response: &OidcTokenResponse,
    nonce: Option<&str>,
) -> Result<ValidIdToken, SignInError> {
    let invalid = |reason: String| SignInError::InvalidIdToken { reason };
    let id_token = response
        .id_token()
        .ok_or_else(|| invalid(format!("{} sent no ID token", provider.id)))?;
    // The crate compares `iss` with the discovery document's issuer; for the
    // documented exceptions it cannot, and the check below does it instead.
    let verifier = id_token_verifier(verifier).require_issuer_match(check == IssuerCheck::Exact);
    // Signature (JWKS), aud, exp, iat and nonce (OIDC Core §3.1.3.7 steps 2-11).
    // A refreshed ID token carries no nonce (OIDC Core §12.2): `None`.
    let claims: &IdTokenClaims<ProviderClaims, CoreGenderClaim> = match nonce {
        Some(nonce) => id_token.claims(&verifier, &Nonce::new(nonce.to_owned())),
        None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|error| invalid(error_chain(&error)))?;

    // Step 2 of §3.1.3.7, for every provider: `iss` is the issuer (see `oauth::issuer`).
    let iss = claims.issuer().as_str();
    let tid = claims.additional_claims().tid.as_deref();
    if !issuer::token_issuer_matches(check, document_issuer, iss, tid) {
        return Err(invalid(format!(
            "iss `{iss}` is not the issuer `{document_issuer}`"
        )));
    }

    // OIDC Core §3.1.3.7 point 5: "If an azp (authorized party) Claim is
    // present, the Client SHOULD verify that its client_id is the Claim
    // Value", whatever the number of audiences. The crate leaves this to us
    // (its check is commented out), so a token issued to another client
    // that lists us in `aud` would otherwise pass.
    if let Some(azp) = claims.authorized_party()
        && azp.as_str() != provider.client_id
    {
        return Err(invalid(format!(
            "azp `{}` is not our client id",
            azp.as_str()
        )));
    }

    // OIDC Core §3.2.2.9: when `at_hash` is present, it must match the access token.
    if let Some(expected) = claims.access_token_hash() {
        let algorithm = id_token
            .signing_alg()
            .map_err(|error| invalid(error_chain(&error)))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|error| invalid(error_chain(&error)))?;
        let actual = AccessTokenHash::from_token(response.access_token(), algorithm, key)
            .map_err(|error| invalid(error_chain(&error)))?;
        if actual != *expected {
            return Err(invalid("at_hash does not match the access token".into()));
        }
    }

    // What /flow shows of the validated token: who, for whom, by whom, when.
    let shown = vec![
        ("iss".to_owned(), iss.to_owned()),
        ("sub".to_owned(), claims.subject().to_string()),
        (
            "aud".to_owned(),
            claims
                .audiences()
                .iter()
                .map(|audience| audience.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("iat".to_owned(), claims.issue_time().to_rfc3339()),
        ("exp".to_owned(), claims.expiration().to_rfc3339()),
        (
            "nonce".to_owned(),
            "matches the one sent at step 3".to_owned(),
        ),
        (
            "signature".to_owned(),
            format!(
                "{} with key {}, verified",
                id_token
                    .signing_alg()
                    .ok()
                    .and_then(|alg| serde_json::to_value(alg).ok())
                    .and_then(|alg| alg.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                id_token
                    .signing_key(&verifier)
                    .ok()
                    .and_then(|key| key.key_id().map(|id| id.to_string()))
                    .unwrap_or_else(|| "(no kid)".into())
            ),
        ),
    ];
    let identity = VerifiedIdentity {
        subject: claims.subject().to_string(),
        // Microsoft puts the sign-in name in `preferred_username` and often
        // sends no `email`; it is a name to show, not a verified address.
        name: claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string())
            .or_else(|| claims.preferred_username().map(|name| name.to_string())),
        email: claims.email().map(|email| email.to_string()),
        auth_time: claims.auth_time().map(|at| at.timestamp()),
    };
    // The issuer that keys this person (OIDC Core §5.7). For Microsoft's
    // multi-tenant endpoints that is the token's own, tenant-specific `iss`,
    // which names the tenant (`tid`); Microsoft's ID-token reference pairs the
    // tenant with the user's id for the same reason.
    // Otherwise the validated issuer as configured, so that Google's two
    // spellings of its issuer name one person once.
    let key_issuer = match check {
        IssuerCheck::MicrosoftTenant => iss.to_owned(),
        IssuerCheck::Exact | IssuerCheck::ExactOrWithoutScheme => document_issuer.to_owned(),
    };
    Ok(ValidIdToken {
        identity,
        issuer: key_issuer,
        shown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iat_may_be_a_minute_ahead_and_six_minutes_behind_to_the_second() {
        let now = Utc::now();
        let at = |seconds: i64| now + chrono::Duration::seconds(seconds);
        assert!(check_issue_time(at(0), now).is_ok());
        // MAX_CLOCK_SKEW ahead.
        assert!(check_issue_time(at(60), now).is_ok());
        assert!(check_issue_time(at(61), now).is_err());
        // MAX_ID_TOKEN_AGE plus MAX_CLOCK_SKEW behind.
        assert!(check_issue_time(at(-360), now).is_ok());
        assert!(check_issue_time(at(-361), now).is_err());
    }
}
