//! Signing out at the provider: revoking the tokens it gave us, and ending the
//! person's session there.
//!
//! Three kinds of sign-out exist, and each undoes something different:
//! - ending our session (`db::sessions`) signs the person out of this app;
//! - revoking tokens (RFC 7009, or GitHub's grant deletion) makes the refresh
//!   token useless, so nobody can get new access tokens with it; an access
//!   token that is a JWT may still work until it expires, unless the API
//!   checks revocation (continuous access evaluation);
//! - RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) sends the
//!   browser to the provider's `end_session_endpoint`, which ends the
//!   person's session at the provider and sends them back.
//!
//! Endpoints come from discovery and receive tokens, so they are used only if
//! `issuer::safe_endpoint` allows them (checked when discovery is read, and
//! again here before a token is sent).
//!
//! What it must not do: touch the database or sessions (routes delete what is
//! stored whatever the provider answers), or fail the sign-out: every outcome
//! here is a report for `/signed-out`, never an error page.

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use std::time::Instant;

use super::discovery::DiscoveryCache;
use super::issuer::safe_endpoint;
use crate::db::tokens::ProviderTokens;
use crate::http_client::{MAX_ERROR_BODY_BYTES, read_capped};
use crate::oauth::observe::{Later, Notes};
use crate::providers::{ClientAuth, Provider, Revocation};

/// What happened to the tokens at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokensAtProvider {
    /// The provider confirmed the revocation.
    Revoked,
    /// We held no tokens for this identity (already signed out, or refused).
    NoneHeld,
    /// The provider offers apps no way to revoke (Microsoft).
    NotOffered,
    /// This app is no longer configured for the provider (its variables were
    /// removed after the person signed in), so it cannot ask it to revoke.
    NotConfigured,
    /// The provider did not confirm (error, timeout, unsafe endpoint).
    Failed,
}

/// Revokes `tokens` where the provider lets apps do so: the refresh token
/// first, then the access token (RFC 7009 §2.1), or GitHub's whole grant.
/// Each request sent is reported to the observer through `notes`.
pub async fn revoke(
    provider: &Provider,
    discovery: &DiscoveryCache,
    http: &reqwest::Client,
    tokens: Option<&ProviderTokens>,
    notes: &mut Notes<'_>,
) -> TokensAtProvider {
    let Some(tokens) = tokens else {
        return TokensAtProvider::NoneHeld;
    };
    let outcome = match &provider.revocation {
        Revocation::Discovered => revoke_rfc7009(provider, discovery, http, tokens, notes).await,
        Revocation::GitHubGrant { api_url } => {
            delete_github_grant(provider, api_url, http, &tokens.access_token, notes).await
        }
    };
    if outcome == TokensAtProvider::Failed {
        tracing::warn!(
            provider = provider.id,
            "the provider did not confirm the revocation"
        );
    }
    outcome
}

/// RFC 7009 at the discovery document's `revocation_endpoint`.
async fn revoke_rfc7009(
    provider: &Provider,
    discovery: &DiscoveryCache,
    http: &reqwest::Client,
    tokens: &ProviderTokens,
    notes: &mut Notes<'_>,
) -> TokensAtProvider {
    let Ok(discovered) = discovery.metadata(provider, http, false).await else {
        return TokensAtProvider::Failed;
    };
    let Some(endpoint) = discovered.facts.revocation_endpoint.as_deref() else {
        return TokensAtProvider::NotOffered;
    };
    let Some(endpoint) = safe_endpoint(provider.issuer(), endpoint) else {
        return TokensAtProvider::Failed;
    };
    // The refresh token first: revoking it may revoke the grant's access
    // tokens too (RFC 7009 §2.1), and it is the one that outlives a sign-out.
    let mut revocable = Vec::new();
    if let Some(refresh) = &tokens.refresh_token {
        revocable.push((refresh, "refresh_token"));
    }
    revocable.push((&tokens.access_token, "access_token"));
    for (token, hint) in revocable {
        // RFC 7009 §2.1: the token and a hint, with client authentication as
        // at the token endpoint (RFC 6749 §2.3.1). Written out rather than
        // through the oauth2 crate, which refuses any http endpoint, so the
        // demo provider on 127.0.0.1 could not be used.
        let form = [("token", token.expose_secret()), ("token_type_hint", hint)];
        let request = match provider.client_auth {
            ClientAuth::Basic => http.post(endpoint.clone()).basic_auth(
                form_encoded(&provider.client_id),
                Some(form_encoded(provider.client_secret.expose_secret())),
            ),
            ClientAuth::RequestBody => http.post(endpoint.clone()).form(&[
                ("client_id", provider.client_id.as_str()),
                ("client_secret", provider.client_secret.expose_secret()),
            ]),
        };
        let started = Instant::now();
        let answer = request.form(&form).send().await;
        let status = answer.as_ref().ok().map(|answer| answer.status().as_u16());
        notes.add(Later::Revocation {
            endpoint: &endpoint,
            token,
            hint,
            status,
            started,
        });
        let confirmed = match answer {
            // RFC 7009 §2.2: 200, also for a token that was already invalid.
            Ok(answer) if answer.status().is_success() => true,
            // Google answers 400 `invalid_token` for a token it no longer
            // knows (tests/fixtures/SOURCES.md, quirk 37): gone is what we want.
            Ok(answer) if answer.status() == reqwest::StatusCode::BAD_REQUEST => {
                error_code(answer).await.as_deref() == Some("invalid_token")
            }
            Ok(answer) => {
                let status = answer.status().as_u16();
                tracing::warn!(provider = provider.id, status, "revocation refused");
                false
            }
            Err(error) => {
                let error = error.without_url();
                tracing::warn!(provider = provider.id, "revocation failed: {error}");
                false
            }
        };
        if !confirmed {
            return TokensAtProvider::Failed;
        }
    }
    TokensAtProvider::Revoked
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they are
/// put in the Basic credentials.
fn form_encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The `error` code of an RFC 6749 §5.2-shaped answer (at most
/// `MAX_ERROR_BODY_BYTES` read; a larger one has no code we use).
async fn error_code(answer: reqwest::Response) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorAnswer {
        error: String,
    }
    let body = read_capped(answer, MAX_ERROR_BODY_BYTES).await.ok()?;
    serde_json::from_slice::<ErrorAnswer>(&body)
        .ok()
        .map(|answer| answer.error)
}

/// GitHub: `DELETE /applications/{client_id}/grant` revokes the grant and
/// every token issued under it (204 No Content).
async fn delete_github_grant(
    provider: &Provider,
    api_url: &Url,
    http: &reqwest::Client,
    access_token: &SecretString,
    notes: &mut Notes<'_>,
) -> TokensAtProvider {
    let url = crate::providers::join_path(api_url, &["applications", &provider.client_id, "grant"]);
    let started = Instant::now();
    let response = http
        .delete(url.clone())
        .basic_auth(
            &provider.client_id,
            Some(provider.client_secret.expose_secret()),
        )
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .json(&serde_json::json!({ "access_token": access_token.expose_secret() }))
        .send()
        .await;
    let status = response
        .as_ref()
        .ok()
        .map(|answer| answer.status().as_u16());
    notes.add(Later::GrantDeletion {
        endpoint: &url,
        access_token,
        status,
        started,
    });
    match response {
        Ok(response) if response.status() == reqwest::StatusCode::NO_CONTENT => {
            TokensAtProvider::Revoked
        }
        // 404: the grant is already gone (tests/fixtures/github/lifecycle_notes.txt).
        Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => {
            TokensAtProvider::Revoked
        }
        _ => TokensAtProvider::Failed,
    }
}

/// Where to send the browser to end the person's session at the provider
/// (RP-Initiated Logout 1.0 §2): `end_session_endpoint` with `id_token_hint`
/// (which person and which app), `client_id`, `post_logout_redirect_uri`
/// (registered at the provider, exactly) and `state` (to recognise the return).
/// `None` when the provider has no such endpoint (Google, GitHub) or it is
/// unsafe.
pub async fn end_session_url(
    provider: &Provider,
    discovery: &DiscoveryCache,
    http: &reqwest::Client,
    id_token: Option<&SecretString>,
    post_logout_redirect_uri: &Url,
    state: &str,
) -> Option<Url> {
    // Plain OAuth 2.0 providers have no discovery, so no such endpoint.
    provider.issuer()?;
    let discovered = discovery.metadata(provider, http, false).await.ok()?;
    let endpoint = discovered.facts.end_session_endpoint.as_deref()?;
    let mut url = safe_endpoint(provider.issuer(), endpoint)?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(id_token) = id_token {
            query.append_pair("id_token_hint", id_token.expose_secret());
        }
        query
            .append_pair("client_id", &provider.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                post_logout_redirect_uri.as_str(),
            )
            .append_pair("state", state);
    }
    Some(url)
}
