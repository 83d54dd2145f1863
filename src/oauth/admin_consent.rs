//! Admin consent: when an organisation lets only an administrator approve
//! the permissions an app asks for, the person who tried cannot fix it, but
//! an administrator can approve the app for the whole organisation at once.
//!
//! Microsoft documents this as the admin-consent endpoint ("Admin consent on
//! the Microsoft identity platform", learn.microsoft.com/entra/identity-platform/v2-admin-consent):
//! `GET {authority}/{tenant}/v2.0/adminconsent?client_id=…&scope=…&redirect_uri=…&state=…`.
//! After the administrator answers, Microsoft sends their browser to
//! `redirect_uri` with `admin_consent=True`, `tenant`, `scope` and `state`,
//! or with `error` and `error_description` (and `state`).
//!
//! The person who met the refusal is often not an administrator, so the
//! error page gives them an address of *this app* to send to one
//! (`/auth/{provider}/admin-consent`, [`start`]). The administrator opens it
//! in their own browser, which starts the request like any other: a random
//! `state` bound to that browser, stored as a pending request
//! (`Purpose::AdminConsent`), then a redirect to the endpoint ([`url()`]).
//! The answer comes back to the provider's ordinary callback (the one
//! redirect URI already registered: the endpoint requires an exact match)
//! and is taken like any callback's: single-use `state`, the same browser,
//! ten minutes. Only then is it reported ([`outcome`]); an answer nobody
//! here asked for is refused (400) without showing a word of it, so no one
//! can make this origin display a sentence of their choosing. Nothing is
//! changed on the server either way: the person then asks for the
//! permission again themselves.
//!
//! This module builds the addresses and reads the answer; it knows no
//! provider by name (a provider has an `AdminConsent` endpoint or not).

use url::Url;

use super::SignInError;
use super::callback::CallbackParams;
use super::plain_words::aadsts_code;
use crate::providers::{GRAPH_RESOURCE, MailApi, Provider};

/// OpenID Connect scopes, written without a resource in any request.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Whether the provider's error says that an administrator must approve the
/// app: AADSTS65001 (nobody has consented, and the tenant may require an
/// administrator), 90094 (administrator approval required) and 90095 (the
/// same, and the person may send a request for it).
pub fn needed(error: &SignInError) -> bool {
    let description = match error {
        SignInError::AccessDenied { description }
        | SignInError::ProviderReportedError { description, .. }
        | SignInError::TokenRequestRejected { description, .. } => description.as_deref(),
        _ => None,
    };
    matches!(
        description.and_then(aadsts_code),
        Some(65001 | 90094 | 90095)
    )
}

/// This app's address that starts an admin-consent request, for the error
/// page to give to an administrator; `None` when the provider has no
/// admin-consent endpoint.
pub fn start(provider: &Provider, base_url: &Url) -> Option<Box<Url>> {
    provider.admin_consent.as_ref()?;
    base_url
        .join(&format!("/auth/{}/admin-consent", provider.id))
        .ok()
        .map(Box::new)
}

/// The provider's admin-consent address for a request with `state`: every
/// scope the app may ask for (sign-in and mail), Graph permissions with
/// their resource as Microsoft's example writes them, and our registered
/// callback.
pub fn url(provider: &Provider, state: &str) -> Option<Url> {
    let admin_consent = provider.admin_consent.as_ref()?;
    let graph = matches!(provider.mail_api, Some(MailApi::MicrosoftGraph { .. }));
    let scope: Vec<String> = provider
        .scopes
        .iter()
        .chain(&provider.mail_scopes)
        .map(|scope| {
            if graph && !OIDC_SCOPES.contains(&scope.as_str()) && !scope.contains("://") {
                format!("{GRAPH_RESOURCE}/{scope}")
            } else {
                scope.clone()
            }
        })
        .collect();
    let mut url = admin_consent.endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", &provider.client_id)
        .append_pair("scope", &scope.join(" "))
        .append_pair("redirect_uri", provider.redirect_uri.as_str())
        .append_pair("state", state);
    Some(url)
}

/// What an administrator's answer said, as Microsoft reported it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// `admin_consent=True`: approved for the organisation `tenant`.
    Approved { tenant: Option<String> },
    /// An `error` (or no approval): not approved.
    NotApproved {
        error: String,
        description: Option<String>,
    },
}

/// What the administrator answered, read from the callback of a request
/// this browser started (checked by `flow::finish` before this is called).
pub fn outcome(params: &CallbackParams) -> Outcome {
    let approved = params
        .admin_consent
        .as_deref()
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    match (&params.error, approved) {
        (None, true) => Outcome::Approved {
            tenant: params.tenant.clone(),
        },
        (error, _) => Outcome::NotApproved {
            error: error.clone().unwrap_or_else(|| "not approved".to_owned()),
            description: params.error_description.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(description: &str) -> SignInError {
        SignInError::AccessDenied {
            description: Some(description.to_owned()),
        }
    }

    #[test]
    fn the_codes_that_need_an_administrator_are_recognised() {
        for description in [
            "AADSTS65001: The user or administrator has not consented to use the application.",
            "AADSTS90094: Admin consent is required.",
            "AADSTS90095: Admin consent is required, request approval.",
        ] {
            assert!(needed(&denied(description)), "{description}");
        }
        assert!(!needed(&denied("AADSTS65004: User declined to consent.")));
        assert!(!needed(&denied("The user denied consent")));
        assert!(!needed(&SignInError::MissingCode));
    }

    #[test]
    fn the_address_names_our_client_our_callback_and_every_permission() {
        let provider = crate::providers::tests_support::microsoft();
        let url = url(&provider, "the-state").expect("Microsoft has one");
        assert!(
            url.as_str()
                .starts_with("https://login.microsoftonline.com/organizations/v2.0/adminconsent?"),
            "{url}"
        );
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["client_id"], "ms-id");
        assert_eq!(query["redirect_uri"], provider.redirect_uri.as_str());
        assert_eq!(query["state"], "the-state");
        let scopes: Vec<&str> = query["scope"].split(' ').collect();
        assert!(
            scopes.contains(&"https://graph.microsoft.com/Mail.Read"),
            "{scopes:?}"
        );
        assert!(
            scopes.contains(&"https://graph.microsoft.com/User.Read"),
            "{scopes:?}"
        );
        assert!(scopes.contains(&"openid"), "{scopes:?}");
    }

    fn params(query: &str) -> CallbackParams {
        serde_urlencoded::from_str(query).expect("parses")
    }

    #[test]
    fn the_administrators_answer_is_read_from_the_documented_parameters() {
        assert_eq!(
            outcome(&params("admin_consent=True&tenant=t1&scope=x&state=s")),
            Outcome::Approved {
                tenant: Some("t1".into())
            }
        );
        assert!(matches!(
            outcome(&params("error=access_denied&error_description=no&state=s")),
            Outcome::NotApproved { .. }
        ));
        assert!(matches!(
            outcome(&params("admin_consent=False&state=s")),
            Outcome::NotApproved { .. }
        ));
    }
}
