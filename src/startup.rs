//! Builds the running application from a `Config`: database, providers, HTTP
//! client, templates, middleware, routes, and the demo provider beside it.
//!
//! `main` and the integration tests both start the app through `Application`, so
//! tests run exactly what production runs, on listeners they choose.
//!
//! It also owns how the servers stop: `stop_on_signal` turns SIGTERM or Ctrl-C
//! into one graceful stop of both (actix's own signal handling is off: it
//! would stop each server on its own, Ctrl-C without waiting, and the first
//! to finish would stop the whole runtime under the other).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{DefaultHeaders, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::api::profile_cache::ProfileCache;
use crate::app::AppState;
use crate::config::Config;
use crate::config::SessionStoreKind;
use crate::db::sessions::SessionLimits;
use crate::db::{Database, DbError, TokenSealer};
#[cfg(feature = "demo-provider")]
use crate::demo_provider::{self, DemoProviderSettings, RegisteredClient};
use crate::oauth::flow::SignInFlow;
use crate::oauth::observe::Observer;
use crate::providers::Providers;
use crate::rate_limit::{RateLimiter, SignInLimit};
use crate::shared_store::{Redis, SessionBackend};
use crate::telemetry::RequestSpan;
use crate::views::Views;

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("a template does not parse: {0:?}")]
    Templates(#[from] tera::Error),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("could not start a server: {0}")]
    Server(#[from] std::io::Error),
    #[error("REDIS_URL: {0}")]
    Redis(#[from] crate::shared_store::RedisError),
}

/// The app server, and the demo provider's server when it is on.
pub struct Application {
    state: web::Data<AppState>,
    app_server: Server,
    demo_server: Option<Server>,
    pub app_address: SocketAddr,
    pub demo_address: Option<SocketAddr>,
}

impl Application {
    /// Binds BIND (and DEMO_PROVIDER_BIND) and builds both servers.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let bind = |address: SocketAddr| {
            TcpListener::bind(address).map_err(|source| StartupError::Bind {
                address: address.to_string(),
                source,
            })
        };
        let app_listener = bind(config.bind)?;
        let demo_listener = config
            .demo
            .as_ref()
            .filter(|demo| demo.run_here)
            .map(|demo| bind(demo.bind))
            .transpose()?;
        let providers = Providers::from_config(&config);
        Self::build_with(config, app_listener, demo_listener, providers).await
    }

    /// Builds both servers on listeners the caller bound, with the given
    /// providers (tests add fake ones).
    pub async fn build_with(
        config: Config,
        app_listener: TcpListener,
        demo_listener: Option<TcpListener>,
        providers: Providers,
    ) -> Result<Self, StartupError> {
        let app_address = app_listener.local_addr()?;
        if config.demo_in_production() {
            tracing::warn!(
                "DEMO_PROVIDER is on with an https APP_BASE_URL (production): the demo provider signs in anyone who clicks a demo account; every page shows a demo banner"
            );
        }

        let shutdown_timeout = config.shutdown_timeout.as_secs();
        let pool_size = config.db_pool_size;
        #[cfg(feature = "demo-provider")]
        let (demo_server, demo_address) = match (demo_settings(&config), demo_listener) {
            (Some(settings), Some(listener)) => {
                let address = listener.local_addr()?;
                (Some(demo_provider::run(listener, settings)?), Some(address))
            }
            _ => (None, None),
        };
        // Built without the demo provider: nothing listens for one.
        #[cfg(not(feature = "demo-provider"))]
        let (demo_server, demo_address) = {
            drop(demo_listener);
            (None, None)
        };

        // The start-up state's client serves the start-up checks (`warm_up`);
        // each worker gets its own (`AppState::for_worker`), built here so
        // that a failure stops the start with its reason.
        let http = crate::http_client::build(config.http_timeout)?;
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let worker_clients = (0..workers)
            .map(|_| crate::http_client::build(config.http_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let mut sealer = TokenSealer::new(config.token_key.bytes());
        if let Some(previous) = &config.token_key_previous {
            sealer = sealer.with_previous(previous.bytes());
        }
        let db = Database::open(&config.database, config.db_pool_size, sealer)?;
        // REDIS_URL: one limit for all instances, and no per-process
        // profile cache (a copy per instance would not hear of another's
        // sign-out or refresh).
        let redis = match &config.redis {
            Some(settings) => Some(Redis::connect(settings).await?),
            None => None,
        };
        let sessions = match config.session_store {
            SessionStoreKind::Cookie => SessionBackend::Cookie(CookieSessionStore::default()),
            SessionStoreKind::Redis => match &redis {
                Some(redis) => SessionBackend::redis(redis).await?,
                None => SessionBackend::Cookie(CookieSessionStore::default()),
            },
        };
        let state = web::Data::new(AppState {
            base_url: config.base_url.clone(),
            providers: Arc::new(providers),
            flow: SignInFlow {
                db,
                http: http.clone(),
                discovery: Arc::default(),
                base_url: config.base_url.clone(),
                limits: Default::default(),
                session_limits: SessionLimits {
                    idle_timeout_secs: seconds(config.session_idle_timeout),
                    max_age_secs: seconds(config.session_max_age),
                },
                observer: observer(),
                reauth_max_age: config.reauth_max_age,
            },
            http,
            views: Arc::new(Views::load(MORE_TEMPLATES)?),
            profiles: Arc::new(if redis.is_some() {
                ProfileCache::off()
            } else {
                ProfileCache::default()
            }),
            sign_in_starts: Arc::new(match &redis {
                Some(redis) => SignInLimit::Shared {
                    redis: redis.clone(),
                    per_minute: config.sign_in_starts_per_minute,
                },
                None => {
                    SignInLimit::Local(RateLimiter::per_minute(config.sign_in_starts_per_minute))
                }
            }),
            redis,
            trusted_proxies: config.trusted_proxies.clone().into(),
            production: config.production(),
            demo_banner: config.demo_in_production(),
            // Twice the longest a request to the provider may take, plus a
            // margin: a refresh still under way is never overtaken.
            refresh_lease_secs: 2 * seconds(config.http_timeout) + 5,
        });

        let session_key = Key::from(config.session_key.bytes());
        let session_state_ttl = seconds(config.session_max_age);
        let secure = config.cookies_secure();
        let app_state = state.clone();
        // actix calls this once per worker thread (and again if one restarts),
        // each time on a clone of it: the counter is shared.
        let next_worker = Arc::new(AtomicUsize::new(0));
        let app_server = HttpServer::new(move || {
            let worker = next_worker.fetch_add(1, Ordering::Relaxed) % worker_clients.len();
            let worker_state = app_state.for_worker(worker_clients[worker].clone());
            App::new()
                .app_data(web::Data::new(worker_state))
                .app_data(web::FormConfig::default().limit(16 * 1024))
                // Innermost: turns every 4xx/5xx into the error page.
                .wrap(
                    ErrorHandlers::new()
                        .default_handler_client(crate::error::render_error_page)
                        .default_handler_server(crate::error::render_error_page),
                )
                .wrap(session_middleware(
                    sessions.clone(),
                    session_key.clone(),
                    secure,
                    session_state_ttl,
                ))
                // Just outside the session: its store failing is a 503 page.
                .wrap(from_fn(crate::error::session_store_failures))
                .wrap(security_headers(secure))
                // Every response, error pages included, names its request id.
                .wrap(from_fn(crate::telemetry::request_id_header))
                // Outermost: a request id and one log line per request.
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(crate::routes::configure)
        })
        .workers(workers)
        // `Database::run` is the only user of the blocking pool, and a query
        // needs one of DB_POOL_SIZE connections: more threads than that would only
        // wait for a connection, each holding its stack and malloc arena
        // (tokio's default is up to 512 per worker).
        .worker_max_blocking_threads((pool_size as usize).div_ceil(workers).max(1))
        // SHUTDOWN_TIMEOUT: what requests under way get after a stop signal.
        .shutdown_timeout(shutdown_timeout)
        // Signals are ours (`stop_on_signal`), for both servers at once.
        .disable_signals()
        .listen(app_listener)?
        .run();

        Ok(Application {
            state,
            app_server,
            demo_server,
            app_address,
            demo_address,
        })
    }

    /// The configured providers, in the order they are offered.
    pub fn providers(&self) -> &Providers {
        &self.state.providers
    }

    /// Runs until SIGTERM or Ctrl-C, then stops both servers gracefully
    /// (`stop_on_signal`): what `main` runs.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let servers = std::iter::once(self.app_server.handle())
            .chain(self.demo_server.as_ref().map(Server::handle))
            .collect();
        stop_on_signal(servers);
        self.run_until_stopped().await
    }

    /// Runs until both servers stop (tests drop them with their runtime).
    /// Discovery documents are fetched in the background meanwhile
    /// (`SignInFlow::warm_up`), sessions and unused tokens are swept
    /// (`sweeper`), and a TOKEN_KEY rotation under way is finished
    /// (`key_rotation`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        tokio::spawn(async move { state.flow.warm_up(&state.providers).await });
        tokio::spawn(crate::sweeper::run(self.state.clone()));
        tokio::spawn(crate::key_rotation::run(self.state.clone()));
        match self.demo_server {
            Some(demo) => {
                let (app, demo) = futures_util::future::join(self.app_server, demo).await;
                app.and(demo)
            }
            None => self.app_server.await,
        }
    }
}

/// What every binary does first: load `.env` (a missing one is normal: every
/// variable has a development default), start logging, and parse the
/// configuration. `None` after logging why, when it is invalid.
pub fn load_config() -> Option<Config> {
    let _ = dotenvy::dotenv();
    // LOG_FORMAT first, alone: the rest of the configuration logs as it is
    // parsed. Without a logger yet, its own error goes to stderr.
    let format = match crate::config::LogFormat::from_env() {
        Ok(format) => format,
        Err(error) => {
            eprintln!("{error}");
            return None;
        }
    };
    crate::telemetry::init(format);
    Config::from_env()
        .inspect_err(|error| tracing::error!("{error}"))
        .ok()
}

/// From now on, SIGTERM (what an orchestrator sends) or SIGINT (Ctrl-C)
/// stops `servers` gracefully: each stops accepting at once, and requests
/// under way have SHUTDOWN_TIMEOUT to finish; the servers' futures then
/// complete and the binary exits 0. A second signal stops them at once.
///
/// The handlers are installed before this returns, not in the spawned task:
/// a signal that came before the task first ran would otherwise kill the
/// process the default way.
pub fn stop_on_signal(servers: Vec<ServerHandle>) {
    let mut signals = match StopSignals::listen() {
        Ok(signals) => signals,
        Err(error) => {
            tracing::error!(
                "cannot listen for SIGTERM or Ctrl-C ({error}); they stop the process at once"
            );
            return;
        }
    };
    tokio::spawn(async move {
        let name = signals.next().await;
        tracing::info!(
            "{name} received: no new connections; requests under way may finish (SHUTDOWN_TIMEOUT)"
        );
        let graceful =
            futures_util::future::join_all(servers.iter().map(|server| server.stop(true)));
        tokio::select! {
            _ = graceful => tracing::info!("stopped"),
            name = signals.next() => {
                tracing::warn!("{name} received again: stopping now");
                futures_util::future::join_all(servers.iter().map(|server| server.stop(false))).await;
            }
        }
    });
}

/// SIGTERM and SIGINT, as one stream of their names.
struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// The demo provider's settings, when it is configured: it registers our
/// client exactly as a developer would at a real provider (client id, secret,
/// redirect URIs). Besides its own callback it accepts the generic OpenID
/// Connect provider's, so that OIDC_ISSUER can point at it
/// (docs/providers/oidc.md). Used here and by the `demo-provider` binary.
#[cfg(feature = "demo-provider")]
pub fn demo_settings(config: &Config) -> Option<DemoProviderSettings> {
    let demo = config.demo.as_ref()?;
    Some(DemoProviderSettings {
        issuer: demo.issuer(),
        client: RegisteredClient {
            client_id: demo.client_id.clone(),
            client_secret: demo.client_secret.clone(),
            redirect_uris: vec![
                config.redirect_uri(crate::providers::demo::ID).to_string(),
                config.redirect_uri(crate::providers::oidc::ID).to_string(),
            ],
            post_logout_redirect_uris: vec![
                config.base_url.to_string(),
                config
                    .base_url
                    .join("/signed-out")
                    .map_or_else(|_| config.base_url.to_string(), |url| url.to_string()),
            ],
        },
        access_token_ttl: demo.token_ttl,
        shutdown_timeout: config.shutdown_timeout,
    })
}

/// Who the core reports to (`observe`): `/flow`'s recorder when the
/// teaching layer is built in, else nobody.
fn observer() -> Arc<dyn Observer> {
    #[cfg(feature = "teaching")]
    return Arc::new(crate::teaching::recorder::Recorder);
    #[cfg(not(feature = "teaching"))]
    Arc::new(crate::oauth::observe::Nobody)
}

/// The teaching layer's templates, when it is built in.
#[cfg(feature = "teaching")]
const MORE_TEMPLATES: &[(&str, &str)] = crate::teaching::TEMPLATES;
#[cfg(not(feature = "teaching"))]
const MORE_TEMPLATES: &[(&str, &str)] = &[];

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The private (encrypted and signed) session cookie.
fn session_middleware(
    store: SessionBackend,
    key: Key,
    secure: bool,
    state_ttl_secs: i64,
) -> SessionMiddleware<SessionBackend> {
    // `__Host-` makes browsers refuse the cookie unless it is Secure, host-only
    // and Path=/ (RFC 6265bis §4.1.3.2); only possible over HTTPS.
    let name = if secure {
        "__Host-session"
    } else {
        "app_session"
    };
    SessionMiddleware::builder(store, key)
        .cookie_name(name.to_owned())
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_content_security(CookieContentSecurity::Private)
        // The cookie lasts until the browser closes; the idle timeout and the
        // absolute lifetime are checked on the server (`db::sessions`). With
        // SESSION_STORE=redis, the state there lasts SESSION_MAX_AGE, after
        // which the session has ended anyway.
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl(actix_web::cookie::time::Duration::seconds(state_ttl_secs)),
        )
        .build()
}

/// Headers on every response, unless a handler set its own.
fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        // No script at all; styles and images only from us (photos are data: URLs);
        // forms only post to us; no framing (clickjacking).
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        // The callback URL carries the code: never send it on in a Referer.
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        // Pages show personal data: not for shared caches or the back-forward cache.
        .add(("Cache-Control", "no-store"));
    if https {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}
