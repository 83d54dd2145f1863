//! Pages that show the signed-in person's data from the provider's API (step 7):
//! profile, mail list and one message.
//!
//! Each page reads the account (with its sealed tokens) in one query, then calls
//! the API. A 401 from the API means the access token is no longer accepted: the
//! visitor is sent to sign in again and comes back to the same page.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::Visitor;
use crate::api::{ApiClient, ApiError, MailPage, Message, Profile};
use crate::db::DbError;
use crate::db::accounts::{self, Account, ProviderTokens};
use crate::error::AppError;
use crate::providers::Provider;
use crate::startup::AppState;

/// The account and provider behind the visitor's session, with usable tokens.
struct ApiAccess<'a> {
    provider: &'a Provider,
    account: Account,
    tokens: ProviderTokens,
}

impl ApiAccess<'_> {
    /// A client for the provider's API with this account's access token.
    fn client<'c>(&'c self, http: &'c reqwest::Client) -> ApiClient<'c> {
        ApiClient {
            http,
            kind: &self.provider.api,
            access_token: &self.tokens.access_token,
        }
    }
}

/// Loads the visitor's account and tokens in one query; anything missing means
/// "sign in again" (and come back here).
async fn api_access<'a>(state: &'a AppState, visitor: &Visitor) -> Result<ApiAccess<'a>, AppError> {
    let user = visitor.require_user()?;
    let sign_in_again = || AppError::SignInRequired {
        return_to: visitor.here.clone(),
        expired: true,
    };
    let provider = state
        .providers
        .get(&user.provider)
        .ok_or_else(sign_in_again)?;
    let identity_id = user.identity_id;
    let mut account = match state
        .db()
        .run(move |connection, sealer| accounts::load_account(connection, sealer, identity_id))
        .await
    {
        // Tokens sealed under an older TOKEN_KEY cannot be opened: new ones are
        // one sign-in away, so that is no reason for an error page.
        Err(DbError::Unseal) => return Err(sign_in_again()),
        other => other?.ok_or_else(sign_in_again)?,
    };
    let tokens = account.tokens.take().ok_or_else(sign_in_again)?;
    Ok(ApiAccess {
        provider,
        account,
        tokens,
    })
}

/// Maps an API error to the response: 401 asks to sign in again.
fn api_error(visitor: &Visitor, provider: &Provider, error: ApiError) -> AppError {
    match error {
        ApiError::Unauthorized => AppError::SignInRequired {
            return_to: visitor.here.clone(),
            expired: true,
        },
        // The request's log line records the error (see `telemetry`).
        other => AppError::from_api(provider.id, other),
    }
}

#[derive(Serialize)]
struct ProfilePage {
    profile: Profile,
    provider_name: String,
    scopes: Vec<String>,
    access_token_expires_at: Option<i64>,
    last_sign_in_at: i64,
}

/// `GET /profile`
pub async fn show_profile(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let access = api_access(&state, &visitor).await?;
    let provider = access.provider;
    // Step 7: call the provider's API with the access token.
    let profile = access
        .client(&state.http)
        .profile()
        .await
        .map_err(|error| api_error(&visitor, provider, error))?;
    let page = ProfilePage {
        profile,
        provider_name: provider.display_name.clone(),
        scopes: access.tokens.scopes,
        access_token_expires_at: access.tokens.access_token_expires_at,
        last_sign_in_at: access.account.last_sign_in_at,
    };
    visitor.render(&state, "profile.html", &page)
}

#[derive(Deserialize)]
pub struct MailQuery {
    page: Option<u32>,
}

#[derive(Serialize)]
struct MailListPage {
    mail: MailPage,
    provider_name: String,
}

/// Pages beyond this are refused rather than forwarded as a huge `$skip`.
const MAX_PAGE: u32 = 1000;

/// `GET /mail?page=N`
pub async fn show_mail(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<MailQuery>,
) -> Result<HttpResponse, AppError> {
    let page = query.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(AppError::NotFound);
    }
    let access = api_access(&state, &visitor).await?;
    let provider = access.provider;
    let mail = access
        .client(&state.http)
        .mail_page(page)
        .await
        .map_err(|error| api_error(&visitor, provider, error))?;
    let page = MailListPage {
        mail,
        provider_name: provider.display_name.clone(),
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
    let access = api_access(&state, &visitor).await?;
    let provider = access.provider;
    let message = access
        .client(&state.http)
        .message(&id)
        .await
        .map_err(|error| api_error(&visitor, provider, error))?;
    visitor.render(&state, "message.html", &MessagePage { message })
}
