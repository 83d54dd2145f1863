//! The authorization-code flow, steps 3 to 6, with the checks in the order the
//! specs give them.
//!
//! `start` remembers a pending sign-in and returns the authorization URL (step 3).
//! `finish` takes the provider's answer (step 4), checks `state` before anything
//! else, exchanges the code (steps 5 and 6), validates the ID token and records the
//! sign-in. Which provider runs is data: nothing here names one.
//!
//! The same flow asks a signed-in person for more scopes (incremental
//! consent: the mail permission, [`Intent::add_mail`]). Its pending sign-in
//! records that purpose and the user and identity it belongs to; its answer
//! must come back to that user, for that identity, and adds the scopes
//! without signing anyone in ([`Finished::MailPermission`]).
//!
//! It also links another account at a provider to the signed-in user
//! ([`Intent::link`]): the answer must come back to the user who asked, and
//! attaches the identity it names (issuer and `sub`, never the email) to
//! them, unless it belongs to someone else ([`Finished::Linked`]).

use std::sync::Arc;
use std::time::Instant;

use openidconnect::PkceCodeChallenge;
use secrecy::SecretString;
use url::Url;

use super::callback::CallbackParams;
use super::oidc::{self, CodeGrant, DiscoveryCache, Issuer, TokenExchange};
use super::return_to::{DEFAULT_RETURN_TO, return_path_or_default, safe_return_path};
use super::token::TokenTrace;
use super::{SignInError, admin_consent, issuer, plain};
use crate::api::{ApiClient, ApiError};
use crate::crypto::{constant_time_eq, random_url_safe, sha256_url_safe};
use crate::db::accounts::{self, SignInRecord, SignedInIds};
use crate::db::attempts;
use crate::db::pending_sign_ins::{NewPendingSignIn, PendingLimits, PendingSignIn, Purpose};
use crate::db::sessions::SessionLimits;
use crate::db::{Database, sign_ins, unix_now};
use crate::observe::{Log, Observer, Step};
use crate::providers::{Protocol, Provider, Providers};

/// A finished sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub ids: SignedInIds,
    /// The name to greet the visitor with.
    pub display_name: String,
    /// Where to send the visitor now: re-checked, same-site path.
    pub return_to: String,
    /// The new server-side session, recorded with the sign-in (`db::sessions`);
    /// the caller puts it in the session cookie.
    pub session_id: SecretString,
}

/// What an authorization request is for, as `start` is asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Intent {
    pub purpose: Purpose,
    /// Ask the provider to show its consent page even if the person
    /// consented before (after an API said a permission is missing).
    pub ask_consent_again: bool,
}

impl Intent {
    /// An ordinary sign-in.
    pub fn sign_in(ask_consent_again: bool) -> Intent {
        Intent {
            purpose: Purpose::SignIn,
            ask_consent_again,
        }
    }

    /// The mail permission for the signed-in `ids` (incremental consent).
    pub fn add_mail(ids: SignedInIds) -> Intent {
        Intent {
            purpose: Purpose::AddMail {
                user_id: ids.user_id,
                identity_id: ids.identity_id,
            },
            ask_consent_again: false,
        }
    }

    /// Linking another account at a provider to the signed-in user.
    pub fn link(user_id: i64) -> Intent {
        Intent {
            purpose: Purpose::Link { user_id },
            ask_consent_again: false,
        }
    }
}

/// How a callback ended well.
#[derive(Debug)]
pub enum Finished {
    /// Someone signed in.
    SignedIn(SignedIn),
    /// The signed-in person answered a request for the mail permission:
    /// their session stays as it was.
    MailPermission(MailPermission),
    /// The signed-in person linked another account: their session stays on
    /// the identity it was on.
    Linked(Linked),
}

/// The answer to a request to link an account.
#[derive(Debug)]
pub struct Linked {
    pub identity_id: i64,
    /// The identity was linked to this user before: only its tokens (and
    /// name and email) were refreshed.
    pub already: bool,
    /// The account's name at the provider.
    pub display_name: String,
    pub return_to: String,
}

/// The answer to a request for the mail permission.
#[derive(Debug)]
pub struct MailPermission {
    pub identity_id: i64,
    /// Where to go now: re-checked, same-site path.
    pub return_to: String,
    /// The mail scopes that were asked for and not granted: empty when mail
    /// was allowed. The person may have declined (`access_denied`) or, at
    /// Google, unticked the mail box on the consent page.
    pub missing: Vec<String>,
}

/// A failed sign-in, with where the visitor wanted to go (if we got that far),
/// so the error page can offer to try again to the same place.
#[derive(Debug)]
pub struct SignInFailure {
    pub error: SignInError,
    pub return_to: Option<String>,
    /// Where an administrator can approve the app, when the provider's
    /// error says one must (`admin_consent`). Boxed: errors stay small.
    pub admin_consent_url: Option<Box<Url>>,
    /// The request was for more scopes by someone signed in (not a
    /// sign-in): the page offers to go back to `return_to` and ask again,
    /// not to sign in.
    pub for_signed_in_user: bool,
}

impl From<SignInError> for SignInFailure {
    fn from(error: SignInError) -> Self {
        SignInFailure {
            error,
            return_to: None,
            admin_consent_url: None,
            for_signed_in_user: false,
        }
    }
}

impl SignInFailure {
    fn new(error: SignInError, return_to: Option<String>) -> Self {
        SignInFailure {
            error,
            return_to,
            admin_consent_url: None,
            for_signed_in_user: false,
        }
    }
}

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
}

impl SignInFlow {
    /// The same flow, sending its requests with `http` (one client per worker:
    /// `startup::AppState::for_worker`).
    pub fn with_http(&self, http: reqwest::Client) -> SignInFlow {
        SignInFlow {
            db: self.db.clone(),
            http,
            discovery: Arc::clone(&self.discovery),
            base_url: self.base_url.clone(),
            limits: self.limits,
            session_limits: self.session_limits,
            observer: Arc::clone(&self.observer),
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
        let ask_consent_again = intent.ask_consent_again;
        let provider = &requested(provider, Some(intent.purpose));
        // Checked when stored (and again in `finish` when used).
        let return_to = return_path_or_default(Some(return_to), &self.base_url);

        // 256-bit state and nonce (RFC 9700 §4.7.1, OIDC Core §15.5.2), and a PKCE
        // verifier with its S256 challenge (RFC 7636 §4.1-4.2; RFC 9700 §2.1.1).
        let started = Instant::now();
        let state = random_url_safe(32);
        let nonce = random_url_safe(32);
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();

        let url = match &provider.protocol {
            Protocol::OpenIdConnect { .. } => {
                let discovered = self.discovery.metadata(provider, &self.http, false).await?;
                oidc::authorization_url(
                    provider,
                    &discovered.metadata,
                    &state,
                    &nonce,
                    pkce_challenge,
                    ask_consent_again,
                )
            }
            Protocol::OAuth2 {
                authorization_endpoint: authorization,
                token_endpoint: token,
            } => {
                let endpoints = plain::Endpoints {
                    authorization,
                    token,
                };
                plain::authorization_url(provider, endpoints, &state, pkce_challenge)
            }
        };

        let mut log = Log::new(self.observer.start());
        log.record(Step::AuthorizationRequest {
            provider,
            return_to: &return_to,
            url: &url,
            purpose: intent.purpose,
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
    /// `signed_in` is who is signed in in this browser now, if anyone, with
    /// the hash of their session id: a sign-in replaces that session, and an
    /// answer to a request for more scopes must come back to that user.
    pub async fn finish(
        &self,
        provider: &Provider,
        browser_key: Option<&str>,
        signed_in: Option<(SignedInIds, String)>,
        params: CallbackParams,
    ) -> Result<Finished, SignInFailure> {
        // Step 4: the browser is back with `state` and a `code` (or an error).
        // `state` first: nothing else in the answer is trusted before it matches
        // a sign-in this browser started (RFC 6749 §10.12, RFC 9700 §4.7).
        let state = params.state.as_deref().ok_or(SignInError::MissingState)?;
        let state_hash = sha256_url_safe(state);
        let lookup = state_hash.clone();
        let (pending, recorded) = self
            .db
            .write(move |connection, sealer| sign_ins::take(connection, sealer, &lookup))
            .await
            .map_err(SignInError::Storage)?;
        let pending = pending
            .filter(|pending| pending.provider == provider.id)
            .ok_or(SignInError::UnknownState)?;
        let same_browser = browser_key
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
                    signed_in.map(|(_, session_hash)| session_hash),
                )
                .await
                .map(Finished::SignedIn),
            Some(Purpose::AddMail {
                user_id,
                identity_id,
            }) => {
                let asker = SignedInIds {
                    user_id,
                    identity_id,
                };
                let current = signed_in.map(|(ids, _)| ids);
                self.add_mail(
                    provider,
                    pending,
                    asker,
                    current,
                    params,
                    &mut log,
                    &state_hash,
                )
                .await
                .map(Finished::MailPermission)
            }
            Some(Purpose::Link { user_id }) => {
                let current = signed_in.map(|(ids, _)| ids.user_id);
                self.link(
                    provider,
                    pending,
                    user_id,
                    current,
                    params,
                    &mut log,
                    &state_hash,
                )
                .await
                .map(Finished::Linked)
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
                failure.admin_consent_url = admin_consent::url(provider).map(Box::new);
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
        replaced_session: Option<String>,
    ) -> Result<SignedIn, SignInFailure> {
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
                        session_limits,
                    },
                )
            })
            .await
            .map_err(|error| fail(SignInError::Storage(error)))?;

        Ok(SignedIn {
            ids,
            display_name,
            return_to: return_to.unwrap_or_else(|| DEFAULT_RETURN_TO.to_owned()),
            session_id: SecretString::from(session_id),
        })
    }

    /// Steps 4 to 6 that every answer goes through, whatever it is for, once
    /// `state` matched this browser: expiry, `iss`, the provider's error, the
    /// code exchange, and who the tokens belong to.
    async fn exchange(
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
        // asked; and a provider that advertises `iss` must send it.
        if let Protocol::OpenIdConnect {
            issuer,
            issuer_check,
        } = &provider.protocol
        {
            match &params.iss {
                Some(iss) if !issuer::callback_issuer_matches(*issuer_check, issuer, iss) => {
                    return Err(SignInError::IssuerMismatch);
                }
                Some(_) => {}
                None => {
                    // From the cached discovery document: no request here.
                    let discovered = self.discovery.metadata(provider, &self.http, false).await?;
                    if discovered.facts.iss_parameter_supported {
                        return Err(SignInError::MissingIssuer);
                    }
                }
            }
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
                let identity = identity.map_err(identity_lookup_error)?;
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

    /// Steps 4 to 6 of a request for the mail permission (incremental
    /// consent), once `state` matched this browser. The answer must come back
    /// to the user who asked (`current` is who is signed in here now), and
    /// name the identity that asked; then its tokens replace that identity's.
    /// The session is left as it is: nobody is signed in or out.
    #[expect(
        clippy::too_many_arguments,
        reason = "the pending row, who asked, who is here and the answer are each needed once"
    )]
    async fn add_mail(
        &self,
        provider: &Provider,
        pending: PendingSignIn,
        asker: SignedInIds,
        current: Option<SignedInIds>,
        params: CallbackParams,
        log: &mut Log,
        state_hash: &str,
    ) -> Result<MailPermission, SignInFailure> {
        let return_to = safe_return_path(&pending.return_to, &self.base_url);
        let fail = |error: SignInError| SignInFailure {
            for_signed_in_user: true,
            ..SignInFailure::new(error, return_to.clone())
        };
        // Same browser is not enough: the answer belongs to the user who
        // asked, so someone who signed in here since cannot receive another
        // person's grant (nor the asker a grant given in someone else's
        // session). Checked before the code is used. The user, not the
        // identity: the permission may be asked for a linked account other
        // than the one this session signed in with (its owner is checked
        // below, with the account that answered).
        if current.map(|current| current.user_id) != Some(asker.user_id) {
            return Err(fail(SignInError::ConsentForAnotherUser));
        }
        let provider = &requested(provider, pending.purpose);
        let asked = provider.mail_scopes.clone();
        let exchange = match self.exchange(provider, &pending, params, log).await {
            Ok(exchange) => Some(exchange),
            // The person said no to the mail permission (RFC 6749 §4.1.2.1
            // `access_denied`): not a failure of the sign-in, which stays as
            // it was. A refusal that someone else must fix (an administrator,
            // a policy: `plain_words`) is still shown as the error it is.
            Err(error @ SignInError::AccessDenied { .. }) if declined_by_the_person(&error) => None,
            Err(error) => return Err(fail(error)),
        };
        let (tokens, missing) = match exchange {
            None => (None, asked.clone()),
            Some(exchange) => {
                // The identity that asked, and no other: a person who picks
                // another account at the provider must not have its tokens
                // stored under this one, nor be switched to it silently.
                let identity = exchange.identity.bounded().map_err(&fail)?;
                let stored = self
                    .db
                    .run(move |connection, _| accounts::identity_key(connection, asker.identity_id))
                    .await
                    .map_err(|error| fail(SignInError::Storage(error)))?;
                let same_identity = stored.is_some_and(|stored| {
                    stored.user_id == asker.user_id
                        && stored.subject == identity.subject
                        && (stored.issuer == exchange.issuer
                            // Rows from before issuers were stored
                            // (migration 2026-11-30-000002).
                            || stored.issuer == format!("legacy:{}", provider.id))
                });
                if !same_identity {
                    return Err(fail(SignInError::ConsentFromAnotherAccount));
                }
                // RFC 6749 §5.1: `scope` lists what was granted when it
                // differs from what was asked (Google's granular consent lets
                // people untick the mail).
                let missing = provider.missing_mail_scopes(&exchange.tokens.scopes);
                (Some(exchange.tokens), missing)
            }
        };
        log.record(Step::ScopesGranted {
            asked: &asked,
            missing: &missing,
        });
        let journal = log.to_text();
        let state_hash = state_hash.to_owned();
        let outcome = if missing.is_empty() {
            attempts::MAIL_ALLOWED
        } else {
            attempts::MAIL_NOT_ALLOWED
        };
        self.db
            .write(move |connection, sealer| {
                // One transaction: the new tokens and the attempt's outcome.
                sign_ins::add_scopes(
                    connection,
                    sealer,
                    &sign_ins::ScopesAdded {
                        user_id: asker.user_id,
                        identity_id: asker.identity_id,
                        tokens: tokens.as_ref(),
                        state_hash: &state_hash,
                        journal: journal.as_deref(),
                        outcome,
                    },
                )
            })
            .await
            .map_err(|error| fail(SignInError::Storage(error)))?;
        Ok(MailPermission {
            identity_id: asker.identity_id,
            return_to: return_to.unwrap_or_else(|| DEFAULT_RETURN_TO.to_owned()),
            missing,
        })
    }

    /// Steps 4 to 6 of a request to link an account, once `state` matched
    /// this browser. The answer must come back to the user who asked
    /// (`current` is who is signed in here now); then the identity it names
    /// is attached to that user with its tokens, unless it belongs to
    /// another user. The session is left as it is.
    #[expect(
        clippy::too_many_arguments,
        reason = "the pending row, who asked, who is here and the answer are each needed once"
    )]
    async fn link(
        &self,
        provider: &Provider,
        pending: PendingSignIn,
        asker: i64,
        current: Option<i64>,
        params: CallbackParams,
        log: &mut Log,
        state_hash: &str,
    ) -> Result<Linked, SignInFailure> {
        let return_to = safe_return_path(&pending.return_to, &self.base_url);
        let fail = |error: SignInError| SignInFailure {
            for_signed_in_user: true,
            ..SignInFailure::new(error, return_to.clone())
        };
        // Same browser is not enough: the account is attached to the user
        // who asked, so someone who signed in here since must not receive
        // it (nor the asker an account chosen in another person's session).
        // Checked before the code is used.
        if current != Some(asker) {
            return Err(fail(SignInError::LinkForAnotherUser));
        }
        let exchange = self
            .exchange(provider, &pending, params, log)
            .await
            .map_err(&fail)?;
        // Found by issuer and `sub` only (OIDC Core §5.7): an email that
        // matches another user's proves nothing (it may be unverified or
        // reassigned, "nOAuth"), so it never decides whose account this is.
        let identity = exchange.identity.bounded().map_err(&fail)?;
        let linking = SignInRecord {
            provider: provider.id.to_owned(),
            issuer: exchange.issuer,
            display_name: identity.display_name(),
            subject: identity.subject,
            email: identity.email,
        };
        let display_name = linking.display_name.clone();
        log.record(Step::SignInScopes {
            provider,
            granted: &exchange.tokens.scopes,
        });
        let tokens = exchange.tokens;
        let journal = log.to_text();
        let state_hash = state_hash.to_owned();
        let attached = self
            .db
            .write(move |connection, sealer| {
                // One transaction: the identity, its tokens and the attempt.
                sign_ins::link(
                    connection,
                    sealer,
                    &sign_ins::Linking {
                        user_id: asker,
                        record: &linking,
                        tokens: &tokens,
                        state_hash: &state_hash,
                        journal: journal.as_deref(),
                    },
                )
            })
            .await
            .map_err(|error| fail(SignInError::Storage(error)))?;
        let (identity_id, already) = match attached {
            accounts::Attached::Linked { identity_id } => (identity_id, false),
            accounts::Attached::AlreadyLinked { identity_id } => (identity_id, true),
            accounts::Attached::LinkedToAnotherUser => {
                return Err(fail(SignInError::IdentityLinkedToAnotherUser));
            }
        };
        Ok(Linked {
            identity_id,
            already,
            display_name,
            return_to: return_to.unwrap_or_else(|| DEFAULT_RETURN_TO.to_owned()),
        })
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

    /// Checks every provider once, at start (`diagnostics`): discovery
    /// documents and keys are fetched, so the first sign-in does not wait for
    /// them, and a misconfiguration shows in the log at once. A failure is
    /// logged, not fatal: the provider may be back by the time someone signs in.
    pub async fn warm_up(&self, providers: &Providers) {
        for check in self.diagnose(providers).await {
            match &check.discovery_error {
                None => tracing::info!(provider = check.id, "provider checked; details at /setup"),
                Some(error) => tracing::warn!(
                    provider = check.id,
                    "discovery failed at start (will retry at the first sign-in): {error}"
                ),
            }
            for warning in &check.warnings {
                tracing::warn!(provider = check.id, "{warning}");
            }
        }
    }

    /// The userinfo endpoint of an OpenID Connect provider (OIDC Core §5.3),
    /// from its cached discovery document.
    pub async fn userinfo_endpoint(&self, provider: &Provider) -> Result<Option<Url>, SignInError> {
        if Issuer::of(provider).is_none() {
            return Ok(None);
        }
        let discovered = self.discovery.metadata(provider, &self.http, false).await?;
        Ok(discovered
            .metadata
            .userinfo_endpoint()
            .map(|endpoint| endpoint.url().clone()))
    }
}

/// The provider as this request asks it: with the mail scopes for a request
/// for the mail permission.
fn requested(provider: &Provider, purpose: Option<Purpose>) -> Provider {
    match purpose {
        Some(Purpose::AddMail { .. }) => provider.asking_for_mail(),
        Some(Purpose::SignIn | Purpose::Link { .. }) | None => provider.clone(),
    }
}

/// An `access_denied` the person chose (declined), as opposed to one that
/// names a policy or an administrator (`plain_words`).
fn declined_by_the_person(error: &SignInError) -> bool {
    use super::plain_words::FixedBy;
    error
        .explanation()
        .is_none_or(|explanation| explanation.fixed_by == FixedBy::Visitor)
}

/// The API failed to say who signed in: the sign-in cannot finish.
fn identity_lookup_error(error: ApiError) -> SignInError {
    match error {
        ApiError::Timeout => SignInError::ProviderTimeout,
        ApiError::TooLarge { .. } => SignInError::AnswerTooLarge {
            what: "answer to who signed in",
        },
        other => SignInError::ProviderUnavailable {
            detail: format!("reading who signed in from the API: {other}"),
        },
    }
}
