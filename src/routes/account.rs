//! The signed-in person's account: their profile from the provider's API
//! (step 7), the accounts linked to it, linking another and unlinking one
//! (each after a fresh sign-in: `web::irreversible`).
//!
//! `/profile` calls the API only when it has no kept copy of what it shows
//! (`api::profile_cache`). A 401 from the API is answered by one refresh and
//! one more call; if that fails too, the visitor is sent to sign in again and
//! comes back to the same page (`web::api_access`).

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::api::Profile;
use crate::api::profile_cache::{PROFILE_TTL, SignInFacts};
use crate::app::AppState;
use crate::db::accounts::{self, IdentitySummary};
use crate::db::pending_sign_ins::Then;
use crate::error::AppError;
use crate::providers::{ProfileApi, Provider};
use crate::web::api_access::{
    ApiAccess, api_access, api_error, note_first_api_call, signed_in_with,
};
use crate::web::irreversible;
use crate::web::{CsrfForm, Visitor};

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

/// `POST /auth/{provider}/link` (the profile's "Link a … account" button,
/// with the CSRF token): after a fresh sign-in with the session's own
/// account, asks `provider` for the account to attach
/// (`web::irreversible::link`). Answered with a page that goes on by
/// itself, as `ask_mail_permission` is (CSP `form-action 'self'`).
pub async fn start_link(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    visitor: Visitor,
    provider_id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user_with_csrf(&form.csrf_token)?;
    let provider = state
        .providers
        .get(&provider_id)
        .ok_or(AppError::NotFound)?;
    let then = Then::Link {
        provider: provider.id.to_owned(),
    };
    if let Some(sign_in_first) =
        irreversible::sign_in_again_first(&state, &request, &visitor, user, then).await?
    {
        return Ok(sign_in_first);
    }
    irreversible::link(&state, &request, &visitor, user, provider).await
}

/// `POST /account/identities/{id}/unlink` (a linked account's "Unlink"
/// button on the profile, with the CSRF token): after a fresh sign-in with
/// the session's own account, `web::irreversible::unlink`.
pub async fn unlink_identity(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    visitor: Visitor,
    identity_id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user_with_csrf(&form.csrf_token)?;
    let identity_id = identity_id.into_inner();
    let then = Then::Unlink { identity_id };
    if let Some(sign_in_first) =
        irreversible::sign_in_again_first(&state, &request, &visitor, user, then).await?
    {
        return Ok(sign_in_first);
    }
    irreversible::unlink(&state, user, identity_id).await
}
