//! The words a learner meets, with correct definitions and the specification
//! section each comes from, and a warning where everyday usage misleads.

use serde::Serialize;

/// One glossary entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Term {
    pub term: &'static str,
    /// Two or three sentences.
    pub definition: &'static str,
    /// Where the word is defined.
    pub reference: &'static str,
    /// Where everyday usage of the word misleads, if it does.
    pub not_to_confuse: Option<&'static str>,
}

/// The glossary, in the order the flow meets the terms.
pub const TERMS: [Term; 13] = [
    Term {
        term: "Client ID",
        definition: "The identifier the provider gives an application when it is registered. It is not secret: it appears in every authorization URL, and says which application is asking.",
        reference: "RFC 6749 §2.2",
        not_to_confuse: Some(
            "It identifies the application, not a person: it is not a customer or account number, and knowing it grants nothing.",
        ),
    },
    Term {
        term: "Client secret",
        definition: "A password the provider gives a confidential application (one that runs on a server) at registration. The application sends it only from its server to the token endpoint, to prove which application is redeeming a code.",
        reference: "RFC 6749 §2.3.1",
        not_to_confuse: Some(
            "It belongs to the application, not to the visitor, and must never reach a browser, a log or a repository.",
        ),
    },
    Term {
        term: "Authorization endpoint",
        definition: "The provider's page where the visitor signs in and decides what the application may access. The application only redirects the browser there; it never sees the visitor's password.",
        reference: "RFC 6749 §3.1",
        not_to_confuse: Some(
            "Often called the \"authentication endpoint\". The visitor does authenticate there, but what the endpoint issues is an authorization: a code for limited access.",
        ),
    },
    Term {
        term: "Token endpoint",
        definition: "The provider's URL that exchanges an authorization code (or a refresh token) for tokens. Only the application's server calls it, with its client credentials, never the browser.",
        reference: "RFC 6749 §3.2",
        not_to_confuse: None,
    },
    Term {
        term: "API endpoint",
        definition: "A URL of the provider's API, such as Microsoft Graph's /v1.0/me, that answers requests carrying an access token. OAuth calls the server behind it the resource server.",
        reference: "RFC 6749 §1.1, RFC 6750 §2.1",
        not_to_confuse: None,
    },
    Term {
        term: "Authorization code",
        definition: "A short-lived, single-use value the provider hands to the browser on the redirect back to the application. On its own it is useless: only the registered application, with its client secret and PKCE verifier, can exchange it for tokens.",
        reference: "RFC 6749 §1.3.1, §4.1.2",
        not_to_confuse: Some(
            "It is not the \"authorization code\" (EPP or auth code) a domain registrar gives to transfer a domain name, nor a code typed into a form.",
        ),
    },
    Term {
        term: "Access token",
        definition: "A credential that lets the application call the provider's API on the visitor's behalf, limited to the granted scopes and to a lifetime. The application sends it in the Authorization header as a Bearer token.",
        reference: "RFC 6749 §1.4, RFC 6750",
        not_to_confuse: Some(
            "It is not an operating system's access token (the security context Windows attaches to a process), and it does not say who the visitor is: that is the ID token's job.",
        ),
    },
    Term {
        term: "Refresh token",
        definition: "A longer-lived credential, issued with the access token when the application asks for it (for example with the offline_access scope), that the application exchanges at the token endpoint for a new access token without sending the visitor back to the provider.",
        reference: "RFC 6749 §1.5, §6",
        not_to_confuse: None,
    },
    Term {
        term: "Scope",
        definition: "A name for a permission the application asks for, such as Mail.Read or openid. The provider shows the scopes on its consent page, and the access token works only for what was granted.",
        reference: "RFC 6749 §3.3",
        not_to_confuse: None,
    },
    Term {
        term: "Redirect URI",
        definition: "The application's URL the provider sends the browser back to with the code. It is registered in advance and must match exactly, so a code can only travel to the application that asked for it.",
        reference: "RFC 6749 §3.1.2, RFC 9700 §4.1",
        not_to_confuse: None,
    },
    Term {
        term: "State",
        definition: "A random value the application puts in the authorization request and expects back unchanged. Kept bound to the visitor's browser, it proves that the answer belongs to a sign-in this browser started, which stops cross-site request forgery on the callback.",
        reference: "RFC 6749 §10.12, RFC 9700 §4.7",
        not_to_confuse: None,
    },
    Term {
        term: "PKCE",
        definition: "Proof Key for Code Exchange: the application sends a hash of a random verifier in step 3 and the verifier itself in step 5. A stolen code is then useless to anyone who does not also hold the verifier.",
        reference: "RFC 7636, RFC 9700 §2.1.1",
        not_to_confuse: None,
    },
    Term {
        term: "ID token",
        definition: "A signed JSON Web Token from an OpenID Connect provider that says who signed in (sub), for which application (aud), issued by whom (iss), and when. The application checks the signature and each of these claims before trusting it.",
        reference: "OpenID Connect Core 1.0 §2, §3.1.3.7",
        not_to_confuse: Some(
            "It is for the application, not for calling APIs: APIs take the access token.",
        ),
    },
];
