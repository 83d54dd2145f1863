//! Sign-in attempts as an observer records them (`observe`; `/flow` shows
//! them): one row per attempt, its outcome and the observer's record as text
//! the core does not read. No rows at all when nobody observes. Bounded: at most 10 per browser and 10 per user, 7 days old, and
//! [`ATTEMPTS_TOTAL`] in all (a new attempt drops the oldest: anyone can start
//! one, so a flood must not grow the table); deleted with the user.

use diesel::prelude::*;

use super::schema::sign_in_attempts::dsl;
use super::{DbConnection, DbError, delete_unclaimed, unix_now};

/// Attempts older than this are deleted.
pub const ATTEMPT_TTL_SECS: i64 = 7 * 24 * 60 * 60;
/// Attempts kept per browser, and per user.
pub const ATTEMPTS_PER_BROWSER: i64 = 10;
/// Attempts kept in all, whoever started them (a few KiB of JSON each).
pub const ATTEMPTS_TOTAL: i64 = 10_000;

pub const IN_PROGRESS: &str = "in progress";
pub const SIGNED_IN: &str = "signed in";
pub const FAILED: &str = "failed";
/// A request for the mail permission (incremental consent) that got it.
pub const MAIL_ALLOWED: &str = "mail allowed";
/// A request for the mail permission that came back without it: the
/// person declined, or unticked it (Google's granular consent).
pub const MAIL_NOT_ALLOWED: &str = "mail not allowed";
/// An account at a provider was linked to the signed-in user (or found
/// linked to them already).
pub const LINKED: &str = "linked";
/// The signed-in person signed in again with the same account before what
/// cannot be undone (a fresh sign-in, REAUTH_MAX_AGE).
pub const SIGNED_IN_AGAIN: &str = "signed in again";

/// A stored attempt.
#[derive(Debug, Clone, Queryable)]
pub struct Attempt {
    pub id: i64,
    pub provider: String,
    pub started_at: i64,
    pub outcome: String,
    /// The observer's record (`observe::AttemptLog::to_text`).
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
    insert_bounded(
        connection,
        state_hash,
        browser_hash,
        provider,
        steps_json,
        ATTEMPTS_TOTAL,
    )
}

fn insert_bounded(
    connection: &mut DbConnection,
    state_hash: &str,
    browser_hash: &str,
    provider: &str,
    steps_json: &str,
    total: i64,
) -> Result<(), DbError> {
    let now = unix_now();
    delete_unclaimed!(
        connection,
        dsl::sign_in_attempts,
        dsl::id => i64,
        dsl::started_at.lt(now - ATTEMPT_TTL_SECS)
    )?;
    // Keep the browser's newest attempts (the new one makes the tenth). See
    // `oldest_to_drop` for why this is two statements.
    let ids: Vec<i64> = dsl::sign_in_attempts
        .filter(dsl::browser_hash.eq(browser_hash))
        .order(dsl::id.desc())
        .select(dsl::id)
        .load(connection)?;
    if let Some(cutoff) = oldest_to_drop(&ids, ATTEMPTS_PER_BROWSER - 1) {
        delete_unclaimed!(
            connection,
            dsl::sign_in_attempts,
            dsl::id => i64,
            dsl::browser_hash.eq(browser_hash).and(dsl::id.le(cutoff))
        )?;
    }
    let id: i64 = diesel::insert_into(dsl::sign_in_attempts)
        .values((
            dsl::state_hash.eq(state_hash),
            dsl::browser_hash.eq(browser_hash),
            dsl::provider.eq(provider),
            dsl::started_at.eq(now),
            dsl::outcome.eq(IN_PROGRESS),
            dsl::steps.eq(steps_json),
        ))
        .returning(dsl::id)
        .get_result(connection)?;
    // The global bound, in one range delete on the primary key: the new row
    // has the largest id, so at most `total` ids lie in (id - total, id].
    delete_unclaimed!(
        connection,
        dsl::sign_in_attempts,
        dsl::id => i64,
        dsl::id.le(id - total)
    )?;
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

/// Stores the finished attempt: its record, outcome, and (when signed in)
/// user. Nothing when there is no record (nobody observes: `observe::Nobody`).
pub fn finish(
    connection: &mut DbConnection,
    state_hash: &str,
    journal: Option<&str>,
    outcome: &str,
    user_id: Option<i64>,
) -> Result<(), DbError> {
    let Some(steps_json) = journal else {
        return Ok(());
    };
    diesel::update(dsl::sign_in_attempts.filter(dsl::state_hash.eq(state_hash)))
        .set((
            dsl::steps.eq(steps_json),
            dsl::outcome.eq(outcome),
            dsl::user_id.eq(user_id),
        ))
        .execute(connection)?;
    // A person may sign in from many browsers: bound their attempts too.
    if let Some(user_id) = user_id {
        let ids: Vec<i64> = dsl::sign_in_attempts
            .filter(dsl::user_id.eq(user_id))
            .order(dsl::id.desc())
            .select(dsl::id)
            .load(connection)?;
        if let Some(cutoff) = oldest_to_drop(&ids, ATTEMPTS_PER_BROWSER) {
            delete_unclaimed!(
                connection,
                dsl::sign_in_attempts,
                dsl::id => i64,
                dsl::user_id.eq(user_id).and(dsl::id.le(cutoff))
            )?;
        }
    }
    Ok(())
}

/// Given ids newest first, the newest id that falls beyond the `keep` newest
/// (it and every older one are to be deleted), if any.
///
/// Why read the ids and then delete, rather than one `DELETE … WHERE id NOT
/// IN (SELECT … LIMIT ?)`: SQLite prepares a statement again every time its
/// `LIMIT` is bound (docs/PERFORMANCE.md), while these two statements never
/// change and stay prepared. Ids grow with each insert, so id order is the
/// order attempts were started in; and the read is small, because every
/// insert prunes (at most `keep + 1` ids).
fn oldest_to_drop(ids_newest_first: &[i64], keep: i64) -> Option<i64> {
    ids_newest_first
        .get(usize::try_from(keep).unwrap_or(0))
        .copied()
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
/// Changes the user's latest attempt's record with `change` (which gets the
/// stored JSON and returns the new one, or `None` to leave it), in one
/// transaction. For what is recorded after the callback: step 7, refreshes,
/// sign-outs. Returns the id of that attempt, changed or not (`None` when
/// the user has none).
pub fn amend_latest_for_user(
    connection: &mut DbConnection,
    user_id: i64,
    change: impl FnOnce(&str) -> Option<String>,
) -> Result<Option<i64>, DbError> {
    connection.transaction(|connection| {
        let Some(attempt) = latest_for_user(connection, user_id)? else {
            return Ok(None);
        };
        if let Some(json) = change(&attempt.steps) {
            update_steps(connection, attempt.id, &json)?;
        }
        Ok(Some(attempt.id))
    })
}

/// The record (JSON) of attempt `id`, if it still exists.
pub fn steps_by_id(connection: &mut DbConnection, id: i64) -> Result<Option<String>, DbError> {
    Ok(dsl::sign_in_attempts
        .find(id)
        .select(dsl::steps)
        .get_result(connection)
        .optional()?)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::accounts;
    use crate::db::test_support::connection;

    fn states_of_browser(connection: &mut DbConnection, browser_hash: &str) -> Vec<String> {
        dsl::sign_in_attempts
            .filter(dsl::browser_hash.eq(browser_hash))
            .order(dsl::id.asc())
            .select(dsl::state_hash)
            .load(connection)
            .expect("query")
    }

    #[test]
    fn each_browser_keeps_its_newest_attempts() {
        let mut connection = connection();
        for n in 0..ATTEMPTS_PER_BROWSER + 3 {
            insert(&mut connection, &format!("s{n}"), "b1", "demo", "{}").expect("insert");
        }
        insert(&mut connection, "other", "b2", "demo", "{}").expect("insert");
        let kept = states_of_browser(&mut connection, "b1");
        let expected: Vec<String> = (3..ATTEMPTS_PER_BROWSER + 3)
            .map(|n| format!("s{n}"))
            .collect();
        assert_eq!(kept, expected, "the ten newest, oldest dropped first");
        assert_eq!(states_of_browser(&mut connection, "b2"), ["other"]);
    }

    #[test]
    fn the_total_is_bounded_by_dropping_the_oldest() {
        let mut connection = connection();
        for n in 0..7 {
            let (state, browser) = (format!("s{n}"), format!("b{n}"));
            insert_bounded(&mut connection, &state, &browser, "demo", "{}", 3).expect("insert");
        }
        let kept: Vec<String> = dsl::sign_in_attempts
            .order(dsl::id.asc())
            .select(dsl::state_hash)
            .load(&mut connection)
            .expect("query");
        assert_eq!(kept, ["s4", "s5", "s6"]);
    }

    #[test]
    fn each_user_keeps_their_newest_attempts_across_browsers() {
        let mut connection = connection();
        let ids = accounts::record_sign_in(
            &mut connection,
            &crate::db::test_support::demo_sign_in("alice"),
        )
        .expect("user");
        // One attempt per browser, so only the per-user bound applies.
        for n in 0..ATTEMPTS_PER_BROWSER + 2 {
            let state = format!("s{n}");
            insert(&mut connection, &state, &format!("b{n}"), "demo", "{}").expect("insert");
            finish(
                &mut connection,
                &state,
                Some("{}"),
                SIGNED_IN,
                Some(ids.user_id),
            )
            .expect("finish");
        }
        let kept: Vec<String> = dsl::sign_in_attempts
            .filter(dsl::user_id.eq(ids.user_id))
            .order(dsl::id.asc())
            .select(dsl::state_hash)
            .load(&mut connection)
            .expect("query");
        let expected: Vec<String> = (2..ATTEMPTS_PER_BROWSER + 2)
            .map(|n| format!("s{n}"))
            .collect();
        assert_eq!(kept, expected);
        let latest = latest_for_user(&mut connection, ids.user_id)
            .expect("query")
            .expect("an attempt");
        assert_eq!(latest.outcome, SIGNED_IN);
    }
}
