//! OpenID Connect with the `openidconnect` crate: discovery (cached), the
//! authorization URL, the code exchange, and ID-token validation.
//!
//! The crate does the cryptography and the claim checks; this file chooses the
//! settings the crate leaves to us: which signature algorithms are allowed, how
//! much clock skew we accept, and that `iat` must be recent (the crate does not
//! check `iat` unless asked).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreIdTokenVerifier,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::RwLock;
use url::Url;

use super::SignInError;
use crate::db::accounts::ProviderTokens;
use crate::providers::Provider;

/// Accepted difference between our clock and the provider's (for `exp` and `iat`).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// An ID token must have been issued at most this long ago: it comes straight from
/// the token endpoint, so an older one is a replay.
pub const MAX_ID_TOKEN_AGE: Duration = Duration::from_secs(5 * 60);
/// Discovery documents and keys are fetched again after this long.
const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);

/// The claims we keep from a validated ID token.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// `sub`: the stable, unique id of the person at this issuer.
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// What the token endpoint gave us, after validation.
#[derive(Debug)]
pub struct TokenExchange {
    pub identity: VerifiedIdentity,
    pub tokens: ProviderTokens,
}

/// Discovery documents (with their JWKS), fetched on first use and cached.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    entries: RwLock<HashMap<&'static str, (Instant, Arc<CoreProviderMetadata>)>>,
}

impl DiscoveryCache {
    /// The provider's metadata, from cache unless stale or `refresh` is set
    /// (after a signing key we did not know: keys rotate, OIDC Core §10.1.1).
    pub async fn metadata(
        &self,
        provider: &Provider,
        issuer: &Url,
        http: &reqwest::Client,
        refresh: bool,
    ) -> Result<Arc<CoreProviderMetadata>, SignInError> {
        if !refresh {
            let entries = self.entries.read().await;
            if let Some((fetched_at, metadata)) = entries.get(provider.id)
                && fetched_at.elapsed() < DISCOVERY_TTL
            {
                return Ok(metadata.clone());
            }
        }
        // The issuer must match the discovery document's `issuer` exactly
        // (OpenID Connect Discovery 1.0 §4.3); the crate checks that.
        let issuer_url =
            IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned()).map_err(|error| {
                SignInError::ProviderUnavailable {
                    detail: format!("bad issuer URL: {error}"),
                }
            })?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, http)
            .await
            .map_err(|error| match &error {
                openidconnect::DiscoveryError::Request(inner) if is_timeout(inner) => {
                    SignInError::ProviderTimeout
                }
                _ => SignInError::ProviderUnavailable {
                    detail: format!("discovery failed: {}", error_chain(&error)),
                },
            })?;
        let metadata = Arc::new(metadata);
        self.entries
            .write()
            .await
            .insert(provider.id, (Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// A client built from discovery: the authorization endpoint is known; the
/// token and userinfo endpoints are present only if the document lists them.
type DiscoveredClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(provider: &Provider, metadata: &CoreProviderMetadata) -> DiscoveredClient {
    let redirect_url = RedirectUrl::from_url(provider.redirect_uri.clone());
    CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(
            provider.client_secret.expose_secret().to_owned(),
        )),
    )
    // Step 3 carries this exact URI, and step 5 repeats it (RFC 6749 §4.1.3).
    .set_redirect_uri(redirect_url)
}

/// Step 3: the URL of the provider's authorization endpoint with every parameter
/// of RFC 6749 §4.1.1, RFC 7636 §4.3 (S256 challenge) and OIDC Core §3.1.2.1 (nonce).
pub fn authorization_url(
    provider: &Provider,
    metadata: &CoreProviderMetadata,
    state: &str,
    nonce: &str,
    pkce_challenge: PkceCodeChallenge,
) -> Url {
    let client = client(provider, metadata);
    let state = state.to_owned();
    let nonce = nonce.to_owned();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(pkce_challenge);
    for scope in provider.scopes.iter().filter(|scope| *scope != "openid") {
        // The crate adds `openid` itself.
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, _state, _nonce) = request.url();
    url
}

/// Steps 5 and 6: exchange the code at the token endpoint (with the PKCE
/// verifier and client authentication), then validate the ID token.
pub async fn exchange_code(
    provider: &Provider,
    cache: &DiscoveryCache,
    issuer: &Url,
    http: &reqwest::Client,
    code: &str,
    pkce_verifier: &SecretString,
    nonce: &str,
) -> Result<TokenExchange, SignInError> {
    let metadata = cache.metadata(provider, issuer, http, false).await?;
    let client = client(provider, &metadata);

    // Step 5: POST to the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5).
    // The client secret goes in HTTP Basic auth, the crate's default (RFC 6749 §2.3.1).
    let response: CoreTokenResponse = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|error| SignInError::ProviderUnavailable {
            detail: format!("the provider has no token endpoint: {error}"),
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(
            pkce_verifier.expose_secret().to_owned(),
        ))
        .request_async(http)
        .await
        .map_err(token_request_error)?;

    // Step 6: we have the access token. Before trusting who it is for, validate
    // the ID token (OpenID Connect Core §3.1.3.7).
    let identity = match validate_id_token(provider, client.id_token_verifier(), &response, nonce) {
        Err(SignInError::InvalidIdToken { reason }) if reason.contains("No matching key") => {
            // The provider may have rotated its keys since we cached them.
            let metadata = cache.metadata(provider, issuer, http, true).await?;
            let client = self::client(provider, &metadata);
            validate_id_token(provider, client.id_token_verifier(), &response, nonce)?
        }
        other => other?,
    };

    let tokens = ProviderTokens {
        access_token: SecretString::from(response.access_token().secret().to_owned()),
        refresh_token: response
            .refresh_token()
            .map(|token| SecretString::from(token.secret().to_owned())),
        access_token_expires_at: response.expires_in().map(|lifetime| {
            Utc::now().timestamp() + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2)
        }),
        // RFC 6749 §5.1: when `scope` is omitted, what we asked for was granted.
        scopes: response
            .scopes()
            .map(|scopes| scopes.iter().map(|scope| scope.to_string()).collect())
            .unwrap_or_else(|| provider.scopes.clone()),
    };
    Ok(TokenExchange { identity, tokens })
}

/// The verifier with our choices: RS256/ES256 only (never `none` or HMAC),
/// `exp` with bounded skew, and `iat` neither in the future nor stale.
fn id_token_verifier<'a>(client_verifier: CoreIdTokenVerifier<'a>) -> CoreIdTokenVerifier<'a> {
    client_verifier
        .set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ])
        // The crate rejects a token whose `exp` is not after this time; shifting
        // "now" back by the skew accepts a provider clock that runs a little behind.
        .set_time_fn(|| Utc::now() - MAX_CLOCK_SKEW)
        .set_issue_time_verifier_fn(|issued_at| {
            let now = Utc::now();
            if issued_at > now + MAX_CLOCK_SKEW {
                Err(format!("iat {issued_at} is in the future"))
            } else if issued_at < now - MAX_ID_TOKEN_AGE - MAX_CLOCK_SKEW {
                Err(format!("iat {issued_at} is too old"))
            } else {
                Ok(())
            }
        })
}

fn validate_id_token(
    provider: &Provider,
    verifier: CoreIdTokenVerifier<'_>,
    response: &CoreTokenResponse,
    nonce: &str,
) -> Result<VerifiedIdentity, SignInError> {
    let invalid = |reason: String| SignInError::InvalidIdToken { reason };
    let id_token = response
        .id_token()
        .ok_or_else(|| invalid(format!("{} sent no ID token", provider.id)))?;
    let verifier = id_token_verifier(verifier);
    // Signature (JWKS), iss, aud, exp, iat and nonce (OIDC Core §3.1.3.7 steps 2-11).
    let claims: &CoreIdTokenClaims = id_token
        .claims(&verifier, &Nonce::new(nonce.to_owned()))
        .map_err(|error| invalid(error_chain(&error)))?;

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

    Ok(VerifiedIdentity {
        subject: claims.subject().to_string(),
        name: claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string()),
        email: claims.email().map(|email| email.to_string()),
    })
}

/// Maps the crate's token-request error to ours, dropping the raw body: on a
/// parse failure it can hold a token.
fn token_request_error<RE, T>(error: openidconnect::RequestTokenError<RE, T>) -> SignInError
where
    RE: std::error::Error + 'static,
    T: openidconnect::ErrorResponse + 'static,
{
    match error {
        openidconnect::RequestTokenError::ServerResponse(response) => {
            // RFC 6749 §5.2: `error` is an ASCII code; keep the description apart.
            let body = serde_json::to_value(&response).unwrap_or_default();
            let code = body
                .get("error")
                .and_then(|value| value.as_str())
                .unwrap_or("unknown_error")
                .to_owned();
            let description = body
                .get("error_description")
                .and_then(|value| value.as_str())
                .map(str::to_owned);
            SignInError::TokenRequestRejected { code, description }
        }
        openidconnect::RequestTokenError::Request(inner) if is_timeout(&inner) => {
            SignInError::ProviderTimeout
        }
        openidconnect::RequestTokenError::Request(inner) => SignInError::ProviderUnavailable {
            detail: format!("token request failed: {}", error_chain(&inner)),
        },
        openidconnect::RequestTokenError::Parse(parse_error, _body) => {
            SignInError::ProviderUnavailable {
                detail: format!(
                    "token response is not valid JSON of the expected shape at {}",
                    parse_error.path()
                ),
            }
        }
        openidconnect::RequestTokenError::Other(message) => SignInError::ProviderUnavailable {
            detail: format!("token endpoint: {message}"),
        },
    }
}

/// True when the error (or one of its causes) is a reqwest timeout.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(reqwest_error) = error.downcast_ref::<reqwest::Error>()
            && reqwest_error.is_timeout()
        {
            return true;
        }
        // oauth2 boxes reqwest's error without exposing it as a `source()`.
        if let Some(openidconnect::HttpClientError::Reqwest(inner)) =
            error.downcast_ref::<openidconnect::HttpClientError<reqwest::Error>>()
        {
            return inner.is_timeout();
        }
        current = error.source();
    }
    false
}

/// "outer: inner: innermost", for logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
