//! The app's two secrets: SESSION_KEY (the session cookie) and TOKEN_KEY
//! (tokens sealed at rest), with TOKEN_KEY_PREVIOUS for rotation. In
//! development, generated once and kept under `data/`; in production
//! (https), required.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret as _, SecretBox};

use super::{ConfigError, invalid};

/// The keys, parsed together.
pub(super) struct Keys {
    pub session_key: SessionKey,
    pub token_key: TokenKey,
    pub token_key_previous: Option<TokenKey>,
}

pub(super) fn keys(
    var: &dyn Fn(&str) -> Option<String>,
    production: bool,
    dev_key_dir: &Path,
) -> Result<Keys, ConfigError> {
    // Production (https): a generated key would sit in a file next to the
    // app, be lost with its container, or differ between two instances.
    for variable in ["SESSION_KEY", "TOKEN_KEY"] {
        if production && var(variable).is_none() {
            return Err(invalid(
                variable,
                "must be set when APP_BASE_URL is https:// (production); development keys are never generated there",
            ));
        }
    }
    let session_key = match var("SESSION_KEY") {
        Some(value) => decode_key("SESSION_KEY", &value, 64)?,
        None => dev_key(dev_key_dir, "SESSION_KEY", "session.key", 64)?,
    };
    let token_key = match var("TOKEN_KEY") {
        Some(value) => token_key_from("TOKEN_KEY", &value)?,
        None => dev_key(dev_key_dir, "TOKEN_KEY", "token.key", 32)?
            .try_into()
            .map_err(|_| invalid("TOKEN_KEY", "data/token.key must hold exactly 32 bytes"))?,
    };
    let token_key_previous = var("TOKEN_KEY_PREVIOUS")
        .map(|value| token_key_from("TOKEN_KEY_PREVIOUS", &value))
        .transpose()?;
    Ok(Keys {
        session_key: SessionKey(std::sync::Arc::new(SecretBox::new(Box::new(session_key)))),
        token_key: TokenKey(std::sync::Arc::new(SecretBox::new(Box::new(token_key)))),
        token_key_previous: token_key_previous
            .map(|key| TokenKey(std::sync::Arc::new(SecretBox::new(Box::new(key))))),
    })
}

/// 64 bytes for actix-session's private cookies (signing + encryption).
#[derive(Clone)]
pub struct SessionKey(pub std::sync::Arc<SecretBox<Vec<u8>>>);

/// 32 bytes for XChaCha20-Poly1305 sealing of tokens at rest.
#[derive(Clone)]
pub struct TokenKey(pub std::sync::Arc<SecretBox<[u8; 32]>>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl SessionKey {
    pub fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl TokenKey {
    pub fn bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

fn decode_key(variable: &'static str, value: &str, min_len: usize) -> Result<Vec<u8>, ConfigError> {
    let help = format!(
        "must be base64 of at least {min_len} random bytes; generate one with `openssl rand -base64 {min_len}`"
    );
    let bytes = STANDARD
        .decode(value.trim())
        .map_err(|_| invalid(variable, help.clone()))?;
    if bytes.len() < min_len {
        return Err(invalid(variable, help));
    }
    Ok(bytes)
}

/// A token key: base64 of exactly 32 bytes (XChaCha20-Poly1305's key).
fn token_key_from(variable: &'static str, value: &str) -> Result<[u8; 32], ConfigError> {
    decode_key(variable, value, 32)?.try_into().map_err(|_| {
        invalid(
            variable,
            "must be base64 of exactly 32 bytes; generate one with `openssl rand -base64 32`",
        )
    })
}

/// Loads a development key from `dir/file`, creating it on first use.
fn dev_key(
    dir: &Path,
    variable: &'static str,
    file: &str,
    len: usize,
) -> Result<Vec<u8>, ConfigError> {
    let path: PathBuf = dir.join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return decode_key(variable, &text, len).map_err(|error| {
            invalid(
                variable,
                format!("{} (in {})", error.problem, path.display()),
            )
        });
    }
    let key = {
        use rand::RngCore as _;
        let mut key = vec![0u8; len];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    };
    let cannot_write = |error: std::io::Error| {
        invalid(
            variable,
            format!(
                "not set, and a development key could not be written to {}: {error}",
                path.display()
            ),
        )
    };
    crate::private_files::create_dir_all(dir).map_err(cannot_write)?;
    crate::private_files::write_new_file(&path, STANDARD.encode(&key).as_bytes())
        .map_err(cannot_write)?;
    tracing::warn!(
        variable,
        path = %path.display(),
        "not set: generated a development key and saved it; set {variable} in production"
    );
    Ok(key)
}
