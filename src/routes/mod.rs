//! HTTP routes: every route of the app is registered in [`configure`].
//!
//! Handlers are thin: extract, call one function of `oauth`, `api` or `db`, then
//! render a page or redirect. Errors are returned as `AppError` and turned into
//! pages in one place (`error::render_error_page`).

mod account;
mod assets;
mod client_ip;
mod flow;
mod health;
mod home;
mod learn;
mod setup;
mod sign_in;
mod sign_out;

use actix_session::{Session, SessionExt as _};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use crate::crypto::sha256_url_safe;
use crate::db::{sessions, unix_now};
use crate::error::AppError;
use crate::session::{self, SessionUser};
use crate::startup::AppState;
use crate::views::Layout;

/// Registers every route.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(home::show_home))
        .route("/guest", web::get().to(home::show_guest))
        .route("/login", web::get().to(sign_in::show_provider_chooser))
        .route(
            "/auth/{provider}/login",
            web::get().to(sign_in::start_sign_in),
        )
        .route(
            "/auth/{provider}/callback",
            web::get().to(sign_in::finish_sign_in),
        )
        .route("/auth/{provider}/link", web::post().to(account::start_link))
        .route("/logout", web::post().to(sign_out::sign_out))
        .route("/logout/all", web::post().to(sign_out::sign_out_everywhere))
        .route(
            "/logout/provider",
            web::post().to(sign_out::sign_out_at_provider),
        )
        .route("/signed-out", web::get().to(sign_out::show_signed_out))
        .route(
            "/account/delete",
            web::get().to(sign_out::confirm_account_deletion),
        )
        .route("/account/delete", web::post().to(sign_out::delete_account))
        .route(
            "/account/identities/{id}/unlink",
            web::post().to(account::unlink_identity),
        )
        .route("/profile", web::get().to(account::show_profile))
        .route("/mail", web::get().to(account::show_mail))
        .route(
            "/mail/permission",
            web::post().to(account::ask_mail_permission),
        )
        .route("/mail/{id}", web::get().to(account::show_message))
        .route("/flow", web::get().to(flow::show_flow))
        .route("/setup", web::get().to(setup::show_setup))
        .route("/learn", web::get().to(learn::show_learn))
        .route("/learn/exercise", web::get().to(learn::show_exercise))
        .route("/learn/exercise", web::post().to(learn::check_exercise))
        .route("/healthz", web::get().to(health::check_health))
        .route("/livez", web::get().to(health::check_liveness))
        .route("/readyz", web::get().to(health::check_readiness))
        .route("/static/{file}", web::get().to(assets::serve_asset));
}

/// The visitor of a page: their session and, if signed in, who they are.
pub struct Visitor {
    pub session: Session,
    /// The signed-in person, only if their server-side session is live.
    pub user: Option<SessionUser>,
    /// This request's path and query, to come back to after sign-in.
    pub here: String,
}

/// The signed-in user as checked for this request, kept in the request's
/// extensions so the error page's layout (`views::Layout::for_request`) shows
/// the same person without checking again.
#[derive(Clone)]
pub struct CheckedUser(pub Option<SessionUser>);

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
            request.extensions_mut().insert(CheckedUser(user.clone()));
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
        let layout = Layout::for_user(self.user.as_ref(), &self.session, state);
        let html = state
            .views
            .render_page(template, &layout, page)
            .map_err(|error| AppError::Internal(format!("template {template}: {error:?}")))?;
        Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html))
    }
}

/// 303 See Other to a path on this site.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
