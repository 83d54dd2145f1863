//! Pages that show the signed-in person's data from the provider's API (step 7):
//! profile, mail list and one message.
//!
//! Each page gets the account with usable tokens from `tokens` (one query;
//! refreshed first when they are about to expire), then calls the API;
//! `/profile` does so only when it has no kept copy of what it shows
//! (`api::profile_cache`). A 401 from the API is answered by one refresh and
//! one more call; if that fails too, the visitor is sent to sign in again and
//! comes back to the same page.
//!
//! Mail is asked for only when it is needed (incremental consent): sign-in
//! asks for no mail scope, so `/mail` first checks the scopes granted to the
//! signed-in identity and, without the mail ones, shows the permission page,
//! whose button (`POST /mail/permission`) runs the authorization flow again
//! for the added scopes and comes back to `/mail`.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::api::profile_cache::{PROFILE_TTL, SignInFacts};
use crate::api::{ApiClient, ApiError, MailPage, Message, Profile};
use crate::app::AppState;
use crate::db::accounts::{self, IdentitySummary, SignedInIds};
use crate::error::AppError;
use crate::oauth::outcome::Intent;
use crate::observe::Later;
use crate::providers::{ProfileApi, Provider};
use crate::session::{self, SessionUser};
use crate::tokens::{SignInAgain, Usable};
use crate::views::see_other;
use crate::web::Visitor;
use crate::web::authorization_request;

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

/// `api_access` for the mailbox chosen with `?account={identity_id}`: one of
/// the signed-in user's own identities (another user's id, or an unknown
/// one, is a 404), or, without a choice, the session's. Whether it has the
/// mail permission is for the page to check (`/mail` asks for it).
async fn mail_access<'a>(
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
async fn own_mailbox(
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

/// One scope on the profile page: asked for when, and granted or not.
#[derive(Serialize)]
struct ScopeLine {
    scope: String,
    granted: bool,
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
    /// Asked for at sign-in, each granted or not.
    asked_at_sign_in: Vec<ScopeLine>,
    /// Asked for when mail is opened, each granted or not.
    asked_for_mail: Vec<ScopeLine>,
    /// Every configured provider, each with a "Link a … account" button:
    /// a second account at the same provider (work and personal) is a link
    /// too, since identities are told apart by issuer and `sub`.
    link_providers: Vec<LinkButton>,
    /// Every identity of this user (`db::accounts::identities_of`).
    identities: Vec<IdentityLine<'a>>,
}

/// One linked account on the profile.
#[derive(Serialize)]
struct IdentityLine<'a> {
    #[serde(flatten)]
    summary: &'a IdentitySummary,
    provider_name: String,
    /// The identity this session signed in with.
    current: bool,
}

#[derive(Serialize)]
struct LinkButton {
    id: &'static str,
    name: String,
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
            // The linked accounts are kept with the profile: a kept view reads
            // nothing but its session.
            let user_id = user.user_id;
            let accounts = state
                .db()
                .run(move |connection, _| accounts::identities_of(connection, user_id))
                .await?;
            state
                .profiles
                .put(user.identity_id, profile, sign_in, accounts)
        }
    };
    let identities = kept
        .accounts
        .iter()
        .map(|summary| IdentityLine {
            provider_name: state
                .providers
                .get(&summary.provider)
                .map_or_else(|| summary.provider.clone(), |p| p.display_name.clone()),
            current: summary.identity_id == user.identity_id,
            summary,
        })
        .collect();
    let page = ProfilePage {
        profile: &kept.profile,
        read_at: kept.read_at,
        kept_minutes: PROFILE_TTL.as_secs() / 60,
        provider_name: &provider.display_name,
        sign_in: &kept.sign_in,
        has_mail: provider.mail_api.is_some(),
        asked_at_sign_in: scope_lines(provider, &kept.sign_in.scopes),
        asked_for_mail: {
            let missing = provider.missing_mail_scopes(&kept.sign_in.scopes);
            provider
                .mail_scopes
                .iter()
                .map(|scope| ScopeLine {
                    scope: scope.clone(),
                    granted: !missing.contains(scope),
                })
                .collect()
        },
        link_providers: state
            .providers
            .iter()
            .map(|provider| LinkButton {
                id: provider.id,
                name: provider.display_name.clone(),
            })
            .collect(),
        identities,
    };
    visitor.render(&state, "profile.html", &page)
}

/// The sign-in's scopes, each marked granted when `granted` lists it (as
/// the provider writes it).
fn scope_lines(provider: &Provider, granted: &[String]) -> Vec<ScopeLine> {
    provider
        .scopes
        .iter()
        .map(|scope| ScopeLine {
            scope: scope.clone(),
            granted: provider.is_granted(scope, granted),
        })
        .collect()
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
        ProfileApi::OpenIdUserInfo => state
            .flow
            .discovery
            .userinfo_endpoint(provider, &state.http)
            .await
            .map_err(|error| AppError::ApiUnavailable {
                detail: format!("discovery: {error:?}"),
                timeout: false,
            })?,
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
    /// `permission=not-granted`: the callback of a request for the mail
    /// permission came back without it (see `views::MAIL_NOT_ALLOWED_PATH`).
    permission: Option<String>,
    /// `account={identity_id}`: which linked mailbox to read (`mail_access`).
    account: Option<i64>,
}

/// `GET /mail/{id}?account=…`: the mailbox the list was read from.
#[derive(Deserialize)]
pub struct AccountQuery {
    account: Option<i64>,
}

/// One of the user's mailboxes, for the chooser on `/mail`.
#[derive(Serialize)]
struct Mailbox {
    identity_id: i64,
    provider_name: String,
    display_name: String,
    chosen: bool,
}

#[derive(Serialize)]
struct MailPermissionPage<'a> {
    provider_name: &'a str,
    /// The scopes that will be asked for.
    scopes: &'a [String],
    /// The last request came back without the permission.
    not_granted: bool,
    /// A linked mailbox chosen with `?account=`, whose account is asked
    /// (the form carries it).
    account: Option<i64>,
}

#[derive(Serialize)]
struct MailListPage {
    /// `None` when the provider has no mail API (the page says so).
    mail: Option<MailPage>,
    provider_name: String,
    is_first_page: bool,
    /// The explicit choice, carried in every link of the page.
    account: Option<i64>,
    /// Every linked account with a mail API; the chooser shows when there
    /// are several.
    mailboxes: Vec<Mailbox>,
}

/// `GET /mail?cursor=…`
pub async fn show_mail(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<MailQuery>,
) -> Result<HttpResponse, AppError> {
    let mut access = mail_access(&state, &visitor, query.account).await?;
    let provider = access.provider;
    if provider.mail_api.is_some()
        && !provider
            .missing_mail_scopes(&access.usable.tokens.scopes)
            .is_empty()
    {
        // Not asked for at sign-in, or not granted: ask now, saying why.
        let page = MailPermissionPage {
            provider_name: &provider.display_name,
            scopes: &provider.mail_scopes,
            not_granted: query.permission.as_deref() == Some("not-granted"),
            account: query.account,
        };
        return visitor.render(&state, "mail_permission.html", &page);
    }
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
    let user = visitor.require_user()?;
    let (user_id, reading) = (user.user_id, access.usable.account.identity_id);
    let mailboxes = state
        .db()
        .run(move |connection, _| accounts::identities_of(connection, user_id))
        .await?
        .into_iter()
        .filter_map(|identity| {
            let provider = state.providers.get(&identity.provider)?;
            provider.mail_api.as_ref()?;
            Some(Mailbox {
                chosen: identity.identity_id == reading,
                identity_id: identity.identity_id,
                provider_name: provider.display_name.clone(),
                display_name: identity.display_name,
            })
        })
        .collect();
    let page = MailListPage {
        mail,
        provider_name: provider.display_name.clone(),
        is_first_page: cursor.is_none(),
        account: query.account,
        mailboxes,
    };
    visitor.render(&state, "mail.html", &page)
}

#[derive(Serialize)]
struct MessagePage {
    message: Message,
    /// The mailbox chosen on `/mail`, carried back to it.
    account: Option<i64>,
}

/// Message ids are opaque to us, but none is this long.
const MAX_MESSAGE_ID_LEN: usize = 512;

/// `GET /mail/{id}`
pub async fn show_message(
    state: web::Data<AppState>,
    visitor: Visitor,
    id: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, AppError> {
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_LEN {
        return Err(AppError::NotFound);
    }
    let mut access = mail_access(&state, &visitor, query.account).await?;
    let provider = access.provider;
    if !provider
        .missing_mail_scopes(&access.usable.tokens.scopes)
        .is_empty()
    {
        // Without the mail permission, /mail asks for it.
        return Ok(see_other(&match query.account {
            Some(account) => format!("/mail?account={account}"),
            None => "/mail".to_owned(),
        }));
    }
    let message = loop {
        let message = access.client(&state.http).message(&id).await;
        if !access.refreshed_after(&state, &visitor, &message).await? {
            break message.map_err(|error| api_error(&visitor, &access, error))?;
        }
    };
    let page = MessagePage {
        message,
        account: query.account,
    };
    visitor.render(&state, "message.html", &page)
}

#[derive(Serialize)]
struct AskingProviderPage<'a> {
    /// What the provider is asked for, as the page's heading says it.
    heading: String,
    provider_name: &'a str,
    authorization_url: &'a str,
}

#[derive(Deserialize)]
pub struct PermissionForm {
    csrf_token: String,
    /// `/mail/permission`: the linked mailbox chosen on `/mail`, if any.
    account: Option<i64>,
}

/// `POST /mail/permission` (the permission page's button, with the CSRF
/// token): asks the provider for the mail scopes for the signed-in identity,
/// or for the linked one chosen on `/mail` (`account`, one of the user's
/// own), with the same state, PKCE and nonce as a sign-in (incremental
/// consent). The answer comes back to the callback, which stores the new
/// grant for that identity only if the provider answered for that same
/// account, and then to `/mail` (with the same choice).
///
/// The answer is a page that sends the browser on (`<meta http-equiv=
/// "refresh">` and a link), not a 303: our Content-Security-Policy says
/// `form-action 'self'`, which browsers apply to the redirects after a form's
/// POST, so a 303 to the provider would be blocked (as at sign-out).
pub async fn ask_mail_permission(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    visitor: Visitor,
    form: web::Form<PermissionForm>,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user_with_csrf(&form.csrf_token)?;
    let (provider, identity_id, return_to) =
        match form.account.filter(|chosen| *chosen != user.identity_id) {
            Some(chosen) => (
                own_mailbox(&state, user.user_id, chosen).await?,
                chosen,
                format!("/mail?account={chosen}"),
            ),
            None => {
                let (_, provider) = signed_in_with(&state, &visitor)?;
                if provider.mail_api.is_none() {
                    return Err(AppError::NotFound);
                }
                (provider, user.identity_id, "/mail".to_owned())
            }
        };
    let ids = SignedInIds {
        user_id: user.user_id,
        identity_id,
    };
    let authorization_url = authorization_request(
        &state,
        &request,
        &visitor,
        provider,
        &return_to,
        Intent::add_mail(ids),
    )
    .await?;
    let page = AskingProviderPage {
        heading: format!("Asking {} for the permission", provider.display_name),
        provider_name: &provider.display_name,
        authorization_url: authorization_url.as_str(),
    };
    visitor.render(&state, "asking_provider.html", &page)
}

/// `POST /auth/{provider}/link` (the profile's "Link a … account" button,
/// with the CSRF token): asks `provider` who the person is, with the same
/// state, PKCE and nonce as a sign-in, to attach that account to the
/// signed-in user. The callback attaches it only if it comes back to the
/// same browser and the same signed-in user, and never if it belongs to
/// another user; the session stays on the identity it was on. Answered
/// with a page that goes on by itself, as `ask_mail_permission` is (CSP
/// `form-action 'self'`).
pub async fn start_link(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    visitor: Visitor,
    provider_id: web::Path<String>,
    form: web::Form<PermissionForm>,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user_with_csrf(&form.csrf_token)?;
    let provider = state
        .providers
        .get(&provider_id)
        .ok_or(AppError::NotFound)?;
    let authorization_url = authorization_request(
        &state,
        &request,
        &visitor,
        provider,
        "/profile",
        Intent::link(user.user_id),
    )
    .await?;
    let page = AskingProviderPage {
        heading: format!("Linking your {} account", provider.display_name),
        provider_name: &provider.display_name,
        authorization_url: authorization_url.as_str(),
    };
    visitor.render(&state, "asking_provider.html", &page)
}

/// `POST /account/identities/{id}/unlink` (a linked account's "Unlink"
/// button on the profile, with the CSRF token). Only an identity of the
/// signed-in user (another user's id is a 404, as an unknown one is); never
/// the last one (delete the account instead) nor the one this session
/// signed in with (sign in with another first: unlinking it would end this
/// session underneath the person). Its tokens are revoked where the
/// provider allows (`TokenKeeper::revoke_and_forget`, as at account
/// deletion), then the identity is deleted; sessions signed in with it
/// elsewhere end with it.
pub async fn unlink_identity(
    state: web::Data<AppState>,
    visitor: Visitor,
    identity_id: web::Path<i64>,
    form: web::Form<PermissionForm>,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user_with_csrf(&form.csrf_token)?;
    let (user_id, identity_id) = (user.user_id, identity_id.into_inner());
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
