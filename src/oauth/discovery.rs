//! OpenID Connect Discovery 1.0: a provider's metadata and signing keys,
//! fetched from `{issuer}/.well-known/openid-configuration`, checked (the
//! issuer it names, the endpoints it lists) and cached for an hour.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use openidconnect::JsonWebKeySet;
use openidconnect::core::{CoreJsonWebKey, CoreProviderMetadata};
use serde::Serialize;
use tokio::sync::RwLock;
use url::Url;

use super::{SignInError, issuer};
use crate::http_client::{MAX_JSON_BYTES, ReadError, read_capped};
use crate::providers::{IssuerCheck, Protocol, Provider};

/// Discovery documents and keys are fetched again after this long.
const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);

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

    /// The userinfo endpoint of an OpenID Connect provider (OIDC Core §5.3),
    /// from its cached discovery document.
    pub async fn userinfo_endpoint(
        &self,
        provider: &Provider,
        http: &reqwest::Client,
    ) -> Result<Option<Url>, SignInError> {
        if Issuer::of(provider).is_none() {
            return Ok(None);
        }
        let discovered = self.metadata(provider, http, false).await?;
        Ok(discovered
            .metadata
            .userinfo_endpoint()
            .map(|endpoint| endpoint.url().clone()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discovery_document_is_used_for_an_hour_and_then_fetched_again() {
        let minutes = |count: u64| Duration::from_secs(count * 60);
        assert!(still_fresh(Duration::ZERO));
        assert!(still_fresh(minutes(59)));
        assert!(!still_fresh(minutes(60)));
        assert!(!still_fresh(minutes(61)));
    }
}
