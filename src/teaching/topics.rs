//! The longer explanations of `/learn`, after the steps and the glossary: the
//! kinds of client, mix-up attacks, bearer tokens, identity, client
//! authentication, asking for permissions when they are needed (incremental
//! and admin consent), the grants not to use, and why OAuth at all. Plain text,
//! one paragraph per string, each citing its source; the template renders
//! them in this order.

use serde::Serialize;

/// One section of `/learn`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Topic {
    /// Anchor on `/learn` (`#{id}`).
    pub id: &'static str,
    pub title: &'static str,
    pub paragraphs: &'static [Paragraph],
}

/// A paragraph, optionally opened by a short claim in bold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Paragraph {
    pub lead: Option<&'static str>,
    pub text: &'static str,
}

/// A paragraph without a lead.
pub const fn text(text: &'static str) -> Paragraph {
    Paragraph { lead: None, text }
}

/// A paragraph opened by a short claim in bold.
pub const fn point(lead: &'static str, text: &'static str) -> Paragraph {
    Paragraph {
        lead: Some(lead),
        text,
    }
}

pub const TOPICS: [Topic; 9] = [
    Topic {
        id: "clients",
        title: "Public and confidential clients",
        paragraphs: &[
            text(
                "OAuth sorts applications by whether they can keep a credential secret. A confidential client runs where its users cannot read its configuration: on a server. A public client runs on the user's device, as a single-page app in the browser or as a native app, where anything it ships with can be extracted (RFC 6749 §2.1).",
            ),
            text(
                "Both kinds call the token endpoint directly. A confidential client authenticates there with its credentials. A public client sends only its client ID and relies on PKCE, which is why public clients must use it (RFC 6749 §3.2.1, RFC 9700 §2.1.1).",
            ),
            text(
                "This app is a confidential client: its secrets are read from the server's environment (MICROSOFT_CLIENT_SECRET and the like), sent only from the server to the token endpoint, and never reach a browser, a page or a log. The browser never holds a token or a secret, only cookies that identify its session. The app still uses PKCE, because a client secret does not stop code injection.",
            ),
            text(
                "Each kind has its own best-practice document: RFC 8252 (OAuth 2.0 for Native Apps) for native apps, and the IETF draft \"OAuth 2.0 for Browser-Based Applications\" for apps that run in a browser. The draft weighs several designs, among them a backend that keeps every token away from JavaScript, as this app does.",
            ),
        ],
    },
    Topic {
        id: "mix-up",
        title: "Mix-up attacks",
        paragraphs: &[
            text(
                "An app that offers more than one provider must know which provider an answer comes from. In a mix-up attack the visitor starts a sign-in with a provider the attacker controls, or the attacker swaps the provider the visitor picked. The attacker's provider forwards the visitor to an honest provider, which sends its code back to the app. An app that goes by its own memory of which provider it chose then posts the honest provider's code to the attacker's token endpoint (RFC 9700 §4.4).",
            ),
            text(
                "Two defences, and this app uses both. Each provider answers at its own redirect URI (here /auth/{provider}/callback), so the URL an answer arrives at says whom it is from. And a provider that supports RFC 9207 names itself in the iss parameter of its answer, which the app compares with the issuer of the provider it sent the visitor to, before it spends the code (RFC 9700 §4.4.2). A provider whose discovery document says it always sends iss must send it, so an answer from it without iss is refused too (RFC 9207 §2.4).",
            ),
            text(
                "Which defence applies to which provider here: the demo provider, and any OpenID Connect issuer whose discovery document says it always sends iss, must send it, and it must match; Microsoft's and Google's discovery documents do not say so, so their iss is checked when present. GitHub has no discovery document but has named itself in iss on its callbacks since 2026: it is checked when present, and a GitHub callback naming another issuer is refused before its code is used. The separate redirect URIs protect every provider, with or without iss.",
            ),
        ],
    },
    Topic {
        id: "bearer",
        title: "Bearer tokens",
        paragraphs: &[
            text(
                "The access tokens this app receives are bearer tokens: any party that holds one can use it, with nothing else to prove (RFC 6750 §1.2). So the app keeps them sealed in its database, sends them only over TLS to the provider's API, and never puts them in a URL, a page or a log.",
            ),
            text(
                "To the client an access token is opaque: it is written for the API, not for the app (RFC 6749 §1.4). Some providers issue tokens that happen to be readable JSON Web Tokens, but their format can change without notice; to learn who signed in, an app reads the ID token or the userinfo endpoint, never the access token.",
            ),
            text(
                "Sender-constrained tokens close the gap that bearer tokens leave. With DPoP (RFC 9449) the client holds a private key and signs a fresh proof for every request, and the provider binds the token to that key, so a stolen token alone is not enough (RFC 9700 §2.2.1). This app does not use DPoP.",
            ),
        ],
    },
    Topic {
        id: "identity",
        title: "Who signed in: discovery, keys, ID token and userinfo",
        paragraphs: &[
            text(
                "An OpenID Connect provider describes itself in a discovery document at {issuer}/.well-known/openid-configuration: its endpoints, what it supports, and jwks_uri, the address of its public signing keys (OpenID Connect Discovery 1.0 §3, §4). The app reads it at start-up and checks that the document names the issuer it was configured with.",
            ),
            text(
                "The keys come as a JSON Web Key Set (RFC 7517). The ID token's header names the key that signed it (kid), and the app verifies the signature with that key before it trusts any claim (OpenID Connect Core §3.1.3.7).",
            ),
            text(
                "The ID token and the userinfo endpoint answer different questions. The ID token is a signed statement made for this app (its aud is our client ID) about one sign-in. The userinfo endpoint is an API called with the access token; it returns claims about the user, which may be newer or fuller, and its sub must equal the ID token's (OpenID Connect Core §5.3.2).",
            ),
            text(
                "A user is identified by the pair of issuer and sub: sub is unique, and never reassigned, within one issuer only (OpenID Connect Core §5.7). An email address is not an identifier: it can change, be given to someone else, or be unverified, and an app that matches accounts by email lets whoever controls that address at any provider into the account. This app keys each identity by issuer and sub, never by email. The issuer is the ID token's: with Microsoft's multi-tenant endpoints one configured provider stands for many issuers, one per organisation (https://login.microsoftonline.com/{tenant id}/v2.0), so the same sub from two organisations is two people. GitHub has no issuer identifier (it is plain OAuth 2.0), so its users are keyed by the origin of its authorization endpoint and their numeric id.",
            ),
        ],
    },
    Topic {
        id: "client-authentication",
        title: "Proving which app is asking: more than a shared secret",
        paragraphs: &[
            text(
                "A client secret is a shared secret: the provider keeps a copy, it travels with every token request, and it has to be copied into the app's configuration and replaced by hand before it expires. This app sends it with HTTP Basic (client_secret_basic), or in the form body (client_secret_post) where the provider asks for that, as GitHub does (RFC 6749 §2.3.1).",
            ),
            text(
                "RFC 9700 recommends asymmetric client authentication instead (§2.5). With private_key_jwt the app signs a short-lived JSON Web Token, a client assertion, with a private key that never leaves it, and the provider checks it with the registered public key (OpenID Connect Core §9, RFC 7523). Mutual TLS is the other option (RFC 8705). Microsoft Entra offers the first as a certificate credential.",
            ),
            text(
                "Neither replaces PKCE. Client authentication proves which app redeems a code; in code injection it is the right app that redeems it (RFC 9700 §4.5.2).",
            ),
        ],
    },
    Topic {
        id: "incremental-consent",
        title: "Asking for a permission when it is needed, and admin consent",
        paragraphs: &[
            text(
                "An app can ask for every permission at sign-in, or for each one when the feature that needs it is first used (incremental consent). This app signs people in with openid, profile and email, plus what it needs to keep access (offline_access, or Google's access_type=offline) and to read the profile (Microsoft's User.Read). It asks for mail only when /mail is opened: the page names the permission, says why and what the app will not do with it, and its button runs the authorization flow again for the sign-in's scopes plus the mail scope (RFC 6749 §3.3).",
            ),
            text(
                "Why not everything at once: a permission that an organisation or the provider treats as sensitive can stop people from signing in at all. Many organisations let only an administrator grant Mail.Read, and Google counts gmail.readonly as a restricted scope. Someone who only wanted to sign in should not be turned away for a feature they may never use.",
            ),
            text(
                "The second request has the same protections as a sign-in: state, PKCE and nonce, bound to this browser. It is stored with its purpose and the signed-in person and identity it belongs to, so the answer is used only if it comes back to that person and names the same account at the provider (issuer and sub). A different account is refused rather than switched to, and a refusal changes nothing: the person stays signed in, and /mail says mail was not allowed and offers to ask again. /flow records the request as an attempt of its own.",
            ),
            text(
                "The answer may grant less than was asked: Google's consent page lets people untick a permission, and the token response's scope then lists what was granted (RFC 6749 §5.1). The app compares it with what it asked for after every answer, and shows a missing mail scope as \"mail was not allowed\", not as a failure. Google's include_granted_scopes=true makes the new token carry the earlier grants too.",
            ),
            point(
                "Admin consent.",
                "Some organisations let only an administrator approve certain permissions. Microsoft then shows \"Need admin approval\" and answers with AADSTS90094 or 90095 (or 65001 from the token endpoint). Nothing the person does helps; this app's error page explains it and gives an address of this app to send to an administrator. Opened in the administrator's browser, it starts a request like a sign-in (a random state bound to that browser) to Microsoft's admin-consent endpoint ({authority}/{tenant}/v2.0/adminconsent with client_id, scope, redirect_uri and state), where they approve the app for the whole organisation. Microsoft sends them back to the app's callback with admin_consent=True (or an error) and the state, checked like any callback's; the app only reports the answer. One nobody here asked for is refused without showing its words, so nobody can make this site display a sentence of their choosing.",
            ),
        ],
    },
    Topic {
        id: "never-merged-by-email",
        title: "Why accounts are never merged because their emails match",
        paragraphs: &[
            text(
                "An account at a provider is known here by two values: the issuer and the sub it gives the person (OpenID Connect Core §5.7). Both come from the validated ID token, and sub is the provider's promise that it never goes to anyone else. The email claim makes no such promise: a provider may let people type any address without proving it, and an address can change hands when someone leaves an organisation or a domain expires.",
            ),
            text(
                "So an app that opened an existing account because a new sign-in shows the same email would let whoever controls that claim open someone else's account. This has happened: in the \"nOAuth\" attacks, an Entra ID tenant set a user's email to a victim's address (Microsoft's email claim is mutable and, for many accounts, unverified), and apps that merged by email handed over the victim's account. Microsoft's guidance is to key accounts on the issuer and the object or subject id, never on email.",
            ),
            text(
                "Here, two accounts belong to the same person only when that person links them: signed in with one, they press \"Link a … account\" on the profile and sign in with the other. That request has the same protections as a sign-in (state, PKCE, nonce, bound to the browser) and must come back to the same signed-in person. An account already linked to another person here is refused, not moved: the page says to sign in with it and unlink it there, or delete that account, first. Before the link, the person signs in again with the account they are signed in with, unless they did so in the last REAUTH_MAX_AGE seconds: a stolen session cookie must not be enough to link a stranger's account. /flow records a link as an attempt of its own.",
            ),
        ],
    },
    Topic {
        id: "deprecated-grants",
        title: "Grants not to use",
        paragraphs: &[
            text(
                "The implicit grant (response_type=token) returned the access token in the redirect URL itself, for browser apps of a time before cross-origin requests. The token then lands in browser history and Referer headers, cannot be bound to its client, and can be injected; RFC 9700 says clients should not use it (§2.1.2). Browser apps use the authorization-code flow with PKCE instead.",
            ),
            text(
                "The resource owner password credentials grant had the app collect the user's password and send it to the token endpoint. It exposes the password to the app, teaches people to type passwords into third parties, and cannot do multi-step sign-in such as two-factor checks or passkeys; RFC 9700 says it must not be used (§2.4).",
            ),
            text("The OAuth 2.1 draft leaves both grants out."),
        ],
    },
    Topic {
        id: "why-oauth",
        title: "Why OAuth, and not your own password form?",
        paragraphs: &[
            point(
                "The app never sees the password.",
                "The visitor types it only at the provider; a breach of this app leaks no passwords, and the provider's own protections (two-factor sign-in, suspicious-sign-in checks) apply.",
            ),
            point(
                "Access is limited.",
                "The access token works only for the scopes the visitor consented to (here: read the profile, and the mail once they allow it), and only for a while. The visitor can withdraw the app's access at the provider at any time: the app can then no longer refresh its tokens, but an access token that is a self-contained JSON Web Token, checked by the API on its own, usually keeps working until it expires, often after about an hour, unless the API supports continuous access evaluation, as Microsoft Graph does for some events (RFC 7009 §3).",
            ),
            point(
                "Who you are is kept apart from what the app may do.",
                "OpenID Connect's ID token answers \"who signed in\" (authentication); the access token answers \"what may the app read\" (authorization). An app can use one without the other.",
            ),
            point(
                "One protocol, many kinds of app.",
                "The same framework has flows for server-side web apps (this one), native apps (the authorization-code flow with PKCE, RFC 8252), browser apps (the same flow, per the draft on browser-based applications) and devices without a browser (the device flow, RFC 8628).",
            ),
        ],
    },
];
