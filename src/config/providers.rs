//! Each provider's settings: its client credentials (step 1: what
//! registering the app gave us) and its URLs. A provider's variables are read
//! only when its client id and secret are set; nothing else turns it on.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::{ConfigError, invalid, parse_seconds, parse_socket, url_for_socket};

/// Step 1 of the flow: what registering the app at a provider gives us
/// (RFC 6749 §2.2 client identifier, §2.3.1 client password).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// {PREFIX}_CLIENT_ID
    pub client_id: String,
    /// {PREFIX}_CLIENT_SECRET
    pub client_secret: SecretString,
}

/// Microsoft identity platform v2.0 and Microsoft Graph.
#[derive(Debug, Clone)]
pub struct MicrosoftConfig {
    /// MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET
    pub credentials: ClientCredentials,
    /// MICROSOFT_TENANT: `common` (default), `organizations`, `consumers`, a
    /// tenant id or a verified domain.
    pub tenant: String,
    /// MICROSOFT_AUTHORITY: the sign-in host (default
    /// `https://login.microsoftonline.com`; other national clouds have their own).
    pub authority: Url,
    /// MICROSOFT_GRAPH_URL: the Graph host (default `https://graph.microsoft.com`).
    pub graph_url: Url,
}

/// Google's OpenID Connect provider and the Gmail API.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET
    pub credentials: ClientCredentials,
    /// GOOGLE_ISSUER: default `https://accounts.google.com` (tests point it at a fake).
    pub issuer: String,
    /// GMAIL_API_URL: default `https://gmail.googleapis.com`.
    pub gmail_url: Url,
}

/// GitHub's OAuth 2.0 (no OpenID Connect) and REST API.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET
    pub credentials: ClientCredentials,
    /// GITHUB_URL: where `/login/oauth/...` lives (default `https://github.com`).
    pub url: Url,
    /// GITHUB_API_URL: the REST API (default `https://api.github.com`).
    pub api_url: Url,
}

/// Any OpenID Connect issuer (Keycloak, Auth0, Okta, Authentik, ...).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
    pub credentials: ClientCredentials,
    /// OIDC_ISSUER: must equal the `issuer` of its discovery document, character
    /// for character (so it is kept as written, trailing slash or not).
    pub issuer: String,
    /// OIDC_DISPLAY_NAME: the button's name (default "OpenID Connect").
    pub display_name: String,
    /// OIDC_SCOPES: space-separated, must include `openid` (default "openid profile email").
    pub scopes: Vec<String>,
}

/// Settings of the built-in demo provider and of our registration with it.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// DEMO_PROVIDER: `on` runs it in this process (`true`); `external` means
    /// it runs as its own process, started with the `demo-provider` binary.
    pub run_here: bool,
    /// DEMO_PROVIDER_BIND: where the demo provider listens (default `127.0.0.1:8081`).
    /// Its issuer URL is `http://` + this address.
    pub bind: SocketAddr,
    /// DEMO_TOKEN_TTL: lifetime of its access tokens in seconds (default 3600).
    pub token_ttl: Duration,
    /// DEMO_CLIENT_ID: our client id at the demo provider (default `signin-reference`).
    pub client_id: String,
    /// DEMO_CLIENT_SECRET: our client secret at the demo provider. When unset, a
    /// random one is generated at each start: both sides run in this process.
    pub client_secret: SecretString,
}

impl DemoConfig {
    /// The demo provider's issuer, derived from where it listens.
    pub fn issuer(&self) -> Url {
        url_for_socket(self.bind)
    }
}

/// DEMO_PROVIDER and its variables: on by default in development, off in
/// production unless asked for by name (`production`).
pub(super) fn demo(
    var: &dyn Fn(&str) -> Option<String>,
    production: bool,
) -> Result<Option<DemoConfig>, ConfigError> {
    // `external`: the demo provider runs as its own process (the
    // `demo-provider` binary, used by the benchmark); this app only uses it.
    let demo_mode = var("DEMO_PROVIDER").as_deref().map(str::to_ascii_lowercase);
    let run_demo_here = match demo_mode.as_deref() {
        // The demo provider signs in anyone who clicks a demo account: in
        // production only when asked for by name (and then every page says so).
        None if production => None,
        None | Some("on") => Some(true),
        Some("external") => Some(false),
        Some("off") => None,
        Some(_) => {
            return Err(invalid(
                "DEMO_PROVIDER",
                "must be `on`, `off` or `external`",
            ));
        }
    };
    // Built without the demo provider: asking for it is a mistake to
    // report, not to ignore.
    #[cfg(not(feature = "demo-provider"))]
    let run_demo_here: Option<bool> = match (demo_mode.as_deref(), run_demo_here) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "DEMO_PROVIDER",
                "this build has no demo provider (it was built without the `demo-provider` feature): leave DEMO_PROVIDER unset or set it to `off`",
            ));
        }
        _ => None,
    };
    run_demo_here
        .map(|run_here| -> Result<DemoConfig, ConfigError> {
            let client_secret = match var("DEMO_CLIENT_SECRET") {
                Some(secret) => secret,
                // Both sides must know it: a random one only works in one process.
                None if !run_here => {
                    return Err(invalid(
                        "DEMO_CLIENT_SECRET",
                        "must be set when DEMO_PROVIDER=external, to the same value as the demo provider's",
                    ));
                }
                None => crate::crypto::random_url_safe(32),
            };
            Ok(DemoConfig {
                run_here,
                bind: parse_socket(
                    "DEMO_PROVIDER_BIND",
                    &var("DEMO_PROVIDER_BIND").unwrap_or_else(|| "127.0.0.1:8081".into()),
                )?,
                token_ttl: Duration::from_secs(parse_seconds(
                    "DEMO_TOKEN_TTL",
                    var("DEMO_TOKEN_TTL"),
                    3600,
                )?),
                client_id: var("DEMO_CLIENT_ID").unwrap_or_else(|| "signin-reference".into()),
                client_secret: SecretString::from(client_secret),
            })
        })
        .transpose()
}

/// MICROSOFT_*: the identity platform and Graph.
pub(super) fn microsoft(
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<MicrosoftConfig>, ConfigError> {
    client_credentials(&var, "MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET")?
        .map(|credentials| -> Result<MicrosoftConfig, ConfigError> {
            let tenant = var("MICROSOFT_TENANT").unwrap_or_else(|| "common".into());
            // It becomes a path segment of every sign-in URL.
            if !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return Err(invalid(
                    "MICROSOFT_TENANT",
                    "must be common, organizations, consumers, a tenant id or a domain",
                ));
            }
            Ok(MicrosoftConfig {
                credentials,
                tenant,
                authority: provider_url(
                    "MICROSOFT_AUTHORITY",
                    var("MICROSOFT_AUTHORITY"),
                    "https://login.microsoftonline.com",
                )?,
                graph_url: provider_url(
                    "MICROSOFT_GRAPH_URL",
                    var("MICROSOFT_GRAPH_URL"),
                    "https://graph.microsoft.com",
                )?,
            })
        })
        .transpose()
}

/// GOOGLE_* and GMAIL_API_URL.
pub(super) fn google(
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<GoogleConfig>, ConfigError> {
    client_credentials(&var, "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")?
        .map(|credentials| -> Result<GoogleConfig, ConfigError> {
            Ok(GoogleConfig {
                credentials,
                issuer: issuer_identifier(
                    "GOOGLE_ISSUER",
                    var("GOOGLE_ISSUER"),
                    "https://accounts.google.com",
                )?,
                gmail_url: provider_url(
                    "GMAIL_API_URL",
                    var("GMAIL_API_URL"),
                    "https://gmail.googleapis.com",
                )?,
            })
        })
        .transpose()
}

/// GITHUB_*.
pub(super) fn github(
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<GitHubConfig>, ConfigError> {
    client_credentials(&var, "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")?
        .map(|credentials| -> Result<GitHubConfig, ConfigError> {
            Ok(GitHubConfig {
                credentials,
                url: provider_url("GITHUB_URL", var("GITHUB_URL"), "https://github.com")?,
                api_url: provider_url(
                    "GITHUB_API_URL",
                    var("GITHUB_API_URL"),
                    "https://api.github.com",
                )?,
            })
        })
        .transpose()
}

/// OIDC_*: any OpenID Connect issuer.
pub(super) fn oidc(
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<OidcConfig>, ConfigError> {
    let oidc = client_credentials(&var, "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")?
        .map(|credentials| -> Result<OidcConfig, ConfigError> {
            let issuer = var("OIDC_ISSUER").ok_or_else(|| {
                invalid(
                    "OIDC_ISSUER",
                    "must be set when OIDC_CLIENT_ID is: the issuer URL of your OpenID Connect provider",
                )
            })?;
            let scopes: Vec<String> = var("OIDC_SCOPES")
                .unwrap_or_else(|| "openid profile email".into())
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !scopes.iter().any(|scope| scope == "openid") {
                return Err(invalid(
                    "OIDC_SCOPES",
                    "must include `openid` (OpenID Connect Core §3.1.2.1)",
                ));
            }
            Ok(OidcConfig {
                credentials,
                issuer: issuer_identifier("OIDC_ISSUER", Some(issuer), "")?,
                display_name: var("OIDC_DISPLAY_NAME")
                    .unwrap_or_else(|| "OpenID Connect".into()),
                scopes,
            })
        })
        .transpose()?;
    if oidc.is_none() && var("OIDC_ISSUER").is_some() {
        return Err(invalid(
            "OIDC_CLIENT_ID",
            "OIDC_ISSUER is set, so OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set too",
        ));
    }
    Ok(oidc)
}

/// A provider's client id and secret: both set, or neither (the provider is
/// then not offered). One without the other is a mistake worth stopping for.
fn client_credentials(
    var: &dyn Fn(&str) -> Option<String>,
    id_variable: &'static str,
    secret_variable: &'static str,
) -> Result<Option<ClientCredentials>, ConfigError> {
    match (var(id_variable), var(secret_variable)) {
        (Some(client_id), Some(secret)) => Ok(Some(ClientCredentials {
            client_id: client_id.trim().to_owned(),
            client_secret: SecretString::from(secret.trim().to_owned()),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(
            secret_variable,
            format!("must be set when {id_variable} is (copy it from the provider's console)"),
        )),
        (None, Some(_)) => Err(invalid(
            id_variable,
            format!("must be set when {secret_variable} is (copy it from the provider's console)"),
        )),
    }
}

/// A provider's URL: https, or http only for a loopback host (local test
/// servers), because client secrets, codes and tokens travel to it.
fn provider_url(
    variable: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<Url, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_owned());
    let url = Url::parse(text.trim())
        .map_err(|error| invalid(variable, format!("`{text}` is not a URL ({error})")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                variable,
                format!(
                    "`{text}` must be an https:// URL (http:// only for 127.0.0.1, [::1] or localhost)"
                ),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(variable, "must not have a query or fragment"));
    }
    Ok(url)
}

/// An issuer identifier: a provider URL kept exactly as written, since OpenID
/// Connect compares issuers as strings (Discovery 1.0 §4.3).
fn issuer_identifier(
    variable: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let text = value
        .unwrap_or_else(|| default.to_owned())
        .trim()
        .to_owned();
    provider_url(variable, Some(text.clone()), default)?;
    Ok(text)
}
