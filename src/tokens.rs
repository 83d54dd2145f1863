//! Usable tokens for an identity: the one place that opens stored tokens,
//! refreshes them when they are about to expire or the API refused them, makes
//! sure only one refresh runs at a time, and forgets kept profiles when tokens
//! change.
//!
//! Handlers ask [`TokenKeeper::usable`] and get tokens to call the API with;
//! after a 401 they ask [`TokenKeeper::after_unauthorized`] once and retry the
//! call once; signing out at the provider and deleting an account ask
//! [`TokenKeeper::revoke_and_forget`]. They never unseal, refresh or delete
//! tokens themselves.
//!
//! Single flight: a refresh first takes the lease in the database
//! (`db::tokens::take_refresh_lease`), so exactly one request, in one thread
//! of one process, sends the refresh token; every other request that needs a
//! refresh meanwhile (other tabs, parallel API calls, other app instances on
//! the same database) waits for the stored generation to change and uses the
//! result. A refresh token sent twice would look like a replay to a provider
//! that rotates them, which then revokes the whole family (RFC 9700 §4.14.2).
//!
//! What it must not do: render pages or know about sessions (it returns
//! [`TokensError`], which `error` maps to a page), or hold tokens beyond one
//! request.

use std::time::{Duration, Instant};

use std::sync::Arc;

use secrecy::SecretString;

use crate::api::profile_cache::ProfileCache;
use crate::db::accounts::{self, Account};
use crate::db::tokens::{ProviderTokens, StoredTokens};
use crate::db::{Database, DbConnection, DbError, TokenSealer, attempts, tokens, unix_now};
use crate::oauth::discovery::DiscoveryCache;
use crate::oauth::observe::{Later, Note, Notes, Observer};
use crate::oauth::refresh::{self, RefreshError};
use crate::oauth::revocation::{self, TokensAtProvider};
use crate::oauth::token::TokenTrace;
use crate::providers::Provider;

/// Refresh this long before the access token expires, so that it does not
/// expire between our check and the API's (clock difference, slow requests).
pub const REFRESH_AHEAD_SECS: i64 = 60;

/// How often a request waiting for another's refresh looks at the result.
const WAIT_STEP: Duration = Duration::from_millis(50);

/// The longest a request waits for another's refresh: as long as a lease may
/// last, and 2 s more for the holder to store its result. A lease that
/// expires sooner ends the wait sooner (the waiter takes it over); this bound
/// is for one that never ends (an instance whose clock runs ahead).
fn longest_wait(lease_secs: i64) -> Duration {
    Duration::from_secs(lease_secs.unsigned_abs() + 2)
}

/// Why a person must sign in again; the chooser page says it in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInAgain {
    /// No tokens, or the provider no longer accepts the access token.
    Expired,
    /// The provider refused to renew access (refresh token expired, revoked,
    /// or the person changed their password or removed the app).
    RefreshRefused,
    /// The renewed tokens were about someone else (OIDC Core §12.2).
    IdentityChanged,
}

impl SignInAgain {
    /// The value of `expired=` on `/login`.
    pub fn query_value(self) -> &'static str {
        match self {
            SignInAgain::Expired => "1",
            SignInAgain::RefreshRefused => "refused",
            SignInAgain::IdentityChanged => "changed",
        }
    }

    /// Read back from `expired=` (anything unknown reads as `Expired`).
    pub fn from_query_value(value: &str) -> Self {
        match value {
            "refused" => SignInAgain::RefreshRefused,
            "changed" => SignInAgain::IdentityChanged,
            _ => SignInAgain::Expired,
        }
    }

    /// What the chooser page says.
    pub fn notice(self) -> &'static str {
        match self {
            SignInAgain::Expired => {
                "The provider no longer accepts this app's access (it expired or was revoked). Please sign in again."
            }
            SignInAgain::RefreshRefused => {
                "Your access could not be renewed: the provider refused. This happens when access was revoked, when you changed your password, or after a long time without use. Please sign in again; you will come back to the page you were on."
            }
            SignInAgain::IdentityChanged => {
                "The provider renewed access for a different account than the one you signed in with, so we did not use it. Please sign in again."
            }
        }
    }
}

/// Why no usable tokens could be given.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("sign in again: {0:?}")]
    SignInAgain(SignInAgain),
    /// The provider could not refresh now; the tokens are kept.
    #[error("the provider could not renew access now: {detail}")]
    ProviderUnavailable { detail: String, timeout: bool },
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// An account with tokens that were good a moment ago.
#[derive(Debug)]
pub struct Usable {
    /// The account (its `tokens` field is empty: they are in `tokens`).
    pub account: Account,
    pub tokens: ProviderTokens,
    generation: i64,
    /// Set once this request refreshed after a 401: the next 401 is final.
    refreshed_after_401: bool,
}

impl Usable {
    /// Whether a 401 from the API may still be answered by a refresh.
    pub fn may_refresh_after_401(&self) -> bool {
        !self.refreshed_after_401 && self.tokens.refresh_token.is_some()
    }
}

/// What revoking an identity's tokens did.
#[derive(Debug)]
pub struct Revoked {
    pub at_provider: TokensAtProvider,
    /// The sign-in's ID token, for the end-session request's `id_token_hint`.
    pub id_token: Option<SecretString>,
    /// The requests sent, as the observer noted them (for the sign-in's
    /// timeline: [`TokenKeeper::remember`]).
    pub notes: Vec<Note>,
}

/// What tokens are kept with and refreshed through; borrowed from the app's
/// state for one request (`AppState::tokens`).
#[derive(Debug, Clone, Copy)]
pub struct TokenKeeper<'a> {
    pub db: &'a Database,
    pub discovery: &'a DiscoveryCache,
    pub http: &'a reqwest::Client,
    pub profiles: &'a ProfileCache,
    /// Told of refreshes and revocations (`observe`).
    pub observer: &'a Arc<dyn Observer>,
    /// How long one refresh may hold the lease: longer than a request to the
    /// provider may take (HTTP_TIMEOUT), so a live refresh is never overtaken.
    pub lease_secs: i64,
}

impl TokenKeeper<'_> {
    /// The account of `identity_id` with usable tokens, refreshed first if the
    /// access token expires within [`REFRESH_AHEAD_SECS`]. One database read
    /// when no refresh is needed.
    pub async fn usable(
        &self,
        provider: &Provider,
        identity_id: i64,
    ) -> Result<Usable, TokensError> {
        let account = self
            .open(move |connection, sealer| accounts::load_account(connection, sealer, identity_id))
            .await?;
        let mut account = account.ok_or(TokensError::SignInAgain(SignInAgain::Expired))?;
        let stored = account
            .tokens
            .take()
            .ok_or(TokensError::SignInAgain(SignInAgain::Expired))?;
        let expires_soon = stored
            .tokens
            .access_token_expires_at
            .is_some_and(|expires_at| expires_at - unix_now() <= REFRESH_AHEAD_SECS);
        let stored = if expires_soon && stored.tokens.refresh_token.is_some() {
            self.refresh(provider, account.user_id, identity_id, stored)
                .await?
        } else {
            stored
        };
        Ok(Usable {
            account,
            tokens: stored.tokens,
            generation: stored.generation,
            refreshed_after_401: false,
        })
    }

    /// The API answered 401 to `usable`'s access token (RFC 6750 §3.1): the
    /// token may have been revoked or expired early. Refreshes once (or takes
    /// the refresh another request made meanwhile) and puts the new tokens in
    /// `usable`; without a refresh token, or after a refresh already, the
    /// person must sign in again.
    pub async fn after_unauthorized(
        &self,
        provider: &Provider,
        usable: &mut Usable,
    ) -> Result<(), TokensError> {
        let identity_id = usable.account.identity_id;
        if !usable.may_refresh_after_401() {
            // Refused, with no way to renew: these tokens are dead.
            self.forget(identity_id).await?;
            return Err(TokensError::SignInAgain(SignInAgain::Expired));
        }
        let stored = StoredTokens {
            tokens: usable.tokens.clone(),
            generation: usable.generation,
        };
        let stored = self
            .refresh(provider, usable.account.user_id, identity_id, stored)
            .await?;
        usable.tokens = stored.tokens;
        usable.generation = stored.generation;
        usable.refreshed_after_401 = true;
        Ok(())
    }

    /// Revokes the identity's tokens at the provider where it allows (RFC
    /// 7009, GitHub's grant deletion) and deletes them here whatever the
    /// provider answered: a sign-out never fails because the provider is
    /// down. `provider` is `None` when the app is no longer configured for
    /// the identity's provider: the tokens are deleted all the same.
    pub async fn revoke_and_forget(
        &self,
        provider: Option<&Provider>,
        identity_id: i64,
    ) -> Result<Revoked, DbError> {
        let stored = self
            .open(move |connection, sealer| tokens::load(connection, sealer, identity_id))
            .await?;
        let held = stored.map(|stored| stored.tokens);
        let mut notes = Notes::new(self.observer.as_ref());
        let at_provider = match provider {
            Some(provider) => {
                revocation::revoke(
                    provider,
                    self.discovery,
                    self.http,
                    held.as_ref(),
                    &mut notes,
                )
                .await
            }
            None if held.is_some() => TokensAtProvider::NotConfigured,
            None => TokensAtProvider::NoneHeld,
        };
        self.forget(identity_id).await?;
        Ok(Revoked {
            at_provider,
            id_token: held.and_then(|tokens| tokens.id_token),
            notes: notes.into_vec(),
        })
    }

    /// Revokes at `provider` (where it allows) tokens already deleted here,
    /// which no session could use any more (`db::sessions::sweep`), and
    /// forgets the profile kept with them. What the provider answered is
    /// only logged: there is nobody to tell.
    pub async fn revoke_unused(
        &self,
        provider: &Provider,
        identity_id: i64,
        tokens: &ProviderTokens,
    ) {
        let mut notes = Notes::new(self.observer.as_ref());
        let at_provider = revocation::revoke(
            provider,
            self.discovery,
            self.http,
            Some(tokens),
            &mut notes,
        )
        .await;
        self.profiles.forget(identity_id);
        tracing::info!(
            provider = provider.id,
            identity_id,
            at_provider = ?at_provider,
            "tokens no session needs were deleted and revoked"
        );
    }

    /// Deletes the identity's stored tokens and the profile kept with them.
    async fn forget(&self, identity_id: i64) -> Result<(), DbError> {
        self.db
            .write(move |connection, _| tokens::delete(connection, identity_id))
            .await?;
        self.profiles.forget(identity_id);
        Ok(())
    }

    /// Runs `read`, which opens sealed tokens. Tokens sealed under an older
    /// TOKEN_KEY cannot be opened; they count as none (new ones are one
    /// sign-in away), not as an error page.
    async fn open<T, F>(&self, read: F) -> Result<Option<T>, DbError>
    where
        F: FnOnce(&mut DbConnection, &TokenSealer) -> Result<Option<T>, DbError> + Send + 'static,
        T: Send + 'static,
    {
        match self.db.run(read).await {
            Err(DbError::Unseal) => Ok(None),
            other => other,
        }
    }

    /// New tokens for `stored`: refreshed by this request if it gets the
    /// lease, else by whoever holds it (this request waits for the result).
    async fn refresh(
        &self,
        provider: &Provider,
        user_id: i64,
        identity_id: i64,
        stored: StoredTokens,
    ) -> Result<StoredTokens, TokensError> {
        let deadline = Instant::now() + longest_wait(self.lease_secs);
        let (generation, lease_secs) = (stored.generation, self.lease_secs);
        loop {
            let ours = self
                .db
                .write(move |connection, _| {
                    tokens::take_refresh_lease(connection, identity_id, generation, lease_secs)
                })
                .await?;
            if ours {
                return self
                    .refresh_holding_lease(provider, user_id, identity_id, stored)
                    .await;
            }
            // Someone else holds the lease: wait for its result, reading only.
            loop {
                tokio::time::sleep(WAIT_STEP).await;
                let lease = self
                    .db
                    .run(move |connection, _| tokens::lease_state(connection, identity_id))
                    .await?;
                match lease {
                    // They were refused and deleted the tokens.
                    None => return Err(TokensError::SignInAgain(SignInAgain::RefreshRefused)),
                    Some((current, _)) if current != generation => {
                        return self
                            .db
                            .run(move |connection, sealer| {
                                tokens::load(connection, sealer, identity_id)
                            })
                            .await?
                            .ok_or(TokensError::SignInAgain(SignInAgain::RefreshRefused));
                    }
                    // Given back (the provider was down) or expired: try to take it.
                    Some((_, until)) if until.is_none_or(|until| until < unix_now()) => break,
                    Some(_) if Instant::now() > deadline => {
                        return Err(TokensError::ProviderUnavailable {
                            detail: "waited too long for another request's refresh".into(),
                            timeout: true,
                        });
                    }
                    Some(_) => {}
                }
            }
        }
    }

    /// Adds `notes` (refreshes, revocations, sign-out at the provider, the
    /// first API call) to the record of the person's latest sign-in, the
    /// timeline `/flow` and `/signed-out` show; returns that sign-in's
    /// attempt id. A failure
    /// to record is logged; it does not change the page.
    pub async fn remember(&self, user_id: i64, notes: Vec<Note>) -> Option<i64> {
        if !self.observer.keeps_records() {
            return None;
        }
        let observer = Arc::clone(self.observer);
        let stored = self
            .db
            .write(move |connection, _| {
                attempts::amend_latest_for_user(connection, user_id, |stored| {
                    observer.add_notes(stored, notes)
                })
            })
            .await;
        stored
            .inspect_err(|error| tracing::warn!("could not record what happened: {error}"))
            .ok()
            .flatten()
    }

    /// The refresh itself, by the lease's holder: store the result (which ends
    /// the lease), or forget dead tokens, or give the lease back.
    async fn refresh_holding_lease(
        &self,
        provider: &Provider,
        user_id: i64,
        identity_id: i64,
        stored: StoredTokens,
    ) -> Result<StoredTokens, TokensError> {
        let generation = stored.generation;
        let mut trace = TokenTrace::default();
        let result = refresh::renew(
            provider,
            self.discovery,
            self.http,
            &stored.tokens,
            &mut trace,
        )
        .await;
        let mut notes = Notes::new(self.observer.as_ref());
        notes.add(Later::Refresh {
            before: &stored.tokens,
            outcome: result.as_ref(),
            call: &trace,
        });
        self.remember(user_id, notes.into_vec()).await;
        match result {
            Ok(fresh) => {
                let now = self
                    .db
                    .write(move |connection, sealer| {
                        tokens::store_refreshed(connection, sealer, identity_id, generation, &fresh)
                    })
                    .await?;
                // The kept profile belongs to the tokens it was read with.
                self.profiles.forget(identity_id);
                tracing::info!(
                    provider = provider.id,
                    identity_id,
                    "access token refreshed"
                );
                now.ok_or(TokensError::SignInAgain(SignInAgain::Expired))
            }
            Err(error) if error.is_transient() => {
                self.db
                    .write(move |connection, _| {
                        tokens::release_refresh_lease(connection, identity_id, generation)
                    })
                    .await?;
                tracing::warn!(
                    provider = provider.id,
                    identity_id,
                    "refresh failed, tokens kept: {error}"
                );
                let timeout = matches!(error, RefreshError::Unavailable { timeout: true, .. });
                Err(TokensError::ProviderUnavailable {
                    detail: error.to_string(),
                    timeout,
                })
            }
            Err(error) => {
                self.forget(identity_id).await?;
                tracing::info!(
                    provider = provider.id,
                    identity_id,
                    "refresh refused, tokens deleted: {error}"
                );
                Err(TokensError::SignInAgain(match error {
                    RefreshError::IdentityChanged { .. } => SignInAgain::IdentityChanged,
                    RefreshError::NoRefreshToken => SignInAgain::Expired,
                    _ => SignInAgain::RefreshRefused,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_request_waits_as_long_as_a_lease_and_two_seconds_more() {
        assert_eq!(longest_wait(25), Duration::from_secs(27));
        assert_eq!(longest_wait(1), Duration::from_secs(3));
    }
}
