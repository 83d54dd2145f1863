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
//! Where it comes back: to the provider's ordinary callback, the one redirect
//! URI already registered (the endpoint requires an exact registered match),
//! marked by `state=admin-consent` or `admin_consent`. That answer belongs to
//! the administrator's browser, not to the person who asked (often someone
//! else, elsewhere), so no pending sign-in or session can vouch for it: the
//! page it leads to only reports what Microsoft said and changes nothing on
//! the server. The person then asks for the permission again themselves.
//!
//! This module builds the address and reads the answer; it knows no provider
//! by name (a provider has an `AdminConsent` endpoint or not).

use url::Url;

use super::SignInError;
use super::callback::CallbackParams;
use super::plain_words::aadsts_code;
use crate::providers::{GRAPH_RESOURCE, MailApi, Provider};

/// The `state` of an admin-consent request: a marker, not a secret (see the
/// module documentation: nothing is decided by it).
pub const STATE: &str = "admin-consent";

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

/// The address to give an administrator: every scope the app may ask for
/// (sign-in and mail), Graph permissions with their resource as Microsoft's
/// example writes them, our registered callback, and the `state` marker.
pub fn url(provider: &Provider) -> Option<Url> {
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
        .append_pair("state", STATE);
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

/// The administrator's answer, if this callback is one (`state=admin-consent`
/// or an `admin_consent` parameter) and the provider has an admin-consent
/// endpoint; `None` for an ordinary callback.
pub fn outcome(provider: &Provider, params: &CallbackParams) -> Option<Outcome> {
    provider.admin_consent.as_ref()?;
    let marked = params.state.as_deref() == Some(STATE) || params.admin_consent.is_some();
    if !marked {
        return None;
    }
    let approved = params
        .admin_consent
        .as_deref()
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    Some(match (&params.error, approved) {
        (None, true) => Outcome::Approved {
            tenant: params.tenant.clone(),
        },
        (error, _) => Outcome::NotApproved {
            error: error.clone().unwrap_or_else(|| "not approved".to_owned()),
            description: params.error_description.clone(),
        },
    })
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
        let url = url(&provider).expect("Microsoft has one");
        assert!(
            url.as_str()
                .starts_with("https://login.microsoftonline.com/organizations/v2.0/adminconsent?"),
            "{url}"
        );
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["client_id"], "ms-id");
        assert_eq!(query["redirect_uri"], provider.redirect_uri.as_str());
        assert_eq!(query["state"], STATE);
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
        let provider = crate::providers::tests_support::microsoft();
        assert_eq!(
            outcome(
                &provider,
                &params("admin_consent=True&tenant=t1&scope=x&state=admin-consent")
            ),
            Some(Outcome::Approved {
                tenant: Some("t1".into())
            })
        );
        assert!(matches!(
            outcome(
                &provider,
                &params("error=access_denied&error_description=no&state=admin-consent")
            ),
            Some(Outcome::NotApproved { .. })
        ));
        assert_eq!(outcome(&provider, &params("code=c&state=s")), None);
    }
}
