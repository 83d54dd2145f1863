//! Provider errors in plain words: for each error code a provider can send
//! (RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core §3.1.2.6, Microsoft's
//! AADSTS codes, GitHub's own codes), what it means, what to do next, and who
//! can fix it.
//!
//! Only the standard `error` code decides anything: the error page's status,
//! its "Try again" link and every step of the flow depend on it alone.
//! Microsoft also puts a precise reason at the start of `error_description`
//! (`AADSTS50011: …`), but its error-code reference says that the numbers and
//! the text may change at any time, that apps depending on either will break,
//! and that `error_description` must never drive what the code does
//! (learn.microsoft.com/entra/identity-platform/reference-error-codes). So the
//! AADSTS number is read here as a display hint only: it may pick a more
//! precise sentence for the page, and an unknown or renumbered code falls back
//! to the sentence for the standard `error`.

use serde::Serialize;

/// A cause a person understands, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub cause: &'static str,
    pub next_step: &'static str,
    /// Who can make the next attempt succeed: whether trying again can help.
    pub fixed_by: FixedBy,
}

/// Who can fix what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixedBy {
    /// The person signing in: try again, accept, or pick another account.
    Visitor,
    /// An administrator of the visitor's organisation (consent, policies).
    Administrator,
    /// Whoever runs this app: its registration or configuration is wrong, so
    /// trying again sends the same request and fails the same way.
    Developer,
    /// The provider itself: waiting is the only remedy.
    Provider,
}

const fn explain(cause: &'static str, next_step: &'static str, fixed_by: FixedBy) -> Explanation {
    Explanation {
        cause,
        next_step,
        fixed_by,
    }
}

/// The explanation of an error the provider reported, if we know the code.
pub fn explain_provider_error(code: &str, description: Option<&str>) -> Option<Explanation> {
    description
        .and_then(aadsts_code)
        .and_then(explain_aadsts)
        .or_else(|| explain_code(code))
}

/// `AADSTS50011` at the start of a Microsoft description, as 50011.
pub fn aadsts_code(description: &str) -> Option<u32> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The AADSTS codes a learner meets first, as Microsoft's error-code reference
/// describes them. Codes not listed here (AADSTS70000, for one, which is an
/// invalid grant of several kinds, not an expired code) fall back to the
/// standard `error`.
fn explain_aadsts(code: u32) -> Option<Explanation> {
    use FixedBy::{Administrator, Developer, Visitor};
    Some(match code {
        50011 => explain(
            "The redirect URI this app sent is not one registered for it in Microsoft Entra.",
            "A developer must add the exact redirect URI shown at /setup under Authentication in the app registration.",
            Developer,
        ),
        50020 => explain(
            "The account you signed in with does not belong to the organisation (tenant) this app signs people into: for example a personal account, or an account from another organisation, while the app accepts one organisation only.",
            "Sign in with an account of that organisation. If this account should work, an administrator can invite it as a guest, or a developer can widen the app's supported account types.",
            Visitor,
        ),
        50105 => explain(
            "Your organisation allows only people it has assigned to this app to use it, and your account is not one of them.",
            "Ask your organisation's administrator to assign you to the app.",
            Administrator,
        ),
        50148 | 501_481 => explain(
            "The PKCE verifier this app sent with the code does not match the challenge of the sign-in that produced the code: the code belongs to a different sign-in.",
            "Start the sign-in again. If it fails every time, a developer must check how the app keeps each sign-in's verifier.",
            Developer,
        ),
        50194 => explain(
            "This app is registered for a single organisation (single tenant), but it sent you to Microsoft's shared \"common\" endpoint, which such apps may not use.",
            "A developer must set MICROSOFT_TENANT to the Directory (tenant) ID from the app registration's Overview page, or make the registration multitenant under Supported account types.",
            Developer,
        ),
        53003 => explain(
            "Your organisation's Conditional Access policy blocked this sign-in. You did not refuse anything.",
            "Ask your organisation's administrator; the provider's message below may say which requirement was not met (device, location or sign-in method).",
            Administrator,
        ),
        // ExpiredOrRevokedGrant and "already redeemed": either way the code is
        // spent, and starting again is the remedy.
        54005 | 70008 => explain(
            "The sign-in code expired or was already used before this app could exchange it.",
            "Start the sign-in again; it takes only a moment.",
            Visitor,
        ),
        65001 => explain(
            "Nobody has consented yet to the permissions this app asks for, and your organisation may require an administrator to do it.",
            "Try again and accept the permissions; if Microsoft says an administrator must approve the app, ask one to grant consent for it.",
            Visitor,
        ),
        65004 => explain(
            "You declined to give this app the permissions it asked for.",
            "Nothing was shared. Sign in again and accept the permissions if you want to use the app.",
            Visitor,
        ),
        90002 => explain(
            "Microsoft does not know the directory (tenant) this app is configured to sign people into.",
            "A developer must check MICROSOFT_TENANT (a tenant ID, a verified domain, common, organizations or consumers) and, for national clouds, MICROSOFT_AUTHORITY.",
            Developer,
        ),
        90094 => explain(
            "Your organisation lets only an administrator approve apps that ask for these permissions. Since late 2025 Microsoft's default consent policy treats reading mail this way. You did not refuse anything.",
            "Ask an administrator of your organisation to grant consent for this app; then sign in again.",
            Administrator,
        ),
        90095 => explain(
            "Your organisation requires an administrator to approve this app, and lets you ask for that approval on Microsoft's page.",
            "Send the approval request on Microsoft's page, and sign in again once an administrator has approved the app.",
            Administrator,
        ),
        700_005 => explain(
            "The sign-in code was issued for a different Microsoft directory (tenant) than the one this app tried to redeem it at.",
            "Start the sign-in again. If it keeps happening, a developer must check that MICROSOFT_TENANT names the same tenant for the whole sign-in.",
            Visitor,
        ),
        7_000_215 | 7_000_222 => explain(
            "The app's client secret is wrong or has expired.",
            "A developer must create a new client secret in Microsoft Entra and copy its Value (not its ID) into MICROSOFT_CLIENT_SECRET.",
            Developer,
        ),
        700_016 => explain(
            "Microsoft does not know this app in the directory you signed in to.",
            "A developer must check MICROSOFT_CLIENT_ID and MICROSOFT_TENANT against the app registration's supported account types.",
            Developer,
        ),
        _ => return None,
    })
}

/// The standard codes (RFC 6749 §4.1.2.1 for the redirect, §5.2 for the token
/// endpoint, OpenID Connect Core §3.1.2.6) and GitHub's own.
fn explain_code(code: &str) -> Option<Explanation> {
    use FixedBy::{Developer, Provider, Visitor};
    Some(match code {
        // RFC 6749 §4.1.2.1: "the resource owner or authorization server denied
        // the request", so the visitor may not have refused anything.
        "access_denied" => explain(
            "Access was refused at the provider: either you declined, or the provider refused on its own, for example because of your organisation's policy or because the app does not accept your account yet.",
            "Nothing was shared. If you declined, sign in again and allow access. Otherwise the provider's own words, when it sent any, say why; an administrator of your organisation or the app's developer can change it.",
            Visitor,
        ),
        // OpenID Connect Core §3.1.2.6: the answers to a request that asked the
        // provider to show no page (prompt=none) but needs one.
        "consent_required" => explain(
            "The provider needs you to approve this app's permissions, and could not ask: the app had asked it to show no page at all (prompt=none), or the consent page was closed.",
            "Sign in again and accept the permissions on the provider's consent page.",
            Visitor,
        ),
        "interaction_required" | "login_required" | "account_selection_required" => explain(
            "The provider needs you to do something on its pages first (sign in, pick an account, or complete a check), and the request had asked it to show no page.",
            "Sign in again and follow the provider's pages to the end.",
            Visitor,
        ),
        // RFC 6749 §5.2, and RFC 7636 §4.6 for the PKCE verifier.
        "invalid_grant" | "bad_verification_code" => explain(
            "The provider refused to exchange the sign-in code: it had expired, had been used already, was issued to another app or for another redirect URI, or did not match this sign-in's PKCE verifier.",
            "Start the sign-in again. If it fails every time, a developer must compare the redirect URI and PKCE handling with the provider's.",
            Visitor,
        ),
        "invalid_client" | "incorrect_client_credentials" => explain(
            "The provider did not accept this app's client ID or client secret.",
            "A developer must check the client ID and secret in the configuration against the provider's console (/setup shows which are set).",
            Developer,
        ),
        // RFC 6749 §4.1.2.1 and §5.2: the client is known and may have
        // authenticated, but may not use this grant or response type.
        "unauthorized_client" => explain(
            "The provider knows this app but does not allow it this kind of sign-in (the authorization-code flow), often because of how the app is registered or because it is disabled.",
            "A developer must check the app's registration at the provider: it must be a web (confidential) app allowed to use the authorization-code flow.",
            Developer,
        ),
        "redirect_uri_mismatch" => explain(
            "The redirect URI this app sent is not the one registered at the provider.",
            "A developer must register the exact redirect URI shown at /setup.",
            Developer,
        ),
        "invalid_scope" => explain(
            "The app asked for a permission the provider does not know or does not allow for this app.",
            "A developer must check the scopes the provider is configured with.",
            Developer,
        ),
        "invalid_request" | "unsupported_response_type" | "unsupported_grant_type" => explain(
            "The provider found the sign-in request malformed: a parameter is missing, repeated or not allowed. Trying again would send the same request.",
            "A developer must look at this app's configuration for the provider; the provider's own words, when it sent any, name the parameter.",
            Developer,
        ),
        "server_error" | "temporarily_unavailable" => explain(
            "The provider had a problem of its own.",
            "Wait a moment and try again.",
            Provider,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explained(code: &str, description: &str) -> Explanation {
        explain_provider_error(code, Some(description))
            .unwrap_or_else(|| panic!("{code} {description} is explained"))
    }

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

    #[test]
    fn aadsts_70000_is_an_invalid_grant_not_an_expired_code() {
        // Microsoft's reference: "InvalidGrant - Authentication failed. The
        // refresh token isn't valid." It gets the standard sentence.
        assert_eq!(
            explained(
                "invalid_grant",
                "AADSTS70000: The provided value for 'code' is not valid."
            ),
            explain_code("invalid_grant").expect("known"),
        );
    }

    #[test]
    fn unauthorized_client_means_a_grant_not_allowed_not_bad_credentials() {
        let unauthorized = explain_provider_error("unauthorized_client", None).expect("known");
        let bad_credentials = explain_provider_error("invalid_client", None).expect("known");
        assert_ne!(unauthorized, bad_credentials);
        assert!(!unauthorized.cause.contains("secret"), "{unauthorized:?}");
        assert!(unauthorized.cause.contains("does not allow"));
        assert_eq!(unauthorized.fixed_by, FixedBy::Developer);
    }

    #[test]
    fn a_malformed_request_needs_a_developer_not_a_retry() {
        for code in [
            "invalid_request",
            "unsupported_response_type",
            "unsupported_grant_type",
        ] {
            let explanation = explain_provider_error(code, None).expect("known");
            assert_eq!(explanation.fixed_by, FixedBy::Developer, "{code}");
            assert!(!explanation.next_step.starts_with("Try again"), "{code}");
        }
        let busy = explain_provider_error("temporarily_unavailable", None).expect("known");
        assert_eq!(busy.fixed_by, FixedBy::Provider);
    }

    #[test]
    fn consent_required_is_explained_as_the_answer_to_prompt_none() {
        let consent = explain_provider_error("consent_required", None).expect("known");
        assert!(consent.cause.contains("prompt=none"), "{consent:?}");
    }

    #[test]
    fn the_codes_a_learner_meets_first_say_who_can_fix_them() {
        let cases = [
            (
                "AADSTS50194: Application is not configured as a multi-tenant application.",
                FixedBy::Developer,
                "MICROSOFT_TENANT",
            ),
            (
                "AADSTS90002: Tenant 'contoso.example' not found.",
                FixedBy::Developer,
                "MICROSOFT_TENANT",
            ),
            (
                "AADSTS90094: Admin consent is required.",
                FixedBy::Administrator,
                "administrator",
            ),
            (
                "AADSTS90095: Admin consent is required, request approval.",
                FixedBy::Administrator,
                "approval",
            ),
            (
                "AADSTS501481: The Code_Verifier does not match the code_challenge.",
                FixedBy::Developer,
                "verifier",
            ),
            (
                "AADSTS50020: User account from identity provider does not exist in tenant.",
                FixedBy::Visitor,
                "account",
            ),
            (
                "AADSTS700005: Provided Authorization Code is intended to use against other tenant.",
                FixedBy::Visitor,
                "tenant",
            ),
        ];
        for (description, fixed_by, named) in cases {
            let explanation = explained("invalid_request", description);
            assert_eq!(explanation.fixed_by, fixed_by, "{description}");
            assert!(
                explanation.cause.contains(named) || explanation.next_step.contains(named),
                "{description}: {explanation:?}"
            );
        }
    }

    #[test]
    fn access_denied_blames_the_visitor_only_when_the_visitor_declined() {
        // Declined on the consent page.
        let declined = explained(
            "access_denied",
            "AADSTS65004: User declined to consent to access the app.",
        );
        assert!(declined.cause.starts_with("You declined"));
        // Refused by the organisation: never "you declined".
        for description in [
            "AADSTS90094: Admin consent is required.",
            "AADSTS53003: Access has been blocked by Conditional Access policies.",
            "AADSTS50105: The signed in user is not assigned to a role for the application.",
        ] {
            let refused = explained("access_denied", description);
            assert_eq!(refused.fixed_by, FixedBy::Administrator, "{description}");
            assert!(!refused.cause.contains("You declined"), "{description}");
            assert!(
                refused.cause.contains("did not refuse") || refused.cause.contains("organisation")
            );
        }
        // No code to go by: both readings, blaming nobody.
        let unknown = explain_provider_error("access_denied", None).expect("known");
        assert!(
            unknown
                .cause
                .contains("either you declined, or the provider refused")
        );
    }
}

/// Generated error codes and descriptions (docs/TESTING.md): the provider
/// chooses both, so any text must give an explanation or none, never a panic.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::oauth::SignInError;

    const CODES: &[&str] = &[
        "access_denied",
        "invalid_grant",
        "invalid_client",
        "consent_required",
        "interaction_required",
        "server_error",
        "temporarily_unavailable",
        "bad_verification_code",
        "ACCESS_DENIED",
        "",
    ];

    fn description() -> impl Strategy<Value = String> {
        prop_oneof![
            // AADSTS with any digits, including more than fit in a u32.
            ("[ \t]{0,2}", "[0-9]{0,14}", any::<String>())
                .prop_map(|(space, digits, rest)| format!("{space}AADSTS{digits}{rest}")),
            proptest::sample::select(vec!["AADSTS50011: x", "AADSTS65001", "AADSTS53003: CA"])
                .prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    fn code() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(CODES).prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_cases::config(1000))]

        /// Only the standard code decides, unless the description starts
        /// with an AADSTS number we know (a display hint).
        #[test]
        fn any_code_and_description_are_explained_or_not(
            code in code(),
            description in proptest::option::of(description()),
        ) {
            let explained = explain_provider_error(&code, description.as_deref());
            let hint = description.as_deref().and_then(aadsts_code).and_then(explain_aadsts);
            if hint.is_none() {
                prop_assert_eq!(explained, explain_code(&code));
            }
            // The pages built from it must not panic either.
            let denied = SignInError::AccessDenied { description: description.clone() };
            let _ = (denied.to_string(), denied.explanation(), denied.status());
            let rejected = SignInError::TokenRequestRejected { code, description };
            let _ = (rejected.to_string(), rejected.explanation(), rejected.status());
        }
    }
}
