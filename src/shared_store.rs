//! Redis, shared by every instance (REDIS_URL): the connection, the keys the
//! app writes (all under REDIS_KEY_PREFIX), and the session store that
//! SESSION_STORE=redis puts behind actix-session's middleware.
//!
//! What lives here when REDIS_URL is set: session state (SESSION_STORE=redis)
//! and the sign-in start counts (`rate_limit::SignInLimit`). What does not:
//! anything that must survive Redis being emptied. Users, identities, tokens
//! and the sessions' validity stay in the database, so losing Redis signs
//! nobody in as someone else and loses no account; it ends sessions (with
//! SESSION_STORE=redis) and forgets the counts.
//!
//! What it must not do: hold a provider token, or decide whether a session is
//! valid (`web::Visitor` asks `db::sessions`).

use std::time::Duration;

use actix_session::storage::{
    CookieSessionStore, LoadError, RedisSessionStore, SaveError, SessionKey, SessionStore,
    UpdateError,
};
use actix_web::cookie::time::Duration as CookieDuration;
use secrecy::ExposeSecret as _;

use crate::config::RedisConfig;

/// How long one Redis command, or connecting, may take before it fails: a
/// page then answers 503 instead of hanging with the server.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Why Redis could not be used.
#[derive(Debug, thiserror::Error)]
#[error("Redis: {0}")]
pub struct RedisError(String);

impl From<redis::RedisError> for RedisError {
    fn from(error: redis::RedisError) -> Self {
        RedisError(error.to_string())
    }
}

/// Connections to the shared Redis, pooled (deadpool): each checkout is
/// checked with a `PING`, so after an outage the next request gets a fresh
/// connection; every wait is bounded by [`REDIS_TIMEOUT`]. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    pool: deadpool_redis::Pool,
    prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redis(prefix {:?})", self.prefix)
    }
}

/// Connections kept per instance: commands are short and multiplexed.
const POOL_SIZE: usize = 16;

impl Redis {
    /// Connects at start-up; fails if Redis does not answer then (a
    /// misconfigured REDIS_URL should stop the start, not every page).
    pub async fn connect(config: &RedisConfig) -> Result<Redis, RedisError> {
        let pool = deadpool_redis::Config::from_url(config.url.expose_secret())
            .builder()
            .map_err(|error| RedisError(error.to_string()))?
            .max_size(POOL_SIZE)
            .wait_timeout(Some(REDIS_TIMEOUT))
            .create_timeout(Some(REDIS_TIMEOUT))
            .recycle_timeout(Some(REDIS_TIMEOUT))
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()
            .map_err(|error| RedisError(error.to_string()))?;
        // Checked on a connection of its own, outside the pool: a pooled
        // connection is driven by a task on the runtime that opened it, and
        // this start-up runtime may be busy or gone later (each test's is);
        // pooled ones are opened by the workers that use them.
        let client = redis::Client::open(config.url.expose_secret())?;
        let check = async {
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        tokio::time::timeout(REDIS_TIMEOUT, check)
            .await
            .map_err(|_| RedisError(format!("no answer within {REDIS_TIMEOUT:?}")))??;
        Ok(Redis {
            pool,
            prefix: config.key_prefix.clone(),
        })
    }

    /// `key` under REDIS_KEY_PREFIX.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `pipeline` (one command or several, `MULTI` if it says so)
    /// within [`REDIS_TIMEOUT`].
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, RedisError> {
        let run = async {
            let mut connection = self
                .pool
                .get()
                .await
                .map_err(|error| RedisError(error.to_string()))?;
            Ok(pipeline.query_async(&mut connection).await?)
        };
        tokio::time::timeout(REDIS_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| Err(RedisError(format!("no answer within {REDIS_TIMEOUT:?}"))))
    }

    /// `PING`, for `/readyz`.
    pub async fn ping(&self) -> Result<(), RedisError> {
        let (_pong,): (String,) = self.query(redis::pipe().cmd("PING")).await?;
        Ok(())
    }
}

/// Where actix-session keeps session state (SESSION_STORE): in the cookie, or
/// in Redis under a random key that the cookie carries. One type for both, so
/// the middleware stack is the same whichever is configured.
pub enum SessionBackend {
    Cookie(CookieSessionStore),
    Redis(RedisSessionStore),
}

impl Clone for SessionBackend {
    /// One per worker (actix builds the middleware in each).
    fn clone(&self) -> Self {
        match self {
            SessionBackend::Cookie(_) => SessionBackend::Cookie(CookieSessionStore::default()),
            SessionBackend::Redis(store) => SessionBackend::Redis(store.clone()),
        }
    }
}

impl SessionBackend {
    /// actix-session's Redis store on `redis`'s pool, with its keys under
    /// REDIS_KEY_PREFIX.
    pub async fn redis(redis: &Redis) -> Result<SessionBackend, RedisError> {
        let prefix = redis.key("session:");
        let store = RedisSessionStore::builder_pooled(redis.pool.clone())
            .cache_keygen(move |key| format!("{prefix}{key}"))
            .build()
            .await
            .map_err(|error| RedisError(error.to_string()))?;
        Ok(SessionBackend::Redis(store))
    }
}

/// How long Redis keeps a session's state: `ttl` (SESSION_MAX_AGE) when
/// someone is signed in; otherwise only as long as a pending sign-in lives
/// (10 minutes), so each anonymous start of a sign-in does not hold a key
/// for eight hours.
fn kept_for(
    state: &std::collections::HashMap<String, String>,
    ttl: &CookieDuration,
) -> CookieDuration {
    let pending = CookieDuration::seconds(crate::db::pending_sign_ins::PENDING_SIGN_IN_TTL_SECS);
    if crate::session::state_has_user(state) {
        *ttl
    } else {
        (*ttl).min(pending)
    }
}

/// Bounds one call to actix-session's Redis store by [`REDIS_TIMEOUT`]: the
/// pool bounds getting a connection, not the command's answer.
async fn bounded<T, E>(
    call: impl std::future::Future<Output = Result<T, E>>,
    timed_out: impl FnOnce(anyhow::Error) -> E,
) -> Result<T, E> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(outcome) => outcome,
        Err(_) => Err(timed_out(anyhow::anyhow!(
            "Redis did not answer within {REDIS_TIMEOUT:?}"
        ))),
    }
}

impl SessionStore for SessionBackend {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<std::collections::HashMap<String, String>>, LoadError> {
        match self {
            SessionBackend::Cookie(store) => store.load(session_key).await,
            SessionBackend::Redis(store) => {
                bounded(store.load(session_key), LoadError::Other).await
            }
        }
    }

    async fn save(
        &self,
        session_state: std::collections::HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        match self {
            SessionBackend::Cookie(store) => store.save(session_state, ttl).await,
            SessionBackend::Redis(store) => {
                let ttl = kept_for(&session_state, ttl);
                bounded(store.save(session_state, &ttl), SaveError::Other).await
            }
        }
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: std::collections::HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        match self {
            SessionBackend::Cookie(store) => store.update(session_key, session_state, ttl).await,
            SessionBackend::Redis(store) => {
                let ttl = kept_for(&session_state, ttl);
                bounded(
                    store.update(session_key, session_state, &ttl),
                    UpdateError::Other,
                )
                .await
            }
        }
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        match self {
            SessionBackend::Cookie(store) => store.update_ttl(session_key, ttl).await,
            SessionBackend::Redis(store) => {
                bounded(store.update_ttl(session_key, ttl), |e| e).await
            }
        }
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            SessionBackend::Cookie(store) => store.delete(session_key).await,
            SessionBackend::Redis(store) => bounded(store.delete(session_key), |e| e).await,
        }
    }
}
