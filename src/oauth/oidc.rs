//! OpenID Connect with the `openidconnect` crate: discovery (cached), the
//! authorization URL, the code exchange, and ID-token validation.
//!
//! The crate does the cryptography and the claim checks; this file chooses the
//! settings the crate leaves to us: which signature algorithms are allowed, how
//! much clock skew we accept, that `iat` must be recent (the crate does not check
//! `iat` unless asked), and what "the same issuer" means for the providers that
//! document an exception (`oauth::issuer`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenClaims,
    JsonWebKey as _, JsonWebKeySet, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse as _,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use url::Url;

use super::SignInError;
use super::issuer;
use super::token::{Observed, TokenTrace, error_chain, provider_tokens, send_observed};
use crate::db::accounts::ProviderTokens;
use crate::http_client::{MAX_JSON_BYTES, ReadError, read_capped};
use crate::providers::{ClientAuth, IssuerCheck, Protocol, Provider};

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

impl VerifiedIdentity {
    /// The name to greet the person with: their name, else their email, else
    /// their id at the provider.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| self.subject.clone())
    }
}

/// OIDC Core §2: `sub` "MUST NOT exceed 255 ASCII characters in length".
pub const MAX_SUBJECT_LEN: usize = 255;
/// Names are cut to this many characters: no one's name is longer, and the
/// display name travels in the session cookie, which browsers keep only up to
/// 4096 bytes (RFC 6265 §6.1).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest address SMTP can carry (RFC 5321 §4.5.3.1.3: a 256-octet path
/// including its angle brackets); a longer one is not an address.
pub const MAX_EMAIL_LEN: usize = 254;

impl VerifiedIdentity {
    /// The identity as we store and remember it, whichever protocol gave it
    /// (ID token, userinfo, or an API such as GitHub's `/user`): `sub` must be
    /// 1 to 255 printable ASCII characters (OIDC Core §2), the name is cut to
    /// [`MAX_NAME_CHARS`] on a character boundary, and an email longer than
    /// [`MAX_EMAIL_LEN`] is dropped. So what reaches the session cookie is
    /// bounded, whatever the provider sends.
    pub fn bounded(self) -> Result<Self, SignInError> {
        let subject = self.subject;
        if subject.is_empty()
            || subject.len() > MAX_SUBJECT_LEN
            || !subject.bytes().all(|byte| byte.is_ascii_graphic())
        {
            return Err(SignInError::UnusableSubject {
                length: subject.len(),
            });
        }
        Ok(VerifiedIdentity {
            subject,
            name: self.name.map(|name| truncate_chars(&name, MAX_NAME_CHARS)),
            email: self.email.filter(|email| email.len() <= MAX_EMAIL_LEN),
        })
    }
}

/// The first `max` characters of `text` (never splitting one).
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// What the token endpoint gave us, after validation.
#[derive(Debug)]
pub struct TokenExchange {
    /// Who vouches for `identity.subject`: with it, the key that finds the
    /// person again (OIDC Core §5.7; `db::accounts`). The ID token's issuer,
    /// or for plain OAuth 2.0 the authorization server's origin.
    pub issuer: String,
    pub identity: VerifiedIdentity,
    pub tokens: ProviderTokens,
}

/// The OpenID Connect provider we talk to: the issuer we configured and how
/// its tokens' `iss` is checked.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    pub issuer: &'a str,
    pub check: IssuerCheck,
}

impl<'a> Issuer<'a> {
    /// The issuer of an OpenID Connect provider; `None` for plain OAuth 2.0.
    pub fn of(provider: &'a Provider) -> Option<Self> {
        match &provider.protocol {
            Protocol::OpenIdConnect {
                issuer,
                issuer_check,
            } => Some(Issuer {
                issuer,
                check: *issuer_check,
            }),
            Protocol::OAuth2 { .. } => None,
        }
    }
}

/// ID-token claims beyond the standard ones that we read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderClaims {
    /// Microsoft's tenant id, which names the issuer of multi-tenant sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

impl AdditionalClaims for ProviderClaims {}

type OidcTokenResponse = StandardTokenResponse<
    openidconnect::IdTokenFields<
        ProviderClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// A client built from discovery: the authorization endpoint is known; the
/// token and userinfo endpoints are present only if the document lists them.
type DiscoveredClient = Client<
    ProviderClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    OidcTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A provider's discovery document with its signing keys, and facts about it
/// that `/setup` reports.
#[derive(Debug)]
pub struct Discovered {
    pub metadata: CoreProviderMetadata,
    pub facts: DiscoveryFacts,
}

/// What the discovery document says beyond what the flow needs, and how the
/// provider's clock compares with ours.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiscoveryFacts {
    /// `code_challenge_methods_supported` (RFC 8414 §2), if listed.
    pub pkce_methods: Option<Vec<String>>,
    /// `revocation_endpoint` (RFC 8414 §2), if any.
    pub revocation_endpoint: Option<String>,
    /// `end_session_endpoint` (OpenID Connect RP-Initiated Logout), if any.
    pub end_session_endpoint: Option<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3): the
    /// provider puts `iss` in every authorization response, so one without
    /// it is refused.
    pub iss_parameter_supported: bool,
    /// Signing keys in the JWKS.
    pub signing_keys: usize,
    /// The provider's clock minus ours, from its `Date` header, in seconds.
    pub clock_skew_secs: Option<i64>,
}

/// Discovery documents (with their JWKS), fetched on first use and cached.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    entries: RwLock<HashMap<&'static str, (Instant, Arc<Discovered>)>>,
    /// One lock per provider, held while its document is fetched: requests
    /// that miss the cache at the same moment (the start-up check and the
    /// first sign-in, say) wait for one fetch instead of each sending their
    /// own, and a slow provider does not hold up the others.
    fetching: std::sync::Mutex<HashMap<&'static str, Arc<tokio::sync::Mutex<()>>>>,
}

impl DiscoveryCache {
    /// The provider's metadata, from cache unless stale or `refresh` is set
    /// (after a signing key we did not know: keys rotate, OIDC Core §10.1.1).
    pub async fn metadata(
        &self,
        provider: &Provider,
        http: &reqwest::Client,
        refresh: bool,
    ) -> Result<Arc<Discovered>, SignInError> {
        let issuer = Issuer::of(provider).ok_or_else(|| SignInError::ProviderUnavailable {
            detail: format!("{} is not an OpenID Connect provider", provider.id),
        })?;
        if !refresh && let Some(cached) = self.cached(provider.id).await {
            return Ok(cached);
        }
        let lock = Arc::clone(
            self.fetching
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(provider.id)
                .or_default(),
        );
        let _fetching = lock.lock().await;
        // Fetched by another request while this one waited?
        if !refresh && let Some(cached) = self.cached(provider.id).await {
            return Ok(cached);
        }
        let metadata = Arc::new(discover(issuer, http).await?);
        self.entries
            .write()
            .await
            .insert(provider.id, (Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn cached(&self, provider_id: &str) -> Option<Arc<Discovered>> {
        let entries = self.entries.read().await;
        entries
            .get(provider_id)
            .filter(|(fetched_at, _)| still_fresh(fetched_at.elapsed()))
            .map(|(_, metadata)| metadata.clone())
    }
}

/// A cached discovery document (and its keys) this old is still used.
fn still_fresh(age: Duration) -> bool {
    age < DISCOVERY_TTL
}

/// Fetches `{issuer}/.well-known/openid-configuration` (Discovery 1.0 §4) and
/// the signing keys it points to.
///
/// We fetch the document ourselves rather than with the crate's
/// `discover_async` because Microsoft's multi-tenant documents name a
/// template issuer (quirk 1 in tests/fixtures/SOURCES.md); the issuer is still
/// checked, by `issuer::discovery_issuer_matches`.
async fn discover(issuer: Issuer<'_>, http: &reqwest::Client) -> Result<Discovered, SignInError> {
    let unavailable = |detail: String| SignInError::ProviderUnavailable { detail };
    let request_failed = |error: reqwest::Error| {
        if error.is_timeout() {
            SignInError::ProviderTimeout
        } else {
            unavailable(format!("discovery failed: {}", error.without_url()))
        }
    };
    // §4.1: a trailing slash on the issuer is removed before the suffix.
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.issuer.trim_end_matches('/')
    );
    let response = http
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(request_failed)?;
    if !response.status().is_success() {
        return Err(unavailable(format!(
            "discovery document answered HTTP {}",
            response.status().as_u16()
        )));
    }
    let clock_skew_secs = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| chrono::DateTime::parse_from_rfc2822(date).ok())
        .map(|date| date.timestamp() - Utc::now().timestamp());
    let body = read_capped(response, MAX_JSON_BYTES)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge { .. } => SignInError::AnswerTooLarge {
                what: "discovery document",
            },
            ReadError::Http(error) => request_failed(error),
        })?;
    let metadata: CoreProviderMetadata = serde_json::from_slice(&body)
        .map_err(|error| unavailable(format!("discovery document is not valid: {error}")))?;
    // Fields the crate's core metadata does not carry, read from the same body.
    let document: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |name: &str| {
        document
            .get(name)
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };

    // Discovery 1.0 §4.3: the document must be about the issuer we asked for.
    let document_issuer = metadata.issuer().as_str();
    if !issuer::discovery_issuer_matches(issuer.check, issuer.issuer, document_issuer) {
        return Err(unavailable(format!(
            "discovery document names issuer `{document_issuer}`, not `{}`",
            issuer.issuer
        )));
    }

    // Every endpoint the document names that receives a token, code or
    // secret, or whose answer we trust (keys, profile), must be https, or
    // loopback http for a loopback issuer (`issuer::safe_endpoint`).
    let endpoints = [
        (
            "token_endpoint",
            metadata
                .token_endpoint()
                .map(|endpoint| endpoint.url().to_string()),
        ),
        (
            "userinfo_endpoint",
            metadata
                .userinfo_endpoint()
                .map(|endpoint| endpoint.url().to_string()),
        ),
        ("jwks_uri", Some(metadata.jwks_uri().url().to_string())),
        ("revocation_endpoint", text("revocation_endpoint")),
        ("end_session_endpoint", text("end_session_endpoint")),
    ];
    for (name, endpoint) in endpoints {
        if let Some(endpoint) = endpoint
            && issuer::safe_endpoint(Some(issuer.issuer), &endpoint).is_none()
        {
            return Err(SignInError::UnsafeEndpoint { name });
        }
    }

    let jwks = fetch_jwks(metadata.jwks_uri().url(), http).await?;
    let facts = DiscoveryFacts {
        pkce_methods: document
            .get("code_challenge_methods_supported")
            .and_then(|value| serde_json::from_value(value.clone()).ok()),
        revocation_endpoint: text("revocation_endpoint"),
        end_session_endpoint: text("end_session_endpoint"),
        iss_parameter_supported: document
            .get("authorization_response_iss_parameter_supported")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        signing_keys: jwks.keys().len(),
        clock_skew_secs,
    };
    Ok(Discovered {
        metadata: metadata.set_jwks(jwks),
        facts,
    })
}

/// The signing keys at `jwks_uri` (RFC 7517 §5), read within the cap like
/// every answer (the crate's `JsonWebKeySet::fetch_async` reads it whole).
async fn fetch_jwks(
    jwks_uri: &Url,
    http: &reqwest::Client,
) -> Result<JsonWebKeySet<CoreJsonWebKey>, SignInError> {
    let failed = |error: reqwest::Error| {
        if error.is_timeout() {
            SignInError::ProviderTimeout
        } else {
            SignInError::ProviderUnavailable {
                detail: format!("signing keys: {}", error.without_url()),
            }
        }
    };
    let response = http
        .get(jwks_uri.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(failed)?;
    if !response.status().is_success() {
        return Err(SignInError::ProviderUnavailable {
            detail: format!("signing keys answered HTTP {}", response.status().as_u16()),
        });
    }
    let body = read_capped(response, MAX_JSON_BYTES)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge { .. } => SignInError::AnswerTooLarge {
                what: "signing keys",
            },
            ReadError::Http(error) => failed(error),
        })?;
    serde_json::from_slice(&body).map_err(|error| SignInError::ProviderUnavailable {
        detail: format!("signing keys are not a valid JWKS: {error}"),
    })
}

fn client(provider: &Provider, metadata: &CoreProviderMetadata) -> DiscoveredClient {
    let redirect_url = RedirectUrl::from_url(provider.redirect_uri.clone());
    // HTTP Basic unless the provider says it only takes the secret in the body
    // (Discovery 1.0 §3 `token_endpoint_auth_methods_supported`).
    let only_post = metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
    let auth_type = if provider.client_auth == ClientAuth::RequestBody || only_post {
        AuthType::RequestBody
    } else {
        AuthType::BasicAuth
    };
    Client::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(
            provider.client_secret.expose_secret().to_owned(),
        )),
    )
    .set_auth_type(auth_type)
    // Step 3 carries this exact URI, and step 5 repeats it (RFC 6749 §4.1.3).
    .set_redirect_uri(redirect_url)
}

/// Step 3: the URL of the provider's authorization endpoint with every parameter
/// of RFC 6749 §4.1.1, RFC 7636 §4.3 (S256 challenge) and OIDC Core §3.1.2.1
/// (nonce, and `prompt=consent` when asked to show the consent page again).
pub fn authorization_url(
    provider: &Provider,
    metadata: &CoreProviderMetadata,
    state: &str,
    nonce: &str,
    pkce_challenge: PkceCodeChallenge,
    ask_consent_again: bool,
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
    for (name, value) in &provider.extra_authorization_params {
        request = request.add_extra_param(*name, *value);
    }
    if ask_consent_again {
        request = request.add_prompt(CoreAuthPrompt::Consent);
    }
    let (url, _state, _nonce) = request.url();
    url
}

/// What the code exchange needs from step 4 and from the pending sign-in.
#[derive(Clone, Copy)]
pub struct CodeGrant<'a> {
    pub code: &'a str,
    pub pkce_verifier: &'a SecretString,
    pub nonce: &'a str,
}

/// Steps 5 and 6: exchange the code at the token endpoint (with the PKCE
/// verifier and client authentication), then validate the ID token.
pub async fn exchange_code(
    provider: &Provider,
    cache: &DiscoveryCache,
    http: &reqwest::Client,
    grant: CodeGrant<'_>,
    trace: &mut TokenTrace,
) -> Result<TokenExchange, SignInError> {
    let CodeGrant {
        code,
        pkce_verifier,
        nonce,
    } = grant;
    let discovered = cache.metadata(provider, http, false).await?;
    let check = Issuer::of(provider).map_or(IssuerCheck::Exact, |issuer| issuer.check);
    let metadata = &discovered.metadata;
    let client = client(provider, metadata);
    trace.token_endpoint = metadata.token_endpoint().map(|url| url.url().clone());
    trace.client_auth = client_auth_name(&client);

    // Step 5: POST to the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5).
    let observed = Observed::default();
    let send = |request| send_observed(http, request, &observed);
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|error| SignInError::ProviderUnavailable {
            detail: format!("the provider has no token endpoint: {error}"),
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(
            pkce_verifier.expose_secret().to_owned(),
        ))
        .request_async(&send)
        .await;
    let response: OidcTokenResponse = observed.finish(response, trace)?;

    // Step 6: we have the access token. Before trusting who it is for, validate
    // the ID token (OpenID Connect Core §3.1.3.7).
    let validate = |metadata: &CoreProviderMetadata| {
        let client = self::client(provider, metadata);
        let document_issuer = metadata.issuer().as_str();
        validate_id_token(
            provider,
            client.id_token_verifier(),
            check,
            document_issuer,
            &response,
            Some(nonce),
        )
    };
    let valid = match validate(metadata) {
        Err(SignInError::InvalidIdToken { reason }) if reason.contains("No matching key") => {
            // The provider may have rotated its keys since we cached them.
            let discovered = cache.metadata(provider, http, true).await?;
            validate(&discovered.metadata)?
        }
        other => other?,
    };
    trace.id_token_claims = valid.shown;

    let mut tokens = provider_tokens(provider, &response);
    // Kept (sealed) for `id_token_hint` at sign-out and to compare a
    // refreshed ID token with (OIDC Core §12.2).
    tokens.id_token = response
        .id_token()
        .map(|id_token| SecretString::from(id_token.to_string()));
    Ok(TokenExchange {
        issuer: valid.issuer,
        identity: valid.identity,
        tokens,
    })
}

/// A refresh at an OpenID Connect provider (RFC 6749 §6): the refresh token
/// at the token endpoint, with the same client authentication as the code
/// exchange. An ID token in the answer is validated as at sign-in (signature,
/// `aud`, `exp`, `iat`, issuer), except for the nonce (OIDC Core §12.2), and
/// kept in the tokens; the caller compares who it is about.
pub async fn refresh(
    provider: &Provider,
    cache: &DiscoveryCache,
    http: &reqwest::Client,
    refresh_token: &SecretString,
    trace: &mut TokenTrace,
) -> Result<ProviderTokens, SignInError> {
    let discovered = cache.metadata(provider, http, false).await?;
    let check = Issuer::of(provider).map_or(IssuerCheck::Exact, |issuer| issuer.check);
    let metadata = &discovered.metadata;
    let client = client(provider, metadata);
    trace.token_endpoint = metadata.token_endpoint().map(|url| url.url().clone());
    trace.client_auth = client_auth_name(&client);
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

/// How the client authenticates at the token endpoint, for `/flow`.
fn client_auth_name(client: &DiscoveredClient) -> &'static str {
    match client.auth_type() {
        AuthType::RequestBody => "form body (client_secret_post)",
        _ => "HTTP Basic (client_secret_basic)",
    }
}

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
struct ValidIdToken {
    identity: VerifiedIdentity,
    /// The issuer that keys the person, with `identity.subject`.
    issuer: String,
    /// The claims worth showing on `/flow`, as (name, value).
    shown: Vec<(String, String)>,
}

fn validate_id_token(
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

    #[test]
    fn a_discovery_document_is_used_for_an_hour_and_then_fetched_again() {
        let minutes = |count: u64| Duration::from_secs(count * 60);
        assert!(still_fresh(Duration::ZERO));
        assert!(still_fresh(minutes(59)));
        assert!(!still_fresh(minutes(60)));
        assert!(!still_fresh(minutes(61)));
    }
}
