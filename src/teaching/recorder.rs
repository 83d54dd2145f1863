//! `/flow`'s listener: turns what the core reports (`observe`) into the
//! records of `teaching::record`, stored by the core with each attempt.
//! Every secret goes through `fingerprint` or `HIDDEN` here, so no other code
//! handles a secret to record it.

use std::time::Instant;

use secrecy::ExposeSecret as _;
use url::Url;

use super::record::{EventRecord, FailureRecord, FlowRecord, HIDDEN, StepRecord, fingerprint};
use crate::db::pending_sign_ins::{Purpose, Then};
use crate::db::tokens::ProviderTokens;
use crate::oauth::SignInError;
use crate::oauth::callback::CallbackParams;
use crate::oauth::observe::{AttemptLog, Later, Note, Observer, Step};
use crate::oauth::refresh::RefreshError;
use crate::oauth::token::TokenTrace;
use crate::providers::Provider;

/// The observer that records every attempt for `/flow`.
#[derive(Debug, Default)]
pub struct Recorder;

impl Observer for Recorder {
    fn keeps_records(&self) -> bool {
        true
    }

    fn start(&self) -> Option<Box<dyn AttemptLog>> {
        Some(Box::new(FlowRecord::default()))
    }

    fn resume(&self, stored: Option<&str>) -> Option<Box<dyn AttemptLog>> {
        let record: FlowRecord = stored
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        Some(Box::new(record))
    }

    fn note(&self, event: Later<'_>) -> Option<Note> {
        let noted = match event {
            Later::Refresh {
                before,
                outcome,
                call,
            } => Noted::Event(refresh(before, outcome, call)),
            Later::Revocation {
                endpoint,
                token,
                hint,
                status,
                started,
            } => Noted::Event(revocation(endpoint, token, hint, status, started)),
            Later::GrantDeletion {
                endpoint,
                access_token,
                status,
                started,
            } => Noted::Event(grant_deletion(endpoint, access_token, status, started)),
            Later::EndSession { url } => Noted::Event(end_session(url)),
            Later::FirstApiCall {
                description,
                outcome,
                started,
            } => Noted::FirstApiCall(api_call(description, outcome, started)),
        };
        serde_json::to_string(&noted).ok().map(Note)
    }

    fn add_notes(&self, stored: &str, notes: Vec<Note>) -> Option<String> {
        let mut record: FlowRecord = serde_json::from_str(stored).ok()?;
        let mut changed = false;
        // A note that does not read back (written by another version) is
        // skipped; the others are still added.
        for noted in notes
            .iter()
            .filter_map(|note| serde_json::from_str(&note.0).ok())
        {
            changed |= match noted {
                Noted::Event(event) => record.add_event(event),
                Noted::FirstApiCall(step) => record.add_first_api_call(step),
            };
        }
        changed.then(|| serde_json::to_string(&record).ok())?
    }
}

/// A [`Later`] event as it is kept until it is added to the record.
#[derive(serde::Serialize, serde::Deserialize)]
enum Noted {
    Event(EventRecord),
    FirstApiCall(StepRecord),
}

impl AttemptLog for FlowRecord {
    fn record(&mut self, step: Step<'_>) {
        match step {
            Step::AuthorizationRequest {
                provider,
                return_to,
                url,
                purpose,
                started,
            } => {
                self.steps.push(registration(provider));
                self.steps.push(choice(provider, return_to));
                self.steps.push(authorization_request(url, started));
                self.purpose = purpose_of(purpose);
            }
            Step::Callback(params) => self.steps.push(callback(params)),
            Step::TokenRequest {
                provider,
                code,
                verifier,
                call,
            } => self
                .steps
                .push(token_request(provider, code, verifier, call)),
            Step::TokenResponse { tokens, call } => self.steps.push(token_response(tokens, call)),
            Step::SignInScopes { provider, granted } => {
                self.merge_step(sign_in_scopes(provider, granted));
            }
            Step::ScopesGranted { asked, missing } => {
                self.merge_step(scopes_granted(asked, missing));
            }
            Step::ApiCall {
                description,
                outcome,
                started,
            } => self.steps.push(api_call(description, outcome, started)),
            Step::Failed(error) => self.failure = Some(failure(self, error)),
        }
    }

    fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where and why the attempt failed: at the last step recorded, except for
/// what fails only at step 6 (the ID token, storing the sign-in).
fn failure(record: &FlowRecord, error: &SignInError) -> FailureRecord {
    let last_recorded = record.steps.last().map_or(4, |step| step.number);
    let explanation = error.explanation();
    FailureRecord {
        step: match error {
            SignInError::InvalidIdToken { .. } | SignInError::Storage(_) => 6,
            _ => last_recorded,
        },
        message: error.to_string(),
        cause: explanation.map(|explanation| explanation.cause.to_owned()),
        next_step: explanation.map(|explanation| explanation.next_step.to_owned()),
        check: match error {
            SignInError::InvalidIdToken { reason } => Some(reason.clone()),
            _ => None,
        },
    }
}

/// Query parameters of the authorization request whose values are secrets.
const SECRET_PARAMETERS: [&str; 2] = ["state", "nonce"];

/// Step 1: what registering the app gave us.
fn registration(provider: &Provider) -> StepRecord {
    StepRecord::new(1)
        .sent("client_id", provider.client_id.clone())
        .sent("client_secret", HIDDEN)
        .sent("redirect_uri", provider.redirect_uri.to_string())
        .note("Registered once, by a developer, in the provider's console; read from the configuration.")
}

/// Step 2: the visitor's choice.
fn choice(provider: &Provider, return_to: &str) -> StepRecord {
    StepRecord::new(2)
        .received("provider", provider.display_name.clone())
        .received("return_to", return_to)
        .note("You chose to sign in; the page you wanted is kept to come back to.")
}

/// Step 3: the authorization request, with its parameters.
fn authorization_request(url: &Url, started: Instant) -> StepRecord {
    let mut step = StepRecord::new(3).endpoint(url).took(started);
    for (name, value) in url.query_pairs() {
        let value = if SECRET_PARAMETERS.contains(&name.as_ref()) {
            fingerprint(&value)
        } else {
            value.into_owned()
        };
        step = step.sent(&name, value);
    }
    step.note("The browser was sent here with 303 See Other. The PKCE verifier behind code_challenge stays on our server, sealed.")
}

/// What an attempt is for, as `/flow` names it; `None` for a sign-in.
fn purpose_of(purpose: &Purpose) -> Option<String> {
    match purpose {
        Purpose::SignIn => None,
        Purpose::AddMail { .. } => Some(
            "Incremental consent: the mail permission, asked after sign-in for the account already signed in"
                .to_owned(),
        ),
        Purpose::Link { .. } => Some(
            "Linking an account: another account at a provider, attached to the person already signed in"
                .to_owned(),
        ),
        Purpose::AdminConsent => Some(
            "Admin consent: an administrator approving the app's permissions for their whole organisation"
                .to_owned(),
        ),
        Purpose::Reauthenticate { then, .. } => Some(format!(
            "A fresh sign-in with the account already signed in, before {}, which cannot be undone (REAUTH_MAX_AGE)",
            match then {
                Then::Link { .. } => "linking another account",
                Then::Unlink { .. } => "unlinking an account",
                Then::DeleteAccount => "deleting the account",
            }
        )),
    }
}

/// Step 6, after the token response of a request for more scopes: which of
/// the scopes asked for were granted (RFC 6749 §5.1: the response's `scope`
/// says so when it differs from the request).
fn scopes_granted(asked: &[String], missing: &[String]) -> StepRecord {
    let granted: Vec<&str> = asked
        .iter()
        .filter(|scope| !missing.contains(scope))
        .map(String::as_str)
        .collect();
    StepRecord::new(6)
        .received("asked for", asked.join(" "))
        .received("granted", granted.join(" "))
        .received("not granted", missing.join(" "))
        .note(if missing.is_empty() {
            "The account that asked came back with the permission: its new tokens replace the old ones. Nobody was signed in or out."
        } else {
            "The permission was not granted (declined, or unticked on the provider's consent page). The session stays as it was; the mail page says so and offers to ask again."
        })
}

/// Step 6 of a sign-in: the scopes asked for against those the token
/// response says were granted (RFC 6749 §5.1), as the provider writes them.
fn sign_in_scopes(provider: &Provider, granted: &[String]) -> StepRecord {
    let missing: Vec<&str> = provider
        .scopes
        .iter()
        .filter(|scope| !provider.is_granted(scope, granted))
        .map(String::as_str)
        .collect();
    StepRecord::new(6)
        .received("asked for", provider.scopes.join(" "))
        .received("not granted", missing.join(" "))
        .note(if missing.is_empty() {
            "Every scope asked for at sign-in was granted. Mail is not among them: it is asked for when you first open your mail."
        } else {
            "Some scopes asked for at sign-in were not granted; the pages that need them say so."
        })
}

/// Step 4: what the provider sent back through the browser.
fn callback(params: &CallbackParams) -> StepRecord {
    let mut step = StepRecord::new(4);
    if let Some(code) = &params.code {
        step = step.received("code", fingerprint(code.expose_secret()));
    }
    if let Some(state) = &params.state {
        step = step.received("state", fingerprint(state));
    }
    for (name, value) in [
        ("iss", &params.iss),
        ("error", &params.error),
        ("error_description", &params.error_description),
    ] {
        if let Some(value) = value {
            step = step.received(name, value.clone());
        }
    }
    step.note("state matched a sign-in this browser started (it cannot be used again); the code is checked next.")
}

/// Step 5: the token request. The code and verifier are fingerprints; the
/// client secret is hidden.
fn token_request(
    provider: &Provider,
    code: &str,
    verifier: &str,
    trace: &TokenTrace,
) -> StepRecord {
    let step = StepRecord::new(5)
        .sent("grant_type", "authorization_code")
        .sent("code", fingerprint(code))
        .sent("redirect_uri", provider.redirect_uri.to_string())
        .sent("code_verifier", fingerprint(verifier))
        .sent("client_id", provider.client_id.clone())
        .sent(
            "client_secret",
            format!("{HIDDEN}, sent by {}", trace.client_auth),
        );
    observed_at_token_endpoint(step, trace)
        .note("Sent by our server, not the browser: the client secret never leaves it.")
}

/// The token endpoint's address, HTTP status and time taken, as observed.
fn observed_at_token_endpoint(mut step: StepRecord, trace: &TokenTrace) -> StepRecord {
    if let Some(endpoint) = &trace.token_endpoint {
        step = step.endpoint(endpoint);
    }
    step.status = trace.status;
    step.duration_ms = trace
        .elapsed
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
    step
}

/// Step 6: the token response, tokens as fingerprints, and the ID-token claims
/// that were validated.
fn token_response(tokens: &ProviderTokens, trace: &TokenTrace) -> StepRecord {
    let mut step = StepRecord::new(6)
        .received(
            "access_token",
            fingerprint(tokens.access_token.expose_secret()),
        )
        .received(
            "refresh_token",
            tokens
                .refresh_token
                .as_ref()
                .map(|token| fingerprint(token.expose_secret()))
                .unwrap_or_else(|| "(none)".into()),
        )
        .received("scope", tokens.scopes.join(" "));
    if let Some(expires_at) = tokens.access_token_expires_at {
        step = step.received(
            "expires",
            chrono::DateTime::from_timestamp(expires_at, 0)
                .map(|time| time.to_rfc3339())
                .unwrap_or_default(),
        );
    }
    for (name, value) in &trace.id_token_claims {
        step = step.received(&format!("id_token.{name}"), value.clone());
    }
    let note = if trace.id_token_claims.is_empty() {
        "No ID token (this provider does not speak OpenID Connect): who you are comes from the API at step 7. The tokens were stored sealed."
    } else {
        "The ID token's signature and claims were validated; the tokens were stored sealed and a fresh session began."
    };
    step.note(note)
}

/// A refresh after sign-in (RFC 6749 §6), for `/flow`'s "after sign-in":
/// what was sent (the old refresh token as a fingerprint) and what came
/// back, or why it failed.
fn refresh(
    before: &ProviderTokens,
    outcome: Result<&ProviderTokens, &RefreshError>,
    trace: &TokenTrace,
) -> EventRecord {
    let fingerprint_of = |token: Option<&secrecy::SecretString>| {
        token.map_or_else(
            || "(none)".to_owned(),
            |token| fingerprint(token.expose_secret()),
        )
    };
    let step = StepRecord::new(0)
        .sent("grant_type", "refresh_token")
        .sent(
            "refresh_token",
            fingerprint_of(before.refresh_token.as_ref()),
        )
        .sent(
            "client_secret",
            format!("{HIDDEN}, sent by {}", trace.client_auth),
        );
    let step = observed_at_token_endpoint(step, trace);
    let step = match outcome {
        Ok(fresh) => {
            let rotated = fresh.refresh_token.is_some();
            let kept = "(none: the old one is kept)".to_owned();
            let id_token = match fresh.id_token {
                Some(_) => "validated; same iss, sub and aud as at sign-in (OIDC Core §12.2)",
                None => "(none)",
            };
            let step = step
                .received("access_token", fingerprint(fresh.access_token.expose_secret()))
                .received(
                    "refresh_token",
                    if rotated { fingerprint_of(fresh.refresh_token.as_ref()) } else { kept },
                )
                .received("id_token", id_token);
            step.note(if rotated {
                "The access token was about to expire or was refused, so our server used the refresh token. The provider rotated it: the new one replaced the old in the same write, and the old one must not be used again (RFC 9700 §4.14.2)."
            } else {
                "The access token was about to expire or was refused, so our server used the refresh token. No new refresh token came back, so the old one stays (RFC 6749 §6)."
            })
        }
        Err(error) if error.is_transient() => step.note(format!(
            "The provider could not refresh now ({error}); the tokens were kept, and the next request tries again."
        )),
        Err(error) => step.note(format!(
            "The refresh failed ({error}); the tokens were deleted and you were asked to sign in again."
        )),
    };
    EventRecord {
        name: "Refresh".to_owned(),
        record: step,
    }
}

/// A revocation request at sign-out (RFC 7009 §2.1), the token as a
/// fingerprint.
fn revocation(
    endpoint: &Url,
    token: &secrecy::SecretString,
    hint: &str,
    status: Option<u16>,
    started: Instant,
) -> EventRecord {
    let mut step = StepRecord::new(0)
        .endpoint(endpoint)
        .sent("token", fingerprint(token.expose_secret()))
        .sent("token_type_hint", hint)
        .sent("client_secret", HIDDEN)
        .took(started);
    step.status = status;
    EventRecord {
        name: "Revocation".to_owned(),
        record: step.note(
            "RFC 7009: the provider must answer 200 once the token is invalid, also for a token that already was.",
        ),
    }
}

/// GitHub's grant deletion at sign-out: every token of the grant goes.
fn grant_deletion(
    endpoint: &Url,
    access_token: &secrecy::SecretString,
    status: Option<u16>,
    started: Instant,
) -> EventRecord {
    let mut step = StepRecord::new(0)
        .endpoint(endpoint)
        .sent("method", "DELETE")
        .sent("access_token", fingerprint(access_token.expose_secret()))
        .sent("Authorization", format!("Basic client_id:{HIDDEN}"))
        .took(started);
    step.status = status;
    EventRecord {
        name: "Revocation (GitHub's grant deletion)".to_owned(),
        record: step.note("GitHub answers 204 when the grant and all its tokens are deleted."),
    }
}

/// The browser sent to the provider's end-session endpoint (RP-Initiated
/// Logout 1.0 §2), the ID token and state as fingerprints.
fn end_session(url: &Url) -> EventRecord {
    let mut step = StepRecord::new(0).endpoint(url);
    for (name, value) in url.query_pairs() {
        let value = match name.as_ref() {
            "id_token_hint" | "state" => fingerprint(&value),
            _ => value.into_owned(),
        };
        step = step.sent(&name, value);
    }
    EventRecord {
        name: "Sign-out at the provider".to_owned(),
        record: step.note(
            "The browser went to the provider to end your session there; it comes back to post_logout_redirect_uri with the same state.",
        ),
    }
}

/// Step 7: the first call to the provider's API with the access token.
fn api_call(description: &str, outcome: Result<(), String>, started: Instant) -> StepRecord {
    let step = StepRecord::new(7)
        .sent("request", description)
        .sent("Authorization", "Bearer (the access token of step 6)");
    let mut step = step.took(started);
    match outcome {
        Ok(()) => {
            step.status = Some(200);
            step.note("The API accepted the token and answered.")
        }
        Err(error) => step.note(format!("The API call failed: {error}")),
    }
}
