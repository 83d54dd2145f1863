//! HTTP routes: every route of the app is registered in [`configure`].
//!
//! Handlers are thin: extract, call one function of `oauth`, `api` or `db`, then
//! render a page or redirect. Errors are returned as `AppError` and turned into
//! pages in one place (`error::render_error_page`). What several handlers
//! share lives below them, in `web`: no route imports another.

mod account;
mod assets;
mod health;
mod home;
mod mail;
mod sessions;
mod setup;
mod sign_in;
mod sign_out;

use actix_web::web;

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
        .route(
            "/auth/{provider}/admin-consent",
            web::get().to(sign_in::start_admin_consent),
        )
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
        .route("/account/sessions", web::get().to(sessions::show_sessions))
        .route(
            "/account/sessions/{handle}/end",
            web::post().to(sessions::end_session),
        )
        .route(
            "/account/identities/{id}/unlink",
            web::post().to(account::unlink_identity),
        )
        .route("/profile", web::get().to(account::show_profile))
        .route("/mail", web::get().to(mail::show_mail))
        .route(
            "/mail/permission",
            web::post().to(mail::ask_mail_permission),
        )
        .route("/mail/{id}", web::get().to(mail::show_message))
        .route("/setup", web::get().to(setup::show_setup))
        .route("/healthz", web::get().to(health::check_health))
        .route("/livez", web::get().to(health::check_liveness))
        .route("/readyz", web::get().to(health::check_readiness))
        .route("/static/{file}", web::get().to(assets::serve_asset));
    // The teaching layer's pages (`/flow`, `/learn`), beside the app's own.
    #[cfg(feature = "teaching")]
    config.configure(crate::teaching::configure);
}
