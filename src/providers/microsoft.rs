//! Microsoft: the Microsoft identity platform v2.0 (Entra ID and personal
//! Microsoft accounts) for sign-in, Microsoft Graph for profile and mail.
//!
//! Registration and settings: docs/providers/microsoft.md.

use super::{AdminConsent, IssuerCheck, MailApi, ProfileApi, Prompt, Protocol, Provider};
use crate::config::{Config, MicrosoftConfig};

pub const ID: &str = "microsoft";

/// Asked at sign-in: OpenID Connect scopes, `offline_access` for a refresh
/// token, and the Graph permission the profile page needs (`/me`).
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "User.Read"];

/// Asked when the person opens their mail: Graph's `Mail.Read`, which many
/// organisations let only an administrator grant.
pub const MAIL_SCOPES: [&str; 1] = ["Mail.Read"];

pub fn provider(microsoft: &MicrosoftConfig, config: &Config) -> Provider {
    // `{authority}/{tenant}/v2.0` serves the discovery document; for the
    // multi-tenant values its `issuer` is a template (see IssuerCheck).
    let authority = microsoft.authority.as_str().trim_end_matches('/');
    let protocol = Protocol::OpenIdConnect {
        issuer: format!("{authority}/{}/v2.0", microsoft.tenant),
        issuer_check: IssuerCheck::MicrosoftTenant,
    };
    let graph = microsoft.graph_url.clone();
    Provider {
        scopes: super::scopes(&SCOPES),
        mail_scopes: super::scopes(&MAIL_SCOPES),
        admin_consent: Some(AdminConsent {
            // Where an administrator approves the app for their whole
            // tenant. Not `common` or `consumers`: Microsoft's admin-consent
            // documentation says personal accounts cannot give admin consent,
            // and names `organizations` for "the administrator's own tenant".
            endpoint: super::join_path(
                &microsoft.authority,
                &[
                    admin_consent_tenant(&microsoft.tenant),
                    "v2.0",
                    "adminconsent",
                ],
            ),
        }),
        mail_api: Some(MailApi::MicrosoftGraph {
            base_url: graph.clone(),
        }),
        // Microsoft lists no revocation endpoint for apps: signing out ends
        // the Microsoft session (end_session_endpoint), and the stored tokens
        // are deleted here; the grant itself stays until the person removes it.
        sign_out_advice: Some(
            "Microsoft offers apps no way to revoke their access. To remove this app's access, go to myapps.microsoft.com (work or school account) or account.live.com/consent/Manage (personal account).",
        ),
        // Microsoft documents `prompt=select_account` (identity platform, "OAuth 2.0 authorization code flow").
        account_choice: Prompt::SelectAccount,
        ..Provider::registered(
            ID,
            "Microsoft",
            &microsoft.credentials,
            config,
            protocol,
            ProfileApi::MicrosoftGraph { base_url: graph },
        )
    }
}

/// The tenant segment of the admin-consent endpoint for the configured
/// `MICROSOFT_TENANT`: a single tenant as it is; the multi-tenant values as
/// `organizations`.
fn admin_consent_tenant(tenant: &str) -> &str {
    match tenant {
        "common" | "consumers" => "organizations",
        other => other,
    }
}
