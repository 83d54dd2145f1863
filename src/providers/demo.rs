//! The built-in demo provider, described like any other OpenID Connect provider.
//!
//! It is registered exactly as a real one would be: client id and secret from
//! configuration, endpoints from its discovery document, and it serves a
//! Microsoft-Graph-shaped API, so the Graph client is exercised offline.

use super::{IssuerCheck, MailApi, ProfileApi, Protocol, Provider};
use crate::config::{ClientCredentials, Config, DemoConfig};

pub const ID: &str = "demo";

/// Scopes we ask the demo provider for: the same as for Microsoft, at
/// sign-in and for mail, so the demo exercises the real requests.
pub const SCOPES: [&str; 5] = super::microsoft::SCOPES;
pub const MAIL_SCOPES: [&str; 1] = super::microsoft::MAIL_SCOPES;

pub fn provider(demo: &DemoConfig, config: &Config) -> Provider {
    let issuer = demo.issuer();
    let credentials = ClientCredentials {
        client_id: demo.client_id.clone(),
        client_secret: demo.client_secret.clone(),
    };
    let protocol = Protocol::OpenIdConnect {
        issuer: issuer.as_str().trim_end_matches('/').to_owned(),
        issuer_check: IssuerCheck::Exact,
    };
    let graph = ProfileApi::MicrosoftGraph {
        base_url: issuer.clone(),
    };
    Provider {
        scopes: super::scopes(&SCOPES),
        mail_scopes: super::scopes(&MAIL_SCOPES),
        mail_api: Some(MailApi::MicrosoftGraph { base_url: issuer }),
        ..Provider::registered(ID, "Demo provider", &credentials, config, protocol, graph)
    }
}
