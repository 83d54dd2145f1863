//! Finishing a TOKEN_KEY rotation (docs/DEPLOYMENT.md, "Keys"): when
//! TOKEN_KEY_PREVIOUS is set, every stored token still sealed under it is
//! sealed again under TOKEN_KEY at start-up, in batches, and the log says
//! when none is left, so removing TOKEN_KEY_PREVIOUS afterwards signs
//! nobody out. Without it, a token that is never stored again (Google sends
//! its refresh token once) would stay under the old key for good.
//!
//! Every instance started with both keys runs it; a row that another
//! instance or a refresh wrote meanwhile is left to them (`db::tokens::
//! reseal_batch`). It must not seal anything under the previous key, nor
//! hold a write lock for more than one batch.

use crate::app::AppState;
use crate::db::{DbError, tokens};

/// Rows per transaction: short enough never to hold SQLite's writer long.
const BATCH: i64 = 200;

/// Runs once at start-up when a rotation is under way; logs the outcome.
pub async fn run(state: actix_web::web::Data<AppState>) {
    if !state.db().is_rotating_keys() {
        return;
    }
    match reseal_all(&state).await {
        Ok(values) => tracing::info!(
            values,
            "TOKEN_KEY rotation: every stored token is sealed under TOKEN_KEY; TOKEN_KEY_PREVIOUS may be removed"
        ),
        Err(error) => tracing::warn!(
            "TOKEN_KEY rotation did not finish (keep TOKEN_KEY_PREVIOUS; it runs again at the next start): {error}"
        ),
    }
}

/// Seals again, batch by batch, every token value still under the previous
/// key; returns how many were moved.
pub async fn reseal_all(state: &AppState) -> Result<usize, DbError> {
    let (mut after, mut values) = (0, 0);
    loop {
        let batch = state
            .db()
            .write(move |connection, sealer| tokens::reseal_batch(connection, sealer, after, BATCH))
            .await?;
        values += batch.values;
        match batch.last {
            Some(last) if batch.rows == usize::try_from(BATCH).unwrap_or(usize::MAX) => {
                after = last;
            }
            _ => return Ok(values),
        }
    }
}
