//! Signed-in sessions, known on the server.
//!
//! The session cookie carries a random session id; this table holds its
//! SHA-256 (`id_hash`), the user and identity it signs in, and two times: when
//! it began (for the absolute lifetime, SESSION_MAX_AGE) and when it was last
//! used (for the idle timeout, SESSION_IDLE_TIMEOUT). A signed-in request is
//! honoured only while its row exists and is within both limits, so deleting
//! the row ("Sign out", "Sign out everywhere", account deletion) or letting it
//! age out makes every copy of that cookie useless, whatever the cookie says.
//!
//! What it must not do: store the session id itself (a copy of this table must
//! open no session), or decide anything about HTTP or cookies (`session` and
//! `web::Visitor` do that with what this returns).

use diesel::prelude::*;

use super::schema::{provider_tokens, sessions};
use super::tokens::{self, ProviderTokens};
use super::{DbConnection, DbError, TokenSealer, delete_unclaimed};

/// `last_seen_at` is written at most this often per session, so an active
/// session costs one indexed read per request and one write per minute.
pub const LAST_SEEN_GRANULARITY_SECS: i64 = 60;

/// Sessions kept per user; signing in once more ends the least recently used.
pub const MAX_SESSIONS_PER_USER: usize = 20;

/// How long sessions may live (from `config`).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// SESSION_IDLE_TIMEOUT in seconds.
    pub idle_timeout_secs: i64,
    /// SESSION_MAX_AGE in seconds.
    pub max_age_secs: i64,
}

/// A session's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct StoredSession {
    pub user_id: i64,
    pub identity_id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl StoredSession {
    /// Within both limits at `now`.
    pub fn is_live(&self, now: i64, limits: SessionLimits) -> bool {
        now - self.last_seen_at <= limits.idle_timeout_secs
            && now - self.created_at <= limits.max_age_secs
    }

    /// Whether `last_seen_at` is old enough to be written again.
    pub fn needs_touch(&self, now: i64) -> bool {
        now - self.last_seen_at >= LAST_SEEN_GRANULARITY_SECS
    }
}

/// Records a new session at sign-in, and removes what no longer counts:
/// every idle-expired session (of anyone: the table stays small without a
/// background job) and, beyond [`MAX_SESSIONS_PER_USER`], this user's least
/// recently used ones. Runs inside the sign-in's transaction.
pub fn create(
    connection: &mut DbConnection,
    id_hash: &str,
    (user_id, identity_id): (i64, i64),
    browser: Option<&str>,
    now: i64,
    limits: SessionLimits,
) -> Result<(), DbError> {
    // Idle ones only, so the sweep is one range of the `last_seen_at` index;
    // a session past its maximum age is refused by `is_live` whatever it
    // says, and swept once it has been idle too.
    delete_unclaimed!(
        connection,
        sessions::table,
        sessions::id_hash => String,
        sessions::last_seen_at.lt(now - limits.idle_timeout_secs)
    )?;
    let newest_first: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order(sessions::last_seen_at.desc())
        .select(sessions::id_hash)
        .load(connection)?;
    if let Some(dropped) = newest_first
        .get(MAX_SESSIONS_PER_USER - 1..)
        .filter(|rows| !rows.is_empty())
    {
        delete_unclaimed!(
            connection,
            sessions::table,
            sessions::id_hash => String,
            sessions::id_hash.eq_any(dropped)
        )?;
    }
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(user_id),
            sessions::identity_id.eq(identity_id),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
            // What `/account/sessions` names the row by: not the id, nor its hash.
            sessions::handle.eq(crate::crypto::random_url_safe(16)),
            sessions::browser.eq(browser),
        ))
        .execute(connection)?;
    Ok(())
}

/// One of a person's sessions, as `/account/sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedSession {
    /// Names the row in the page's "End" form; opens nothing.
    pub handle: String,
    /// "Firefox on Linux", when the browser said.
    pub browser: Option<String>,
    /// The account it signed in with: its provider id and name there.
    pub provider: String,
    pub account: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The session of the browser asking.
    pub this_one: bool,
}

/// The user's live sessions at `now`, the most recently used first;
/// `current` is the asking browser's session (its id hash).
pub fn list(
    connection: &mut DbConnection,
    user_id: i64,
    current: &str,
    now: i64,
    limits: SessionLimits,
) -> Result<Vec<ListedSession>, DbError> {
    use super::schema::identities;
    type Row = (String, String, Option<String>, String, String, i64, i64);
    let rows: Vec<Row> = sessions::table
        .inner_join(identities::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::last_seen_at.ge(now - limits.idle_timeout_secs))
        .filter(sessions::created_at.ge(now - limits.max_age_secs))
        .order(sessions::last_seen_at.desc())
        .select((
            sessions::id_hash,
            sessions::handle,
            sessions::browser,
            identities::provider,
            identities::display_name,
            sessions::created_at,
            sessions::last_seen_at,
        ))
        .load(connection)?;
    Ok(rows
        .into_iter()
        .map(
            |(id_hash, handle, browser, provider, account, created_at, last_seen_at)| {
                ListedSession {
                    this_one: crate::crypto::constant_time_eq(&id_hash, current),
                    handle,
                    browser,
                    provider,
                    account,
                    created_at,
                    last_seen_at,
                }
            },
        )
        .collect())
}

/// Ends the user's session named `handle` (from `/account/sessions`), as
/// `end` does: every copy of its cookie stops working, on every instance,
/// and with the user's last session their tokens go. `None` when the user
/// has no session by that name (another user's handle included).
pub fn end_by_handle(
    connection: &mut DbConnection,
    user_id: i64,
    handle: &str,
) -> Result<Option<Ended>, DbError> {
    let id_hash: Option<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::handle.eq(handle))
        .select(sessions::id_hash)
        .first(connection)
        .optional()?;
    id_hash
        .map(|id_hash| end(connection, &id_hash, user_id))
        .transpose()
}

/// The session with this id hash, if it exists (live or not: see
/// [`StoredSession::is_live`]). One primary-key read: the price of knowing a
/// session on the server, paid once per signed-in request.
pub fn find(
    connection: &mut DbConnection,
    id_hash: &str,
) -> Result<Option<StoredSession>, DbError> {
    Ok(sessions::table
        .find(id_hash)
        .select(StoredSession::as_select())
        // Unique key: `get_result`, not `first` (docs/PERFORMANCE.md).
        .get_result(connection)
        .optional()?)
}

/// Notes that the session was used at `now` (for the idle timeout).
pub fn touch(connection: &mut DbConnection, id_hash: &str, now: i64) -> Result<(), DbError> {
    diesel::update(sessions::table.find(id_hash))
        .set(sessions::last_seen_at.eq(now))
        .execute(connection)?;
    Ok(())
}

/// Deletes one session row, nothing else (a sign-in in the same browser
/// replaces it; `end` is for signing out).
pub fn delete(connection: &mut DbConnection, id_hash: &str) -> Result<(), DbError> {
    diesel::delete(sessions::table.find(id_hash)).execute(connection)?;
    Ok(())
}

/// What ending sessions left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Sessions deleted.
    pub sessions: usize,
    /// Whether the user's stored provider tokens were deleted too: they are
    /// kept only while some session of the user can use them.
    pub tokens_deleted: bool,
}

/// Ends one session ("Sign out"). When it was the user's last one, their
/// stored provider tokens go with it (nothing can use them any more); other
/// browsers still signed in keep theirs working.
pub fn end(connection: &mut DbConnection, id_hash: &str, user_id: i64) -> Result<Ended, DbError> {
    connection.transaction(|connection| {
        // Two last sessions ending at once must not each count the other
        // as still there and both keep the tokens.
        super::accounts::lock_user(connection, user_id)?;
        let sessions = diesel::delete(sessions::table.find(id_hash)).execute(connection)?;
        let remaining: i64 = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .count()
            .get_result(connection)?;
        let tokens_deleted = remaining == 0 && delete_tokens_of_user(connection, user_id)? > 0;
        Ok(Ended {
            sessions,
            tokens_deleted,
        })
    })
}

/// Ends every session of the user ("Sign out everywhere") and deletes their
/// stored provider tokens.
pub fn end_all(connection: &mut DbConnection, user_id: i64) -> Result<Ended, DbError> {
    connection.transaction(|connection| {
        let sessions = diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)))
            .execute(connection)?;
        let tokens_deleted = delete_tokens_of_user(connection, user_id)? > 0;
        Ok(Ended {
            sessions,
            tokens_deleted,
        })
    })
}

/// Tokens that no session can use any more, taken by [`sweep`] for the
/// caller to revoke at the provider.
#[derive(Debug)]
pub struct Orphaned {
    pub identity_id: i64,
    /// The identity's provider id.
    pub provider: String,
    /// `None` when they no longer open (sealed under a key since removed):
    /// deleted all the same, with nothing to revoke.
    pub tokens: Option<ProviderTokens>,
}

/// What a sweep did.
#[derive(Debug)]
pub struct Swept {
    /// Sessions past either limit, deleted.
    pub sessions: usize,
    /// Tokens deleted because no session of their person is left.
    pub orphaned: Vec<Orphaned>,
}

/// Ends every session past either limit at `now`, then deletes (and
/// returns, at most `batch` of them) the tokens of people who have no
/// session left, whatever ended their last one: a sign-out, the idle
/// timeout, the maximum age, another sign-in in the same browser. One
/// transaction: a sign-in that stores tokens and its session at once
/// (`sign_ins::complete`) is either seen whole or not at all.
pub fn sweep(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    now: i64,
    limits: SessionLimits,
    batch: i64,
) -> Result<Swept, DbError> {
    use super::schema::identities;
    use diesel::dsl::{exists, not};
    super::write_transaction(connection, |connection| {
        let sessions = delete_unclaimed!(
            connection,
            sessions::table,
            sessions::id_hash => String,
            sessions::last_seen_at
                .lt(now - limits.idle_timeout_secs)
                .or(sessions::created_at.lt(now - limits.max_age_secs))
        )?;
        let unused: Vec<(i64, i64, String)> = provider_tokens::table
            .inner_join(identities::table)
            .filter(not(exists(
                sessions::table.filter(sessions::user_id.eq(identities::user_id)),
            )))
            .select((identities::id, identities::user_id, identities::provider))
            .limit(batch)
            .load(connection)?;
        let mut orphaned = Vec::with_capacity(unused.len());
        for (identity_id, user_id, provider) in unused {
            // A sign-in of this person may be committing its session and
            // tokens right now: wait for it (it holds a key lock on the
            // user), then look again, so its new tokens are never taken.
            super::accounts::lock_user(connection, user_id)?;
            let in_use: bool = diesel::select(exists(
                sessions::table.filter(sessions::user_id.eq(user_id)),
            ))
            .get_result(connection)?;
            if in_use {
                continue;
            }
            let tokens = match tokens::load(connection, sealer, identity_id) {
                Ok(stored) => stored.map(|stored| stored.tokens),
                Err(DbError::Unseal) => None,
                Err(error) => return Err(error),
            };
            tokens::delete(connection, identity_id)?;
            orphaned.push(Orphaned {
                identity_id,
                provider,
                tokens,
            });
        }
        Ok(Swept { sessions, orphaned })
    })
}

fn delete_tokens_of_user(connection: &mut DbConnection, user_id: i64) -> Result<usize, DbError> {
    use super::schema::identities;
    let identity_ids = identities::table
        .filter(identities::user_id.eq(user_id))
        .select(identities::id);
    Ok(diesel::delete(
        provider_tokens::table.filter(provider_tokens::identity_id.eq_any(identity_ids)),
    )
    .execute(connection)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::accounts;
    use crate::db::test_support::{self, connection, sealer};
    use crate::db::tokens::{self, ProviderTokens};
    use secrecy::SecretString;

    const LIMITS: SessionLimits = SessionLimits {
        idle_timeout_secs: 1800,
        max_age_secs: 28_800,
    };

    fn signed_in(connection: &mut DbConnection) -> accounts::AccountIds {
        let ids = accounts::record_sign_in(connection, &test_support::demo_sign_in("sub-alice"))
            .expect("sign in");
        let tokens = ProviderTokens {
            access_token: SecretString::from("access"),
            refresh_token: None,
            id_token: None,
            access_token_expires_at: None,
            scopes: vec![],
        };
        tokens::store(connection, &sealer(), ids.identity_id, &tokens).expect("tokens");
        ids
    }

    fn token_rows(connection: &mut DbConnection) -> i64 {
        provider_tokens::table
            .count()
            .get_result(connection)
            .expect("count")
    }

    #[test]
    fn a_session_is_live_within_both_limits_only() {
        let session = StoredSession {
            user_id: 1,
            identity_id: 1,
            created_at: 1_000,
            last_seen_at: 1_000,
        };
        assert!(session.is_live(1_000 + 1800, LIMITS));
        assert!(!session.is_live(1_000 + 1801, LIMITS), "idle too long");
        let active = StoredSession {
            last_seen_at: 1_000 + 28_801,
            ..session
        };
        assert!(
            !active.is_live(1_000 + 28_801, LIMITS),
            "too old, though active"
        );
    }

    #[test]
    fn last_seen_is_written_again_only_after_a_minute() {
        let session = StoredSession {
            user_id: 1,
            identity_id: 1,
            created_at: 1_700_000_000,
            last_seen_at: 1_700_000_000,
        };
        assert!(!session.needs_touch(1_700_000_000 + 59));
        assert!(session.needs_touch(1_700_000_000 + 60));
    }

    #[test]
    fn a_new_session_sweeps_anyones_idle_sessions_to_the_second() {
        // Another person's sessions: the per-user bound does not apply, only
        // the idle sweep.
        let mut connection = connection();
        let ids = signed_in(&mut connection);
        let now = 1_700_000_000;
        let idle = LIMITS.idle_timeout_secs;
        for (name, last_seen) in [("idle", now - idle - 1), ("recent", now - idle)] {
            create(
                &mut connection,
                name,
                (ids.user_id, ids.identity_id),
                None,
                last_seen,
                LIMITS,
            )
            .expect("create");
        }
        let other = accounts::record_sign_in(&mut connection, &test_support::demo_sign_in("bob"))
            .expect("bob");
        create(
            &mut connection,
            "bob",
            (other.user_id, other.identity_id),
            None,
            now,
            LIMITS,
        )
        .expect("create");
        assert!(
            find(&mut connection, "idle").expect("find").is_none(),
            "swept"
        );
        assert!(
            find(&mut connection, "recent").expect("find").is_some(),
            "kept"
        );
    }

    #[test]
    fn ending_the_last_session_deletes_the_tokens_but_not_before() {
        let mut connection = connection();
        let ids = signed_in(&mut connection);
        create(
            &mut connection,
            "laptop",
            (ids.user_id, ids.identity_id),
            None,
            10,
            LIMITS,
        )
        .expect("one");
        create(
            &mut connection,
            "phone",
            (ids.user_id, ids.identity_id),
            None,
            10,
            LIMITS,
        )
        .expect("two");

        let first = end(&mut connection, "laptop", ids.user_id).expect("end laptop");
        assert_eq!(
            first,
            Ended {
                sessions: 1,
                tokens_deleted: false
            }
        );
        assert_eq!(token_rows(&mut connection), 1, "the phone still needs them");
        assert!(find(&mut connection, "laptop").expect("find").is_none());

        let last = end(&mut connection, "phone", ids.user_id).expect("end phone");
        assert_eq!(
            last,
            Ended {
                sessions: 1,
                tokens_deleted: true
            }
        );
        assert_eq!(token_rows(&mut connection), 0);
    }

    #[test]
    fn a_sweep_takes_the_tokens_once_the_last_session_is_past_a_limit() {
        let mut connection = connection();
        let ids = signed_in(&mut connection);
        // Idle since 10, begun at 10: live until 1810 (idle), 28 810 (age).
        create(
            &mut connection,
            "laptop",
            (ids.user_id, ids.identity_id),
            None,
            10,
            LIMITS,
        )
        .expect("laptop");
        let swept = sweep(&mut connection, &sealer(), 1_810, LIMITS, 100).expect("sweep");
        assert_eq!((swept.sessions, swept.orphaned.len()), (0, 0), "still live");
        assert_eq!(token_rows(&mut connection), 1);

        let swept = sweep(&mut connection, &sealer(), 1_811, LIMITS, 100).expect("sweep");
        assert_eq!(swept.sessions, 1, "idle past SESSION_IDLE_TIMEOUT");
        assert_eq!(swept.orphaned.len(), 1);
        assert_eq!(swept.orphaned[0].identity_id, ids.identity_id);
        assert_eq!(swept.orphaned[0].provider, "demo");
        assert!(swept.orphaned[0].tokens.is_some(), "handed over to revoke");
        assert_eq!(token_rows(&mut connection), 0);
        let again = sweep(&mut connection, &sealer(), 1_811, LIMITS, 100).expect("sweep");
        assert_eq!((again.sessions, again.orphaned.len()), (0, 0), "taken once");
    }

    #[test]
    fn a_session_past_its_maximum_age_is_swept_however_active() {
        let mut connection = connection();
        let ids = signed_in(&mut connection);
        create(
            &mut connection,
            "laptop",
            (ids.user_id, ids.identity_id),
            None,
            10,
            LIMITS,
        )
        .expect("laptop");
        touch(&mut connection, "laptop", 28_810).expect("active");
        let swept = sweep(&mut connection, &sealer(), 28_810, LIMITS, 100).expect("sweep");
        assert_eq!(swept.sessions, 0, "at its maximum age, to the second");
        let swept = sweep(&mut connection, &sealer(), 28_811, LIMITS, 100).expect("sweep");
        assert_eq!((swept.sessions, swept.orphaned.len()), (1, 1));
    }

    #[test]
    fn ending_all_sessions_leaves_none_and_no_tokens() {
        let mut connection = connection();
        let ids = signed_in(&mut connection);
        for id in ["a", "b", "c"] {
            create(
                &mut connection,
                id,
                (ids.user_id, ids.identity_id),
                None,
                10,
                LIMITS,
            )
            .expect("create");
        }
        let ended = end_all(&mut connection, ids.user_id).expect("end all");
        assert_eq!(
            ended,
            Ended {
                sessions: 3,
                tokens_deleted: true
            }
        );
        assert!(find(&mut connection, "b").expect("find").is_none());
        // Nothing left to delete: neither ending says it deleted tokens (the
        // sign-out page reports what `tokens_deleted` says).
        create(
            &mut connection,
            "d",
            (ids.user_id, ids.identity_id),
            None,
            10,
            LIMITS,
        )
        .expect("create");
        let again = end(&mut connection, "d", ids.user_id).expect("end");
        assert_eq!(
            again,
            Ended {
                sessions: 1,
                tokens_deleted: false
            }
        );
        let none = end_all(&mut connection, ids.user_id).expect("end all");
        assert_eq!(
            none,
            Ended {
                sessions: 0,
                tokens_deleted: false
            }
        );
    }

    #[test]
    fn a_new_session_sweeps_expired_ones_and_keeps_a_bounded_number_per_user() {
        let mut connection = connection();
        let ids = signed_in(&mut connection);
        create(
            &mut connection,
            "old",
            (ids.user_id, ids.identity_id),
            None,
            0,
            LIMITS,
        )
        .expect("old");
        let now = 100_000;
        for n in 0..MAX_SESSIONS_PER_USER + 3 {
            let at = now + i64::try_from(n).expect("small");
            create(
                &mut connection,
                &format!("s{n}"),
                (ids.user_id, ids.identity_id),
                None,
                at,
                LIMITS,
            )
            .expect("create");
        }
        assert!(
            find(&mut connection, "old").expect("find").is_none(),
            "expired, swept"
        );
        let count: i64 = sessions::table
            .count()
            .get_result(&mut connection)
            .expect("count");
        assert_eq!(count, i64::try_from(MAX_SESSIONS_PER_USER).expect("small"));
        assert!(
            find(&mut connection, "s0").expect("find").is_none(),
            "least recent ended"
        );
        let newest = format!("s{}", MAX_SESSIONS_PER_USER + 2);
        assert!(find(&mut connection, &newest).expect("find").is_some());
    }
}
