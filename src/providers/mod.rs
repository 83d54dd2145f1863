//! Providers described as data: who they are, how the protocol runs with them
//! (OpenID Connect or plain OAuth 2.0), which scopes we ask for, and which APIs
//! serve the profile and, where there is one, the mail.
//!
//! The sign-in flow (`oauth`) and the API clients (`api`) read these descriptions
//! and never branch on a provider's name. Adding a provider means one new file here
//! that builds a [`Provider`] from configuration (see docs/ADDING_A_PROVIDER.md).
//! Nothing in this module knows about HTTP requests or sessions.

#[cfg(feature = "demo-provider")]
pub mod demo;
pub mod github;
pub mod google;
pub mod microsoft;
pub mod oidc;

use secrecy::SecretString;
use url::Url;

use crate::config::{ClientCredentials, Config};

/// One configured provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Stable id used in routes (`/auth/{id}/login`) and stored with identities.
    pub id: &'static str,
    /// Shown on buttons: "Sign in with {display_name}".
    pub display_name: String,
    /// Step 1 of the flow: what registering the app at the provider gave us
    /// (RFC 6749 §2.2 client identifier, §2.3.1 client password).
    pub client_id: String,
    pub client_secret: SecretString,
    /// How the client secret is sent to the token endpoint (RFC 6749 §2.3.1).
    pub client_auth: ClientAuth,
    /// Our callback, exactly as registered at the provider (RFC 6749 §3.1.2).
    pub redirect_uri: Url,
    /// How sign-in works with this provider.
    pub protocol: Protocol,
    /// Scopes requested at sign-in (RFC 6749 §3.3): who the person is, and
    /// a refresh token where the provider needs a scope for it. Never the
    /// mail: organisations often let nobody but an administrator grant it,
    /// so asking for it up front can stop people from signing in at all.
    pub scopes: Vec<String>,
    /// Scopes the mail API needs, asked for only when the person opens their
    /// mail (incremental consent: `routes::mail::ask_mail_permission`),
    /// together with `scopes`. Empty when there is no `mail_api`.
    pub mail_scopes: Vec<String>,
    /// Provider-specific parameters added to the authorization request, such as
    /// Google's `access_type=offline`.
    pub extra_authorization_params: Vec<(&'static str, &'static str)>,
    /// Parameters added only when asking for more scopes than at sign-in,
    /// such as Google's `include_granted_scopes=true` (the new token then
    /// carries the earlier grants too).
    pub incremental_authorization_params: Vec<(&'static str, &'static str)>,
    /// Where an administrator can approve the app's permissions for a whole
    /// organisation (Microsoft's admin-consent endpoint), if the provider
    /// has one.
    pub admin_consent: Option<AdminConsent>,
    /// Scopes the token response writes differently from how we ask for
    /// them, as (asked, granted): Google answers `email` and `profile` with
    /// `https://www.googleapis.com/auth/userinfo.email` and `….profile`.
    pub scope_aliases: Vec<(&'static str, &'static str)>,
    /// Where the profile page's data comes from (step 7).
    pub profile_api: ProfileApi,
    /// The provider's mail API, if it has one (step 7).
    pub mail_api: Option<MailApi>,
    /// How the app can revoke what the person granted it ("Sign out of
    /// {provider} too", account deletion).
    pub revocation: Revocation,
    /// What the person can do themselves at the provider after signing out
    /// here (shown on `/signed-out`), if anything is worth saying.
    pub sign_out_advice: Option<&'static str>,
    /// How the provider is asked to let the person choose or sign in with
    /// another account, when they link one: most often the account they are
    /// signed in with there is the one already linked.
    pub account_choice: Prompt,
}

/// What an authorization request asks the provider to show, whatever it
/// remembers (`prompt`, OIDC Core §3.1.2.1; GitHub documents
/// `select_account` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The consent page, even if the person consented before.
    Consent,
    /// A new sign-in, even if the person is signed in there.
    Login,
    /// The account chooser, with a way to add another account.
    SelectAccount,
}

impl Prompt {
    /// The parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Consent => "consent",
            Prompt::Login => "login",
            Prompt::SelectAccount => "select_account",
        }
    }
}

/// How an app revokes its grant at the provider.
#[derive(Debug, Clone)]
pub enum Revocation {
    /// OAuth 2.0 Token Revocation (RFC 7009) at the discovery document's
    /// `revocation_endpoint`, if it lists one (the demo provider and Google
    /// do; Microsoft does not). The refresh token first, then the access
    /// token (RFC 7009 §2.1: revoking a refresh token may also revoke the
    /// access tokens of the same grant).
    Discovered,
    /// GitHub's "Delete an app authorization": `DELETE
    /// {api}/applications/{client_id}/grant` with the app's credentials as
    /// HTTP Basic and the access token in the JSON body. It revokes every
    /// token of the grant (tests/fixtures/github/lifecycle_notes.txt).
    GitHubGrant { api_url: Url },
}

/// How we authenticate to the token endpoint with the client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`), which every server must support
    /// (RFC 6749 §2.3.1) and OpenID Connect's default.
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`),
    /// for servers that document only that (GitHub).
    RequestBody,
}

/// The protocol a provider speaks.
#[derive(Debug, Clone)]
pub enum Protocol {
    /// OpenID Connect: endpoints and signing keys from
    /// `{issuer}/.well-known/openid-configuration` (Discovery 1.0 §4), and an ID
    /// token that says who signed in (Core §3.1.3.7).
    OpenIdConnect {
        /// The issuer identifier, exactly as the provider writes it.
        issuer: String,
        /// How the ID token's `iss` relates to the discovery document's `issuer`.
        issuer_check: IssuerCheck,
    },
    /// Plain OAuth 2.0 (RFC 6749) with fixed endpoints and no ID token: who signed
    /// in is asked from the provider's API with the new access token.
    OAuth2 {
        authorization_endpoint: Url,
        token_endpoint: Url,
        /// What the provider names itself in the callback's `iss` (RFC 9207),
        /// if it sends one: checked when present (`oauth::flow::exchange`).
        issuer: Option<String>,
    },
}

/// How an issuer is validated. Issuer validation is never off; these say what
/// "the same issuer" means for providers that document an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerCheck {
    /// The discovery document's `issuer` equals the configured issuer, and the ID
    /// token's `iss` equals it (Discovery 1.0 §4.3, Core §3.1.3.7 step 2).
    Exact,
    /// As `Exact`, but the ID token's `iss` may also be the issuer without
    /// `https://`: Google documents both `https://accounts.google.com` and
    /// `accounts.google.com`.
    ExactOrWithoutScheme,
    /// Microsoft's multi-tenant endpoints (`common`, `organizations`,
    /// `consumers`, or a domain): the discovery document names the issuer
    /// `{authority}/{tenantid}/v2.0` (a template, or one tenant's id), and an ID
    /// token's `iss` must equal it with `{tenantid}` replaced by the token's own
    /// `tid` claim.
    MicrosoftTenant,
}

/// Where the profile comes from.
#[derive(Debug, Clone)]
pub enum ProfileApi {
    /// Microsoft Graph v1.0 `/me` and `/me/photo/$value` at this base URL.
    MicrosoftGraph { base_url: Url },
    /// The OpenID Connect userinfo endpoint named in discovery (Core §5.3).
    OpenIdUserInfo,
    /// GitHub's REST API `/user` and `/user/emails` at this base URL.
    GitHub { base_url: Url },
}

/// The resource that Microsoft Graph permissions belong to, as Microsoft
/// writes it before a permission's name in a token response's `scope`.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// Microsoft's admin-consent endpoint for one tenant (Microsoft identity
/// platform, "Admin consent on the Microsoft identity platform"):
/// `{authority}/{tenant}/v2.0/adminconsent?client_id=…&scope=…&redirect_uri=…&state=…`.
#[derive(Debug, Clone)]
pub struct AdminConsent {
    /// `{authority}/{tenant}/v2.0/adminconsent`.
    pub endpoint: Url,
}

/// Where mail comes from.
#[derive(Debug, Clone)]
pub enum MailApi {
    /// Microsoft Graph v1.0 `/me/messages` at this base URL.
    MicrosoftGraph { base_url: Url },
    /// Gmail API v1 `users/me/messages` at this base URL.
    Gmail { base_url: Url },
}

impl Provider {
    /// The parts every provider shares: who we are at the provider, and our
    /// callback. Each provider's file fills in the rest.
    fn registered(
        id: &'static str,
        display_name: impl Into<String>,
        credentials: &ClientCredentials,
        config: &Config,
        protocol: Protocol,
        profile_api: ProfileApi,
    ) -> Provider {
        Provider {
            id,
            display_name: display_name.into(),
            client_id: credentials.client_id.clone(),
            client_secret: credentials.client_secret.clone(),
            client_auth: ClientAuth::Basic,
            redirect_uri: config.redirect_uri(id),
            protocol,
            scopes: Vec::new(),
            mail_scopes: Vec::new(),
            extra_authorization_params: Vec::new(),
            incremental_authorization_params: Vec::new(),
            admin_consent: None,
            scope_aliases: Vec::new(),
            profile_api,
            mail_api: None,
            revocation: Revocation::Discovered,
            sign_out_advice: None,
            // Every OpenID Connect provider knows `login`; the ones that
            // document an account chooser say so in their own module.
            account_choice: Prompt::Login,
        }
    }

    /// The same provider, asking for the mail scopes on top of the sign-in
    /// ones, with the parameters of an incremental request: what an
    /// authorization request for the mail permission sends, and what its
    /// code exchange assumes was granted when the token response has no
    /// `scope` (RFC 6749 §5.1).
    pub fn asking_for_mail(&self) -> Provider {
        let mut provider = self.clone();
        for scope in &self.mail_scopes {
            if !provider.scopes.contains(scope) {
                provider.scopes.push(scope.clone());
            }
        }
        provider
            .extra_authorization_params
            .extend(self.incremental_authorization_params.iter().copied());
        provider
    }

    /// The same provider, taking `granted` as what was asked for: a refresh
    /// answer without `scope` keeps the scopes of the grant it renews
    /// (RFC 6749 §5.1 and §6), which may include the mail.
    /// (Tokens stored without scopes keep the sign-in's.)
    pub fn granted(&self, granted: &[String]) -> Provider {
        let mut provider = self.clone();
        if !granted.is_empty() {
            provider.scopes = granted.to_vec();
        }
        provider
    }

    /// The mail scopes missing from `granted` (all of them present: empty).
    /// Microsoft writes a Graph permission in a token response with its
    /// resource (`https://graph.microsoft.com/Mail.Read`) although we ask
    /// for it without one (`Mail.Read`: Graph is the default resource), and
    /// compares permission names without regard to case.
    pub fn missing_mail_scopes(&self, granted: &[String]) -> Vec<String> {
        self.mail_scopes
            .iter()
            .filter(|wanted| !self.is_granted(wanted, granted))
            .cloned()
            .collect()
    }

    /// Whether `granted` (a token response's `scope`) includes `wanted` (a
    /// scope as we ask for it), however the provider writes it: as asked, as
    /// one of `scope_aliases`, or, for Graph, with its resource.
    pub fn is_granted(&self, wanted: &str, granted: &[String]) -> bool {
        let graph = matches!(self.mail_api, Some(MailApi::MicrosoftGraph { .. }));
        granted.iter().any(|scope| {
            scope == wanted
                || self
                    .scope_aliases
                    .iter()
                    .any(|(asked, written)| *asked == wanted && scope == written)
                || graph
                    && scope
                        .strip_prefix(GRAPH_RESOURCE)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|name| name.eq_ignore_ascii_case(wanted))
        })
    }

    /// The issuer, for OpenID Connect providers.
    pub fn issuer(&self) -> Option<&str> {
        match &self.protocol {
            Protocol::OpenIdConnect { issuer, .. } => Some(issuer),
            Protocol::OAuth2 { .. } => None,
        }
    }
}

/// `base` with `segments` appended to its path, each one percent-encoded (so a
/// segment cannot add path parts or a query).
#[expect(
    clippy::expect_used,
    reason = "configuration only accepts http(s) URLs with a host, which always have a path"
)]
pub fn join_path(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("an http(s) URL can have path segments")
        .pop_if_empty()
        .extend(segments);
    url
}

/// `scopes` as owned strings.
fn scopes(scopes: &[&str]) -> Vec<String> {
    scopes.iter().map(|scope| (*scope).to_owned()).collect()
}

/// All configured providers, in the order they are offered.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    list: Vec<Provider>,
}

impl Providers {
    /// Builds the provider list from configuration: a provider appears only when
    /// it is configured. Real providers first, the demo last.
    pub fn from_config(config: &Config) -> Self {
        let list = [
            config
                .microsoft
                .as_ref()
                .map(|microsoft| microsoft::provider(microsoft, config)),
            config
                .google
                .as_ref()
                .map(|google| google::provider(google, config)),
            config
                .github
                .as_ref()
                .map(|github| github::provider(github, config)),
            config
                .oidc
                .as_ref()
                .map(|oidc| oidc::provider(oidc, config)),
            #[cfg(feature = "demo-provider")]
            config
                .demo
                .as_ref()
                .map(|demo| demo::provider(demo, config)),
        ]
        .into_iter()
        .flatten()
        .collect();
        Providers { list }
    }

    /// Adds a provider (tests add fakes; ids must be unique).
    pub fn add(&mut self, provider: Provider) {
        self.list.retain(|existing| existing.id != provider.id);
        self.list.push(provider);
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|provider| provider.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.list.iter()
    }
}

/// Providers built from configuration, for unit tests elsewhere.
#[cfg(test)]
#[expect(clippy::expect_used, reason = "test set-up")]
pub(crate) mod tests_support {
    use super::Provider;
    use crate::config::Config;

    /// Microsoft through `common`, as configured by its variables.
    pub(crate) fn microsoft() -> Provider {
        let dir = tempfile::tempdir().expect("temp dir");
        let lookup = |name: &str| match name {
            "MICROSOFT_CLIENT_ID" => Some("ms-id".to_owned()),
            "MICROSOFT_CLIENT_SECRET" => Some("ms-secret".to_owned()),
            _ => None,
        };
        let config = Config::from_lookup(&lookup, dir.path()).expect("config");
        let microsoft = config.microsoft.as_ref().expect("configured");
        super::microsoft::provider(microsoft, &config)
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::microsoft;

    #[test]
    fn graph_permissions_count_as_granted_with_or_without_their_resource() {
        let provider = microsoft();
        let granted = |scopes: &[&str]| -> Vec<String> {
            scopes.iter().map(|scope| (*scope).to_owned()).collect()
        };
        assert!(
            provider
                .missing_mail_scopes(&granted(&[
                    "openid",
                    "https://graph.microsoft.com/Mail.Read"
                ]))
                .is_empty()
        );
        assert!(
            provider
                .missing_mail_scopes(&granted(&["https://graph.microsoft.com/mail.read"]))
                .is_empty(),
            "Microsoft compares permission names without regard to case"
        );
        assert!(
            provider
                .missing_mail_scopes(&granted(&["Mail.Read"]))
                .is_empty()
        );
        assert_eq!(
            provider.missing_mail_scopes(&granted(&[
                "openid",
                "https://graph.microsoft.com/User.Read",
                "https://evil.example/Mail.Read",
            ])),
            ["Mail.Read"]
        );
    }

    #[test]
    fn sign_in_asks_for_no_mail_and_the_mail_request_adds_it() {
        let provider = microsoft();
        assert!(!provider.scopes.iter().any(|scope| scope == "Mail.Read"));
        let asking = provider.asking_for_mail();
        assert!(asking.scopes.iter().any(|scope| scope == "Mail.Read"));
        assert!(asking.scopes.iter().any(|scope| scope == "openid"));
    }
}
