//! Refreshing an access token (RFC 6749 §6) at any provider, and what a
//! failed refresh means.
//!
//! The request is the refresh grant, sent with the protocol's client
//! (`oidc_grant`, `plain_grant`); this file also adds the two rules every refresh shares: a new ID token must be
//! about the same person, for the same client, from the same issuer as the one
//! from sign-in (OIDC Core §12.2), and an error is either final (the refresh
//! token is dead: sign in again) or passing (the provider could not answer:
//! keep the tokens, try again).
//!
//! What it must not do: store anything, or decide when to refresh
//! (`crate::tokens` does both, one refresh at a time).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};

use openidconnect::{RefreshToken, TokenResponse as _};

use super::discovery::{DiscoveryCache, Issuer};
use super::id_token::{OidcTokenResponse, validate_id_token};
use super::plain::Endpoints;
use super::token::{Observed, TokenTrace, provider_tokens, send_observed};
use super::{SignInError, oidc, plain};
use crate::db::tokens::ProviderTokens;
use crate::providers::{IssuerCheck, Protocol, Provider};

/// Why a refresh gave no new tokens.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// There is no refresh token (the provider issued none, e.g. GitHub OAuth
    /// apps, or the person did not allow offline access).
    #[error("there is no refresh token")]
    NoRefreshToken,
    /// The provider refused the refresh token (`invalid_grant`: expired,
    /// revoked, password changed, or already used), RFC 6749 §5.2.
    #[error("the provider refused the refresh token: {code}")]
    Refused {
        code: String,
        description: Option<String>,
    },
    /// The refreshed ID token is not about the person who signed in, or was
    /// not valid (OIDC Core §12.2).
    #[error("the refreshed ID token does not match the sign-in's: {reason}")]
    IdentityChanged { reason: String },
    /// The provider did not answer properly (timeout, connection, 5xx,
    /// `temporarily_unavailable`): the tokens may still be good.
    #[error("the provider could not refresh now: {detail}")]
    Unavailable { detail: String, timeout: bool },
}

impl RefreshError {
    /// A passing failure: keep the tokens and let the person try again.
    pub fn is_transient(&self) -> bool {
        matches!(self, RefreshError::Unavailable { .. })
    }
}

impl From<SignInError> for RefreshError {
    fn from(error: SignInError) -> Self {
        match error {
            // RFC 6749 §5.2 codes the server uses for its own trouble.
            SignInError::TokenRequestRejected { code, .. }
                if code == "server_error" || code == "temporarily_unavailable" =>
            {
                RefreshError::Unavailable {
                    detail: code,
                    timeout: false,
                }
            }
            SignInError::TokenRequestRejected { code, description } => {
                RefreshError::Refused { code, description }
            }
            SignInError::InvalidIdToken { reason } => RefreshError::IdentityChanged { reason },
            SignInError::ProviderTimeout => RefreshError::Unavailable {
                detail: "timeout".into(),
                timeout: true,
            },
            other => RefreshError::Unavailable {
                detail: format!("{other:?}"),
                timeout: false,
            },
        }
    }
}

/// Asks the provider for new tokens with `current`'s refresh token. The
/// answer's refresh token (if any) replaces the old one when stored; an ID
/// token in it must match `current`'s.
pub async fn renew(
    provider: &Provider,
    discovery: &DiscoveryCache,
    http: &reqwest::Client,
    current: &ProviderTokens,
    trace: &mut TokenTrace,
) -> Result<ProviderTokens, RefreshError> {
    let refresh_token = current
        .refresh_token
        .as_ref()
        .ok_or(RefreshError::NoRefreshToken)?;
    // An answer without `scope` renews the grant as it was (RFC 6749 §5.1,
    // §6), which may include the mail permission asked for after sign-in.
    let provider = &provider.granted(&current.scopes);
    let fresh = match &provider.protocol {
        Protocol::OpenIdConnect { .. } => {
            oidc_grant(provider, discovery, http, refresh_token, trace).await?
        }
        Protocol::OAuth2 {
            authorization_endpoint: authorization,
            token_endpoint: token,
            ..
        } => {
            let endpoints = plain::Endpoints {
                authorization,
                token,
            };
            plain_grant(provider, endpoints, http, refresh_token, trace).await?
        }
    };
    if let (Some(before), Some(after)) = (&current.id_token, &fresh.id_token) {
        same_sign_in(before, after)?;
    }
    Ok(fresh)
}

/// A refresh at an OpenID Connect provider (RFC 6749 §6): the refresh token
/// at the token endpoint, with the same client authentication as the code
/// exchange. An ID token in the answer is validated as at sign-in (signature,
/// `aud`, `exp`, `iat`, issuer), except for the nonce (OIDC Core §12.2), and
/// kept in the tokens; the caller compares who it is about.
async fn oidc_grant(
    provider: &Provider,
    cache: &DiscoveryCache,
    http: &reqwest::Client,
    refresh_token: &SecretString,
    trace: &mut TokenTrace,
) -> Result<ProviderTokens, SignInError> {
    let discovered = cache.metadata(provider, http, false).await?;
    let check = Issuer::of(provider).map_or(IssuerCheck::Exact, |issuer| issuer.check);
    let metadata = &discovered.metadata;
    let client = oidc::client(provider, metadata);
    trace.token_endpoint = metadata.token_endpoint().map(|url| url.url().clone());
    trace.client_auth = oidc::client_auth_name(&client);
    let observed = Observed::default();
    let send = |request| send_observed(http, request, &observed);
    let response = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
        .map_err(|error| SignInError::ProviderUnavailable {
            detail: format!("the provider has no token endpoint: {error}"),
        })?
        .request_async(&send)
        .await;
    let response: OidcTokenResponse = observed.finish(response, trace)?;
    if response.id_token().is_some() {
        validate_id_token(
            provider,
            client.id_token_verifier(),
            check,
            metadata.issuer().as_str(),
            &response,
            None,
        )?;
    }
    let mut tokens = provider_tokens(provider, &response);
    tokens.id_token = response
        .id_token()
        .map(|id_token| SecretString::from(id_token.to_string()));
    Ok(tokens)
}

/// A refresh (RFC 6749 §6) at a plain OAuth 2.0 provider. GitHub issues
/// refresh tokens only to GitHub Apps with expiring user tokens, never to
/// OAuth apps; both tokens rotate at each refresh.
async fn plain_grant(
    provider: &Provider,
    endpoints: Endpoints<'_>,
    http: &reqwest::Client,
    refresh_token: &SecretString,
    trace: &mut TokenTrace,
) -> Result<ProviderTokens, SignInError> {
    trace.token_endpoint = Some(endpoints.token.clone());
    trace.client_auth = plain::client_auth_name(provider);
    let observed = Observed::default();
    let send = |request: oauth2::HttpRequest| {
        plain::errors_reported_with_200_are_errors(http, request, &observed)
    };
    let response = plain::client(provider, endpoints)
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
        .request_async(&send)
        .await;
    let response = observed.finish(response, trace)?;
    Ok(provider_tokens(provider, &response))
}

/// The claims OIDC Core §12.2 says must not change at a refresh.
#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
struct WhoFor {
    iss: String,
    sub: String,
    #[serde(deserialize_with = "one_or_many")]
    aud: Vec<String>,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3); compared as a set.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    let mut audiences = match <Aud as serde::Deserialize>::deserialize(deserializer)? {
        Aud::One(audience) => vec![audience],
        Aud::Many(audiences) => audiences,
    };
    audiences.sort();
    audiences.dedup();
    Ok(audiences)
}

/// The payload of a JWT whose signature was already checked: the sign-in's
/// ID token was validated when it arrived (and sealed at rest since), the
/// refreshed one by `oidc_grant` just now.
fn who_for(id_token: &SecretString) -> Option<WhoFor> {
    let payload = id_token.expose_secret().split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&json).ok()
}

/// OIDC Core §12.2: `iss`, `sub` and `aud` of a refreshed ID token are those
/// of the original one.
fn same_sign_in(before: &SecretString, after: &SecretString) -> Result<(), RefreshError> {
    let changed = |reason: &str| RefreshError::IdentityChanged {
        reason: reason.to_owned(),
    };
    let before = who_for(before).ok_or_else(|| changed("the stored ID token cannot be read"))?;
    let after = who_for(after).ok_or_else(|| changed("the new ID token cannot be read"))?;
    if before.iss != after.iss {
        return Err(changed("iss differs"));
    }
    if before.sub != after.sub {
        return Err(changed("sub differs"));
    }
    if before.aud != after.aud {
        return Err(changed("aud differs"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> SecretString {
        let part = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
        SecretString::from(format!(
            "{}.{}.sig",
            part(&serde_json::json!({"alg": "EdDSA"})),
            part(&claims)
        ))
    }

    fn original() -> SecretString {
        jwt(serde_json::json!({"iss": "https://issuer", "sub": "alice", "aud": "app"}))
    }

    #[test]
    fn a_refreshed_id_token_about_the_same_sign_in_is_accepted() {
        let same =
            jwt(serde_json::json!({"iss": "https://issuer", "sub": "alice", "aud": ["app"]}));
        assert!(same_sign_in(&original(), &same).is_ok());
    }

    #[test]
    fn a_refreshed_id_token_with_another_iss_sub_or_aud_is_refused() {
        for (claims, what) in [
            (
                serde_json::json!({"iss": "https://other", "sub": "alice", "aud": "app"}),
                "iss",
            ),
            (
                serde_json::json!({"iss": "https://issuer", "sub": "mallory", "aud": "app"}),
                "sub",
            ),
            (
                serde_json::json!({"iss": "https://issuer", "sub": "alice", "aud": ["app", "x"]}),
                "aud",
            ),
        ] {
            let error = same_sign_in(&original(), &jwt(claims)).expect_err(what);
            assert!(error.to_string().contains(what), "{error}");
        }
    }

    #[test]
    fn only_provider_trouble_is_a_passing_failure() {
        let rejected = |code: &str| SignInError::TokenRequestRejected {
            code: code.into(),
            description: None,
        };
        assert!(!RefreshError::from(rejected("invalid_grant")).is_transient());
        assert!(RefreshError::from(rejected("temporarily_unavailable")).is_transient());
        assert!(RefreshError::from(SignInError::ProviderTimeout).is_transient());
        assert!(!RefreshError::NoRefreshToken.is_transient());
    }
}
