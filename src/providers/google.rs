//! Google: OpenID Connect for sign-in and profile, the Gmail API for mail.
//!
//! Registration and settings: docs/providers/google.md.

use super::{IssuerCheck, MailApi, ProfileApi, Protocol, Provider};
use crate::config::{Config, GoogleConfig};

pub const ID: &str = "google";

/// OpenID Connect scopes and read-only Gmail (a restricted scope: see the docs).
pub const SCOPES: [&str; 4] = [
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/gmail.readonly",
];

pub fn provider(google: &GoogleConfig, config: &Config) -> Provider {
    let protocol = Protocol::OpenIdConnect {
        issuer: google.issuer.clone(),
        issuer_check: IssuerCheck::ExactOrWithoutScheme,
    };
    Provider {
        scopes: super::scopes(&SCOPES),
        // Without it Google sends no refresh token.
        extra_authorization_params: vec![("access_type", "offline")],
        // Google revokes (RFC 7009 at its discovery's revocation_endpoint) but
        // has no end-session endpoint.
        sign_out_advice: Some(
            "Google keeps you signed in to your Google account: sign out at google.com too if this is a shared computer. You can review the apps with access at myaccount.google.com/permissions.",
        ),
        mail_api: Some(MailApi::Gmail {
            base_url: google.gmail_url.clone(),
        }),
        ..Provider::registered(
            ID,
            "Google",
            &google.credentials,
            config,
            protocol,
            ProfileApi::OpenIdUserInfo,
        )
    }
}
