//! Typed configuration, parsed once at start-up from environment variables.
//! One file per concern: `storage` (database, Redis), `keys` (the session
//! and token keys), `providers` (each provider's credentials and URLs); this
//! one reads the rest and puts [`Config`] together.
//!
//! Every field's doc names the variable it comes from. An invalid value stops the
//! start with a [`ConfigError`] that names the variable and says how to fix it;
//! nothing else in the crate reads the environment.
//!
//! One variable is read apart, first: LOG_FORMAT ([`LogFormat`]), since
//! logging starts before the rest is parsed (parsing logs, and its errors are
//! logged).
//!
//! Development defaults let `cargo run` work with no `.env` at all. The two keys
//! (SESSION_KEY, TOKEN_KEY) are then generated once and kept under `data/`, with a
//! warning in the log.
//!
//! Production is an `https://` APP_BASE_URL ([`Config::production`]). There the
//! defaults that only suit a developer's machine are refused or off: the start
//! stops unless SESSION_KEY and TOKEN_KEY are set (no key is ever generated),
//! and the demo provider is off unless DEMO_PROVIDER says otherwise.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use url::Url;

mod keys;
mod providers;
mod storage;

pub use keys::{SessionKey, TokenKey};
pub use providers::{
    ClientCredentials, DemoConfig, GitHubConfig, GoogleConfig, MicrosoftConfig, OidcConfig,
};
pub use storage::{
    DEFAULT_DB_POOL_SIZE, DEFAULT_REDIS_KEY_PREFIX, DatabaseBackend, RedisConfig, SessionStoreKind,
};

/// Where generated development keys are kept.
const DEV_KEY_DIR: &str = "data";

/// The app's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// APP_BASE_URL: the public origin of the app (default `http://127.0.0.1:8080`).
    /// Redirect URIs are built from it, never from the request's Host header.
    pub base_url: Url,
    /// BIND: the socket address to listen on (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// DATABASE_URL: an SQLite file path (default `data/app.db`) or a
    /// PostgreSQL URL, parsed once into the backend to use.
    pub database: DatabaseBackend,
    /// DB_POOL_SIZE: connections per instance (default 8; docs/DEPLOYMENT.md
    /// says how to size it).
    pub db_pool_size: u32,
    /// SESSION_STORE: where session state lives, `cookie` (default) or `redis`.
    pub session_store: SessionStoreKind,
    /// REDIS_URL (and REDIS_KEY_PREFIX): the Redis every instance shares.
    /// When set, the sign-in start limit is kept there (one limit for all
    /// instances) and the per-process profile cache is off.
    pub redis: Option<RedisConfig>,
    /// SESSION_KEY: base64 of 64 bytes; signs and encrypts the session cookie.
    pub session_key: SessionKey,
    /// TOKEN_KEY: base64 of 32 bytes; seals provider tokens at rest.
    pub token_key: TokenKey,
    /// TOKEN_KEY_PREVIOUS: a second key, tried when a token does not open
    /// with TOKEN_KEY and never used to seal: what lets the key be rotated
    /// without anyone signing in again (docs/DEPLOYMENT.md, "Keys").
    pub token_key_previous: Option<TokenKey>,
    /// SESSION_IDLE_TIMEOUT: seconds without a request after which a session ends
    /// (default 1800).
    pub session_idle_timeout: Duration,
    /// SESSION_MAX_AGE: seconds after sign-in at which a session ends however
    /// active it is (default 28800, eight hours). Both limits are enforced on
    /// the server (`db::sessions`), whatever the cookie says.
    pub session_max_age: Duration,
    /// REAUTH_MAX_AGE: linking, unlinking and deleting the account need a
    /// sign-in at the provider no longer than this many seconds ago (default
    /// 300); an older one is asked again first. 0: asked every time.
    pub reauth_max_age: Duration,
    /// HTTP_TIMEOUT: seconds allowed for each request to a provider (default 10).
    pub http_timeout: Duration,
    /// SHUTDOWN_TIMEOUT: seconds that requests under way may still take after
    /// SIGTERM or Ctrl-C (default 10); both servers stop accepting at once.
    pub shutdown_timeout: Duration,
    /// SIGN_IN_STARTS_PER_MINUTE: sign-ins one client (IP address, or IPv6 /64)
    /// may start per minute, in a burst or spread out (default 30). Each start
    /// writes a pending sign-in; past the limit the client gets 429.
    pub sign_in_starts_per_minute: u32,
    /// TRUSTED_PROXIES: comma-separated IP addresses or CIDR ranges of the
    /// reverse proxies in front of the app (default none). Only a request
    /// from one of them has its client address taken from X-Forwarded-For
    /// (`web::client_ip`); anyone else could write that header.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The built-in demo provider, unless DEMO_PROVIDER=off (`external`: it is
    /// used, but runs in its own process). Off by default in production.
    pub demo: Option<DemoConfig>,
    /// Microsoft (Entra ID + Graph), when MICROSOFT_CLIENT_ID and _SECRET are set.
    pub microsoft: Option<MicrosoftConfig>,
    /// Google (OpenID Connect + Gmail), when GOOGLE_CLIENT_ID and _SECRET are set.
    pub google: Option<GoogleConfig>,
    /// GitHub (OAuth 2.0, no OpenID Connect), when GITHUB_CLIENT_ID and _SECRET are set.
    pub github: Option<GitHubConfig>,
    /// Any OpenID Connect issuer, when OIDC_ISSUER, OIDC_CLIENT_ID and _SECRET are set.
    pub oidc: Option<OidcConfig>,
}

/// LOG_FORMAT: how log lines are written (default `text`).
///
/// Read on its own, before the rest of the configuration
/// ([`LogFormat::from_lookup`]), because logging starts first: parsing the rest
/// logs (a generated development key) and its errors are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `text`: one human-readable line per event.
    #[default]
    Text,
    /// `json`: one JSON object per line, for a log collector.
    Json,
}

impl LogFormat {
    /// LOG_FORMAT from the process environment (after `.env` is loaded).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name: &str| std::env::var(name).ok())
    }

    /// LOG_FORMAT from any variable source: `text` (or unset) or `json`.
    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        match env
            .get("LOG_FORMAT")
            .map(|value| value.trim().to_ascii_lowercase())
        {
            None => Ok(LogFormat::Text),
            Some(value) if value.is_empty() || value == "text" => Ok(LogFormat::Text),
            Some(value) if value == "json" => Ok(LogFormat::Json),
            Some(value) => Err(invalid(
                "LOG_FORMAT",
                format!("`{value}` is neither `text` nor `json`"),
            )),
        }
    }
}

/// A configuration value that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Something that answers "what is the value of this variable?".
/// `std::env::var` in production, a map in tests.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

impl Config {
    /// Reads the process environment (after dotenvy loaded `.env`, if any).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(
            &|name: &str| std::env::var(name).ok(),
            Path::new(DEV_KEY_DIR),
        )
    }

    /// Parses configuration from any variable source. Generated development
    /// keys are kept in `dev_key_dir`.
    pub fn from_lookup(env: &dyn Lookup, dev_key_dir: &Path) -> Result<Self, ConfigError> {
        let var = |name: &str| env.get(name).filter(|value| !value.trim().is_empty());

        let base_url =
            parse_base_url(&var("APP_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()))?;
        let bind = parse_socket(
            "BIND",
            &var("BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
        )?;
        let storage = storage::storage(&var)?;
        // Production (https): no generated keys, no demo provider unless asked.
        let production = base_url.scheme() == "https";
        let keys = keys::keys(&var, production, dev_key_dir)?;
        let session_idle_timeout = Duration::from_secs(parse_seconds(
            "SESSION_IDLE_TIMEOUT",
            var("SESSION_IDLE_TIMEOUT"),
            1800,
        )?);

        let session_max_age = Duration::from_secs(parse_seconds(
            "SESSION_MAX_AGE",
            var("SESSION_MAX_AGE"),
            8 * 60 * 60,
        )?);

        let reauth_max_age = Duration::from_secs(match var("REAUTH_MAX_AGE") {
            None => 300,
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                invalid(
                    "REAUTH_MAX_AGE",
                    format!("`{text}` is not a number of seconds (0 or more)"),
                )
            })?,
        });

        let http_timeout =
            Duration::from_secs(parse_seconds("HTTP_TIMEOUT", var("HTTP_TIMEOUT"), 10)?);
        let shutdown_timeout = Duration::from_secs(parse_seconds(
            "SHUTDOWN_TIMEOUT",
            var("SHUTDOWN_TIMEOUT"),
            10,
        )?);

        let sign_in_starts_per_minute = match var("SIGN_IN_STARTS_PER_MINUTE") {
            None => 30,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(count) if count > 0 => count,
                _ => {
                    return Err(invalid(
                        "SIGN_IN_STARTS_PER_MINUTE",
                        format!("`{text}` is not a positive whole number"),
                    ));
                }
            },
        };
        let trusted_proxies = parse_trusted_proxies(var("TRUSTED_PROXIES"))?;

        let demo = providers::demo(&var, production)?;
        let microsoft = providers::microsoft(&var)?;
        let google = providers::google(&var)?;
        let github = providers::github(&var)?;
        let oidc = providers::oidc(&var)?;

        Ok(Config {
            base_url,
            bind,
            database: storage.database,
            db_pool_size: storage.db_pool_size,
            session_store: storage.session_store,
            redis: storage.redis,
            session_key: keys.session_key,
            token_key: keys.token_key,
            token_key_previous: keys.token_key_previous,
            session_idle_timeout,
            session_max_age,
            reauth_max_age,
            http_timeout,
            shutdown_timeout,
            sign_in_starts_per_minute,
            trusted_proxies,
            demo,
            microsoft,
            google,
            github,
            oidc,
        })
    }

    /// Cookies get the `Secure` attribute when the app is served over HTTPS.
    pub fn cookies_secure(&self) -> bool {
        self.production()
    }

    /// Production: the app is served over HTTPS (APP_BASE_URL). Keys must be
    /// set, the demo provider is off unless asked for, and `/setup` shows no
    /// client ids or endpoints.
    pub fn production(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The demo provider is on in production (DEMO_PROVIDER set explicitly):
    /// every page shows a banner saying so, and the log warns at start.
    pub fn demo_in_production(&self) -> bool {
        self.production() && self.demo.is_some()
    }

    /// The exact redirect URI registered for `provider_id` (RFC 6749 §3.1.2).
    pub fn redirect_uri(&self, provider_id: &str) -> Url {
        let mut url = self.base_url.clone();
        url.set_path(&format!("/auth/{provider_id}/callback"));
        url
    }
}

/// `http://` URL for a socket address, e.g. `http://127.0.0.1:8081`.
#[expect(
    clippy::expect_used,
    reason = "a SocketAddr always formats as a valid URL authority"
)]
pub fn url_for_socket(address: SocketAddr) -> Url {
    Url::parse(&format!("http://{address}")).expect("socket address is a valid authority")
}

fn parse_base_url(value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|error| {
        invalid(
            "APP_BASE_URL",
            format!("`{value}` is not a URL ({error}); example: https://app.example.com"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "APP_BASE_URL",
            "must be an http:// or https:// URL",
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "APP_BASE_URL",
            "must be an origin only, with no path, query or fragment (e.g. https://app.example.com)",
        ));
    }
    Ok(url)
}

/// TRUSTED_PROXIES: `10.0.0.1, 10.1.0.0/16, ::1`. A bare address is a range of one.
fn parse_trusted_proxies(value: Option<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(text) = value else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        "TRUSTED_PROXIES",
                        format!("`{item}` is not an IP address or CIDR range such as 10.0.0.0/8"),
                    )
                })
        })
        .collect()
}

fn parse_socket(variable: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            variable,
            format!("`{value}` is not an IP address and port such as 127.0.0.1:8080"),
        )
    })
}

fn parse_seconds(
    variable: &'static str,
    value: Option<String>,
    default: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(seconds),
            _ => Err(invalid(
                variable,
                format!("`{text}` is not a positive number of seconds"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        Config::from_lookup(&move |name: &str| map.get(name).cloned(), dir.path())
    }

    #[test]
    fn defaults_need_no_environment() {
        let config = parse(&[]).expect("defaults are valid");
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            config.database,
            DatabaseBackend::Sqlite {
                path: "data/app.db".into()
            }
        );
        assert_eq!(config.db_pool_size, DEFAULT_DB_POOL_SIZE);
        assert!(!config.cookies_secure());
        assert_eq!(
            config.redirect_uri("demo").as_str(),
            "http://127.0.0.1:8080/auth/demo/callback"
        );
        #[cfg(feature = "demo-provider")]
        {
            let demo = config.demo.expect("demo provider on by default");
            assert_eq!(demo.issuer().as_str(), "http://127.0.0.1:8081/");
        }
        #[cfg(not(feature = "demo-provider"))]
        assert!(config.demo.is_none(), "no demo provider in this build");
    }

    /// Built without the demo provider, asking for it stops the start with
    /// the reason; `off` is what it is anyway.
    #[cfg(not(feature = "demo-provider"))]
    #[test]
    fn a_build_without_the_demo_provider_refuses_to_run_one() {
        for value in ["on", "external"] {
            let error = parse(&[("DEMO_PROVIDER", value)]).expect_err(value);
            assert_eq!(error.variable, "DEMO_PROVIDER");
            assert!(error.to_string().contains("demo-provider"), "{error}");
        }
        let config = parse(&[("DEMO_PROVIDER", "off")]).expect("off is valid");
        assert!(config.demo.is_none());
    }

    #[test]
    fn generated_development_keys_are_kept_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let none = |_: &str| None::<String>;
        let first = Config::from_lookup(&none, dir.path()).expect("first start");
        let second = Config::from_lookup(&none, dir.path()).expect("second start");
        assert_eq!(first.token_key.bytes(), second.token_key.bytes());
        assert_eq!(first.session_key.bytes(), second.session_key.bytes());
    }

    #[test]
    fn each_invalid_value_names_its_variable() {
        let cases = [
            ("APP_BASE_URL", "not a url"),
            ("APP_BASE_URL", "ftp://example.com"),
            ("APP_BASE_URL", "https://example.com/app"),
            ("BIND", "localhost"),
            ("DATABASE_URL", "mysql://db"),
            ("DATABASE_URL", "postgress://db"),
            ("DATABASE_URL", "sqlite://"),
            ("DB_POOL_SIZE", "0"),
            ("REDIS_URL", "127.0.0.1:6379"),
            ("SESSION_STORE", "redis"),
            ("SESSION_STORE", "memcached"),
            ("DB_POOL_SIZE", "many"),
            ("SESSION_KEY", "c2hvcnQ="),
            ("TOKEN_KEY", "not base64!"),
            (
                "TOKEN_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
            ("TOKEN_KEY_PREVIOUS", "c2hvcnQ="),
            ("SESSION_IDLE_TIMEOUT", "0"),
            ("HTTP_TIMEOUT", "-1"),
            ("SHUTDOWN_TIMEOUT", "0"),
            ("SHUTDOWN_TIMEOUT", "ten"),
            ("DEMO_PROVIDER", "maybe"),
            #[cfg(feature = "demo-provider")]
            ("DEMO_PROVIDER_BIND", "8081"),
            #[cfg(feature = "demo-provider")]
            ("DEMO_TOKEN_TTL", "soon"),
            ("SIGN_IN_STARTS_PER_MINUTE", "0"),
            ("SIGN_IN_STARTS_PER_MINUTE", "many"),
            ("TRUSTED_PROXIES", "10.0.0.1, proxy.internal"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("MICROSOFT_TENANT", "common/../evil"),
            ("MICROSOFT_AUTHORITY", "http://login.example.com"),
            ("GITHUB_API_URL", "https://api.example.com/?x=1"),
        ];
        for (variable, value) in cases {
            // Provider settings are read only for a configured provider.
            let credentials = [
                ("MICROSOFT_CLIENT_ID", "id"),
                ("MICROSOFT_CLIENT_SECRET", "secret"),
                ("GITHUB_CLIENT_ID", "id"),
                ("GITHUB_CLIENT_SECRET", "secret"),
            ];
            let mut vars = credentials.to_vec();
            vars.push((variable, value));
            let error = parse(&vars).expect_err(variable);
            assert_eq!(error.variable, variable, "{value}");
            assert!(error.to_string().contains(variable));
        }
    }

    #[test]
    fn database_url_is_parsed_by_its_scheme_never_guessed() {
        let sqlite = |path: &str| DatabaseBackend::Sqlite { path: path.into() };
        for (value, expected) in [
            ("data/app.db", sqlite("data/app.db")),
            ("sqlite://data/app.db", sqlite("data/app.db")),
            ("/var/lib/app/app.db", sqlite("/var/lib/app/app.db")),
            (":memory:", sqlite(":memory:")),
            ("C:\\app\\app.db", sqlite("C:\\app\\app.db")),
        ] {
            assert_eq!(DatabaseBackend::parse(value).expect(value), expected);
        }
        for url in ["postgres://app:pw@db/app", "postgresql://db/app"] {
            let parsed = DatabaseBackend::parse(url);
            if cfg!(feature = "postgres") {
                let backend = parsed.expect(url);
                assert_eq!(backend.name(), "postgres");
                assert!(
                    !format!("{backend:?}").contains("pw"),
                    "no password in logs"
                );
            } else {
                let error = parsed.expect_err(url);
                assert!(error.problem.contains("--features postgres"), "{error}");
            }
        }
        // A typo must not become an SQLite file named after the URL.
        for typo in ["postgress://db/app", "postgres:/db/app", "redis://db"] {
            assert!(DatabaseBackend::parse(typo).is_err(), "{typo}");
        }
    }

    const SESSION_KEY: &str =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw==";
    const TOKEN_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn https_base_url_makes_cookies_secure_and_demo_can_be_turned_off() {
        let config = parse(&[
            ("APP_BASE_URL", "https://app.example.com"),
            ("SESSION_KEY", SESSION_KEY),
            ("TOKEN_KEY", TOKEN_KEY),
            ("DEMO_PROVIDER", "off"),
        ])
        .expect("valid");
        assert!(config.cookies_secure());
        assert!(config.production());
        assert!(config.demo.is_none());
    }

    #[test]
    fn production_refuses_to_start_without_each_key_and_generates_none() {
        let https = ("APP_BASE_URL", "https://app.example.com");
        for (missing, present) in [
            ("SESSION_KEY", ("TOKEN_KEY", TOKEN_KEY)),
            ("TOKEN_KEY", ("SESSION_KEY", SESSION_KEY)),
        ] {
            let dir = tempfile::tempdir().expect("temp dir");
            let vars: HashMap<&str, &str> = HashMap::from([https, present]);
            let error = Config::from_lookup(
                &|name: &str| vars.get(name).map(|value| value.to_string()),
                dir.path(),
            )
            .expect_err(missing);
            assert_eq!(error.variable, missing);
            let message = error.to_string();
            assert!(message.contains(missing), "{message}");
            assert!(message.contains("APP_BASE_URL"), "{message}");
            let files = std::fs::read_dir(dir.path()).expect("dir").count();
            assert_eq!(files, 0, "no development key was written");
        }
    }

    #[cfg(feature = "demo-provider")]
    #[test]
    fn production_turns_the_demo_provider_off_unless_asked_for_by_name() {
        let production = [
            ("APP_BASE_URL", "https://app.example.com"),
            ("SESSION_KEY", SESSION_KEY),
            ("TOKEN_KEY", TOKEN_KEY),
        ];
        let config = parse(&production).expect("valid");
        assert!(config.demo.is_none(), "off by default in production");
        assert!(!config.demo_in_production());

        let mut vars = production.to_vec();
        vars.push(("DEMO_PROVIDER", "on"));
        let config = parse(&vars).expect("valid");
        assert!(config.demo.is_some());
        assert!(config.demo_in_production(), "pages show the demo banner");

        // In development it stays on by default, with no banner.
        let config = parse(&[]).expect("valid");
        assert!(config.demo.is_some() && !config.demo_in_production());
    }

    #[cfg(unix)]
    #[test]
    fn generated_development_keys_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("data");
        Config::from_lookup(&|_: &str| None::<String>, &dir).expect("valid");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("session.key")), 0o600);
        assert_eq!(mode(&dir.join("token.key")), 0o600);
    }

    #[test]
    fn redis_is_optional_and_sessions_stay_in_the_cookie_unless_asked() {
        let config = parse(&[]).expect("valid");
        assert_eq!(config.session_store, SessionStoreKind::Cookie);
        assert!(config.redis.is_none());
        let config = parse(&[
            ("REDIS_URL", "redis://:secret@127.0.0.1:6379/0"),
            ("SESSION_STORE", "redis"),
        ])
        .expect("valid");
        assert_eq!(config.session_store, SessionStoreKind::Redis);
        let redis = config.redis.expect("redis");
        assert_eq!(redis.key_prefix, DEFAULT_REDIS_KEY_PREFIX);
        assert!(
            !format!("{redis:?}").contains("secret"),
            "no password in logs"
        );
        // REDIS_URL alone: shared limit, sessions still in the cookie.
        let config = parse(&[("REDIS_URL", "rediss://cache.example:6380")]).expect("valid");
        assert_eq!(config.session_store, SessionStoreKind::Cookie);
        assert!(config.redis.is_some());
    }

    #[test]
    fn sign_in_limits_and_trusted_proxies_are_read() {
        let config = parse(&[]).expect("valid");
        assert_eq!(config.sign_in_starts_per_minute, 30);
        assert!(config.trusted_proxies.is_empty());
        let config = parse(&[
            ("SIGN_IN_STARTS_PER_MINUTE", "5"),
            ("TRUSTED_PROXIES", "10.0.0.1, 172.16.0.0/12,::1"),
        ])
        .expect("valid");
        assert_eq!(config.sign_in_starts_per_minute, 5);
        let proxies: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.1/32", "172.16.0.0/12", "::1/128"]);
    }

    #[cfg(feature = "demo-provider")]
    #[test]
    fn an_external_demo_provider_needs_its_shared_secret() {
        let error = parse(&[("DEMO_PROVIDER", "external")]).expect_err("no secret");
        assert_eq!(error.variable, "DEMO_CLIENT_SECRET");
        let config = parse(&[
            ("DEMO_PROVIDER", "external"),
            ("DEMO_CLIENT_SECRET", "shared"),
        ])
        .expect("valid");
        let demo = config.demo.expect("described");
        assert!(!demo.run_here);
        assert!(parse(&[]).expect("valid").demo.expect("on").run_here);
    }

    #[test]
    fn a_provider_is_configured_only_when_its_credentials_are_set() {
        let config = parse(&[]).expect("valid");
        assert!(config.microsoft.is_none() && config.google.is_none());
        assert!(config.github.is_none() && config.oidc.is_none());

        let config = parse(&[
            ("MICROSOFT_CLIENT_ID", "ms-id"),
            ("MICROSOFT_CLIENT_SECRET", "ms-secret"),
            ("GITHUB_CLIENT_ID", "gh-id"),
            ("GITHUB_CLIENT_SECRET", "gh-secret"),
        ])
        .expect("valid");
        let microsoft = config.microsoft.expect("microsoft configured");
        assert_eq!(microsoft.tenant, "common");
        assert_eq!(
            microsoft.authority.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert_eq!(microsoft.graph_url.as_str(), "https://graph.microsoft.com/");
        let github = config.github.expect("github configured");
        assert_eq!(github.api_url.as_str(), "https://api.github.com/");
    }

    #[test]
    fn one_credential_without_the_other_names_the_missing_one() {
        let cases = [
            ("MICROSOFT_CLIENT_SECRET", "MICROSOFT_CLIENT_ID"),
            ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
            ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"),
            ("OIDC_ISSUER", "OIDC_CLIENT_ID"),
        ];
        for (set, missing) in cases {
            let error = parse(&[(set, "https://value.example.com")]).expect_err(set);
            assert_eq!(error.variable, missing, "{set}");
        }
    }

    #[test]
    fn provider_urls_must_be_https_except_on_loopback() {
        let with = |variable: &str, value: &str| {
            parse(&[
                ("GOOGLE_CLIENT_ID", "id"),
                ("GOOGLE_CLIENT_SECRET", "secret"),
                (variable, value),
            ])
        };
        let error = with("GOOGLE_ISSUER", "http://accounts.example.com").expect_err("plain http");
        assert_eq!(error.variable, "GOOGLE_ISSUER");
        let error = with("GMAIL_API_URL", "not a url").expect_err("not a URL");
        assert_eq!(error.variable, "GMAIL_API_URL");
        let config = with("GOOGLE_ISSUER", "http://127.0.0.1:9000").expect("loopback http");
        assert_eq!(
            config.google.expect("google").issuer,
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn oidc_needs_an_issuer_and_the_openid_scope() {
        let base = [("OIDC_CLIENT_ID", "id"), ("OIDC_CLIENT_SECRET", "secret")];
        let error = parse(&base).expect_err("no issuer");
        assert_eq!(error.variable, "OIDC_ISSUER");
        let mut vars = base.to_vec();
        vars.push(("OIDC_ISSUER", "https://id.example.com/realms/demo"));
        vars.push(("OIDC_SCOPES", "profile email"));
        assert_eq!(parse(&vars).expect_err("no openid").variable, "OIDC_SCOPES");
        vars.pop();
        let oidc = parse(&vars).expect("valid").oidc.expect("oidc");
        assert_eq!(oidc.display_name, "OpenID Connect");
        assert_eq!(oidc.scopes, ["openid", "profile", "email"]);
    }

    #[test]
    fn shutdown_timeout_defaults_to_ten_seconds() {
        assert_eq!(
            parse(&[]).expect("valid").shutdown_timeout,
            Duration::from_secs(10)
        );
        let config = parse(&[("SHUTDOWN_TIMEOUT", "3")]).expect("valid");
        assert_eq!(config.shutdown_timeout, Duration::from_secs(3));
    }

    #[test]
    fn log_format_is_text_or_json_and_anything_else_names_the_variable() {
        let format = |value: &'static str| {
            LogFormat::from_lookup(&move |name: &str| (name == "LOG_FORMAT").then(|| value.into()))
        };
        let unset = LogFormat::from_lookup(&|_: &str| None::<String>);
        assert_eq!(unset.expect("default"), LogFormat::Text);
        assert_eq!(format("text").expect("valid"), LogFormat::Text);
        assert_eq!(format(" JSON ").expect("valid"), LogFormat::Json);
        let error = format("yaml").expect_err("invalid");
        assert_eq!(error.variable, "LOG_FORMAT");
        assert!(error.to_string().contains("LOG_FORMAT"), "{error}");
    }

    #[test]
    fn debug_output_never_shows_keys_or_secrets() {
        let config = parse(&[("DEMO_CLIENT_SECRET", "super-secret-value")]).expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains("super-secret-value"));
        assert!(printed.contains("redacted") || printed.contains("REDACTED"));
    }
}
