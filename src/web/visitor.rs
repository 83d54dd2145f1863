//! Who is here: the [`Visitor`] extractor (the session and, if its
//! server-side session is live, the signed-in user) and what handlers do with
//! it that more than one route needs, such as starting an authorization
//! request.

use actix_session::{Session, SessionExt as _};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use super::client_ip::client_ip;
use crate::app::AppState;
use crate::crypto::sha256_url_safe;
use crate::db::{sessions, unix_now};
use crate::error::AppError;
use crate::oauth::outcome::Intent;
use crate::providers::Provider;
use crate::session::{self, SessionUser};
use crate::views::Layout;

/// The visitor of a page: their session and, if signed in, who they are.
pub struct Visitor {
    pub session: Session,
    /// The signed-in person, only if their server-side session is live.
    pub user: Option<SessionUser>,
    /// This request's path and query, to come back to after sign-in.
    pub here: String,
}

impl FromRequest for Visitor {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let session = request.get_session();
            let user = match (
                session::cookie_user(&session),
                request.app_data::<web::Data<AppState>>(),
            ) {
                (Some(user), Some(state)) => live_session_user(state, &session, user).await?,
                _ => None,
            };
            // Who was found, for the error page's layout (`Layout::for_request`),
            // so it shows the same person without checking again.
            request.extensions_mut().insert(user.clone());
            let here = request
                .uri()
                .path_and_query()
                .map(|path| path.as_str().to_owned())
                .unwrap_or_else(|| "/".into());
            Ok(Visitor {
                session,
                user,
                here,
            })
        })
    }
}

/// The cookie's user if their server-side session is live: one primary-key
/// read per signed-in request, plus a write at most once a minute for the
/// idle timeout (`db::sessions`). A session that has ended or expired is
/// forgotten in the cookie; if it expired, its row goes too (with the user's
/// tokens, if it was their last session).
async fn live_session_user(
    state: &AppState,
    session: &Session,
    user: SessionUser,
) -> Result<Option<SessionUser>, AppError> {
    let id_hash = sha256_url_safe(&user.session_id);
    let lookup = id_hash.clone();
    let stored = state
        .db()
        .run(move |connection, _| sessions::find(connection, &lookup))
        .await?;
    let now = unix_now();
    let limits = state.flow.session_limits;
    match stored {
        Some(stored)
            if stored.is_live(now, limits)
                && stored.user_id == user.user_id
                && stored.identity_id == user.identity_id =>
        {
            if stored.needs_touch(now) {
                let touched = state
                    .db()
                    .write(move |connection, _| sessions::touch(connection, &id_hash, now))
                    .await;
                if let Err(error) = touched {
                    // Only shortens the session; the page can still be shown.
                    tracing::warn!("could not note the session's last use: {error}");
                }
            }
            Ok(Some(user))
        }
        Some(_) => {
            let user_id = user.user_id;
            state
                .db()
                .write(move |connection, _| sessions::end(connection, &id_hash, user_id))
                .await?;
            state.profiles.forget(user.identity_id);
            session::forget_user(session);
            Ok(None)
        }
        None => {
            session::forget_user(session);
            Ok(None)
        }
    }
}

impl Visitor {
    /// The signed-in user, or an error that redirects to the provider chooser
    /// and comes back here afterwards.
    pub fn require_user(&self) -> Result<&SessionUser, AppError> {
        self.user.as_ref().ok_or_else(|| AppError::SignInRequired {
            return_to: self.here.clone(),
            why: None,
        })
    }

    /// The signed-in user of a form, once its CSRF token (synchroniser token
    /// pattern, `session::csrf_token`) matches; "sign in" when nobody is.
    pub fn require_user_with_csrf(&self, csrf_token: &str) -> Result<&SessionUser, AppError> {
        let user = self.require_user()?;
        let expected = session::csrf_token(&self.session).unwrap_or_default();
        if expected.is_empty() || !crate::crypto::constant_time_eq(&expected, csrf_token) {
            return Err(AppError::InvalidCsrfToken);
        }
        Ok(user)
    }

    /// Renders a page with this visitor's layout.
    pub fn render(
        &self,
        state: &AppState,
        template: &str,
        page: &impl Serialize,
    ) -> Result<HttpResponse, AppError> {
        let (providers, demo_banner) = state.site();
        let layout = Layout::for_user(self.user.as_ref(), &self.session, providers, demo_banner);
        let html = state
            .views
            .render_page(template, &layout, page)
            .map_err(|error| AppError::internal(format!("rendering template {template}"), error))?;
        Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html))
    }
}

/// Step 3, whatever the request is for (a sign-in, the mail permission, a
/// linked account): a pending request bound to this browser, and the URL
/// at the provider to send it to. Each start writes a row, so each client
/// may start only so many a minute (SIGN_IN_STARTS_PER_MINUTE; 429 beyond),
/// whatever the purpose.
pub async fn authorization_request(
    state: &AppState,
    request: &HttpRequest,
    visitor: &Visitor,
    provider: &Provider,
    return_to: &str,
    intent: Intent,
) -> Result<url::Url, AppError> {
    if let Some(client) = client_ip(request, &state.trusted_proxies) {
        state.sign_in_starts.check(client).await?;
    }
    let browser_key = session::browser_key(&visitor.session)
        .map_err(|error| AppError::internal("writing the session", error))?;
    Ok(state
        .flow
        .start(provider, &browser_key, return_to, intent)
        .await?)
}

/// A form that changes something: its CSRF token (`Visitor::
/// require_user_with_csrf`) and, for the mail permission, the linked mailbox
/// chosen on `/mail`, if any.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf_token: String,
    pub account: Option<i64>,
}

/// The page that sends the browser on to the provider after a form's POST
/// (`<meta http-equiv="refresh">` and a link), not a 303: our
/// Content-Security-Policy says `form-action 'self'`, which browsers apply
/// to the redirects after a form's POST, so a 303 to the provider would be
/// blocked. `heading` says what the provider is asked for.
pub fn asking_provider(
    state: &AppState,
    visitor: &Visitor,
    provider: &Provider,
    heading: String,
    authorization_url: &url::Url,
) -> Result<HttpResponse, AppError> {
    #[derive(Serialize)]
    struct AskingProviderPage<'a> {
        heading: String,
        provider_name: &'a str,
        authorization_url: &'a str,
    }
    let page = AskingProviderPage {
        heading,
        provider_name: &provider.display_name,
        authorization_url: authorization_url.as_str(),
    };
    visitor.render(state, "asking_provider.html", &page)
}
