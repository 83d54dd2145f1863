//! Provider errors in plain words: for each error code a provider can send
//! (RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core §3.1.2.6, Microsoft's
//! AADSTS codes, GitHub's own codes), what it means and what to do next.
//!
//! Microsoft puts its precise reason in `error_description` as `AADSTSnnnn:`;
//! its documentation says not to parse the text, so only the code number is
//! read, and the generic `error` remains the fallback.

use serde::Serialize;

/// A cause a person understands, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub cause: &'static str,
    pub next_step: &'static str,
}

const fn explain(cause: &'static str, next_step: &'static str) -> Explanation {
    Explanation { cause, next_step }
}

/// The explanation of an error the provider reported, if we know the code.
pub fn explain_provider_error(code: &str, description: Option<&str>) -> Option<Explanation> {
    description
        .and_then(aadsts_code)
        .and_then(explain_aadsts)
        .or_else(|| explain_code(code))
}

/// `AADSTS50011` at the start of a Microsoft description, as 50011.
fn aadsts_code(description: &str) -> Option<u32> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn explain_aadsts(code: u32) -> Option<Explanation> {
    Some(match code {
        50011 => explain(
            "The redirect URI this app sent is not one registered for it in Microsoft Entra.",
            "A developer must add the exact redirect URI shown at /setup under Authentication in the app registration.",
        ),
        65001 => explain(
            "Nobody has consented yet to the permissions this app asks for, and your organisation may require an administrator to do it.",
            "Try again and accept the permissions; if your organisation blocks that, ask an administrator to grant consent for the app.",
        ),
        65004 => explain(
            "You declined to give this app the permissions it asked for.",
            "Nothing was shared. Sign in again and accept the permissions if you want to use the app.",
        ),
        70008 | 70000 | 54005 => explain(
            "The sign-in code expired or was already used before this app could exchange it.",
            "Start the sign-in again; it takes only a moment.",
        ),
        7_000_215 | 7_000_222 => explain(
            "The app's client secret is wrong or has expired.",
            "A developer must create a new client secret in Microsoft Entra and copy its Value (not its ID) into MICROSOFT_CLIENT_SECRET.",
        ),
        700_016 => explain(
            "Microsoft does not know this app in the directory you signed in to.",
            "A developer must check MICROSOFT_CLIENT_ID and MICROSOFT_TENANT against the app registration's supported account types.",
        ),
        _ => return None,
    })
}

fn explain_code(code: &str) -> Option<Explanation> {
    Some(match code {
        "access_denied" => explain(
            "You (or the provider on your behalf) declined to let this app in.",
            "Nothing was shared. Sign in again and allow access if you want to use the app.",
        ),
        "consent_required" => explain(
            "The provider needs you to approve this app's permissions, and that step was skipped or cancelled.",
            "Sign in again and accept the permissions on the provider's consent page.",
        ),
        "interaction_required" | "login_required" | "account_selection_required" => explain(
            "The provider needs you to do something on its pages first: sign in, pick an account, or complete a check.",
            "Sign in again and follow the provider's pages to the end.",
        ),
        "invalid_grant" | "bad_verification_code" => explain(
            "The sign-in code was expired, already used, or issued for another redirect URI, so the provider refused to exchange it.",
            "Start the sign-in again; it takes only a moment.",
        ),
        "invalid_client" | "incorrect_client_credentials" | "unauthorized_client" => explain(
            "The provider did not accept this app's client ID or client secret.",
            "A developer must check the client ID and secret in the configuration against the provider's console (/setup shows which are set).",
        ),
        "redirect_uri_mismatch" => explain(
            "The redirect URI this app sent is not the one registered at the provider.",
            "A developer must register the exact redirect URI shown at /setup.",
        ),
        "invalid_scope" => explain(
            "The app asked for a permission the provider does not know or does not allow for this app.",
            "A developer must check the scopes the provider is configured with.",
        ),
        "invalid_request" | "unsupported_response_type" => explain(
            "The provider found the sign-in request malformed.",
            "Try again; if it keeps happening, the app's configuration for this provider needs a look.",
        ),
        "server_error" | "temporarily_unavailable" => explain(
            "The provider had a problem of its own.",
            "Wait a moment and try again.",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_codes_are_read_from_the_description_before_the_generic_error() {
        let expired = explain_provider_error(
            "invalid_grant",
            Some("AADSTS70008: The provided authorization code or refresh token has expired.\r\nTrace ID: x"),
        )
        .expect("known");
        assert!(expired.cause.contains("expired"));
        let secret = explain_provider_error(
            "invalid_client",
            Some("AADSTS7000215: Invalid client secret provided."),
        )
        .expect("known");
        assert!(secret.next_step.contains("Value"));
        let redirect =
            explain_provider_error("invalid_request", Some("AADSTS50011: The redirect URI ..."))
                .expect("known");
        assert!(redirect.cause.contains("redirect URI"));
        let consent = explain_provider_error(
            "invalid_grant",
            Some("AADSTS65001: The user or administrator has not consented"),
        )
        .expect("known");
        assert!(consent.next_step.contains("administrator"));
        // An unknown AADSTS code falls back to the standard code.
        assert_eq!(
            explain_provider_error("invalid_grant", Some("AADSTS99999: new")),
            explain_code("invalid_grant")
        );
    }

    #[test]
    fn standard_and_github_codes_are_explained_and_unknown_ones_are_not() {
        for code in [
            "access_denied",
            "consent_required",
            "interaction_required",
            "invalid_grant",
            "invalid_client",
            "bad_verification_code",
            "incorrect_client_credentials",
            "redirect_uri_mismatch",
        ] {
            assert!(explain_provider_error(code, None).is_some(), "{code}");
        }
        assert!(explain_provider_error("something_new", None).is_none());
    }
}
