//! HTTP routes: every route of the app is registered in [`configure`].
//!
//! Handlers are thin: extract, call one function of `oauth`, `api` or `db`, then
//! render a page or redirect. Errors are returned as `AppError` and turned into
//! pages in one place (`error::render_error_page`).

mod account;
mod assets;
mod flow;
mod health;
mod home;
mod learn;
mod setup;
mod sign_in;

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt as _};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Serialize;

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
        .route("/logout", web::post().to(sign_in::sign_out))
        .route("/profile", web::get().to(account::show_profile))
        .route("/mail", web::get().to(account::show_mail))
        .route("/mail/{id}", web::get().to(account::show_message))
        .route("/flow", web::get().to(flow::show_flow))
        .route("/setup", web::get().to(setup::show_setup))
        .route("/learn", web::get().to(learn::show_learn))
        .route("/learn/exercise", web::get().to(learn::show_exercise))
        .route("/learn/exercise", web::post().to(learn::check_exercise))
        .route("/healthz", web::get().to(health::check_health))
        .route("/static/{file}", web::get().to(assets::serve_asset));
}

/// The visitor of a page: their session and, if signed in, who they are.
pub struct Visitor {
    pub session: Session,
    pub user: Option<SessionUser>,
    /// This request's path and query, to come back to after sign-in.
    pub here: String,
}

impl FromRequest for Visitor {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let session = request.get_session();
        let idle_timeout = request
            .app_data::<web::Data<AppState>>()
            .map(|state| state.idle_timeout_secs())
            .unwrap_or(0);
        let user = session::signed_in_user(&session, idle_timeout);
        let here = request
            .uri()
            .path_and_query()
            .map(|path| path.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        ready(Ok(Visitor {
            session,
            user,
            here,
        }))
    }
}

impl Visitor {
    /// The signed-in user, or an error that redirects to the provider chooser
    /// and comes back here afterwards.
    pub fn require_user(&self) -> Result<&SessionUser, AppError> {
        self.user.as_ref().ok_or_else(|| AppError::SignInRequired {
            return_to: self.here.clone(),
            expired: false,
        })
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
