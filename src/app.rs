//! The application's state, `AppState`: what every handler reads, built once
//! by `startup` and cloned for each actix worker.
//!
//! It lives apart from `startup` so that the web layer (`error`, `web`,
//! `routes`) can read it without importing the code that builds and runs the
//! servers. It must not import anything of the web layer itself.

use std::sync::Arc;

use url::Url;

use crate::api::profile_cache::ProfileCache;
use crate::db::Database;
use crate::oauth::flow::SignInFlow;
use crate::providers::Providers;
use crate::rate_limit::SignInLimit;
use crate::shared_store::Redis;
use crate::tokens::TokenKeeper;
use crate::views::Views;

/// What handlers use, in `web::Data`: one per actix worker thread.
///
/// Everything in it is shared between the workers (behind `Arc`s or a pool)
/// except the outgoing HTTP client: each worker has its own (see
/// [`AppState::for_worker`]).
#[derive(Debug)]
pub struct AppState {
    /// APP_BASE_URL: return paths are checked against it; redirect URIs come from it.
    pub base_url: Url,
    pub providers: Arc<Providers>,
    /// The sign-in flow; it owns the database handle and this worker's HTTP client.
    pub flow: SignInFlow,
    /// This worker's outgoing HTTP client (the same one `flow` uses).
    pub http: reqwest::Client,
    pub views: Arc<Views>,
    /// Profiles read from the providers' APIs, kept a few minutes.
    pub profiles: Arc<ProfileCache>,
    /// SIGN_IN_STARTS_PER_MINUTE, per client, shared by all workers (and,
    /// with REDIS_URL, by all instances).
    pub sign_in_starts: Arc<SignInLimit>,
    /// REDIS_URL's connection, for `/readyz`.
    pub redis: Option<Redis>,
    /// TRUSTED_PROXIES: whose X-Forwarded-For names the client (`web::client_ip`).
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// APP_BASE_URL is https (`Config::production`): `/setup` shows less.
    pub production: bool,
    /// The demo provider is on in production: every page says so.
    pub demo_banner: bool,
    /// How long one token refresh may hold its lease (`tokens`).
    pub refresh_lease_secs: i64,
}

impl AppState {
    /// What every page's layout shows of the site: the providers (to name
    /// the signed-in person's) and whether the demo banner is on.
    pub fn site(&self) -> (&Providers, bool) {
        (&self.providers, self.demo_banner)
    }

    pub fn db(&self) -> &Database {
        &self.flow.db
    }

    /// The keeper of usable tokens, for this request (`tokens`).
    pub fn tokens(&self) -> TokenKeeper<'_> {
        TokenKeeper {
            db: &self.flow.db,
            discovery: &self.flow.discovery,
            http: &self.http,
            profiles: &self.profiles,
            observer: &self.flow.observer,
            lease_secs: self.refresh_lease_secs,
        }
    }

    /// The same state with another outgoing HTTP client.
    ///
    /// Why one client per worker: a pooled connection is driven by a task on the
    /// runtime of the thread that opened it, and each actix worker is its own
    /// single-threaded runtime. With one client shared by all workers, a worker
    /// that reuses a connection opened by another hands every request and
    /// answer across threads (two wake-ups each way), and waits whenever that
    /// other worker is busy. With a client per worker, connections stay on the
    /// thread that uses them. Measured in docs/PERFORMANCE.md.
    pub fn for_worker(&self, http: reqwest::Client) -> AppState {
        AppState {
            base_url: self.base_url.clone(),
            providers: Arc::clone(&self.providers),
            flow: self.flow.with_http(http.clone()),
            http,
            views: Arc::clone(&self.views),
            profiles: Arc::clone(&self.profiles),
            sign_in_starts: Arc::clone(&self.sign_in_starts),
            redis: self.redis.clone(),
            trusted_proxies: Arc::clone(&self.trusted_proxies),
            production: self.production,
            demo_banner: self.demo_banner,
            refresh_lease_secs: self.refresh_lease_secs,
        }
    }
}
