//! A sign-in's life after step 7, for `/learn`: the states one sign-in passes
//! through from "Signed out" back to "Signed out", what moves it from one to
//! the next (and which part of this app does it), the three kinds of
//! sign-out, what each provider offers for refresh and sign-out, and the
//! longer explanations of refresh tokens, rotation and single flight.
//!
//! Text only, like the rest of `teaching`. The drawing of the states is
//! `templates/partials/lifecycle_diagram.html` (static SVG), and
//! docs/ARCHITECTURE.md ("A sign-in's life") has the same diagram in Mermaid;
//! the tests below check that both name every state listed here. Nothing here
//! runs any part of a refresh or a sign-out.

use serde::Serialize;

use super::topics::{Paragraph, Topic, point, text};

/// One state of a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct State {
    /// Key used by [`Transition`]s, and the state's id in the Mermaid diagram
    /// of docs/ARCHITECTURE.md.
    pub id: &'static str,
    /// As the diagram labels it.
    pub name: &'static str,
    /// What is true in this state, in a sentence or two.
    pub meaning: &'static str,
}

/// What moves a sign-in from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// [`State::id`] of where it starts.
    pub from: &'static str,
    /// [`State::id`] of where it ends.
    pub to: &'static str,
    /// When it happens and what changes, citing the specification.
    pub when: &'static str,
    /// The code that makes it happen, to read next.
    pub code: &'static str,
}

/// A transition with its two states looked up, as the page lists it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TransitionRow {
    pub from: &'static State,
    pub to: &'static State,
    pub transition: Transition,
}

/// One of the three kinds of sign-out.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SignOut {
    /// Anchor on `/learn` (`#sign-out-{id}`).
    pub id: &'static str,
    /// The button's words.
    pub name: &'static str,
    /// The request the button sends.
    pub request: &'static str,
    pub ends: &'static str,
    /// What it does not undo.
    pub leaves: &'static str,
    pub code: &'static str,
}

/// What one provider offers for staying signed in and for signing out.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProviderLife {
    pub provider: &'static str,
    pub refresh: &'static str,
    pub sign_out: &'static str,
}

/// Everything `/learn` shows about a sign-in's life.
#[derive(Debug, Serialize)]
pub struct Lifecycle {
    pub states: &'static [State],
    pub transitions: Vec<TransitionRow>,
    pub sign_outs: &'static [SignOut],
    pub providers: &'static [ProviderLife],
    /// The explanations, each its own section after the diagram.
    pub topics: &'static [Topic],
}

/// The state with this id.
pub fn state(id: &str) -> Option<&'static State> {
    STATES.iter().find(|state| state.id == id)
}

/// The section's content, with each transition's states looked up.
pub fn lifecycle() -> Lifecycle {
    Lifecycle {
        states: &STATES,
        transitions: TRANSITIONS
            .iter()
            .filter_map(|transition| {
                Some(TransitionRow {
                    from: state(transition.from)?,
                    to: state(transition.to)?,
                    transition: *transition,
                })
            })
            .collect(),
        sign_outs: &SIGN_OUTS,
        providers: &PROVIDERS,
        topics: &TOPICS,
    }
}

/// The states, in the order the diagram draws them from the top.
pub const STATES: [State; 8] = [
    State {
        id: "SignedOut",
        name: "Signed out",
        meaning: "No live session on the server. The browser may still hold a cookie, but it opens nothing.",
    },
    State {
        id: "Pending",
        name: "Pending sign-in",
        meaning: "The browser is at the provider. The app keeps the hash of the state, the sealed PKCE verifier and the nonce for this browser, for at most 10 minutes.",
    },
    State {
        id: "Session",
        name: "Session live",
        meaning: "The box around the next five states: a session row exists on the server and is within SESSION_IDLE_TIMEOUT and SESSION_MAX_AGE. Whatever its tokens are doing, the session can end.",
    },
    State {
        id: "Fresh",
        name: "Signed in",
        meaning: "The app holds sealed tokens whose access token is good for more than 60 seconds, and calls the API with it.",
    },
    State {
        id: "Expiring",
        name: "Token expiring",
        meaning: "The access token expires within 60 seconds, or the API has just refused it with a 401: it must be renewed before the next API call.",
    },
    State {
        id: "Refreshing",
        name: "Refreshing",
        meaning: "One request holds the lease on the person's tokens and sends the refresh token to the provider; every other request that needs the tokens waits for its result.",
    },
    State {
        id: "TryAgain",
        name: "Try again",
        meaning: "The provider could not renew access just now. The tokens are kept, and the page asks the person to try again in a moment.",
    },
    State {
        id: "SignInAgain",
        name: "Sign in again",
        meaning: "Access cannot be renewed: the provider refused, the renewed tokens were about someone else, or there was no refresh token. The tokens are deleted, and the provider chooser says why.",
    },
];

/// Every transition of the diagram.
pub const TRANSITIONS: [Transition; 18] = [
    Transition {
        from: "SignedOut",
        to: "Pending",
        when: "The person picks a provider. The app stores a pending sign-in and sends the browser to the provider's authorization endpoint (steps 2 and 3).",
        code: "routes::sign_in::start_sign_in, oauth::flow (SignInFlow::start), db::pending_sign_ins",
    },
    Transition {
        from: "Pending",
        to: "SignedOut",
        when: "The person declines at the provider, a check of the callback fails, or 10 minutes pass. The pending sign-in is used up or expires, and nothing is stored.",
        code: "oauth::flow (SignInFlow::finish)",
    },
    Transition {
        from: "Pending",
        to: "Fresh",
        when: "The callback passes every check of steps 4 to 6. The app stores the sealed tokens and records a session on the server; the cookie carries only the session's random id.",
        code: "oauth::flow (SignInFlow::finish), db::accounts, db::sessions::create",
    },
    Transition {
        from: "Fresh",
        to: "Expiring",
        when: "Time passes until the access token has 60 seconds or less left, or the API answers 401 because the token was revoked or expired early (RFC 6750 §3.1).",
        code: "tokens::TokenKeeper (usable, after_unauthorized)",
    },
    Transition {
        from: "Expiring",
        to: "Refreshing",
        when: "The request takes the refresh lease: one conditional update of the person's token row, which only one request in any process can win. The others wait.",
        code: "tokens::TokenKeeper, db::tokens::take_refresh_lease",
    },
    Transition {
        from: "Refreshing",
        to: "Fresh",
        when: "The provider answers with new tokens (RFC 6749 §6). The new access token, and the new refresh token if one came, replace the old ones in one write, which also ends the lease. A new ID token must have the sign-in's iss, sub and aud (OpenID Connect Core §12.2).",
        code: "oauth::refresh, db::tokens::store_refreshed",
    },
    Transition {
        from: "Refreshing",
        to: "TryAgain",
        when: "The provider did not answer properly: a timeout, a 5xx, or temporarily_unavailable. The lease is given back and the tokens are kept.",
        code: "oauth::refresh (RefreshError::Unavailable), db::tokens::release_refresh_lease",
    },
    Transition {
        from: "Refreshing",
        to: "SignInAgain",
        when: "The provider refuses the refresh token (invalid_grant: expired, revoked, or already used, RFC 6749 §5.2), or the new ID token is about someone else. The tokens are deleted.",
        code: "oauth::refresh, tokens::TokenKeeper, db::tokens::delete",
    },
    Transition {
        from: "Expiring",
        to: "SignInAgain",
        when: "There is no refresh token to use (GitHub gives OAuth apps none), or the API still answers 401 right after a refresh.",
        code: "tokens::TokenKeeper::after_unauthorized",
    },
    Transition {
        from: "TryAgain",
        to: "Expiring",
        when: "The person's next request finds the token still expiring and tries once more.",
        code: "tokens::TokenKeeper::usable",
    },
    Transition {
        from: "SignInAgain",
        to: "Pending",
        when: "The provider chooser says in plain words why (refused, or another account), and the sign-in brings the person back to the page they were on.",
        code: "error::AppError::SignInRequired, routes::sign_in::show_provider_chooser",
    },
    Transition {
        from: "Session",
        to: "SignedOut",
        when: "Sign out: this browser's session ends on the server too. The tokens are deleted with the person's last session.",
        code: "routes::sign_out::sign_out, db::sessions::end",
    },
    Transition {
        from: "Session",
        to: "SignedOut",
        when: "Ended from another browser: /account/sessions lists where the person is signed in, and \"End\" deletes that session's row, so the browser and every copy of its cookie are signed out at once. With the last session, the tokens go too.",
        code: "routes::sessions::end_session, db::sessions::end_by_handle",
    },
    Transition {
        from: "Session",
        to: "SignedOut",
        when: "Sign out everywhere: every session of the person ends, in every browser, and their tokens are deleted.",
        code: "routes::sign_out::sign_out_everywhere, db::sessions::end_all",
    },
    Transition {
        from: "Session",
        to: "SignedOut",
        when: "Sign out at the provider too: the session ends, the tokens are revoked where the provider allows it (RFC 7009) and deleted, and the browser goes to the provider's end-session endpoint where it has one (RP-Initiated Logout 1.0).",
        code: "routes::sign_out::sign_out_at_provider, tokens::TokenKeeper::revoke_and_forget, oauth::revocation",
    },
    Transition {
        from: "Session",
        to: "SignedOut",
        when: "Idle timeout: no request for SESSION_IDLE_TIMEOUT seconds. The next request finds the session too old and ends it; if nobody comes back, the sweep every half minute ends it, and with the person's last session their tokens are revoked where the provider allows and deleted.",
        code: "web::Visitor, db::sessions (StoredSession::is_live), sweeper",
    },
    Transition {
        from: "Session",
        to: "SignedOut",
        when: "Maximum age: SESSION_MAX_AGE seconds (8 hours by default) after the sign-in, however active the person is.",
        code: "web::Visitor, db::sessions (StoredSession::is_live)",
    },
    Transition {
        from: "Session",
        to: "SignedOut",
        when: "Account deleted, after a fresh sign-in at the provider: the tokens of every linked provider are revoked where possible, and the person is deleted with everything stored about them, sessions included.",
        code: "web::irreversible::delete_account, db::accounts::delete_user",
    },
];

/// The three kinds of sign-out, from the least to the most thorough.
pub const SIGN_OUTS: [SignOut; 3] = [
    SignOut {
        id: "this-session",
        name: "Sign out",
        request: "POST /logout",
        ends: "This browser's session, on the server too: its row is deleted, so a copy of the cookie taken earlier opens nothing. When it was the person's last session, the app deletes the stored tokens with it.",
        leaves: "The person's sessions in other browsers keep working. Nothing is asked of the provider: the person stays signed in there, and the tokens it issued stay valid until they expire; the app only forgets them.",
        code: "routes::sign_out::sign_out",
    },
    SignOut {
        id: "everywhere",
        name: "Sign out everywhere",
        request: "POST /logout/all",
        ends: "Every session of the person, in every browser and on every device, and the stored tokens.",
        leaves: "As with Sign out, the provider is not asked anything: its session and the tokens it issued are untouched.",
        code: "routes::sign_out::sign_out_everywhere",
    },
    SignOut {
        id: "provider",
        name: "Sign out of the provider too",
        request: "POST /logout/provider",
        ends: "This session; the tokens at the provider, where it lets apps revoke them (RFC 7009: the refresh token first, then the access token; GitHub: deletion of the whole grant); the stored tokens; and then, where the provider has an end_session_endpoint, the person's session at the provider (RP-initiated logout).",
        leaves: "An access token that is a self-contained JWT may keep working at the API until it expires, because the API checks it on its own, unless the API supports continuous access evaluation. Microsoft offers apps no revocation. Google and GitHub have no end-session endpoint, so the person stays signed in to google.com or github.com.",
        code: "routes::sign_out::sign_out_at_provider, oauth::revocation",
    },
];

/// Each provider this app knows, as its documentation describes it.
pub const PROVIDERS: [ProviderLife; 5] = [
    ProviderLife {
        provider: "Demo provider",
        refresh: "A refresh token when the app asks for offline_access; each refresh returns a new one and the old one stops working at once.",
        sign_out: "Revocation (RFC 7009) and an end-session endpoint, both listed in its discovery document.",
    },
    ProviderLife {
        provider: "Microsoft",
        refresh: "A refresh token when the app asks for offline_access. Each refresh returns a new one; Microsoft does not revoke the old one, and the app stores the new one in its place.",
        sign_out: "No revocation endpoint for apps: the app can only delete its copy. Its end-session endpoint ends the Microsoft session. To take the app's access away, the person removes it at myapps.microsoft.com (work or school account) or account.live.com/consent/Manage (personal account).",
    },
    ProviderLife {
        provider: "Google",
        refresh: "A refresh token only with access_type=offline on the authorization request (Google ignores offline_access), and normally only at the first consent; refresh answers have none, so the app keeps the one it has.",
        sign_out: "A revocation endpoint; revoking the access token revokes its refresh token too. No end-session endpoint: the person stays signed in to their Google account.",
    },
    ProviderLife {
        provider: "GitHub",
        refresh: "None for OAuth apps: their access tokens do not expire until they are revoked (only GitHub Apps with expiring tokens get refresh tokens).",
        sign_out: "Deleting the grant (DELETE /applications/{client_id}/grant) revokes every token of the app for that person. No end-session endpoint: the person stays signed in at github.com.",
    },
    ProviderLife {
        provider: "Any OpenID Connect issuer",
        refresh: "Its own rule; many issue a refresh token only when the app asks for offline_access.",
        sign_out: "Whatever its discovery document lists: revocation_endpoint, end_session_endpoint, both or neither. /setup shows which.",
    },
];

/// The explanations around the diagram, in the order the page shows them.
pub const TOPICS: [Topic; 4] = [
    Topic {
        id: "refresh-tokens",
        title: "Refresh tokens: staying signed in after the access token expires",
        paragraphs: &REFRESH_TOKENS,
    },
    Topic {
        id: "rotation",
        title: "Rotation: a new refresh token at each refresh",
        paragraphs: &ROTATION,
    },
    Topic {
        id: "single-flight",
        title: "One refresh at a time",
        paragraphs: &SINGLE_FLIGHT,
    },
    Topic {
        id: "sign-out",
        title: "Three ways to sign out, and what each leaves behind",
        paragraphs: &SIGN_OUT,
    },
];

const REFRESH_TOKENS: [Paragraph; 4] = [
    text(
        "An access token works for a short time, often an hour. To go on calling the API after that without sending the person back to the provider, the app posts its refresh token to the token endpoint (grant_type=refresh_token, with its client authentication) and receives a new access token (RFC 6749 §6). The refresh token goes only to the token endpoint, never to the API.",
    ),
    text(
        "Whether a refresh token is issued at all is up to the provider (RFC 6749 §1.5), and each one has its own way to ask. OpenID Connect defines the offline_access scope for it (OpenID Connect Core §11); Microsoft and the demo provider follow that. Google ignores that scope and wants access_type=offline on the authorization request instead. GitHub gives OAuth apps no refresh token: their access tokens do not expire until they are revoked.",
    ),
    text(
        "This app refreshes 60 seconds before the access token expires, so that the token does not run out between the app's check and the API's, and once more if the API answers 401 anyway, as it does for a token revoked early. The person notices nothing: the page they asked for is shown with the new token. When the answer carries a new ID token, its iss, sub and aud must be those of the sign-in (OpenID Connect Core §12.2); if they are not, the app deletes the tokens and asks the person to sign in again.",
    ),
    text(
        "A refresh token lasts long and works without the person, so it is the credential to guard most: it must be kept confidential, and only the client it was issued to may use it (RFC 6749 §10.4). This app keeps it sealed in its database, and it is what a sign-out at the provider revokes first.",
    ),
];

const ROTATION: [Paragraph; 2] = [
    text(
        "A provider may answer a refresh with a new refresh token as well; the client must then discard the old one (RFC 6749 §6). Rotating them lets the provider notice theft: when a stolen refresh token and the real one are both used, one of the two is already spent. The provider cannot tell which party sent it, so it revokes the active refresh token, and with it everything issued from the same sign-in (RFC 9700 §4.14.2). The person is signed out, and so is the thief.",
    ),
    text(
        "This app stores the new refresh token in the same database write as the new access token, so no moment exists where one is saved and the other lost. An answer without a refresh token keeps the stored one: Google sends a refresh token only at the first consent, and a later sign-in or refresh that comes without one does not erase it. Microsoft returns a new refresh token at every refresh without revoking the old one; the demo provider rotates strictly, so its old refresh token stops working at once.",
    ),
];

const SINGLE_FLIGHT: [Paragraph; 3] = [
    text(
        "Several requests of the same person can find the access token expiring at the same moment: two tabs, a page whose API calls run side by side, or two processes of this app on one database. If each sent the refresh token, a provider that rotates would receive the same refresh token twice. To the provider that is the replay of a stolen token: it refuses the second refresh and may revoke the whole family, which signs the person out in the middle of what they were doing (RFC 9700 §4.14.2).",
    ),
    text(
        "So exactly one request refreshes. It first takes a lease in the database: a single conditional update that marks the person's token row as being refreshed until a time limit, and succeeds only if the tokens are still those the request read and nobody holds an unexpired lease. One request, in one thread of one process, wins. The others wait, reading the row every 50 milliseconds, until the tokens change, then use the new ones without contacting the provider. A lock in memory would not be enough: it cannot stop a second process.",
    ),
    text(
        "The lease lasts longer than a request to the provider may take, so a refresh in progress is never overtaken, and a process that dies while refreshing blocks nobody for long. Storing the new tokens ends the lease. A refresh that failed for a passing reason gives the lease back; a refused one deletes the tokens, and the waiting requests see that and send the person to sign in again.",
    ),
];

const SIGN_OUT: [Paragraph; 5] = [
    text(
        "Signing in set up three things: this app's session, the tokens the provider gave the app, and the person's own session at the provider. Each kind of sign-out undoes a different part of that, listed below.",
    ),
    point(
        "Revocation is a call from this app's server.",
        "It posts the token to the provider's revocation_endpoint, with the same client authentication as at the token endpoint and a hint of the token's type (RFC 7009 §2.1). Revoking a refresh token should also end the access tokens of the same grant, where the provider can. The provider answers 200 even for a token it no longer knows, because the token is gone either way (RFC 7009 §2.2).",
    ),
    point(
        "RP-initiated logout is a redirect of the browser.",
        "The app sends the browser to the provider's end_session_endpoint with id_token_hint (which person, signed in to which app), post_logout_redirect_uri and state (OpenID Connect RP-Initiated Logout 1.0 §2). The provider ends its own session, perhaps after asking the person, and sends the browser back to the post_logout_redirect_uri, which must be registered with it, with the same state (§3). This app's is /signed-out, which reports what happened at each place and what the person can still do.",
    ),
    point(
        "What no sign-out can take back.",
        "An access token that is a self-contained JSON Web Token is checked by the API on its own, so it may keep working until it expires, often within an hour, even after revocation, unless the API supports continuous access evaluation, as Microsoft Graph does for some events (RFC 7009 §3). And a provider without an end-session endpoint keeps the person signed in there: GitHub keeps them signed in at github.com.",
    ),
    point(
        "Deleting the account",
        "does what \"Sign out of the provider too\" does, for every provider the person linked, then deletes every row about them, and ends all their sessions.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    const DIAGRAM: &str = include_str!("../../templates/partials/lifecycle_diagram.html");
    const ARCHITECTURE: &str = include_str!("../../docs/ARCHITECTURE.md");

    #[test]
    fn every_transition_joins_two_known_states_and_every_state_has_one() {
        for transition in &TRANSITIONS {
            assert!(state(transition.from).is_some(), "{}", transition.from);
            assert!(state(transition.to).is_some(), "{}", transition.to);
        }
        assert_eq!(lifecycle().transitions.len(), TRANSITIONS.len());
        for state in &STATES {
            assert!(
                TRANSITIONS
                    .iter()
                    .any(|transition| transition.from == state.id || transition.to == state.id),
                "{} is in no transition",
                state.id
            );
        }
    }

    #[test]
    fn the_drawing_names_every_state() {
        for state in &STATES {
            assert!(
                DIAGRAM.contains(&format!(">{}</text>", state.name)),
                "the diagram lacks {}",
                state.name
            );
        }
        assert!(
            !DIAGRAM.contains("style="),
            "the CSP allows no inline styles"
        );
        assert!(DIAGRAM.contains("viewBox=") && DIAGRAM.contains("width=\"100%\""));
    }

    #[test]
    fn the_architecture_document_has_the_same_diagram() {
        let (_, section) = ARCHITECTURE
            .split_once("## A sign-in's life")
            .expect("the section");
        let (_, mermaid) = section
            .split_once("```mermaid\nstateDiagram-v2\n")
            .expect("the diagram");
        let (mermaid, _) = mermaid.split_once("```").expect("its end");
        for state in &STATES {
            assert!(
                mermaid.contains(&format!("state \"{}\" as {}", state.name, state.id)),
                "the Mermaid diagram lacks {}",
                state.id
            );
        }
        for transition in &TRANSITIONS {
            assert!(
                mermaid.contains(&format!("{} --> {}", transition.from, transition.to)),
                "the Mermaid diagram lacks {} --> {}",
                transition.from,
                transition.to
            );
        }
    }

    #[test]
    fn the_three_sign_outs_and_the_providers_are_all_there() {
        let requests: Vec<&str> = SIGN_OUTS.iter().map(|kind| kind.request).collect();
        assert_eq!(
            requests,
            ["POST /logout", "POST /logout/all", "POST /logout/provider"]
        );
        assert!(PROVIDERS.iter().any(|provider| {
            provider
                .sign_out
                .contains("account.live.com/consent/Manage")
        }));
    }
}
