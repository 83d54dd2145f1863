//! Pages that show the signed-in person's data from the provider's API (step 7):
//! profile, mail list and one message.
//!
//! Each page gets the account with usable tokens from `tokens` (one query;
//! refreshed first when they are about to expire), then calls the API;
//! `/profile` does so only when it has no kept copy of what it shows
//! (`api::profile_cache`). A 401 from the API is answered by one refresh and
//! one more call; if that fails too, the visitor is sent to sign in again and
//! comes back to the same page.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::Visitor;
use crate::api::profile_cache::{PROFILE_TTL, SignInFacts};
use crate::api::{ApiClient, ApiError, MailPage, Message, Profile};
use crate::error::AppError;
use crate::oauth::trace;
use crate::providers::{ProfileApi, Provider};
use crate::session::{self, SessionUser};
use crate::startup::AppState;
use crate::tokens::{SignInAgain, Usable};

/// The account and provider behind the visitor's session, with usable tokens.
struct ApiAccess<'a> {
    provider: &'a Provider,
    usable: Usable,
}

impl ApiAccess<'_> {
    /// A client for the provider's API with this account's access token.
    fn client<'c>(&'c self, http: &'c reqwest::Client) -> ApiClient<'c> {
        ApiClient::new(http, self.provider, &self.usable.tokens.access_token)
    }

    /// Whether to call the API again: after its first 401, once the tokens
    /// are refreshed (`tokens::TokenKeeper::after_unauthorized`). A second
    /// 401, or a refresh that fails, becomes "sign in again" or a "try again"
    /// page.
    async fn refreshed_after<T>(
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
async fn api_access<'a>(state: &'a AppState, visitor: &Visitor) -> Result<ApiAccess<'a>, AppError> {
    let (user, provider) = signed_in_with(state, visitor)?;
    let usable = state
        .tokens()
        .usable(provider, user.identity_id)
        .await
        .map_err(|error| AppError::from_tokens(error, &visitor.here))?;
    Ok(ApiAccess { provider, usable })
}

/// The signed-in user and the provider they signed in with (one this app
/// still offers).
fn signed_in_with<'a, 'v>(
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
async fn note_first_api_call<T>(
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
        let outcome = result.as_ref().map(|_| ()).map_err(ToString::to_string);
        let step = trace::api_call(&description, outcome, started);
        state.flow.record_first_api_call(user.user_id, step).await;
    }
}

/// Maps an API error (other than a 401 answered by a refresh) to the page.
fn api_error(visitor: &Visitor, access: &ApiAccess, error: ApiError) -> AppError {
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

#[derive(Serialize)]
struct ProfilePage<'a> {
    profile: &'a Profile,
    /// When the profile was read from the API (Unix seconds).
    read_at: i64,
    /// How long a profile is kept before it is read again, in minutes.
    kept_minutes: u64,
    provider_name: &'a str,
    sign_in: &'a SignInFacts,
    has_mail: bool,
}

#[derive(Deserialize)]
pub struct ProfileQuery {
    /// `?refresh=1`: read the profile from the API now, not from the cache.
    refresh: Option<String>,
}

/// `GET /profile` (`?refresh=1` reads the profile from the API again)
///
/// The profile comes from the provider's API and is kept for a few minutes
/// with the sign-in's facts (`api::profile_cache`): the first view after a
/// sign-in reads the account and calls the API; the next ones within
/// `PROFILE_TTL` show what was kept, with no database read and no API call.
pub async fn show_profile(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<ProfileQuery>,
) -> Result<HttpResponse, AppError> {
    let (user, provider) = signed_in_with(&state, &visitor)?;
    let kept = match query.refresh {
        Some(_) => None,
        None => state.profiles.get(user.identity_id),
    };
    let kept = match kept {
        Some(kept) => kept,
        None => {
            let mut access = api_access(&state, &visitor).await?;
            let profile = read_profile(&state, &visitor, &mut access).await?;
            let sign_in = SignInFacts {
                scopes: access.usable.tokens.scopes,
                access_token_expires_at: access.usable.tokens.access_token_expires_at,
                last_sign_in_at: access.usable.account.last_sign_in_at,
            };
            state.profiles.put(user.identity_id, profile, sign_in)
        }
    };
    let page = ProfilePage {
        profile: &kept.profile,
        read_at: kept.read_at,
        kept_minutes: PROFILE_TTL.as_secs() / 60,
        provider_name: &provider.display_name,
        sign_in: &kept.sign_in,
        has_mail: provider.mail_api.is_some(),
    };
    visitor.render(&state, "profile.html", &page)
}

/// Step 7: reads the profile from the provider's API with the access token.
async fn read_profile(
    state: &AppState,
    visitor: &Visitor,
    access: &mut ApiAccess<'_>,
) -> Result<Profile, AppError> {
    let provider = access.provider;
    let userinfo = match provider.profile_api {
        // From the cached discovery document: no request on the hot path.
        ProfileApi::OpenIdUserInfo => {
            state
                .flow
                .userinfo_endpoint(provider)
                .await
                .map_err(|error| AppError::ApiUnavailable {
                    detail: format!("discovery: {error:?}"),
                    timeout: false,
                })?
        }
        _ => None,
    };
    loop {
        let started = Instant::now();
        let (profile, description) = {
            let mut client = access.client(&state.http);
            if let ProfileApi::OpenIdUserInfo = provider.profile_api {
                let subject = access.usable.account.subject.clone();
                client = client.with_userinfo(userinfo.clone(), Some(subject));
            }
            (client.profile().await, client.describe_profile_call())
        };
        if access.refreshed_after(state, visitor, &profile).await? {
            continue;
        }
        note_first_api_call(state, visitor, description, &profile, started).await;
        return profile.map_err(|error| api_error(visitor, access, error));
    }
}

#[derive(Deserialize)]
pub struct MailQuery {
    /// Where the page starts, as the API's previous page said; absent for the
    /// newest messages.
    cursor: Option<String>,
}

#[derive(Serialize)]
struct MailListPage {
    /// `None` when the provider has no mail API (the page says so).
    mail: Option<MailPage>,
    provider_name: String,
    is_first_page: bool,
}

/// `GET /mail?cursor=…`
pub async fn show_mail(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<MailQuery>,
) -> Result<HttpResponse, AppError> {
    let mut access = api_access(&state, &visitor).await?;
    let provider = access.provider;
    let cursor = query.cursor.as_deref();
    let mail = match provider.mail_api {
        None => None,
        Some(_) => loop {
            let started = Instant::now();
            let (mail, description) = {
                let client = access.client(&state.http);
                (client.mail_page(cursor).await, client.describe_mail_call())
            };
            if access.refreshed_after(&state, &visitor, &mail).await? {
                continue;
            }
            note_first_api_call(&state, &visitor, description, &mail, started).await;
            break Some(mail.map_err(|error| api_error(&visitor, &access, error))?);
        },
    };
    let page = MailListPage {
        mail,
        provider_name: provider.display_name.clone(),
        is_first_page: cursor.is_none(),
    };
    visitor.render(&state, "mail.html", &page)
}

#[derive(Serialize)]
struct MessagePage {
    message: Message,
}

/// Message ids are opaque to us, but none is this long.
const MAX_MESSAGE_ID_LEN: usize = 512;

/// `GET /mail/{id}`
pub async fn show_message(
    state: web::Data<AppState>,
    visitor: Visitor,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_LEN {
        return Err(AppError::NotFound);
    }
    let mut access = api_access(&state, &visitor).await?;
    let message = loop {
        let message = access.client(&state.http).message(&id).await;
        if !access.refreshed_after(&state, &visitor, &message).await? {
            break message.map_err(|error| api_error(&visitor, &access, error))?;
        }
    };
    visitor.render(&state, "message.html", &MessagePage { message })
}
