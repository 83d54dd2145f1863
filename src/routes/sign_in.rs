//! Signing in: the provider chooser, the start of the flow (step 3) and the
//! callback (steps 4 to 6). Signing out is in `sign_out`.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::crypto::sha256_url_safe;
use crate::db::accounts::AccountIds;
use crate::db::pending_sign_ins::Then;
use crate::error::AppError;
use crate::oauth::admin_consent;
use crate::oauth::callback::CallbackParams;
use crate::oauth::outcome::{Browser, Finished, Intent};
use crate::oauth::return_to::return_path_or_default;
use crate::session::{self, SessionUser};
use crate::tokens::SignInAgain;
use crate::views::ProviderButton;
use crate::views::mail_not_allowed_path;
use crate::views::provider_buttons;
use crate::views::see_other;
use crate::web::Visitor;
use crate::web::authorization_request;
use crate::web::{irreversible, user_agent};

#[derive(Deserialize)]
pub struct ReturnToQuery {
    return_to: Option<String>,
    expired: Option<String>,
    /// `consent=again`: ask the provider to show its consent page again, after
    /// an API said a permission is missing.
    consent: Option<String>,
}

#[derive(Serialize)]
struct ChooserPage {
    providers: Vec<ProviderButton>,
    return_to: String,
    /// Why the visitor must sign in again, in plain words (`expired=`).
    notice: Option<&'static str>,
}

/// `GET /login?return_to=…`: choose a provider; the return path is kept.
pub async fn show_provider_chooser(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<ReturnToQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = return_path_or_default(query.return_to.as_deref(), &state.base_url);
    let page = ChooserPage {
        providers: provider_buttons(&state.providers, &return_to),
        return_to,
        notice: query
            .expired
            .as_deref()
            .map(|value| SignInAgain::from_query_value(value).notice()),
    };
    visitor.render(&state, "login.html", &page)
}

/// `GET /auth/{provider}/login?return_to=…`
///
/// Step 3: remember a pending sign-in and send the browser (303) to the
/// provider's authorization endpoint (`authorization_request`).
pub async fn start_sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    visitor: Visitor,
    provider_id: web::Path<String>,
    query: web::Query<ReturnToQuery>,
) -> Result<HttpResponse, AppError> {
    let provider = state
        .providers
        .get(&provider_id)
        .ok_or(AppError::NotFound)?;
    let return_to = query.return_to.as_deref().unwrap_or("/profile");
    let ask_consent_again = query.consent.as_deref() == Some("again");
    let authorization_url = authorization_request(
        &state,
        &request,
        &visitor,
        provider,
        return_to,
        Intent::sign_in(ask_consent_again),
    )
    .await?;
    Ok(see_other(authorization_url.as_str()))
}

/// `GET /auth/{provider}/admin-consent`: the address the error page gives
/// to an administrator when only one can approve the app's permissions. In
/// the administrator's browser it starts the request like any other (state
/// bound to this browser, single use) and sends it to the provider's
/// admin-consent endpoint (`oauth::admin_consent`). 404 for a provider
/// without one.
pub async fn start_admin_consent(
    state: web::Data<AppState>,
    request: HttpRequest,
    visitor: Visitor,
    provider_id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let provider = state
        .providers
        .get(&provider_id)
        .filter(|provider| provider.admin_consent.is_some())
        .ok_or(AppError::NotFound)?;
    let url = authorization_request(
        &state,
        &request,
        &visitor,
        provider,
        "/",
        Intent::admin_consent(),
    )
    .await?;
    Ok(see_other(url.as_str()))
}

#[derive(Serialize)]
struct AdminConsentPage<'a> {
    provider_name: &'a str,
    outcome: admin_consent::Outcome,
}

/// The answer to a request to link an account.
#[derive(Serialize)]
struct LinkedPage<'a> {
    provider_name: &'a str,
    /// The account's name at the provider.
    display_name: &'a str,
    /// It was linked to this user before: its tokens were refreshed.
    already: bool,
    return_to: &'a str,
}

/// `GET /auth/{provider}/callback?code=…&state=…`
///
/// Steps 4 to 6, then a fresh signed-in session and back to where the visitor
/// wanted to go; or, for a request for the mail permission, the same session
/// and back to `/mail`; or, for a request to link an account, the same
/// session and a page saying it was linked; or, for a fresh sign-in before
/// what cannot be undone, what the person asked for (`web::irreversible`);
/// or, for an admin-consent request this browser started, a page reporting
/// the administrator's answer (`oauth::admin_consent`).
pub async fn finish_sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    visitor: Visitor,
    provider_id: web::Path<String>,
    query: web::Query<CallbackParams>,
) -> Result<HttpResponse, AppError> {
    let provider = state
        .providers
        .get(&provider_id)
        .ok_or(AppError::NotFound)?;
    let params = query.into_inner();
    let browser = Browser {
        key: session::existing_browser_key(&visitor.session),
        // Who is signed in here: a sign-in replaces their session, and an
        // answer to a request for more scopes must come back to them.
        signed_in: visitor.user.as_ref().map(|user| {
            let ids = AccountIds {
                user_id: user.user_id,
                identity_id: user.identity_id,
            };
            (ids, sha256_url_safe(&user.session_id))
        }),
        description: user_agent::describe(&request),
    };
    let finished = state.flow.finish(provider, browser, params).await?;
    let signed_in = match finished {
        Finished::SignedIn(signed_in) => signed_in,
        Finished::MailPermission(answer) => {
            // The profile page shows the granted scopes: read them again.
            state.profiles.forget(answer.identity_id);
            if answer.missing.is_empty() && state.flow.observer.keeps_records() {
                // For the observer: the first mail read is this attempt's step 7.
                session::expect_first_api_call(&visitor.session)
                    .map_err(|error| AppError::internal("writing the session", error))?;
            }
            // Declined or unticked: /mail says so and offers to ask again.
            return Ok(see_other(&if answer.missing.is_empty() {
                answer.return_to
            } else {
                mail_not_allowed_path(&answer.return_to)
            }));
        }
        Finished::Linked(linked) => {
            state.profiles.forget(linked.identity_id);
            // This person's profile page lists the accounts: read them again.
            if let Some(user) = &visitor.user {
                state.profiles.forget(user.identity_id);
            }
            tracing::info!(
                provider = provider.id,
                identity_id = linked.identity_id,
                already = linked.already,
                "account linked"
            );
            let page = LinkedPage {
                provider_name: &provider.display_name,
                display_name: &linked.display_name,
                already: linked.already,
                return_to: &linked.return_to,
            };
            return visitor.render(&state, "linked.html", &page);
        }
        // An administrator's answer to the admin-consent request this
        // browser started: reported, nothing changed.
        Finished::AdminConsent(outcome) => {
            let page = AdminConsentPage {
                provider_name: &provider.display_name,
                outcome,
            };
            return visitor.render(&state, "admin_consent.html", &page);
        }
        Finished::Reauthenticated(done) => {
            // The session's own account signed in again: this cookie (and
            // no copy of it) is fresh now, and what the person asked for
            // goes on by itself.
            let user = visitor.require_user()?.clone();
            session::signed_in_again(&visitor.session, done.authenticated_at)
                .map_err(|error| AppError::internal("writing the session", error))?;
            tracing::info!(
                provider = provider.id,
                user_id = user.user_id,
                "signed in again"
            );
            return match done.then {
                Then::Link { provider: linking } => {
                    let linking = state.providers.get(&linking).ok_or(AppError::NotFound)?;
                    irreversible::link(&state, &request, &visitor, &user, linking).await
                }
                Then::Unlink { identity_id } => {
                    irreversible::unlink(&state, &user, identity_id).await
                }
                Then::DeleteAccount => irreversible::delete_account(&state, visitor).await,
            };
        }
    };
    // A new sign-in may have new permissions: read the profile again.
    state.profiles.forget(signed_in.ids.identity_id);
    session::begin(
        &visitor.session,
        &SessionUser {
            session_id: signed_in.session_id.expose_secret().to_owned(),
            user_id: signed_in.ids.user_id,
            identity_id: signed_in.ids.identity_id,
            provider: provider.id.to_owned(),
            display_name: signed_in.display_name,
            signed_in_at: crate::db::unix_now(),
            authenticated_at: signed_in.authenticated_at,
        },
        state.flow.observer.keeps_records(),
    )
    .map_err(|error| AppError::internal("writing the session", error))?;
    tracing::info!(
        provider = provider.id,
        user_id = signed_in.ids.user_id,
        "signed in"
    );
    Ok(see_other(&signed_in.return_to))
}
