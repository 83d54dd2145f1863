//! The built-in demo provider, described like any other OpenID Connect provider.
//!
//! It is registered exactly as a real one would be: client id and secret from
//! configuration, endpoints from its discovery document, and it serves a
//! Microsoft-Graph-shaped API, so the Graph client is exercised offline.

use url::Url;

use super::{ApiKind, Endpoints, Provider};
use crate::config::DemoConfig;

pub const ID: &str = "demo";

/// Scopes we ask the demo provider for: the same as for Microsoft, so the
/// demo exercises the real request.
pub const SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "User.Read",
    "Mail.Read",
];

pub fn provider(config: &DemoConfig, redirect_uri: Url) -> Provider {
    let issuer = config.issuer();
    Provider {
        id: ID,
        display_name: "Demo provider".into(),
        client_id: config.client_id.clone(),
        client_secret: config.client_secret.clone(),
        redirect_uri,
        endpoints: Endpoints::OpenIdConnect {
            issuer: issuer.clone(),
        },
        scopes: SCOPES.iter().map(|scope| (*scope).to_owned()).collect(),
        api: ApiKind::MicrosoftGraph { base_url: issuer },
    }
}
