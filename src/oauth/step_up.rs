//! The same flow for someone already signed in, steps 4 to 6 of the three
//! requests that are not a sign-in: the mail permission (incremental consent,
//! [`Intent::add_mail`](super::outcome::Intent::add_mail)), linking another
//! account ([`Intent::link`](super::outcome::Intent::link)) and a fresh
//! sign-in before what cannot be undone
//! ([`Intent::reauthenticate`](super::outcome::Intent::reauthenticate)). Each
//! answer must come back to the user who asked, and none signs anyone in or
//! out. `flow` runs steps 3 and 4 and hands the answer here.

use super::callback::CallbackParams;
use super::flow::{SignInFlow, authenticated_at};
use super::id_token::MAX_CLOCK_SKEW;
use super::outcome::{Finished, Linked, MailPermission, Reauthenticated, SignInFailure, requested};
use super::return_to::{DEFAULT_RETURN_TO, safe_return_path};
use super::token::TokenExchange;
use super::{SignInError, admin_consent};
use crate::db::accounts::{self, AccountIds, SignInRecord};
use crate::db::attempts;
use crate::db::pending_sign_ins::{PendingSignIn, Purpose, Then};
use crate::db::{sign_ins, unix_now};
use crate::oauth::observe::{Log, Step};
use crate::providers::Provider;

impl SignInFlow {
    /// Steps 4 to 6 of a signed-in person's request (`purpose`, not a
    /// sign-in), once `state` matched this browser: each answer goes to its
    /// own step below. `current` is who is signed in here now.
    pub(super) async fn step_up(
        &self,
        provider: &Provider,
        purpose: Purpose,
        current: Option<AccountIds>,
        (pending, params, state_hash): (PendingSignIn, CallbackParams, &str),
        log: &mut Log,
    ) -> Result<Finished, SignInFailure> {
        match purpose {
            Purpose::AddMail {
                user_id,
                identity_id,
            } => {
                let asker = AccountIds {
                    user_id,
                    identity_id,
                };
                self.add_mail(provider, pending, asker, current, params, log, state_hash)
                    .await
                    .map(Finished::MailPermission)
            }
            Purpose::Link { user_id } => {
                let current = current.map(|ids| ids.user_id);
                self.link(provider, pending, user_id, current, params, log, state_hash)
                    .await
                    .map(Finished::Linked)
            }
            Purpose::Reauthenticate {
                user_id,
                identity_id,
                then,
            } => {
                let asker = AccountIds {
                    user_id,
                    identity_id,
                };
                let asked = (asker, then);
                self.reauthenticate(provider, pending, asked, current, params, log, state_hash)
                    .await
                    .map(Finished::Reauthenticated)
            }
            // The administrator's answer is only reported (`admin_consent`).
            Purpose::AdminConsent if pending.is_expired(unix_now()) => {
                Err(SignInError::ExpiredState.into())
            }
            Purpose::AdminConsent => Ok(Finished::AdminConsent(admin_consent::outcome(&params))),
            // `flow::finish` completes sign-ins itself.
            Purpose::SignIn => Err(SignInError::UnknownState.into()),
        }
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
    pub(super) async fn add_mail(
        &self,
        provider: &Provider,
        pending: PendingSignIn,
        asker: AccountIds,
        current: Option<AccountIds>,
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
        let provider = &requested(provider, pending.purpose.as_ref());
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
                if !self
                    .answered_by(provider, asker, &exchange)
                    .await
                    .map_err(&fail)?
                {
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
    pub(super) async fn link(
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
}

impl SignInFlow {
    /// Steps 4 to 6 of a fresh sign-in before `then` (what cannot be undone:
    /// linking, unlinking, deleting), once `state` matched this browser. The
    /// answer must come back to the session that asked (`current`, who is
    /// signed in here now), name the account this session signed in with
    /// (issuer and `sub`), and, where the ID token says when the person
    /// authenticated (`auth_time`, asked for with `max_age`), be no older
    /// than REAUTH_MAX_AGE. A provider that does not say (GitHub) counts the
    /// round trip that just ended as the sign-in. Its tokens are not kept:
    /// the identity's own, with the scopes granted so far, stay as they are.
    #[expect(
        clippy::too_many_arguments,
        reason = "the pending row, who asked, who is here and the answer are each needed once"
    )]
    pub(super) async fn reauthenticate(
        &self,
        provider: &Provider,
        pending: PendingSignIn,
        (asker, then): (AccountIds, Then),
        current: Option<AccountIds>,
        params: CallbackParams,
        log: &mut Log,
        state_hash: &str,
    ) -> Result<Reauthenticated, SignInFailure> {
        let return_to = safe_return_path(&pending.return_to, &self.base_url);
        let fail = |error: SignInError| SignInFailure {
            for_signed_in_user: true,
            ..SignInFailure::new(error, return_to.clone())
        };
        // The session's own account, in the session that asked: checked
        // before the code is used.
        if current != Some(asker) {
            return Err(fail(SignInError::ReauthForAnotherUser));
        }
        let exchange = self
            .exchange(provider, &pending, params, log)
            .await
            .map_err(&fail)?;
        // Whoever holds a copy of the cookie can start this; only the
        // account's owner can answer it as that account.
        if !self
            .answered_by(provider, asker, &exchange)
            .await
            .map_err(&fail)?
        {
            return Err(fail(SignInError::ReauthFromAnotherAccount));
        }
        // OIDC Core §3.1.2.1: with `max_age`, the provider must
        // authenticate the person again if their sign-in there is older,
        // and say when it did. A provider that answers from an older
        // sign-in has not confirmed that the person is here now.
        let auth_time = exchange.identity.auth_time;
        if let Some(at) = auth_time {
            let oldest = unix_now()
                - i64::try_from(self.reauth_max_age.as_secs()).unwrap_or(i64::MAX)
                - i64::try_from(MAX_CLOCK_SKEW.as_secs()).unwrap_or(0);
            if at < oldest {
                return Err(fail(SignInError::ReauthNotFresh {
                    minutes_ago: (unix_now() - at) / 60,
                }));
            }
        }
        let journal = log.to_text();
        if let Some(journal) = journal {
            let state_hash = state_hash.to_owned();
            self.db
                .write(move |connection, _| {
                    attempts::finish(
                        connection,
                        &state_hash,
                        Some(&journal),
                        attempts::SIGNED_IN_AGAIN,
                        Some(asker.user_id),
                    )
                })
                .await
                .map_err(|error| fail(SignInError::Storage(error)))?;
        }
        Ok(Reauthenticated {
            authenticated_at: authenticated_at(auth_time),
            then,
        })
    }

    /// Whether the account that answered (`exchange`) is the identity
    /// `asker` names, of that user: the same issuer and `sub` (OIDC Core
    /// §5.7). Its name and email prove nothing.
    async fn answered_by(
        &self,
        provider: &Provider,
        asker: AccountIds,
        exchange: &TokenExchange,
    ) -> Result<bool, SignInError> {
        let subject = exchange.identity.clone().bounded()?.subject;
        let stored = self
            .db
            .run(move |connection, _| accounts::identity_key(connection, asker.identity_id))
            .await?;
        Ok(stored.is_some_and(|stored| {
            stored.user_id == asker.user_id
                && stored.subject == subject
                && (stored.issuer == exchange.issuer
                    // Rows from before issuers were stored
                    // (migration 2026-11-30-000002).
                    || stored.issuer == format!("legacy:{}", provider.id))
        }))
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
