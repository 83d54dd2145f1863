//! The authorization-code flow, steps 3 to 6, in the order they run, with
//! each check where the specs put it. Read it top to bottom:
//!
//! - step 3, [`SignInFlow::start`]: `state`, `nonce` and the PKCE verifier,
//!   the pending sign-in bound to this browser, the authorization URL
//!   (`oidc::authorization_url`, or `plain` for OAuth 2.0 without OpenID
//!   Connect);
//! - step 4, [`SignInFlow::finish`]: `state` first (single use, this browser,
//!   this provider), then what the request was for;
//! - steps 5 and 6, `exchange`: expiry, the callback's `iss` (RFC 9207), the
//!   provider's error, then the token request (`oidc::exchange_code`, whose
//!   ID token `id_token` validates) and who signed in;
//! - then `complete` stores the sign-in and its new session, in one
//!   transaction.
//!
//! The same steps serve a signed-in person's requests for the mail
//! permission, for linking another account and for a fresh sign-in before
//! what cannot be undone: `finish` hands those answers to `step_up`. Which provider runs is data: nothing here names one. Each
//! step is reported to the observer (`observe`), which may record it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::PkceCodeChallenge;
use secrecy::SecretString;
use url::Url;

use super::callback::CallbackParams;
use super::discovery::DiscoveryCache;
use super::oidc::{self, CodeGrant};
use super::outcome::{Browser, Finished, Intent, NewSession, SignInFailure, requested};
use super::return_to::{DEFAULT_RETURN_TO, return_path_or_default, safe_return_path};
use super::token::{TokenExchange, TokenTrace};
use super::{SignInError, admin_consent, issuer, plain};
use crate::api::ApiClient;
use crate::crypto::{constant_time_eq, random_url_safe, sha256_url_safe};
use crate::db::accounts::SignInRecord;
use crate::db::attempts;
use crate::db::pending_sign_ins::{self, NewPendingSignIn, PendingLimits, PendingSignIn, Purpose};
use crate::db::sessions::SessionLimits;
use crate::db::{Database, sign_ins, unix_now};
use crate::oauth::observe::{Log, Observer, Step};
use crate::providers::{Protocol, Provider};

/// The flow's dependencies, built once at start-up (and per worker, for `http`).
#[derive(Debug)]
pub struct SignInFlow {
    pub db: Database,
    /// This worker's client: timeouts, no redirects (see `http_client`).
    pub http: reqwest::Client,
    /// Shared by all workers.
    pub discovery: Arc<DiscoveryCache>,
    pub base_url: Url,
    pub limits: PendingLimits,
    /// SESSION_IDLE_TIMEOUT and SESSION_MAX_AGE, for the session a sign-in creates.
    pub session_limits: SessionLimits,
    /// Told each step as it happens (`observe`).
    pub observer: Arc<dyn Observer>,
    /// REAUTH_MAX_AGE: how recent a fresh sign-in must be (`step_up`).
    pub reauth_max_age: Duration,
}

impl SignInFlow {
    /// The same flow, sending its requests with `http` (one client per worker:
    /// `app::AppState::for_worker`).
    pub fn with_http(&self, http: reqwest::Client) -> SignInFlow {
        SignInFlow {
            db: self.db.clone(),
            http,
            discovery: Arc::clone(&self.discovery),
            base_url: self.base_url.clone(),
            limits: self.limits,
            session_limits: self.session_limits,
            observer: Arc::clone(&self.observer),
            reauth_max_age: self.reauth_max_age,
        }
    }

    /// Step 3: remember a pending sign-in and build the authorization URL.
    ///
    /// `browser_key` is a random value kept in this browser's session cookie; its
    /// hash is stored with the pending sign-in, binding `state` to this browser.
    /// `intent` says what the request is for (stored with it) and whether to
    /// ask for consent again.
    pub async fn start(
        &self,
        provider: &Provider,
        browser_key: &str,
        return_to: &str,
        intent: Intent,
    ) -> Result<Url, SignInError> {
        let provider = &requested(provider, Some(&intent.purpose));
        // Checked when stored (and again in `finish` when used).
        let return_to = return_path_or_default(Some(return_to), &self.base_url);

        // 256-bit state and nonce (RFC 9700 §4.7.1, OIDC Core §15.5.2), and a PKCE
        // verifier with its S256 challenge (RFC 7636 §4.1-4.2; RFC 9700 §2.1.1).
        let started = Instant::now();
        let state = random_url_safe(32);
        let nonce = random_url_safe(32);
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();

        let url = match &provider.protocol {
            // The route offers it only where the provider has the endpoint.
            _ if intent.purpose == Purpose::AdminConsent => {
                admin_consent::url(provider, &state).ok_or(SignInError::UnknownState)?
            }
            Protocol::OpenIdConnect { .. } => {
                let discovered = self.discovery.metadata(provider, &self.http, false).await?;
                oidc::authorization_url(
                    provider,
                    &discovered.metadata,
                    &state,
                    &nonce,
                    pkce_challenge,
                    (intent.prompt, intent.max_age),
                )
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
                plain::authorization_url(provider, endpoints, &state, pkce_challenge, intent.prompt)
            }
        };

        let mut log = Log::new(self.observer.start());
        log.record(Step::AuthorizationRequest {
            provider,
            return_to: &return_to,
            url: &url,
            purpose: &intent.purpose,
            started,
        });
        let pending = NewPendingSignIn {
            state_hash: sha256_url_safe(&state),
            browser_hash: sha256_url_safe(browser_key),
            provider: provider.id.to_owned(),
            pkce_verifier: SecretString::from(pkce_verifier.into_secret()),
            nonce,
            return_to,
            purpose: intent.purpose,
        };
        let limits = self.limits;
        let journal = log.to_text();
        self.db
            .write(move |connection, sealer| {
                // One transaction: the pending sign-in with the observer's record.
                sign_ins::begin(connection, sealer, &pending, limits, journal.as_deref())
            })
            .await?;
        Ok(url)
    }

    /// Steps 4 to 6: check the provider's answer, exchange the code, validate the
    /// ID token, and record the sign-in with its (sealed) tokens. Each step is
    /// reported to the observer, failed or not.
    /// `browser` is where the answer came back: its key binds `state`, a
    /// sign-in replaces its session, and a signed-in person's request must
    /// come back to the same person.
    pub async fn finish(
        &self,
        provider: &Provider,
        browser: Browser,
        params: CallbackParams,
    ) -> Result<Finished, SignInFailure> {
        // Step 4: the browser is back with `state` and a `code` (or an error).
        // `state` first: nothing else in the answer is trusted before it matches
        // a sign-in this browser started (RFC 6749 §10.12, RFC 9700 §4.7).
        let state = params.state.as_deref().ok_or(SignInError::MissingState)?;
        let state_hash = sha256_url_safe(state);
        // A state never issued (or used already) costs one read, no write:
        // forged callbacks cannot queue on SQLite's single writer.
        let lookup = state_hash.clone();
        let pending = self
            .db
            .run(move |db, _| pending_sign_ins::is_pending(db, &lookup));
        if !pending.await.map_err(SignInError::Storage)? {
            return Err(SignInError::UnknownState.into());
        }
        let lookup = state_hash.clone();
        let with_record = self.observer.keeps_records();
        let (pending, recorded) = self
            .db
            .write(move |connection, sealer| {
                sign_ins::take(connection, sealer, &lookup, with_record)
            })
            .await
            .map_err(SignInError::Storage)?;
        let pending = pending
            .filter(|pending| pending.provider == provider.id)
            .ok_or(SignInError::UnknownState)?;
        let same_browser = (browser.key.as_deref())
            .is_some_and(|key| constant_time_eq(&sha256_url_safe(key), &pending.browser_hash));
        if !same_browser {
            // Not recorded: the attempt belongs to the browser that started it.
            return Err(SignInError::StateFromAnotherBrowser.into());
        }

        let mut log = Log::new(self.observer.resume(recorded.as_deref()));
        log.record(Step::Callback(&params));
        let result = match pending.purpose {
            Some(Purpose::SignIn) => self
                .complete(
                    provider,
                    pending,
                    params,
                    &mut log,
                    &state_hash,
                    browser.replaced(),
                )
                .await
                .map(Finished::SignedIn),
            // A signed-in person's request: `step_up`.
            Some(ref purpose) => {
                let purpose = purpose.clone();
                let current = browser.signed_in.map(|(ids, _)| ids);
                let answer = (pending, params, state_hash.as_str());
                self.step_up(provider, purpose, current, answer, &mut log)
                    .await
            }
            // Stored by a version that knows a purpose this one does not:
            // refused rather than guessed at.
            None => Err(SignInError::UnknownState.into()),
        };
        if let Err(failure) = &result {
            self.record_failure(&state_hash, log, &failure.error).await;
        }
        result.map_err(|mut failure| {
            // Someone else (an administrator) must approve: say where.
            if admin_consent::needed(&failure.error) {
                failure.admin_consent_url = admin_consent::start(provider, &self.base_url);
            }
            failure
        })
    }

    /// The rest of steps 4 to 6 of a sign-in, once `state` matched this browser.
    async fn complete(
        &self,
        provider: &Provider,
        pending: PendingSignIn,
        params: CallbackParams,
        log: &mut Log,
        state_hash: &str,
        (replaced_session, described): (Option<String>, Option<String>),
    ) -> Result<NewSession, SignInFailure> {
        let return_to = safe_return_path(&pending.return_to, &self.base_url);
        let fail = |error: SignInError| SignInFailure::new(error, return_to.clone());
        let exchange = self
            .exchange(provider, &pending, params, log)
            .await
            .map_err(&fail)?;

        // Before anything is stored or remembered in the cookie: a `sub` we
        // can find the person by again, and a name and email of bounded size.
        let identity = exchange.identity.bounded().map_err(&fail)?;
        let sign_in = SignInRecord {
            provider: provider.id.to_owned(),
            issuer: exchange.issuer,
            display_name: identity.display_name(),
            subject: identity.subject,
            email: identity.email,
        };
        let display_name = sign_in.display_name.clone();
        let authenticated_at = authenticated_at(identity.auth_time);
        // RFC 6749 §5.1: what was granted may be less than what was asked.
        log.record(Step::SignInScopes {
            provider,
            granted: &exchange.tokens.scopes,
        });
        let tokens = exchange.tokens;
        let journal = log.to_text();
        let state_hash = state_hash.to_owned();
        // A new session id (256 bits, like `state`), known on the server from
        // now on: the session cookie alone no longer signs anyone in.
        let session_id = random_url_safe(32);
        let session_id_hash = sha256_url_safe(&session_id);
        let session_limits = self.session_limits;
        let ids = self
            .db
            .write(move |connection, sealer| {
                // One transaction: identity, tokens, the attempt and the session.
                sign_ins::complete(
                    connection,
                    sealer,
                    &sign_ins::Completed {
                        record: &sign_in,
                        tokens: &tokens,
                        state_hash: &state_hash,
                        journal: journal.as_deref(),
                        session_id_hash: &session_id_hash,
                        replaced_session_hash: replaced_session.as_deref(),
                        browser: described.as_deref(),
                        session_limits,
                    },
                )
            })
            .await
            .map_err(|error| fail(SignInError::Storage(error)))?;

        Ok(NewSession {
            ids,
            display_name,
            return_to: return_to.unwrap_or_else(|| DEFAULT_RETURN_TO.to_owned()),
            session_id: SecretString::from(session_id),
            authenticated_at,
        })
    }

    /// Steps 4 to 6 that every answer goes through, whatever it is for, once
    /// `state` matched this browser: expiry, `iss`, the provider's error, the
    /// code exchange, and who the tokens belong to.
    pub(super) async fn exchange(
        &self,
        provider: &Provider,
        pending: &PendingSignIn,
        params: CallbackParams,
        log: &mut Log,
    ) -> Result<TokenExchange, SignInError> {
        if pending.is_expired(unix_now()) {
            return Err(SignInError::ExpiredState);
        }

        // RFC 9207 §2.4: if the provider says who it is, it must be who we
        // asked (`issuer`: GitHub's too); and one that advertises `iss` must
        // send it.
        match &params.iss {
            Some(iss) if !issuer::callback_issuer_accepted(&provider.protocol, iss) => {
                return Err(SignInError::IssuerMismatch);
            }
            None if matches!(provider.protocol, Protocol::OpenIdConnect { .. }) => {
                // From the cached discovery document: no request here.
                let discovered = self.discovery.metadata(provider, &self.http, false).await?;
                if discovered.facts.iss_parameter_supported {
                    return Err(SignInError::MissingIssuer);
                }
            }
            _ => {}
        }

        // RFC 6749 §4.1.2.1: the provider reports errors on the redirect.
        if let Some(code) = params.error {
            return Err(if code == "access_denied" {
                // The person declined, or the provider refused on its own;
                // its description may say which (shown escaped).
                SignInError::AccessDenied {
                    description: params.error_description,
                }
            } else {
                SignInError::ProviderReportedError {
                    code,
                    description: params.error_description,
                }
            });
        }
        let code = params.code.ok_or(SignInError::MissingCode)?;

        // Steps 5 and 6: token request, then who signed in.
        let code = secrecy::ExposeSecret::expose_secret(&code);
        let verifier = secrecy::ExposeSecret::expose_secret(&pending.pkce_verifier);
        let mut token_trace = TokenTrace::default();
        let exchange = match &provider.protocol {
            Protocol::OpenIdConnect { .. } => {
                let exchange = oidc::exchange_code(
                    provider,
                    &self.discovery,
                    &self.http,
                    CodeGrant {
                        code,
                        pkce_verifier: &pending.pkce_verifier,
                        nonce: &pending.nonce,
                    },
                    &mut token_trace,
                )
                .await;
                log.record(Step::TokenRequest {
                    provider,
                    code,
                    verifier,
                    call: &token_trace,
                });
                exchange?
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
                let tokens = plain::exchange_code(
                    provider,
                    endpoints,
                    &self.http,
                    code,
                    &pending.pkce_verifier,
                    &mut token_trace,
                )
                .await;
                log.record(Step::TokenRequest {
                    provider,
                    code,
                    verifier,
                    call: &token_trace,
                });
                let tokens = tokens?;
                log.record(Step::TokenResponse {
                    tokens: &tokens,
                    call: &token_trace,
                });
                // No ID token: the first API call (step 7) tells who signed in.
                let started = Instant::now();
                let identity = ApiClient::new(&self.http, provider, &tokens.access_token)
                    .identity()
                    .await;
                log.record(Step::ApiCall {
                    description: "who signed in (the provider's profile API)",
                    outcome: identity.as_ref().map(|_| ()).map_err(ToString::to_string),
                    started,
                });
                let identity = identity.map_err(plain::identity_lookup_error)?;
                TokenExchange {
                    issuer: plain::issuer(endpoints),
                    identity,
                    tokens,
                }
            }
        };
        if matches!(provider.protocol, Protocol::OpenIdConnect { .. }) {
            log.record(Step::TokenResponse {
                tokens: &exchange.tokens,
                call: &token_trace,
            });
        }
        Ok(exchange)
    }

    /// Reports the failure, and stores the attempt's record with it. A
    /// failure to store is logged; it does not change what the visitor is told.
    async fn record_failure(&self, state_hash: &str, mut log: Log, error: &SignInError) {
        log.record(Step::Failed(error));
        let Some(journal) = log.to_text() else {
            return;
        };
        let state_hash = state_hash.to_owned();
        let stored = self
            .db
            .write(move |connection, _| {
                attempts::finish(
                    connection,
                    &state_hash,
                    Some(&journal),
                    attempts::FAILED,
                    None,
                )
            })
            .await;
        if let Err(error) = stored {
            tracing::warn!("could not record the failed sign-in: {error}");
        }
    }
}

/// When a sign-in authenticated the person: the ID token's `auth_time`
/// (never later than now, whatever the provider's clock says), else now (a
/// provider that does not say, such as GitHub: the round trip that just
/// ended is the sign-in).
pub(super) fn authenticated_at(auth_time: Option<i64>) -> i64 {
    let now = unix_now();
    auth_time.map_or(now, |at| at.min(now))
}
