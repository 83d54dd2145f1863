//! "Is my configuration right?": for each configured provider, the redirect URI
//! to register, whether the client secret is set (never its value), whether
//! discovery and the signing keys are reachable, what the provider supports,
//! the clock difference, and warnings about scopes with consequences.
//! `/setup` shows it; the same checks are logged at start. In production
//! `/setup` shows only each check's [`ProviderSummary`].

use serde::Serialize;

use super::discovery::DiscoveryFacts;
use super::flow::SignInFlow;
use super::id_token::MAX_CLOCK_SKEW;
use crate::providers::{Protocol, Provider, Providers};

/// Scopes whose consequences a developer should know before going live, by
/// provider (the demo provider asks for Microsoft's scopes without them).
const SCOPE_WARNINGS: [(&str, &str, &str); 2] = [
    (
        crate::providers::google::ID,
        "https://www.googleapis.com/auth/gmail.readonly",
        "gmail.readonly is a restricted scope: it works for the test users of an app in \"Testing\", but publishing the app needs Google's verification and a security assessment.",
    ),
    (
        crate::providers::microsoft::ID,
        "Mail.Read",
        "Mail.Read is a delegated Graph permission that users can usually grant themselves, but an organisation's consent policy can require an administrator to grant it (AADSTS65001 until then).",
    ),
];

/// What `/setup` shows for one provider.
#[derive(Debug, Serialize)]
pub struct ProviderCheck {
    pub id: &'static str,
    pub name: String,
    /// Register exactly this at the provider (RFC 6749 §3.1.2).
    pub redirect_uri: String,
    pub client_id: String,
    /// Whether a secret is configured; its value is never shown.
    pub client_secret_set: bool,
    pub protocol: &'static str,
    /// (name, URL) of the endpoints in use.
    pub endpoints: Vec<(String, String)>,
    /// Asked at sign-in.
    pub scopes: Vec<String>,
    /// Asked when the person opens their mail.
    pub mail_scopes: Vec<String>,
    /// For OpenID Connect providers: what discovery said, or why it failed.
    pub discovery: Option<DiscoveryFacts>,
    pub discovery_error: Option<String>,
    pub warnings: Vec<String>,
}

/// What `/setup` shows of a provider in production (https APP_BASE_URL), to
/// anyone: whether it is set up and working, without the client id, redirect
/// URI, scopes, endpoints or the text of discovery errors and warnings. Those
/// describe the deployment to whoever asks; its operator reads them in the
/// start-up log. Being signed in does not show more: anyone with an account at
/// a provider can sign in, which does not make them an operator.
#[derive(Debug, Serialize)]
pub struct ProviderSummary {
    pub id: &'static str,
    pub name: String,
    pub protocol: &'static str,
    pub client_id_set: bool,
    pub client_secret_set: bool,
    /// For OpenID Connect providers: whether discovery and keys were reachable.
    pub discovery: Option<&'static str>,
    /// How many warnings the log has for it.
    pub warnings: usize,
}

impl From<&ProviderCheck> for ProviderSummary {
    fn from(check: &ProviderCheck) -> Self {
        ProviderSummary {
            id: check.id,
            name: check.name.clone(),
            protocol: check.protocol,
            client_id_set: !check.client_id.is_empty(),
            client_secret_set: check.client_secret_set,
            discovery: match (&check.discovery, &check.discovery_error) {
                (Some(_), _) => Some("reachable"),
                (None, Some(_)) => Some("not reachable (see the log)"),
                (None, None) => None,
            },
            warnings: check.warnings.len(),
        }
    }
}

impl SignInFlow {
    /// Checks every provider once, at start (`diagnostics`): discovery
    /// documents and keys are fetched, so the first sign-in does not wait for
    /// them, and a misconfiguration shows in the log at once. A failure is
    /// logged, not fatal: the provider may be back by the time someone signs in.
    pub async fn warm_up(&self, providers: &Providers) {
        for check in self.diagnose(providers).await {
            match &check.discovery_error {
                None => tracing::info!(provider = check.id, "provider checked; details at /setup"),
                Some(error) => tracing::warn!(
                    provider = check.id,
                    "discovery failed at start (will retry at the first sign-in): {error}"
                ),
            }
            for warning in &check.warnings {
                tracing::warn!(provider = check.id, "{warning}");
            }
        }
    }

    /// Checks every configured provider (discovery comes from the cache when
    /// it is fresh, so this is cheap after start-up).
    pub async fn diagnose(&self, providers: &Providers) -> Vec<ProviderCheck> {
        let mut checks = Vec::new();
        for provider in providers.iter() {
            checks.push(self.diagnose_one(provider).await);
        }
        checks
    }

    async fn diagnose_one(&self, provider: &Provider) -> ProviderCheck {
        let mut check = ProviderCheck {
            id: provider.id,
            name: provider.display_name.clone(),
            redirect_uri: provider.redirect_uri.to_string(),
            client_id: provider.client_id.clone(),
            client_secret_set: !secrecy::ExposeSecret::expose_secret(&provider.client_secret)
                .is_empty(),
            protocol: "OpenID Connect",
            endpoints: Vec::new(),
            scopes: provider.scopes.clone(),
            mail_scopes: provider.mail_scopes.clone(),
            discovery: None,
            discovery_error: None,
            warnings: SCOPE_WARNINGS
                .iter()
                .filter(|(id, scope, _)| {
                    *id == provider.id
                        && provider
                            .scopes
                            .iter()
                            .chain(&provider.mail_scopes)
                            .any(|asked| asked == scope)
                })
                .map(|(_, _, warning)| (*warning).to_owned())
                .collect(),
        };
        match &provider.protocol {
            Protocol::OAuth2 {
                authorization_endpoint,
                token_endpoint,
                ..
            } => {
                check.protocol = "OAuth 2.0 (no OpenID Connect)";
                check.endpoints = vec![
                    ("authorization".into(), authorization_endpoint.to_string()),
                    ("token".into(), token_endpoint.to_string()),
                ];
            }
            Protocol::OpenIdConnect { issuer, .. } => {
                check.endpoints.push(("issuer".into(), issuer.clone()));
                match self.discovery.metadata(provider, &self.http, false).await {
                    Ok(discovered) => {
                        let metadata = &discovered.metadata;
                        check.endpoints.push((
                            "authorization".into(),
                            metadata.authorization_endpoint().url().to_string(),
                        ));
                        if let Some(token) = metadata.token_endpoint() {
                            check
                                .endpoints
                                .push(("token".into(), token.url().to_string()));
                        }
                        if let Some(userinfo) = metadata.userinfo_endpoint() {
                            check
                                .endpoints
                                .push(("userinfo".into(), userinfo.url().to_string()));
                        }
                        check
                            .endpoints
                            .push(("jwks".into(), metadata.jwks_uri().url().to_string()));
                        check.warnings.extend(fact_warnings(&discovered.facts));
                        check.discovery = Some(discovered.facts.clone());
                    }
                    Err(error) => check.discovery_error = Some(format!("{error}: {error:?}")),
                }
            }
        }
        check
    }
}

/// Warnings about the app's own settings.
pub fn app_warnings(base_url: &url::Url, providers: &Providers) -> Vec<String> {
    let mut warnings = Vec::new();
    let local = matches!(
        base_url.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]")
    );
    if base_url.scheme() != "https" && !local {
        warnings.push(format!(
            "APP_BASE_URL is {base_url}: without https, cookies are not Secure and codes travel in clear. Use https:// in production."
        ));
    }
    #[cfg(feature = "demo-provider")]
    if providers.get(crate::providers::demo::ID).is_some() && !local {
        warnings.push(
            "The demo provider is on (DEMO_PROVIDER): it signs in anyone who clicks a demo account. Turn it off in production.".to_owned(),
        );
    }
    if providers.iter().next().is_none() {
        warnings.push("No provider is configured: nobody can sign in.".to_owned());
    }
    warnings
}

/// Warnings from what discovery said.
fn fact_warnings(facts: &DiscoveryFacts) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(methods) = &facts.pkce_methods
        && !methods.iter().any(|method| method == "S256")
    {
        warnings.push(
            "The discovery document does not list PKCE S256; the app sends it anyway (RFC 9700 §2.1.1), check that the provider accepts it.".to_owned(),
        );
    }
    if let Some(skew) = facts.clock_skew_secs
        && skew.unsigned_abs() > MAX_CLOCK_SKEW.as_secs()
    {
        warnings.push(format!(
            "The provider's clock differs from ours by {skew} s, more than the {} s accepted on ID tokens: fix this machine's time (NTP).",
            MAX_CLOCK_SKEW.as_secs()
        ));
    }
    if facts.signing_keys == 0 {
        warnings.push("The JWKS has no keys: ID tokens cannot be verified.".to_owned());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_skew_missing_s256_and_empty_keys_are_warned_about() {
        let facts = DiscoveryFacts {
            pkce_methods: Some(vec!["plain".into()]),
            clock_skew_secs: Some(-300),
            signing_keys: 0,
            ..DiscoveryFacts::default()
        };
        let warnings = fact_warnings(&facts);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        let fine = DiscoveryFacts {
            pkce_methods: None,
            clock_skew_secs: Some(2),
            signing_keys: 2,
            ..DiscoveryFacts::default()
        };
        assert!(fact_warnings(&fine).is_empty());
    }
}
