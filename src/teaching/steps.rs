//! The seven steps of the authorization-code flow, written once as data: one
//! name and explanation per step, used by every page that names a step.

use serde::Serialize;

/// One step of the flow, as the pages, docs and code comments number it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    /// 1 to 7.
    pub number: u8,
    /// The step's name, used everywhere.
    pub name: &'static str,
    /// One paragraph: what happens and why.
    pub explanation: &'static str,
    /// Why it comes where it does: shown when the exercise puts it elsewhere.
    pub why_here: &'static str,
    /// The file that performs it, to read next. Steps 3 to 6 are in two
    /// files, read top to bottom: `src/oauth/flow.rs` and `src/oauth/oidc.rs`.
    pub source: &'static str,
}

/// The seven steps, in order.
pub const STEPS: [Step; 7] = [
    Step {
        number: 1,
        name: "Register your application to get a client_id and client_secret",
        explanation: "Before any visitor arrives, the developer registers the app in the provider's console: its name, and the exact redirect URI the provider may send visitors back to. The provider answers with a client ID, which is public, and a client secret. This app runs on a server that keeps the secret away from every browser, which makes it a confidential client; a single-page or native app cannot keep a secret and registers as a public client, without one (RFC 6749 §2).",
        why_here: "Everything else needs it: without a client ID the provider does not know who is asking, and without a registered redirect URI it will not send the visitor back.",
        source: "src/providers/ (one file per provider; its variables: src/config/providers.rs)",
    },
    Step {
        number: 2,
        name: "Ask the visitor if they want to sign in via a third party",
        explanation: "The app offers a choice: sign in with an account the visitor already has elsewhere, or go on without signing in. Nothing has been sent to any provider yet. OAuth itself does not ask for this step: when to send someone to a provider is the app's choice, and this app waits until the visitor asks.",
        why_here: "The redirect of step 3 answers the visitor's choice, so the question comes first. It is a choice this app makes for its visitors, not a rule of OAuth: another app could send every visitor straight to one provider. Registering (step 1) happens once, long before any visitor arrives.",
        source: "src/routes/home.rs",
    },
    Step {
        number: 3,
        name: "Redirect to the third party's authorization endpoint",
        explanation: "The app sends the browser to the provider with its client ID, the redirect URI, the scopes it wants, a random state, a PKCE challenge and, for OpenID Connect providers only, a nonce (GitHub speaks plain OAuth and gets none). The visitor signs in at the provider, never at the app, and consents to the scopes (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1).",
        why_here: "It follows the visitor's choice (step 2), and the code of step 4 can only come out of this visit to the provider.",
        source: "src/oauth/flow.rs",
    },
    Step {
        number: 4,
        name: "Receive the authorization code",
        explanation: "The provider sends the browser back to the redirect URI with a short-lived, single-use authorization code and the state. The app checks that the state is one it issued to this very browser before it trusts anything else (RFC 6749 §4.1.2).",
        why_here: "The code exists only after the visitor signed in and consented at the provider (step 3), and it is needed for the token request (step 5).",
        source: "src/oauth/flow.rs",
    },
    Step {
        number: 5,
        name: "Make a request to the access token endpoint",
        explanation: "The app's server, not the browser, posts the code to the provider's token endpoint with the PKCE verifier, the redirect URI (required because step 3 sent one, RFC 6749 §4.1.3) and its client secret. The secret proves which app is asking, but it does not make a stolen code harmless: an attacker can plant one in their own sign-in and let this very app redeem it (code injection, RFC 9700 §4.5). The verifier stops that: it proves the code belongs to the sign-in this app started in this browser (RFC 7636 §4.5).",
        why_here: "It spends the code of step 4, and nothing can call the API before it returns the access token (step 6).",
        source: "src/oauth/oidc.rs",
    },
    Step {
        number: 6,
        name: "Receive the access token",
        explanation: "The token endpoint answers with an access token, a refresh token if the provider chooses to issue one, and, with OpenID Connect, an ID token saying who signed in. The app checks the ID token's signature, issuer, audience, lifetime and nonce, stores the tokens sealed, and starts a fresh session (RFC 6749 §5.1, OpenID Connect Core §3.1.3.7).",
        why_here: "It is the token endpoint's answer to step 5, and the API of step 7 accepts only this token.",
        source: "src/oauth/flow.rs (the ID token: src/oauth/id_token.rs)",
    },
    Step {
        number: 7,
        name: "Make a request to the third party's API endpoint",
        explanation: "With the access token as a Bearer token, the app reads what the visitor allowed: their profile and mail. Whoever holds a bearer token can use it, so it never leaves the server. The API checks the token's scopes; the app never saw the visitor's password (RFC 6750 §2.1).",
        why_here: "It needs the access token of step 6: without it the API answers 401.",
        source: "src/api/mod.rs",
    },
];

#[cfg(test)]
mod tests {
    use super::STEPS;

    /// What `/learn` promises a reader: steps 3 to 6 read in two files of at
    /// most 700 lines together, their tests aside.
    #[test]
    fn steps_three_to_six_read_in_two_files_of_at_most_700_lines() {
        let code_lines = |text: &str| {
            text.split("#[cfg(test)]")
                .next()
                .unwrap_or(text)
                .lines()
                .count()
        };
        let files = [
            ("src/oauth/flow.rs", include_str!("../oauth/flow.rs")),
            ("src/oauth/oidc.rs", include_str!("../oauth/oidc.rs")),
        ];
        let total: usize = files.iter().map(|(_, text)| code_lines(text)).sum();
        assert!(total <= 700, "steps 3 to 6 take {total} lines");
        for step in &STEPS[2..6] {
            assert!(
                files.iter().any(|(name, _)| step.source.starts_with(name)),
                "step {} names {}",
                step.number,
                step.source
            );
        }
    }
}
