//! Sign-in attempts as `/flow` shows them: one row per attempt, its steps as
//! JSON. Bounded: at most 10 per browser and 10 per user, 7 days old; deleted
//! with the user.

use diesel::prelude::*;

use super::schema::sign_in_attempts::{self, dsl};
use super::{DbConnection, DbError, unix_now};

/// Attempts older than this are deleted.
pub const ATTEMPT_TTL_SECS: i64 = 7 * 24 * 60 * 60;
/// Attempts kept per browser, and per user.
pub const ATTEMPTS_PER_BROWSER: i64 = 10;

pub const IN_PROGRESS: &str = "in progress";
pub const SIGNED_IN: &str = "signed in";
pub const FAILED: &str = "failed";

/// A stored attempt.
#[derive(Debug, Clone, Queryable)]
pub struct Attempt {
    pub id: i64,
    pub provider: String,
    pub started_at: i64,
    pub outcome: String,
    /// JSON of `teaching::record::FlowRecord`.
    pub steps: String,
}

/// Records a new attempt (at step 3), dropping old ones.
pub fn insert(
    connection: &mut DbConnection,
    state_hash: &str,
    browser_hash: &str,
    provider: &str,
    steps_json: &str,
) -> Result<(), DbError> {
    let now = unix_now();
    diesel::delete(dsl::sign_in_attempts.filter(dsl::started_at.lt(now - ATTEMPT_TTL_SECS)))
        .execute(connection)?;
    // Keep the browser's newest attempts, in one statement (as
    // `pending_sign_ins::insert` does).
    let newest = diesel::alias!(sign_in_attempts as newest);
    let kept = newest
        .filter(newest.field(dsl::browser_hash).eq(browser_hash))
        .order(newest.field(dsl::started_at).desc())
        .select(newest.field(dsl::id))
        .limit(ATTEMPTS_PER_BROWSER - 1);
    diesel::delete(
        dsl::sign_in_attempts
            .filter(dsl::browser_hash.eq(browser_hash))
            .filter(dsl::id.ne_all(kept)),
    )
    .execute(connection)?;
    diesel::insert_into(dsl::sign_in_attempts)
        .values((
            dsl::state_hash.eq(state_hash),
            dsl::browser_hash.eq(browser_hash),
            dsl::provider.eq(provider),
            dsl::started_at.eq(now),
            dsl::outcome.eq(IN_PROGRESS),
            dsl::steps.eq(steps_json),
        ))
        .execute(connection)?;
    Ok(())
}

/// The steps recorded so far for the attempt of `state_hash`.
pub fn steps_of(
    connection: &mut DbConnection,
    state_hash: &str,
) -> Result<Option<String>, DbError> {
    // `get_result`, not `first`: state_hash is unique, and `first` adds a
    // `LIMIT ?` that makes SQLite prepare the statement again on every call.
    Ok(dsl::sign_in_attempts
        .filter(dsl::state_hash.eq(state_hash))
        .select(dsl::steps)
        .get_result(connection)
        .optional()?)
}

/// Stores the finished attempt: its steps, outcome, and (when signed in) user.
pub fn finish(
    connection: &mut DbConnection,
    state_hash: &str,
    steps_json: &str,
    outcome: &str,
    user_id: Option<i64>,
) -> Result<(), DbError> {
    diesel::update(dsl::sign_in_attempts.filter(dsl::state_hash.eq(state_hash)))
        .set((
            dsl::steps.eq(steps_json),
            dsl::outcome.eq(outcome),
            dsl::user_id.eq(user_id),
        ))
        .execute(connection)?;
    // A person may sign in from many browsers: bound their attempts too.
    if let Some(user_id) = user_id {
        let newest = diesel::alias!(sign_in_attempts as newest);
        let kept = newest
            .filter(newest.field(dsl::user_id).eq(user_id))
            .order(newest.field(dsl::started_at).desc())
            .select(newest.field(dsl::id))
            .limit(ATTEMPTS_PER_BROWSER);
        diesel::delete(
            dsl::sign_in_attempts
                .filter(dsl::user_id.eq(user_id))
                .filter(dsl::id.ne_all(kept)),
        )
        .execute(connection)?;
    }
    Ok(())
}

/// Replaces the steps of attempt `id` (to add step 7 after sign-in).
pub fn update_steps(
    connection: &mut DbConnection,
    id: i64,
    steps_json: &str,
) -> Result<(), DbError> {
    diesel::update(dsl::sign_in_attempts.find(id))
        .set(dsl::steps.eq(steps_json))
        .execute(connection)?;
    Ok(())
}

const COLUMNS: (
    dsl::id,
    dsl::provider,
    dsl::started_at,
    dsl::outcome,
    dsl::steps,
) = (
    dsl::id,
    dsl::provider,
    dsl::started_at,
    dsl::outcome,
    dsl::steps,
);

/// The newest attempt of a signed-in user.
pub fn latest_for_user(
    connection: &mut DbConnection,
    user_id: i64,
) -> Result<Option<Attempt>, DbError> {
    Ok(dsl::sign_in_attempts
        .filter(dsl::user_id.eq(user_id))
        .order((dsl::started_at.desc(), dsl::id.desc()))
        .select(COLUMNS)
        .first(connection)
        .optional()?)
}

/// The newest attempt started in a browser (by the hash of its browser key).
pub fn latest_for_browser(
    connection: &mut DbConnection,
    browser_hash: &str,
) -> Result<Option<Attempt>, DbError> {
    Ok(dsl::sign_in_attempts
        .filter(dsl::browser_hash.eq(browser_hash))
        .order((dsl::started_at.desc(), dsl::id.desc()))
        .select(COLUMNS)
        .first(connection)
        .optional()?)
}
