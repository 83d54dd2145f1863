//! The words a learner meets, with correct definitions and the specification
//! section each comes from, and a warning where everyday usage misleads.

use serde::Serialize;

/// One glossary entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Term {
    /// The entry's anchor on `/learn` (`#term-{id}`), for links from the
    /// table of attacks and the topics.
    pub id: &'static str,
    pub term: &'static str,
    /// Two to four sentences.
    pub definition: &'static str,
    /// Where the word is defined.
    pub reference: &'static str,
    /// Where everyday usage of the word misleads, if it does.
    pub not_to_confuse: Option<&'static str>,
}

/// The entry with this anchor id.
pub fn term(id: &str) -> Option<&'static Term> {
    TERMS.iter().find(|term| term.id == id)
}

/// The glossary, in the order the flow meets the terms.
pub const TERMS: [Term; 17] = [
    Term {
        id: "client-id",
        term: "Client ID",
        definition: "The identifier the provider gives an application when it is registered. It is not secret: it appears in every authorization URL, and says which application is asking.",
        reference: "RFC 6749 §2.2",
        not_to_confuse: Some(
            "It identifies the application, not a person: it is not a customer or account number, and knowing it grants nothing.",
        ),
    },
    Term {
        id: "client-secret",
        term: "Client secret",
        definition: "A password the provider gives a confidential client, an application whose credentials stay on a server its users cannot read, like this one. The application sends it only from its server to the token endpoint, to prove which application is asking. It does not make a stolen authorization code harmless: an attacker who plants a stolen code in their own sign-in with this app gets it redeemed with this app's own secret. That is what PKCE is for.",
        reference: "RFC 6749 §2.1, §2.3.1; RFC 9700 §4.5",
        not_to_confuse: Some(
            "It belongs to the application, not to the visitor, and must never reach a browser, a log or a repository.",
        ),
    },
    Term {
        id: "authorization-endpoint",
        term: "Authorization endpoint",
        definition: "The provider's page where the visitor signs in and decides what the application may access. The application only redirects the browser there; it never sees the visitor's password.",
        reference: "RFC 6749 §3.1",
        not_to_confuse: Some(
            "Often called the \"authentication endpoint\". The visitor does authenticate there, but what the endpoint issues is an authorization: a code for limited access.",
        ),
    },
    Term {
        id: "token-endpoint",
        term: "Token endpoint",
        definition: "The provider's URL that exchanges an authorization code (or a refresh token) for tokens. The application calls it directly, never through the browser's address bar. A confidential client such as this app calls it from its server and authenticates with its client credentials; a public client, a single-page or native app, calls it from the user's device with only its client ID, and relies on PKCE.",
        reference: "RFC 6749 §3.2, §3.2.1",
        not_to_confuse: Some(
            "It is not called only by servers: public clients call it too, without a secret.",
        ),
    },
    Term {
        id: "api-endpoint",
        term: "API endpoint",
        definition: "A URL of the provider's API, such as Microsoft Graph's /v1.0/me, that answers requests carrying an access token. OAuth calls the server behind it the resource server.",
        reference: "RFC 6749 §1.1, RFC 6750 §2.1",
        not_to_confuse: None,
    },
    Term {
        id: "authorization-code",
        term: "Authorization code",
        definition: "A short-lived, single-use value the provider hands to the browser on the redirect back to the application, to be exchanged for tokens. The client secret does not protect it: in a code-injection attack the attacker puts a stolen code into their own sign-in with the real application, which redeems it with its own secret. PKCE, or the OpenID Connect nonce, stops that by tying the code to the one sign-in that this browser started.",
        reference: "RFC 6749 §1.3.1, §4.1.2; RFC 9700 §4.5",
        not_to_confuse: Some(
            "It is not the \"authorization code\" (EPP or auth code) a domain registrar gives to transfer a domain name, nor a code typed into a form.",
        ),
    },
    Term {
        id: "access-token",
        term: "Access token",
        definition: "A credential that lets the application call the provider's API on the visitor's behalf, limited to the granted scopes and to a lifetime. It is a bearer token, sent in the Authorization header: whoever holds it can use it. To the application it is meant to be opaque: only the API it was issued for needs to read it, and its format can change without notice.",
        reference: "RFC 6749 §1.4, RFC 6750 §1.2",
        not_to_confuse: Some(
            "It is not an operating system's access token (the security context Windows attaches to a process), and it does not say who the visitor is: that is the ID token's job.",
        ),
    },
    Term {
        id: "refresh-token",
        term: "Refresh token",
        definition: "A longer-lived credential that the application exchanges at the token endpoint for a new access token without sending the visitor back to the provider. The provider decides whether to issue one, and each asks for it its own way: the offline_access scope (OpenID Connect, Microsoft), access_type=offline (Google); GitHub issues none to OAuth apps. Microsoft answers every refresh with a new refresh token, which replaces the old one in the application's store.",
        reference: "RFC 6749 §1.5, §6; OpenID Connect Core §11",
        not_to_confuse: None,
    },
    Term {
        id: "scope",
        term: "Scope",
        definition: "A name for a permission the application asks for, such as Mail.Read or openid. The provider shows the scopes on its consent page, and the access token works only for what was granted.",
        reference: "RFC 6749 §3.3",
        not_to_confuse: None,
    },
    Term {
        id: "incremental-consent",
        term: "Incremental consent",
        definition: "Asking for each permission when the feature that needs it is first used, not all at sign-in: this app signs people in with openid, profile and email only, and asks for mail when /mail is opened. The request runs the authorization flow again, with the same protections, for the added scope; Google's include_granted_scopes=true keeps the earlier grants in the new token.",
        reference: "RFC 6749 §3.3; Google, Using OAuth 2.0 for Web Server Applications (incremental authorization)",
        not_to_confuse: Some(
            "It is not a second sign-in: the answer must come back to the person who is already signed in, for the same account, and it changes who is signed in not at all.",
        ),
    },
    Term {
        id: "admin-consent",
        term: "Admin consent",
        definition: "An organisation's administrator approving an application's permissions once for everyone in the organisation. Microsoft lets organisations require it for some permissions (reading mail among them); the person trying then sees \"Need admin approval\" (AADSTS90094, 90095) and cannot grant the permission themselves. Microsoft's admin-consent endpoint is the address an administrator opens to approve.",
        reference: "Microsoft identity platform, Admin consent (v2-admin-consent); Permissions and consent",
        not_to_confuse: Some(
            "The person who was refused did not decline anything, and signing in again does not help: only an administrator's approval does.",
        ),
    },
    Term {
        id: "redirect-uri",
        term: "Redirect URI",
        definition: "The application's URL the provider sends the browser back to with the code. It is registered in advance, and RFC 9700 asks providers to compare it as an exact string (only the port of a native app's loopback address may vary), so a code can only travel to the application that asked for it. Providers differ: GitHub also accepts any sub-path of the registered callback URL and any port on a loopback address, and Microsoft ignores the port of localhost redirect URIs.",
        reference: "RFC 6749 §3.1.2, RFC 9700 §2.1, §4.1",
        not_to_confuse: None,
    },
    Term {
        id: "state",
        term: "State",
        definition: "A random value the application puts in the authorization request and expects back unchanged. Kept bound to the visitor's browser, it proves that the answer belongs to a sign-in this browser started, which stops cross-site request forgery on the callback. PKCE and the nonce stop it as well; this app checks the state first, before it spends anything.",
        reference: "RFC 6749 §10.12, RFC 9700 §2.1, §4.7",
        not_to_confuse: None,
    },
    Term {
        id: "pkce",
        term: "PKCE",
        definition: "Proof Key for Code Exchange: for each sign-in the application makes a random verifier, sends its SHA-256 hash (the challenge) in step 3 and the verifier itself in step 5, and the provider checks that they match. That binds the code to the one sign-in, in one browser, that asked for it: a stolen code fails whether the thief redeems it directly or plants it in their own sign-in with the real application. Public clients must use it; RFC 9700 recommends it for every client.",
        reference: "RFC 7636 §4, RFC 9700 §2.1.1, §4.5.3.1",
        not_to_confuse: Some(
            "It does not prove which application is asking (client authentication does that); it proves that the same sign-in is continuing.",
        ),
    },
    Term {
        id: "nonce",
        term: "Nonce",
        definition: "A random value an OpenID Connect client sends in the authorization request and the provider copies into the ID token. The application accepts the ID token only if it carries the nonce stored for this browser's sign-in, so an ID token replayed from another sign-in is refused, and so is a code injected from one. Providers without OpenID Connect, such as GitHub, have no nonce, and this app sends them none.",
        reference: "OpenID Connect Core 1.0 §3.1.2.1, §3.1.3.7, §15.5.2; RFC 9700 §4.5.3.2",
        not_to_confuse: Some(
            "It is not the state: the state is checked when the browser comes back (step 4), the nonce when the ID token arrives (step 6).",
        ),
    },
    Term {
        id: "id-token",
        term: "ID token",
        definition: "A signed JSON Web Token from an OpenID Connect provider that says who signed in (sub), for which application (aud), issued by whom (iss), when, and for which sign-in (nonce). The application checks the signature and each of these claims before trusting it.",
        reference: "OpenID Connect Core 1.0 §2, §3.1.3.7",
        not_to_confuse: Some(
            "It is for the application, not for calling APIs: APIs take the access token.",
        ),
    },
    Term {
        id: "fresh-sign-in",
        term: "Fresh sign-in (max_age, auth_time)",
        definition: "A sign-in at the provider that happened moments ago, asked for again before something that cannot be undone. The authorization request carries max_age, the most seconds since the person last authenticated at the provider; the provider asks for their password again if it is older, and the ID token's auth_time says when it happened. Here, linking, unlinking and deleting the account need one no older than REAUTH_MAX_AGE, with the session's own account.",
        reference: "OpenID Connect Core 1.0 §3.1.2.1 (max_age, prompt), §2 (auth_time)",
        not_to_confuse: Some(
            "It is not a new session: the person stays signed in, and only the browser that signed in again counts as fresh, not a copy of its cookie.",
        ),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_its_own_anchor() {
        for entry in &TERMS {
            assert!(
                entry.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                entry.id
            );
            assert_eq!(
                term(entry.id).map(|found| found.term),
                Some(entry.term),
                "{} is used twice",
                entry.id
            );
        }
    }
}
