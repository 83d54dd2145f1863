//! GitHub: plain OAuth 2.0 (no OpenID Connect, so no ID token) and the REST API
//! for who signed in. GitHub has no mail API.
//!
//! Registration and settings: docs/providers/github.md.

use super::{ClientAuth, ProfileApi, Prompt, Protocol, Provider, Revocation, join_path};
use crate::config::{Config, GitHubConfig};

pub const ID: &str = "github";

/// Read the profile, and the email addresses (private ones too) to find the
/// primary, verified one.
pub const SCOPES: [&str; 2] = ["read:user", "user:email"];

pub fn provider(github: &GitHubConfig, config: &Config) -> Provider {
    let protocol = Protocol::OAuth2 {
        authorization_endpoint: join_path(&github.url, &["login", "oauth", "authorize"]),
        token_endpoint: join_path(&github.url, &["login", "oauth", "access_token"]),
        // GitHub's callbacks carry RFC 9207's `iss` since 2026
        // (`https://github.com/login/oauth`): the mix-up defence applies to it
        // too. Not promised on every callback, so checked when present.
        issuer: Some(
            join_path(&github.url, &["login", "oauth"])
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        ),
    };
    Provider {
        scopes: super::scopes(&SCOPES),
        // GitHub documents client_id and client_secret as form parameters.
        client_auth: ClientAuth::RequestBody,
        revocation: Revocation::GitHubGrant {
            api_url: github.api_url.clone(),
        },
        // GitHub has no end-session endpoint for apps.
        sign_out_advice: Some(
            "GitHub keeps you signed in to github.com: sign out there too if this is a shared computer. You can review the apps you authorized in GitHub's Settings → Applications.",
        ),
        // GitHub's authorize endpoint documents `prompt=select_account` ("Authorizing OAuth apps").
        account_choice: Prompt::SelectAccount,
        ..Provider::registered(
            ID,
            "GitHub",
            &github.credentials,
            config,
            protocol,
            ProfileApi::GitHub {
                base_url: github.api_url.clone(),
            },
        )
    }
}
