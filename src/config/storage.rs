//! Where the app keeps its data: DATABASE_URL (SQLite or PostgreSQL, decided
//! by its scheme), DB_POOL_SIZE, REDIS_URL and SESSION_STORE.

use secrecy::{ExposeSecret as _, SecretString};

use super::{ConfigError, invalid};

/// The storage settings, parsed together: SESSION_STORE=redis needs REDIS_URL.
pub(super) struct Storage {
    pub database: DatabaseBackend,
    pub db_pool_size: u32,
    pub redis: Option<RedisConfig>,
    pub session_store: SessionStoreKind,
}

pub(super) fn storage(var: &dyn Fn(&str) -> Option<String>) -> Result<Storage, ConfigError> {
    let database =
        DatabaseBackend::parse(&var("DATABASE_URL").unwrap_or_else(|| "data/app.db".into()))?;
    let redis = var("REDIS_URL")
        .map(|url| -> Result<RedisConfig, ConfigError> {
            let url = url.trim().to_owned();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid(
                    "REDIS_URL",
                    "must be a redis:// or rediss:// (TLS) URL, e.g. redis://127.0.0.1:6379",
                ));
            }
            Ok(RedisConfig {
                url: SecretString::from(url),
                key_prefix: var("REDIS_KEY_PREFIX")
                    .unwrap_or_else(|| DEFAULT_REDIS_KEY_PREFIX.into()),
            })
        })
        .transpose()?;
    let session_store = match var("SESSION_STORE").as_deref().map(str::trim) {
        None | Some("cookie") => SessionStoreKind::Cookie,
        Some("redis") if redis.is_some() => SessionStoreKind::Redis,
        Some("redis") => {
            return Err(invalid(
                "SESSION_STORE",
                "is redis, so REDIS_URL must name the Redis server",
            ));
        }
        Some(other) => {
            return Err(invalid(
                "SESSION_STORE",
                format!("`{other}` is not `cookie` or `redis`"),
            ));
        }
    };
    let db_pool_size = match var("DB_POOL_SIZE") {
        None => DEFAULT_DB_POOL_SIZE,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(size @ 1..=256) => size,
            _ => {
                return Err(invalid(
                    "DB_POOL_SIZE",
                    format!("`{text}` is not a number of connections from 1 to 256"),
                ));
            }
        },
    };
    Ok(Storage {
        database,
        db_pool_size,
        redis,
        session_store,
    })
}

/// Where session state lives (SESSION_STORE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStoreKind {
    /// In the cookie itself, encrypted and signed with SESSION_KEY: nothing
    /// to run, and every instance with the same key can read it.
    Cookie,
    /// In Redis, under a random key that the cookie carries.
    Redis,
}

/// The Redis that REDIS_URL names.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
    pub url: SecretString,
    /// REDIS_KEY_PREFIX: put before every key the app writes, so that one
    /// Redis can serve several apps (default `signin-reference:`).
    pub key_prefix: String,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        write!(f, "RedisConfig(<url>, prefix {:?})", self.key_prefix)
    }
}

pub const DEFAULT_REDIS_KEY_PREFIX: &str = "signin-reference:";

/// Connections per instance when DB_POOL_SIZE is not set: enough for two
/// cores' worth of blocking queries with room for slow ones.
pub const DEFAULT_DB_POOL_SIZE: u32 = 8;

/// Which database DATABASE_URL names, decided here once by its scheme, never
/// by letting a driver guess: SQLite opens any string as a file name, so a
/// mistyped PostgreSQL URL would otherwise become an empty database file.
#[derive(Clone)]
pub enum DatabaseBackend {
    /// A file path, or `sqlite://path` (`:memory:` for a throwaway database).
    Sqlite { path: String },
    /// `postgres://…` or `postgresql://…` (libpq's connection URI); needs a
    /// build with the `postgres` feature.
    Postgres { url: SecretString },
}

impl PartialEq for DatabaseBackend {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (DatabaseBackend::Sqlite { path: a }, DatabaseBackend::Sqlite { path: b }) => a == b,
            (DatabaseBackend::Postgres { url: a }, DatabaseBackend::Postgres { url: b }) => {
                a.expose_secret() == b.expose_secret()
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for DatabaseBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseBackend::Sqlite { path } => write!(f, "Sqlite({path:?})"),
            // The URL may carry a password.
            DatabaseBackend::Postgres { .. } => f.write_str("Postgres(<url>)"),
        }
    }
}

impl DatabaseBackend {
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let value = value.trim();
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            if cfg!(not(feature = "postgres")) {
                return Err(invalid(
                    "DATABASE_URL",
                    "names PostgreSQL, but this build has SQLite only: build with `cargo build --release --features postgres`",
                ));
            }
            return Ok(DatabaseBackend::Postgres {
                url: SecretString::from(value),
            });
        }
        let path = value.strip_prefix("sqlite://").unwrap_or(value);
        // Anything else shaped like `scheme:` (two letters or more, so a
        // Windows drive `C:` is still a path) is a URL we do not speak.
        let scheme = path.split_once(':').map(|(scheme, _)| scheme);
        if let Some(scheme) = scheme.filter(|scheme| {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }) {
            return Err(invalid(
                "DATABASE_URL",
                format!(
                    "`{scheme}:` is not a database this app speaks: give an SQLite file path (data/app.db) or a postgres:// URL"
                ),
            ));
        }
        if path.is_empty() {
            return Err(invalid(
                "DATABASE_URL",
                "`sqlite://` needs a file path after it",
            ));
        }
        Ok(DatabaseBackend::Sqlite {
            path: path.to_owned(),
        })
    }

    /// The backend's name, for logs and `/readyz`.
    pub fn name(&self) -> &'static str {
        match self {
            DatabaseBackend::Sqlite { .. } => "sqlite",
            DatabaseBackend::Postgres { .. } => "postgres",
        }
    }
}
