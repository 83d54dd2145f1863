//! The authorization-code flow, steps 3 to 6, with the checks in the order the
//! specs give them.
//!
//! `start` remembers a pending sign-in and returns the authorization URL (step 3).
//! `finish` takes the provider's answer (step 4), checks `state` before anything
//! else, exchanges the code (steps 5 and 6), validates the ID token and records the
//! sign-in. Which provider runs is data: nothing here names one.

use openidconnect::PkceCodeChallenge;
use secrecy::SecretString;
use url::Url;

use super::oidc::{self, DiscoveryCache, Issuer, TokenExchange};
use super::return_to::{DEFAULT_RETURN_TO, return_path_or_default, safe_return_path};
use super::{SignInError, issuer, plain};
use crate::api::{ApiClient, ApiError};
use crate::crypto::{constant_time_eq, random_url_safe, sha256_url_safe};
use crate::db::accounts::{self, SignInRecord, SignedInIds};
use crate::db::pending_sign_ins::{self, InsertPendingError, NewPendingSignIn, PendingLimits};
use crate::db::{Database, unix_now};
use crate::providers::{Protocol, Provider, Providers};

/// What `finish` needs from the provider's redirect to our callback
/// (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 `iss`). Unknown parameters are
/// ignored, as RFC 6749 §4.1.2 asks: Google adds several.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<SecretString>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// A finished sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub ids: SignedInIds,
    /// The name to greet the visitor with.
    pub display_name: String,
    /// Where to send the visitor now: re-checked, same-site path.
    pub return_to: String,
}

/// A failed sign-in, with where the visitor wanted to go (if we got that far),
/// so the error page can offer to try again to the same place.
#[derive(Debug)]
pub struct SignInFailure {
    pub error: SignInError,
    pub return_to: Option<String>,
}

impl From<SignInError> for SignInFailure {
    fn from(error: SignInError) -> Self {
        SignInFailure {
            error,
            return_to: None,
        }
    }
}

/// The flow's dependencies, built once at start-up.
#[derive(Debug)]
pub struct SignInFlow {
    pub db: Database,
    /// Shared client: timeouts, no redirects (see `http_client`).
    pub http: reqwest::Client,
    pub discovery: DiscoveryCache,
    pub base_url: Url,
    pub limits: PendingLimits,
}

impl SignInFlow {
    /// Step 3: remember a pending sign-in and build the authorization URL.
    ///
    /// `browser_key` is a random value kept in this browser's session cookie; its
    /// hash is stored with the pending sign-in, binding `state` to this browser.
    /// `ask_consent_again` asks the provider to show its consent page even if the
    /// person consented before (after an API said a permission is missing).
    pub async fn start(
        &self,
        provider: &Provider,
        browser_key: &str,
        return_to: &str,
        ask_consent_again: bool,
    ) -> Result<Url, SignInError> {
        // Checked when stored (and again in `finish` when used).
        let return_to = return_path_or_default(Some(return_to), &self.base_url);

        // 256-bit state and nonce (RFC 9700 §4.7.1, OIDC Core §15.5.2), and a PKCE
        // verifier with its S256 challenge (RFC 7636 §4.1-4.2; RFC 9700 §2.1.1).
        let state = random_url_safe(32);
        let nonce = random_url_safe(32);
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();

        let url = match &provider.protocol {
            Protocol::OpenIdConnect {
                issuer,
                issuer_check,
            } => {
                let issuer = Issuer {
                    issuer,
                    check: *issuer_check,
                };
                let metadata = self
                    .discovery
                    .metadata(provider, issuer, &self.http, false)
                    .await?;
                oidc::authorization_url(
                    provider,
                    &metadata,
                    &state,
                    &nonce,
                    pkce_challenge,
                    ask_consent_again,
                )
            }
            Protocol::OAuth2 {
                authorization_endpoint,
                token_endpoint,
            } => {
                let endpoints = plain::Endpoints {
                    authorization: authorization_endpoint,
                    token: token_endpoint,
                };
                plain::authorization_url(provider, endpoints, &state, pkce_challenge)
            }
        };

        let pending = NewPendingSignIn {
            state_hash: sha256_url_safe(&state),
            browser_hash: sha256_url_safe(browser_key),
            provider: provider.id.to_owned(),
            pkce_verifier: SecretString::from(pkce_verifier.into_secret()),
            nonce,
            return_to,
        };
        let limits = self.limits;
        self.db
            .run(move |connection, sealer| {
                Ok(pending_sign_ins::insert(
                    connection, sealer, &pending, limits,
                ))
            })
            .await?
            .map_err(|error| match error {
                InsertPendingError::TooMany => SignInError::TooManyPendingSignIns,
                InsertPendingError::Db(error) => SignInError::Storage(error),
            })?;
        Ok(url)
    }

    /// Steps 4 to 6: check the provider's answer, exchange the code, validate the
    /// ID token, and record the sign-in with its (sealed) tokens.
    pub async fn finish(
        &self,
        provider: &Provider,
        browser_key: Option<&str>,
        params: CallbackParams,
    ) -> Result<SignedIn, SignInFailure> {
        // Step 4: the browser is back with `state` and a `code` (or an error).
        // `state` first: nothing else in the answer is trusted before it matches
        // a sign-in this browser started (RFC 6749 §10.12, RFC 9700 §4.7).
        let state = params.state.as_deref().ok_or(SignInError::MissingState)?;
        let state_hash = sha256_url_safe(state);
        let pending = self
            .db
            .run(move |connection, sealer| pending_sign_ins::take(connection, sealer, &state_hash))
            .await
            .map_err(SignInError::Storage)?
            .filter(|pending| pending.provider == provider.id)
            .ok_or(SignInError::UnknownState)?;
        let same_browser = browser_key
            .is_some_and(|key| constant_time_eq(&sha256_url_safe(key), &pending.browser_hash));
        if !same_browser {
            return Err(SignInError::StateFromAnotherBrowser.into());
        }
        if pending.is_expired(unix_now()) {
            return Err(SignInError::ExpiredState.into());
        }
        let return_to = safe_return_path(&pending.return_to, &self.base_url);
        let fail = |error: SignInError| SignInFailure {
            error,
            return_to: return_to.clone(),
        };

        // RFC 9207 §2.4: if the provider says who it is, it must be who we asked.
        if let (
            Some(iss),
            Protocol::OpenIdConnect {
                issuer,
                issuer_check,
            },
        ) = (&params.iss, &provider.protocol)
            && !issuer::callback_issuer_matches(*issuer_check, issuer, iss)
        {
            return Err(fail(SignInError::IssuerMismatch));
        }

        // RFC 6749 §4.1.2.1: the provider reports errors on the redirect.
        if let Some(code) = params.error {
            return Err(fail(if code == "access_denied" {
                SignInError::AccessDenied
            } else {
                SignInError::ProviderReportedError {
                    code,
                    description: params.error_description,
                }
            }));
        }
        let code = params.code.ok_or_else(|| fail(SignInError::MissingCode))?;

        // Steps 5 and 6: token request, then who signed in.
        let code = secrecy::ExposeSecret::expose_secret(&code);
        let exchange = match &provider.protocol {
            Protocol::OpenIdConnect {
                issuer,
                issuer_check,
            } => {
                let issuer = Issuer {
                    issuer,
                    check: *issuer_check,
                };
                oidc::exchange_code(
                    provider,
                    &self.discovery,
                    issuer,
                    &self.http,
                    code,
                    &pending.pkce_verifier,
                    &pending.nonce,
                )
                .await
                .map_err(&fail)?
            }
            Protocol::OAuth2 {
                authorization_endpoint,
                token_endpoint,
            } => {
                let endpoints = plain::Endpoints {
                    authorization: authorization_endpoint,
                    token: token_endpoint,
                };
                let tokens = plain::exchange_code(
                    provider,
                    endpoints,
                    &self.http,
                    code,
                    &pending.pkce_verifier,
                )
                .await
                .map_err(&fail)?;
                // No ID token: the first API call (step 7) tells who signed in.
                let identity = ApiClient::new(&self.http, provider, &tokens.access_token)
                    .identity()
                    .await
                    .map_err(|error| fail(identity_lookup_error(error)))?;
                TokenExchange { identity, tokens }
            }
        };

        let identity = exchange.identity;
        let record = SignInRecord {
            provider: provider.id.to_owned(),
            display_name: identity.display_name(),
            subject: identity.subject,
            email: identity.email,
        };
        let display_name = record.display_name.clone();
        let tokens = exchange.tokens;
        let ids = self
            .db
            .run(move |connection, sealer| {
                // One transaction: an identity is never recorded without its tokens.
                connection.immediate_transaction(|connection| {
                    let ids = accounts::record_sign_in(connection, &record)?;
                    accounts::store_tokens(connection, sealer, ids.identity_id, &tokens)?;
                    Ok(ids)
                })
            })
            .await
            .map_err(|error| fail(SignInError::Storage(error)))?;

        Ok(SignedIn {
            ids,
            display_name,
            return_to: return_to.unwrap_or_else(|| DEFAULT_RETURN_TO.to_owned()),
        })
    }

    /// Fetches every OpenID Connect provider's discovery document and keys once,
    /// at start: the first sign-in does not wait for them, and a misconfigured
    /// issuer shows in the log at once. A failure is logged, not fatal: the
    /// provider may be back by the time someone signs in.
    pub async fn warm_up(&self, providers: &Providers) {
        for provider in providers.iter() {
            let Protocol::OpenIdConnect {
                issuer,
                issuer_check,
            } = &provider.protocol
            else {
                continue;
            };
            let issuer = Issuer {
                issuer,
                check: *issuer_check,
            };
            match self
                .discovery
                .metadata(provider, issuer, &self.http, false)
                .await
            {
                Ok(_) => tracing::info!(provider = provider.id, "discovery document fetched"),
                Err(error) => tracing::warn!(
                    provider = provider.id,
                    "discovery failed at start (will retry at the first sign-in): {error:?}"
                ),
            }
        }
    }

    /// The userinfo endpoint of an OpenID Connect provider (OIDC Core §5.3),
    /// from its cached discovery document.
    pub async fn userinfo_endpoint(&self, provider: &Provider) -> Result<Option<Url>, SignInError> {
        let Protocol::OpenIdConnect {
            issuer,
            issuer_check,
        } = &provider.protocol
        else {
            return Ok(None);
        };
        let issuer = Issuer {
            issuer,
            check: *issuer_check,
        };
        let metadata = self
            .discovery
            .metadata(provider, issuer, &self.http, false)
            .await?;
        Ok(metadata
            .userinfo_endpoint()
            .map(|endpoint| endpoint.url().clone()))
    }
}

/// The API failed to say who signed in: the sign-in cannot finish.
fn identity_lookup_error(error: ApiError) -> SignInError {
    match error {
        ApiError::Timeout => SignInError::ProviderTimeout,
        other => SignInError::ProviderUnavailable {
            detail: format!("reading who signed in from the API: {other}"),
        },
    }
}
