//! What a sign-in attempt records at each step, for `/flow`.
//!
//! Secrets never enter a record: an authorization code, token, PKCE verifier,
//! state or nonce is written as [`fingerprint`] (a short prefix and a hash, so
//! a learner can match the same value across steps without being able to use
//! it), and a client secret only as [`HIDDEN`].

use serde::{Deserialize, Serialize};

use crate::crypto::sha256_url_safe;

/// How a client secret appears in a record.
pub const HIDDEN: &str = "(hidden)";

/// A secret as it may be shown: its first 4 characters and 8 characters of
/// its SHA-256. Short values show no prefix at all.
pub fn fingerprint(secret: &str) -> String {
    let hash: String = sha256_url_safe(secret).chars().take(8).collect();
    if secret.chars().count() >= 16 {
        let prefix: String = secret.chars().take(4).collect();
        format!("{prefix}… (sha256 {hash})")
    } else {
        format!("(hidden, sha256 {hash})")
    }
}

/// Everything recorded about one attempt.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FlowRecord {
    pub steps: Vec<StepRecord>,
    /// Set when the attempt failed: at which step and why.
    pub failure: Option<FailureRecord>,
    /// What happened to the sign-in afterwards (refreshes), oldest first, at
    /// most [`MAX_EVENTS`].
    #[serde(default)]
    pub after_sign_in: Vec<EventRecord>,
    /// What the attempt was for when it was not an ordinary sign-in ("the
    /// mail permission, asked after sign-in"): `/flow` shows it as its title.
    #[serde(default)]
    pub purpose: Option<String>,
}

/// Events kept after a sign-in; older ones are dropped.
pub const MAX_EVENTS: usize = 10;

/// Something that happened to a sign-in after its seven steps, recorded like
/// a step (what was sent and received, secrets as fingerprints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord {
    /// "Refresh", for example.
    pub name: String,
    pub record: StepRecord,
}

/// What happened at one step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1 to 7, as in `teaching::steps::STEPS`.
    pub number: u8,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
    pub duration_ms: Option<u64>,
    /// The URL called or visited, without its query.
    pub endpoint: Option<String>,
    /// Parameters sent, secrets as fingerprints.
    pub sent: Vec<(String, String)>,
    /// Parameters or fields received, secrets as fingerprints.
    pub received: Vec<(String, String)>,
    /// The HTTP status of the answer, when there was a request.
    pub status: Option<u16>,
    /// A sentence on what was checked or decided.
    pub note: Option<String>,
}

impl StepRecord {
    pub fn new(number: u8) -> Self {
        StepRecord {
            number,
            at_ms: chrono::Utc::now().timestamp_millis(),
            ..StepRecord::default()
        }
    }

    pub fn endpoint(mut self, url: &url::Url) -> Self {
        let mut url = url.clone();
        url.set_query(None);
        self.endpoint = Some(url.to_string());
        self
    }

    pub fn sent(mut self, name: &str, value: impl Into<String>) -> Self {
        self.sent.push((name.to_owned(), value.into()));
        self
    }

    pub fn received(mut self, name: &str, value: impl Into<String>) -> Self {
        self.received.push((name.to_owned(), value.into()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn took(mut self, started: std::time::Instant) -> Self {
        self.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        self
    }
}

impl FlowRecord {
    /// Adds step 7 if the record has none yet; whether it was added.
    pub fn add_first_api_call(&mut self, step: StepRecord) -> bool {
        if self.steps.iter().any(|recorded| recorded.number == 7) {
            return false;
        }
        self.steps.push(step);
        true
    }

    /// Adds an event after the sign-in, keeping the newest [`MAX_EVENTS`].
    pub fn add_event(&mut self, event: EventRecord) -> bool {
        self.after_sign_in.push(event);
        let excess = self.after_sign_in.len().saturating_sub(MAX_EVENTS);
        self.after_sign_in.drain(..excess);
        true
    }
}

impl FlowRecord {
    /// Adds `step` to the step of the same number if there is one (what it
    /// received after what was there, its note after the note), else as a
    /// step of its own: `/flow` shows one record per step.
    pub fn merge_step(&mut self, step: StepRecord) {
        match self
            .steps
            .iter_mut()
            .find(|recorded| recorded.number == step.number)
        {
            Some(recorded) => {
                recorded.received.extend(step.received);
                recorded.sent.extend(step.sent);
                recorded.note = match (recorded.note.take(), step.note) {
                    (Some(before), Some(after)) => Some(format!("{before} {after}")),
                    (before, after) => before.or(after),
                };
            }
            None => self.steps.push(step),
        }
    }
}

/// An event after the sign-in, as `partials/events.html` shows it (also on
/// `/signed-out`).
#[derive(Serialize)]
pub struct EventView {
    name: String,
    /// When it happened, Unix seconds.
    at: i64,
    record: StepRecord,
}

impl From<EventRecord> for EventView {
    fn from(event: EventRecord) -> Self {
        EventView {
            name: event.name,
            at: event.record.at_ms / 1000,
            record: event.record,
        }
    }
}

/// Where and why an attempt failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureRecord {
    pub step: u8,
    /// What the error page said.
    pub message: String,
    /// The provider's error in plain words, when known.
    pub cause: Option<String>,
    pub next_step: Option<String>,
    /// Which check refused the ID token, as the validating code worded it
    /// ("at_hash does not match the access token"): for learners on `/flow`,
    /// never on the error page. It holds claim names and values, not the token.
    #[serde(default)]
    pub check: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merged_step_adds_to_the_step_of_its_number() {
        let mut record = FlowRecord::default();
        record.merge_step(
            StepRecord::new(6)
                .received("scope", "openid")
                .note("First."),
        );
        record.merge_step(
            StepRecord::new(6)
                .received("granted", "Mail.Read")
                .note("Then."),
        );
        record.merge_step(StepRecord::new(7));
        assert_eq!(record.steps.len(), 2);
        assert_eq!(record.steps[0].received.len(), 2);
        assert_eq!(record.steps[0].note.as_deref(), Some("First. Then."));
    }

    #[test]
    fn fingerprints_never_contain_the_secret() {
        let code = "M.C507_BAY.2.U.8b2f5a0a-0b0a-4b6c-9c1e-7a0f1d2e3c4b";
        let shown = fingerprint(code);
        assert!(shown.starts_with("M.C5… (sha256 "));
        assert!(!shown.contains(&code[4..12]));
        assert_eq!(fingerprint(code), shown, "stable, so steps can be matched");
        let short = fingerprint("abc");
        assert!(!short.contains("abc") && short.starts_with("(hidden"));
    }
}
