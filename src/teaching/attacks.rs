//! The attacks on the authorization-code flow that a learner should know, and
//! the defence that stops each, for the table on `/learn`.
//!
//! Each defence names glossary entries by their anchor id, so the table links
//! to the words it uses; a test checks that every one exists.

use serde::Serialize;

use super::glossary::{self, Term};

/// One row of the table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Attack {
    /// Anchor on `/learn` (`#attack-{id}`).
    pub id: &'static str,
    pub name: &'static str,
    /// What the attacker does, in a sentence or two.
    pub how: &'static str,
    /// What stops it, and where this app does it.
    pub defence: &'static str,
    /// Glossary ids of the defences, in the order the defence names them.
    pub defended_by: &'static [&'static str],
    pub reference: &'static str,
}

/// An attack with its glossary entries looked up, as the page shows it.
#[derive(Debug, Serialize)]
pub struct AttackRow {
    pub attack: Attack,
    pub defences: Vec<&'static Term>,
}

/// The table, with each defence's glossary entry.
pub fn table() -> Vec<AttackRow> {
    ATTACKS
        .iter()
        .map(|attack| AttackRow {
            attack: *attack,
            defences: attack
                .defended_by
                .iter()
                .filter_map(|id| glossary::term(id))
                .collect(),
        })
        .collect()
}

/// The attacks, in the order the flow meets them.
pub const ATTACKS: [Attack; 7] = [
    Attack {
        id: "csrf",
        name: "Cross-site request forgery on the callback",
        how: "The attacker starts a sign-in with their own account and makes the visitor's browser open the app's callback with the attacker's code. The visitor is then signed in as the attacker, and may save their own data into the attacker's account.",
        defence: "The state: the callback is accepted only with a state this app issued to this very browser, and each state works once (step 4). PKCE and the nonce also stop it.",
        defended_by: &["state", "pkce", "nonce"],
        reference: "RFC 6749 §10.12, RFC 9700 §4.7",
    },
    Attack {
        id: "code-interception",
        name: "Authorization code interception",
        how: "The code leaks on its way back, through a lax redirect URI, an open redirector, a Referer header or a malicious app on the device, and the attacker redeems it at the token endpoint.",
        defence: "PKCE: the token endpoint also wants the verifier, which never left this app's server. Exact redirect URIs keep the code from leaking in the first place.",
        defended_by: &["pkce", "redirect-uri"],
        reference: "RFC 7636 §1, RFC 9700 §4.1, §4.5.3.1",
    },
    Attack {
        id: "code-injection",
        name: "Authorization code injection",
        how: "The attacker starts their own sign-in with this app and swaps in a code stolen from the visitor. The app redeems it with its own client secret, and the attacker's session is signed in as the visitor. The secret does not help: it is the right app asking.",
        defence: "PKCE: the stolen code was issued for another sign-in's challenge, so this sign-in's verifier does not match. With OpenID Connect the nonce catches it too: the ID token carries the other sign-in's nonce.",
        defended_by: &["pkce", "nonce"],
        reference: "RFC 9700 §4.5",
    },
    Attack {
        id: "id-token-replay",
        name: "ID token replay",
        how: "The attacker plays an ID token from an earlier sign-in (the visitor's, or one issued to the attacker) into a new sign-in, to be taken for its subject.",
        defence: "The nonce: the app accepts only an ID token carrying the nonce it stored for this sign-in, and checks its signature, issuer, audience and lifetime as well (step 6).",
        defended_by: &["nonce", "id-token"],
        reference: "OpenID Connect Core §3.1.2.1, §15.5.2",
    },
    Attack {
        id: "mix-up",
        name: "Mix-up",
        how: "In an app that offers several providers, a malicious provider makes the app take an honest provider's answer for its own, so that the app sends the honest provider's code to the attacker.",
        defence: "Each provider has its own redirect URI, and the app compares the iss parameter of the answer with the provider it sent the visitor to (RFC 9207). See \"Mix-up attacks\" below.",
        defended_by: &["redirect-uri"],
        reference: "RFC 9700 §4.4, RFC 9207",
    },
    Attack {
        id: "stolen-access-token",
        name: "Stolen access token",
        how: "An access token leaks (from a log, a URL, a browser or a breached database) and the attacker calls the API with it.",
        defence: "Nothing in a bearer token stops its holder, so this app keeps tokens sealed on its server and out of pages, URLs and logs, and they expire. Sender-constrained tokens (DPoP) would make a stolen token useless on its own.",
        defended_by: &["access-token"],
        reference: "RFC 6750 §5.3, RFC 9700 §2.2.1",
    },
    Attack {
        id: "stolen-session-link",
        name: "A stolen session that links the thief's account",
        how: "The attacker copies a victim's session cookie (malware, a shared computer) and uses it to link his own provider account to her account here. The link outlives her \"Sign out everywhere\": he can then sign in as himself and be in her account, read her mail and unlink her own sign-in.",
        defence: "A fresh sign-in: linking, unlinking and deleting the account first send the browser to the provider, with max_age, to sign in again as the session's own account (issuer and sub checked, and auth_time where the ID token has it). The thief can only answer as himself, and nothing changes.",
        defended_by: &["fresh-sign-in", "id-token"],
        reference: "OpenID Connect Core §3.1.2.1; RFC 9700 §4.13",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defence_is_a_word_of_the_glossary() {
        for row in table() {
            assert_eq!(
                row.defences.len(),
                row.attack.defended_by.len(),
                "{} names a defence the glossary lacks: {:?}",
                row.attack.id,
                row.attack.defended_by
            );
        }
    }
}
