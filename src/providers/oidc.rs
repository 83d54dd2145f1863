//! Any OpenID Connect provider (Keycloak, Auth0, Okta, Authentik, ...): all it
//! needs is the issuer URL; endpoints and keys come from discovery. The profile
//! comes from the userinfo endpoint; there is no mail.
//!
//! Registration and settings: docs/providers/oidc.md.

use super::{IssuerCheck, ProfileApi, Protocol, Provider};
use crate::config::{Config, OidcConfig};

pub const ID: &str = "oidc";

pub fn provider(oidc: &OidcConfig, config: &Config) -> Provider {
    let protocol = Protocol::OpenIdConnect {
        issuer: oidc.issuer.clone(),
        issuer_check: IssuerCheck::Exact,
    };
    Provider {
        scopes: oidc.scopes.clone(),
        ..Provider::registered(
            ID,
            oidc.display_name.clone(),
            &oidc.credentials,
            config,
            protocol,
            ProfileApi::OpenIdUserInfo,
        )
    }
}
