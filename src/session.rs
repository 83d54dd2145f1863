//! What the session cookie holds, and the only code that reads or writes it.
//!
//! The cookie is actix-session's private cookie: encrypted and authenticated with
//! SESSION_KEY, HttpOnly, SameSite=Lax, Secure over HTTPS (see `startup`). It holds
//! no provider token: only who is signed in (ids into our database), a random
//! browser key that binds pending sign-ins to this browser, and the CSRF token
//! for our forms.

use actix_session::Session;
use serde::{Deserialize, Serialize};

use crate::crypto::random_url_safe;
use crate::db::unix_now;

const USER: &str = "user";
const BROWSER_KEY: &str = "browser_key";
const CSRF_TOKEN: &str = "csrf_token";
/// Set at sign-in until the first API call is recorded for `/flow` (step 7).
const FIRST_API_CALL_PENDING: &str = "first_api_call_pending";

/// Only refresh `last_seen_at` (and so rewrite the cookie) this often.
const LAST_SEEN_GRANULARITY_SECS: i64 = 60;

/// The signed-in person, as remembered between requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub user_id: i64,
    pub identity_id: i64,
    pub provider: String,
    pub display_name: String,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
}

/// The session's random browser key, created on first use. Its hash is stored
/// with each pending sign-in; the callback must come back with the same key.
pub fn browser_key(session: &Session) -> Result<String, actix_session::SessionInsertError> {
    if let Ok(Some(key)) = session.get::<String>(BROWSER_KEY) {
        return Ok(key);
    }
    let key = random_url_safe(32);
    session.insert(BROWSER_KEY, &key)?;
    Ok(key)
}

/// The browser key if the session has one (the callback must not create one).
pub fn existing_browser_key(session: &Session) -> Option<String> {
    session.get::<String>(BROWSER_KEY).ok().flatten()
}

/// The signed-in user, unless the session has been idle for longer than
/// `idle_timeout_secs` (then the session is ended). The cookie's own expiry is
/// refreshed by the browser; this check also holds against a replayed old cookie.
pub fn signed_in_user(session: &Session, idle_timeout_secs: i64) -> Option<SessionUser> {
    let mut user = session.get::<SessionUser>(USER).ok().flatten()?;
    let now = unix_now();
    if now - user.last_seen_at > idle_timeout_secs {
        session.purge();
        return None;
    }
    if now - user.last_seen_at > LAST_SEEN_GRANULARITY_SECS {
        user.last_seen_at = now;
        // Failing to refresh the timestamp only shortens the session.
        let _ = session.insert(USER, &user);
    }
    Some(user)
}

/// Starts a signed-in session. The session is renewed first, so a session
/// fixed by an attacker before sign-in is not the one that ends up signed in.
pub fn begin(
    session: &Session,
    user: &SessionUser,
) -> Result<(), actix_session::SessionInsertError> {
    session.renew();
    session.remove(BROWSER_KEY);
    session.insert(USER, user)?;
    session.insert(CSRF_TOKEN, random_url_safe(32))?;
    session.insert(FIRST_API_CALL_PENDING, true)?;
    Ok(())
}

/// True once after sign-in: the page calling the API should record step 7 of
/// the sign-in for `/flow`. Kept in the cookie so other page views need no
/// database read to know.
pub fn take_first_api_call_pending(session: &Session) -> bool {
    session
        .remove_as::<bool>(FIRST_API_CALL_PENDING)
        .and_then(Result::ok)
        .unwrap_or(false)
}

/// The CSRF token of a signed-in session (synchroniser token pattern).
pub fn csrf_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF_TOKEN).ok().flatten()
}

/// Ends the session: the cookie is removed.
pub fn end(session: &Session) {
    session.purge();
}
