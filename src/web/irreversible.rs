//! What cannot be undone: linking another account, unlinking one, deleting
//! the account. Each needs a fresh sign-in at the provider with the
//! session's own account, no longer than REAUTH_MAX_AGE ago; without one the
//! person is sent to sign in again first (`sign_in_again_first`), and the
//! callback goes on with what they asked for (`routes::sign_in`).
//!
//! Why: a copy of a session cookie (and the CSRF token on its pages) is
//! enough to use a session, but not to sign in at the provider as its
//! owner. Without this, whoever holds the copy could link *their own*
//! account to the owner's user, and that link would outlive every sign-out
//! (RFC 9700 §4.13 on the value of a stolen session; GitHub's "sudo mode"
//! and Keycloak's linking ask for a fresh sign-in for the same reason).
//!
//! Shared by the routes that ask for these and by the callback that goes on
//! with them; it registers no route.

use actix_web::{HttpRequest, HttpResponse};

use crate::app::AppState;
use crate::db::accounts::{self, AccountIds};
use crate::db::pending_sign_ins::Then;
use crate::db::unix_now;
use crate::error::AppError;
use crate::oauth::outcome::Intent;
use crate::providers::Provider;
use crate::session::SessionUser;
use crate::tokens::SignInAgain;
use crate::views::see_other;
use crate::web::sign_out::{finish_sign_out, sign_out_at_provider_of};
use crate::web::{Visitor, asking_provider, authorization_request};

/// `None` when `user` signed in at their provider recently enough for
/// `then`; otherwise the page that sends them there to sign in again (with
/// `max_age`, so the provider asks for their password even if it remembers
/// them), after which `then` goes on by itself.
pub async fn sign_in_again_first(
    state: &AppState,
    request: &HttpRequest,
    visitor: &Visitor,
    user: &SessionUser,
    then: Then,
) -> Result<Option<HttpResponse>, AppError> {
    let max_age = state.flow.reauth_max_age;
    if user.signed_in_recently(max_age, unix_now()) {
        return Ok(None);
    }
    // The provider this session signed in with, which alone can say the
    // person is its owner. Removed from the configuration since: sign in
    // again with another.
    let provider = state
        .providers
        .get(&user.provider)
        .ok_or_else(|| AppError::SignInRequired {
            return_to: return_to(&then).to_owned(),
            why: Some(SignInAgain::Expired),
        })?;
    let ids = AccountIds {
        user_id: user.user_id,
        identity_id: user.identity_id,
    };
    let heading = format!(
        "Confirm it is you: sign in to {} again before {}",
        provider.display_name,
        doing(&then)
    );
    let return_to = return_to(&then);
    let authorization_url = authorization_request(
        state,
        request,
        visitor,
        provider,
        return_to,
        Intent::reauthenticate(ids, then, max_age),
    )
    .await?;
    asking_provider(state, visitor, provider, heading, &authorization_url).map(Some)
}

/// Where a refusal of the fresh sign-in offers to go back to.
fn return_to(then: &Then) -> &'static str {
    match then {
        Then::Link { .. } | Then::Unlink { .. } => "/profile",
        Then::DeleteAccount => "/account/delete",
    }
}

/// What the fresh sign-in is for, in words.
fn doing(then: &Then) -> &'static str {
    match then {
        Then::Link { .. } => "linking another account",
        Then::Unlink { .. } => "unlinking an account",
        Then::DeleteAccount => "deleting your account",
    }
}

/// Asks `provider` who the person is, with the same state, PKCE and nonce
/// as a sign-in, to attach that account to the signed-in user; the provider
/// is asked to let them choose another account (`Provider::account_choice`).
/// The callback attaches it only if it comes back to the same browser and
/// the same signed-in user, and never if it belongs to another user.
pub async fn link(
    state: &AppState,
    request: &HttpRequest,
    visitor: &Visitor,
    user: &SessionUser,
    provider: &Provider,
) -> Result<HttpResponse, AppError> {
    let authorization_url = authorization_request(
        state,
        request,
        visitor,
        provider,
        "/profile",
        Intent::link(user.user_id, provider),
    )
    .await?;
    asking_provider(
        state,
        visitor,
        provider,
        format!("Linking your {} account", provider.display_name),
        &authorization_url,
    )
}

/// Unlinks `identity_id` from `user`: only an identity of theirs (another
/// user's id is a 404, as an unknown one is); never the last one (delete the
/// account instead) nor the one this session signed in with (sign in with
/// another first: unlinking it would end this session underneath the
/// person). Its tokens are revoked where the provider allows, then the
/// identity is deleted; sessions signed in with it elsewhere end with it.
pub async fn unlink(
    state: &AppState,
    user: &SessionUser,
    identity_id: i64,
) -> Result<HttpResponse, AppError> {
    let user_id = user.user_id;
    let identities = state
        .db()
        .run(move |connection, _| accounts::identities_of(connection, user_id))
        .await?;
    let identity = identities
        .iter()
        .find(|identity| identity.identity_id == identity_id)
        .ok_or(AppError::NotFound)?;
    if identities.len() == 1 {
        return Err(AppError::LastIdentity);
    }
    if identity_id == user.identity_id {
        return Err(AppError::UnlinkCurrentIdentity);
    }
    state
        .tokens()
        .revoke_and_forget(state.providers.get(&identity.provider), identity_id)
        .await?;
    let unlinked = state
        .db()
        .write(move |connection, _| accounts::unlink_identity(connection, user_id, identity_id))
        .await?;
    if !unlinked {
        // Unlinked or the others removed meanwhile (another browser).
        return Err(AppError::NotFound);
    }
    tracing::info!(user_id, identity_id, "account unlinked");
    // The profile page lists the linked accounts with what it keeps.
    state.profiles.forget(user.identity_id);
    Ok(see_other("/profile"))
}

/// Deletes the signed-in person's account: revokes the tokens of every
/// linked identity at its provider (where it allows), deletes the user with
/// everything stored about them (identities, tokens, sessions, sign-in
/// attempts: the foreign keys cascade), ends this browser's session, and
/// reports on `/signed-out`.
pub async fn delete_account(state: &AppState, visitor: Visitor) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user()?.clone();
    let user_id = user.user_id;
    let identities = state
        .db()
        .run(move |connection, _| accounts::identities_of(connection, user_id))
        .await?;
    // The other linked identities first; the session's own last, as it also
    // gives the end-session request.
    for identity in identities
        .iter()
        .filter(|identity| identity.identity_id != user.identity_id)
    {
        let provider = state.providers.get(&identity.provider);
        state
            .tokens()
            .revoke_and_forget(provider, identity.identity_id)
            .await?;
    }
    let (note, end_session) = sign_out_at_provider_of(state, &user, true).await?;
    state
        .db()
        .write(move |connection, _| accounts::delete_user(connection, user_id))
        .await?;
    tracing::info!(user_id, "account deleted");
    finish_sign_out(state, visitor, &note, end_session)
}
