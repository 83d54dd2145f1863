//! Google: OpenID Connect for sign-in and profile, the Gmail API for mail.
//!
//! Registration and settings: docs/providers/google.md.

use super::{IssuerCheck, MailApi, ProfileApi, Prompt, Protocol, Provider};
use crate::config::{Config, GoogleConfig};

pub const ID: &str = "google";

/// Asked at sign-in: OpenID Connect scopes (the refresh token comes from
/// `access_type=offline`, not from a scope).
pub const SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// Asked when the person opens their mail: read-only Gmail (a restricted
/// scope: see the docs).
pub const MAIL_SCOPES: [&str; 1] = ["https://www.googleapis.com/auth/gmail.readonly"];

pub fn provider(google: &GoogleConfig, config: &Config) -> Provider {
    let protocol = Protocol::OpenIdConnect {
        issuer: google.issuer.clone(),
        issuer_check: IssuerCheck::ExactOrWithoutScheme,
    };
    Provider {
        scopes: super::scopes(&SCOPES),
        mail_scopes: super::scopes(&MAIL_SCOPES),
        // Without it Google sends no refresh token.
        extra_authorization_params: vec![("access_type", "offline")],
        // Google's incremental authorization: the new token carries the
        // scopes granted before as well as the mail ("Using OAuth 2.0 for
        // Web Server Applications", include_granted_scopes).
        incremental_authorization_params: vec![("include_granted_scopes", "true")],
        // Google's token responses spell these two out (quirk in
        // docs/providers/google.md: "The token response's scope lists
        // expanded URLs").
        scope_aliases: vec![
            ("email", "https://www.googleapis.com/auth/userinfo.email"),
            (
                "profile",
                "https://www.googleapis.com/auth/userinfo.profile",
            ),
        ],
        // Google revokes (RFC 7009 at its discovery's revocation_endpoint) but
        // has no end-session endpoint.
        sign_out_advice: Some(
            "Google keeps you signed in to your Google account: sign out at google.com too if this is a shared computer. You can review the apps with access at myaccount.google.com/permissions.",
        ),
        mail_api: Some(MailApi::Gmail {
            base_url: google.gmail_url.clone(),
        }),
        // Google documents `prompt=select_account` ("OpenID Connect", authentication URI parameters).
        account_choice: Prompt::SelectAccount,
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
