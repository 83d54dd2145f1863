//! What the pages that call a provider's API (step 7) share: the account
//! and provider behind the session with usable tokens ([`ApiAccess`]), the
//! mailbox a page asks for, recording the first API call after a sign-in,
//! and turning an API error into the page's error.

use std::time::Instant;

use crate::api::{ApiClient, ApiError};
use crate::app::AppState;
use crate::db::accounts;
use crate::error::AppError;
use crate::oauth::observe::Later;
use crate::providers::Provider;
use crate::session::{self, SessionUser};
use crate::tokens::{SignInAgain, Usable};
use crate::web::Visitor;

/// The account and provider behind the visitor's session, with usable tokens.
pub struct ApiAccess<'a> {
    pub provider: &'a Provider,
    pub usable: Usable,
}

impl ApiAccess<'_> {
    /// A client for the provider's API with this account's access token.
    pub fn client<'c>(&'c self, http: &'c reqwest::Client) -> ApiClient<'c> {
        ApiClient::new(http, self.provider, &self.usable.tokens.access_token)
    }

    /// Whether to call the API again: after its first 401, once the tokens
    /// are refreshed (`tokens::TokenKeeper::after_unauthorized`). A second
    /// 401, or a refresh that fails, becomes "sign in again" or a "try again"
    /// page.
    pub async fn refreshed_after<T>(
        &mut self,
        state: &AppState,
        visitor: &Visitor,
        result: &Result<T, ApiError>,
    ) -> Result<bool, AppError> {
        if !matches!(result, Err(ApiError::Unauthorized)) {
            return Ok(false);
        }
        state
            .tokens()
            .after_unauthorized(self.provider, &mut self.usable)
            .await
            .map_err(|error| AppError::from_tokens(error, &visitor.here))?;
        Ok(true)
    }
}

/// The visitor's account with usable tokens (refreshed first if they are
/// about to expire); anything missing means "sign in again" (and come back).
pub async fn api_access<'a>(
    state: &'a AppState,
    visitor: &Visitor,
) -> Result<ApiAccess<'a>, AppError> {
    let (user, provider) = signed_in_with(state, visitor)?;
    let usable = state
        .tokens()
        .usable(provider, user.identity_id)
        .await
        .map_err(|error| AppError::from_tokens(error, &visitor.here))?;
    Ok(ApiAccess { provider, usable })
}

/// `api_access` for the mailbox chosen with `?account={identity_id}`: one of
/// the signed-in user's own identities (another user's id, or an unknown
/// one, is a 404), or, without a choice, the session's. Whether it has the
/// mail permission is for the page to check (`/mail` asks for it).
pub async fn mail_access<'a>(
    state: &'a AppState,
    visitor: &Visitor,
    account: Option<i64>,
) -> Result<ApiAccess<'a>, AppError> {
    let user = visitor.require_user()?;
    let Some(chosen) = account.filter(|chosen| *chosen != user.identity_id) else {
        return api_access(state, visitor).await;
    };
    let provider = own_mailbox(state, user.user_id, chosen).await?;
    let usable = state
        .tokens()
        .usable(provider, chosen)
        .await
        .map_err(|error| AppError::from_tokens(error, &visitor.here))?;
    Ok(ApiAccess { provider, usable })
}

/// The provider of identity `identity_id`, if it is one of user `user_id`'s
/// own and its provider has a mail API; a 404 otherwise, as for an unknown
/// id (never "that is someone else's").
pub async fn own_mailbox(
    state: &AppState,
    user_id: i64,
    identity_id: i64,
) -> Result<&Provider, AppError> {
    let provider_id = state
        .db()
        .run(move |connection, _| {
            accounts::provider_of_own_identity(connection, user_id, identity_id)
        })
        .await?
        .ok_or(AppError::NotFound)?;
    state
        .providers
        .get(&provider_id)
        .filter(|provider| provider.mail_api.is_some())
        .ok_or(AppError::NotFound)
}

/// The signed-in user and the provider they signed in with (one this app
/// still offers).
pub fn signed_in_with<'a, 'v>(
    state: &'a AppState,
    visitor: &'v Visitor,
) -> Result<(&'v SessionUser, &'a Provider), AppError> {
    let user = visitor.require_user()?;
    let provider = state
        .providers
        .get(&user.provider)
        .ok_or_else(|| AppError::SignInRequired {
            return_to: visitor.here.clone(),
            why: Some(SignInAgain::Expired),
        })?;
    Ok((user, provider))
}

/// Step 7 for `/flow`: the first API call after a sign-in is recorded with
/// that sign-in (the session says when; other page views skip this).
pub async fn note_first_api_call<T>(
    state: &AppState,
    visitor: &Visitor,
    description: String,
    result: &Result<T, ApiError>,
    started: Instant,
) {
    if !session::take_first_api_call_pending(&visitor.session) {
        return;
    }
    if let Some(user) = &visitor.user {
        let noted = state.flow.observer.note(Later::FirstApiCall {
            description: &description,
            outcome: result.as_ref().map(|_| ()).map_err(ToString::to_string),
            started,
        });
        if let Some(note) = noted {
            state.tokens().remember(user.user_id, vec![note]).await;
        }
    }
}

/// Maps an API error (other than a 401 answered by a refresh) to the page.
pub fn api_error(visitor: &Visitor, access: &ApiAccess, error: ApiError) -> AppError {
    match error {
        // A 401 after a refresh: these tokens do not work; sign in again.
        ApiError::Unauthorized => AppError::SignInRequired {
            return_to: visitor.here.clone(),
            why: Some(SignInAgain::Expired),
        },
        // The request's log line records the error (see `telemetry`).
        other => AppError::from_api(access.provider, other, &visitor.here),
    }
}
