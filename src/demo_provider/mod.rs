//! The built-in demo provider: a small OAuth 2.0 / OpenID Connect authorization
//! server plus a Microsoft-Graph-shaped mail API, so the whole sign-in works offline.
//!
//! It runs as its own HTTP server on its own origin (DEMO_PROVIDER_BIND). The app
//! talks to it only over HTTP, exactly as to a real provider: nothing outside this
//! module tree may call into it except `run` to start it.
//!
//! What it owns: the provider's endpoints (discovery, JWKS, authorize, token,
//! userinfo, revocation, end session), its signing key, its in-memory state and
//! the demo users with their mailboxes. What it must not do: share state, types
//! or cookies with the app, or persist anything (a restart forgets every code and
//! token and generates a new signing key, like a key rotation at a real provider).
//!
//! # Why the demo provider sets no cookies
//!
//! Browsers do not separate cookies by port (RFC 6265 §8.5), so a cookie set by
//! the provider on `127.0.0.1:8081` would also be sent to, and could collide with,
//! the app on `127.0.0.1:8080`. A real identity provider keeps a single-sign-on
//! session in its own cookie on its own domain; ours asks the user to sign in on
//! every authorization request instead, which is fine for a demo.
//!
//! The state of one sign-in lives in an "interaction" on the server. Its id
//! travels in a hidden form field: it is unguessable (256 bits) and single use,
//! so it also serves as the CSRF token for the sign-in and consent forms.
//!
//! # Map of the module
//!
//! | file | owns |
//! |---|---|
//! | `discovery.rs` | `/.well-known/openid-configuration`, `/jwks` |
//! | `authorize.rs` | `/authorize`, the sign-in and consent pages |
//! | `token.rs` | `/token`, `/revoke` |
//! | `client_auth.rs` | client authentication at the token and revocation endpoints |
//! | `id_token.rs` | the claims of the ID token |
//! | `keys.rs` | the Ed25519 (EdDSA) signing key and JWS compact serialisation |
//! | `userinfo.rs`, `end_session.rs` | `/userinfo`, `/logout` |
//! | `graph.rs` | `/v1.0/me…`, the Graph-shaped API |
//! | `mailbox.rs` | demo users and their generated mail |
//! | `store.rs` | interactions, codes and tokens in memory |
//! | `scopes.rs`, `params.rs`, `bearer.rs` | small shared parsing helpers |
//! | `pages.rs` | HTML pages (Tera templates) and the stylesheet |

mod authorize;
mod bearer;
mod client_auth;
mod discovery;
mod end_session;
mod graph;
mod id_token;
mod keys;
mod mailbox;
mod pages;
mod params;
mod scopes;
mod store;
mod token;
mod userinfo;

use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};
use secrecy::SecretString;
use url::Url;

/// What the demo provider needs to know to start.
#[derive(Debug, Clone)]
pub struct DemoProviderSettings {
    /// The provider's public base URL, which is also its OpenID Connect issuer
    /// (for example `http://127.0.0.1:8081`, no trailing slash in `iss`).
    pub issuer: Url,
    /// The one client (our app) registered at start.
    pub client: RegisteredClient,
    /// Lifetime of access tokens (DEMO_TOKEN_TTL, default one hour).
    pub access_token_ttl: Duration,
    /// What requests under way get after a stop (SHUTDOWN_TIMEOUT, as the app).
    pub shutdown_timeout: Duration,
}

/// A client registered at the demo provider, as a developer would register an app
/// at Microsoft or Google (RFC 6749 §2).
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Exact redirect URIs; no prefix or wildcard matching (RFC 9700 §4.1.3).
    pub redirect_uris: Vec<String>,
    /// Where the end-session endpoint may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
}

/// Builds the demo provider's server on an already-bound listener.
///
/// Generates a fresh P-256 signing key and the demo mailboxes, then returns the
/// server future; the caller spawns or awaits it.
pub fn run(
    listener: std::net::TcpListener,
    settings: DemoProviderSettings,
) -> std::io::Result<actix_web::dev::Server> {
    let shutdown_timeout = settings.shutdown_timeout.as_secs();
    let state = web::Data::new(ProviderState::new(settings)?);
    tracing::info!(issuer = %state.issuer, "demo provider starting");

    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // Form bodies here are a few hundred bytes; refuse anything large.
            .app_data(web::PayloadConfig::new(MAX_FORM_BODY_BYTES))
            .wrap(security_headers())
            .configure(routes)
    })
    .workers(2)
    .shutdown_timeout(shutdown_timeout)
    // The binary that runs it stops it on a signal (`startup::stop_on_signal`).
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

const MAX_FORM_BODY_BYTES: usize = 16 * 1024;

/// Every path the provider answers, in one place.
fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/.well-known/openid-configuration",
            web::get().to(discovery::openid_configuration),
        )
        .route("/jwks", web::get().to(discovery::jwks))
        // OpenID Connect Core §3.1.2.1: the authorization endpoint MUST support GET and POST.
        .route("/authorize", web::get().to(authorize::authorize_get))
        .route("/authorize", web::post().to(authorize::authorize_post))
        .route("/authorize/sign-in", web::post().to(authorize::sign_in))
        .route("/authorize/consent", web::post().to(authorize::consent))
        .route("/token", web::post().to(token::token))
        .route("/revoke", web::post().to(token::revoke))
        // OpenID Connect Core §5.3.1: UserInfo MUST support GET and POST.
        .route("/userinfo", web::get().to(userinfo::userinfo))
        .route("/userinfo", web::post().to(userinfo::userinfo))
        // RP-Initiated Logout 1.0 §2: GET and POST.
        .route("/logout", web::get().to(end_session::end_session_get))
        .route("/logout", web::post().to(end_session::end_session_post))
        .route("/v1.0/me", web::get().to(graph::me))
        .route("/v1.0/me/photo", web::get().to(graph::photo_metadata))
        .route("/v1.0/me/photo/$value", web::get().to(graph::photo_value))
        .route("/v1.0/me/messages", web::get().to(graph::list_messages))
        .route("/v1.0/me/messages/{id}", web::get().to(graph::get_message))
        .route("/assets/style.css", web::get().to(pages::stylesheet))
        .default_service(web::to(not_found));
}

/// Headers on every response. `DefaultHeaders` only adds a header when the
/// handler did not set it, so the stylesheet and photo can choose their own.
fn security_headers() -> middleware::DefaultHeaders {
    middleware::DefaultHeaders::new()
        // No scripts at all; styles and images only from here. There is no
        // `form-action`: the consent form's answer is a redirect to the app's
        // origin, which `form-action` would block in some browsers.
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        // The consent redirect carries a code and state in its URL; never leak
        // our own URLs (which carry request parameters) to other sites.
        .add(("Referrer-Policy", "no-referrer"))
        // Pages carry one-time interaction ids; token responses MUST NOT be cached
        // (RFC 6749 §5.1).
        .add(("Cache-Control", "no-store"))
}

async fn not_found(
    req: actix_web::HttpRequest,
    state: web::Data<ProviderState>,
) -> actix_web::HttpResponse {
    if req.path().starts_with("/v1.0/") {
        return graph::unknown_segment(&req);
    }
    state.pages.error_page(
        actix_web::http::StatusCode::NOT_FOUND,
        "Page not found",
        "The demo provider has no page at this address.",
    )
}

/// Everything the handlers share. Built once in `run`.
pub(crate) struct ProviderState {
    /// `iss`: the configured issuer URL without a trailing slash.
    issuer: String,
    client: RegisteredClient,
    access_token_ttl: chrono::Duration,
    keys: keys::SigningKeys,
    store: store::Store,
    mailboxes: mailbox::Mailboxes,
    pages: pages::Pages,
}

impl ProviderState {
    fn new(settings: DemoProviderSettings) -> std::io::Result<Self> {
        let issuer = settings.issuer.as_str().trim_end_matches('/').to_owned();
        // An access token must live at least a second to be usable at all.
        let access_token_ttl = chrono::Duration::from_std(settings.access_token_ttl)
            .unwrap_or(chrono::Duration::hours(1))
            .max(chrono::Duration::seconds(1));
        Ok(Self {
            issuer,
            client: settings.client,
            access_token_ttl,
            keys: keys::SigningKeys::generate().map_err(std::io::Error::other)?,
            store: store::Store::new(),
            mailboxes: mailbox::Mailboxes::generate(chrono::Utc::now()),
            pages: pages::Pages::new().map_err(std::io::Error::other)?,
        })
    }

    /// An absolute URL under the issuer, such as `{iss}/authorize`.
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}
