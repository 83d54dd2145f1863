//! The sweep that ends sessions and tokens on time without anyone coming
//! back: every half minute it deletes the sessions past either limit
//! (SESSION_IDLE_TIMEOUT, SESSION_MAX_AGE), then the provider tokens of
//! people who have no session left, whatever ended their last one, and
//! revokes those at the provider where it allows (RFC 7009). So a refresh
//! token lives no longer than the sessions that need it, plus a minute.
//!
//! Every instance sweeps; the database decides who takes which row
//! (`db::sessions::sweep`), so a token is revoked by one of them. It must
//! not decide whether a session is live (that is `db::sessions`), nor
//! answer any request.

use std::time::Duration;

use crate::app::AppState;
use crate::db::sessions::{self, SessionLimits};
use crate::db::{DbError, unix_now};

/// Tokens taken and revoked per transaction.
const BATCH: usize = 100;

/// How often: every 30 s, or twice per session limit when one is shorter.
pub fn period(limits: SessionLimits) -> Duration {
    let shortest = limits.idle_timeout_secs.min(limits.max_age_secs);
    Duration::from_secs(u64::try_from(shortest / 2).unwrap_or(1).clamp(1, 30))
}

/// Sweeps every [`period`] for as long as the app runs. A failed sweep
/// (the database away) is logged and tried again at the next tick.
pub async fn run(state: actix_web::web::Data<AppState>) {
    let mut ticks = tokio::time::interval(period(state.flow.session_limits));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = sweep(&state).await {
            tracing::warn!("the session sweep failed; it runs again shortly: {error}");
        }
    }
}

/// One sweep: sessions past their limits, then every token no session
/// needs, a batch per transaction, each revoked after it is deleted here.
pub async fn sweep(state: &AppState) -> Result<(), DbError> {
    let limits = state.flow.session_limits;
    loop {
        let swept = state
            .db()
            .write(move |connection, sealer| {
                sessions::sweep(connection, sealer, unix_now(), limits, BATCH as i64)
            })
            .await?;
        for orphaned in &swept.orphaned {
            // A provider no longer configured, or tokens that no longer open
            // (an old TOKEN_KEY): deleted, with nothing to revoke.
            if let (Some(provider), Some(tokens)) =
                (state.providers.get(&orphaned.provider), &orphaned.tokens)
            {
                state
                    .tokens()
                    .revoke_unused(provider, orphaned.identity_id, tokens)
                    .await;
            }
        }
        if swept.orphaned.len() < BATCH {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_runs_every_half_minute_or_twice_per_shorter_limit() {
        let period = |idle_timeout_secs, max_age_secs| {
            period(SessionLimits {
                idle_timeout_secs,
                max_age_secs,
            })
            .as_secs()
        };
        assert_eq!(period(1800, 28_800), 30);
        assert_eq!(period(2, 28_800), 1);
        assert_eq!(period(1800, 2), 1);
        assert_eq!(period(1, 1), 1, "never more often than every second");
        assert_eq!(period(40, 28_800), 20);
    }
}
