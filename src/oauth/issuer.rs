//! What "the same issuer" means, per `providers::IssuerCheck`, and which
//! endpoints an issuer's discovery document may name (`safe_endpoint`).
//!
//! OpenID Connect compares issuers as exact strings: the discovery document's
//! `issuer` must equal the URL it was fetched for (Discovery 1.0 §4.3), and an ID
//! token's `iss` must equal that (Core §3.1.3.7 step 2). Two providers document
//! exceptions, and this file is the one place that knows them. Each function says
//! yes only to what the provider documents; none turns the check off.

use url::Url;

use crate::providers::{IssuerCheck, Protocol};

/// The placeholder in Microsoft's multi-tenant discovery documents.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Is `document_issuer` (from the discovery document fetched for `configured`)
/// acceptable?
pub fn discovery_issuer_matches(
    check: IssuerCheck,
    configured: &str,
    document_issuer: &str,
) -> bool {
    match check {
        IssuerCheck::Exact | IssuerCheck::ExactOrWithoutScheme => document_issuer == configured,
        // `{authority}/common/v2.0` is described by `{authority}/{tenantid}/v2.0`;
        // `consumers` or a domain by `{authority}/<that tenant's id>/v2.0`.
        IssuerCheck::MicrosoftTenant => {
            microsoft_tenant_of(configured).is_some()
                && same_authority(configured, document_issuer)
                && microsoft_tenant_of(document_issuer)
                    .is_some_and(|tenant| tenant == TENANT_PLACEHOLDER || is_tenant_id(tenant))
        }
    }
}

/// Is an ID token with this `iss` (and, for Microsoft, this `tid`) from the
/// issuer the discovery document names?
pub fn token_issuer_matches(
    check: IssuerCheck,
    document_issuer: &str,
    iss: &str,
    tid: Option<&str>,
) -> bool {
    match check {
        IssuerCheck::Exact => iss == document_issuer,
        IssuerCheck::ExactOrWithoutScheme => {
            iss == document_issuer || Some(iss) == document_issuer.strip_prefix("https://")
        }
        IssuerCheck::MicrosoftTenant => tid.is_some_and(|tid| {
            is_tenant_id(tid) && iss == document_issuer.replace(TENANT_PLACEHOLDER, tid)
        }),
    }
}

/// Does the callback's `iss` (RFC 9207 §2.4) name the provider we sent the
/// visitor to? For OpenID Connect, [`callback_issuer_matches`]; for OAuth 2.0
/// without discovery (GitHub), the issuer it is known to send, when we know
/// one.
pub fn callback_issuer_accepted(protocol: &Protocol, iss: &str) -> bool {
    match protocol {
        Protocol::OpenIdConnect {
            issuer,
            issuer_check,
        } => callback_issuer_matches(*issuer_check, issuer, iss),
        Protocol::OAuth2 { issuer, .. } => issuer.as_deref().is_none_or(|issuer| issuer == iss),
    }
}

/// Is the `iss` parameter on the callback (RFC 9207 §2.4) the issuer we sent the
/// visitor to? For Microsoft's multi-tenant endpoints, the tenant is not known
/// before the token arrives, so any tenant of the configured authority matches.
pub fn callback_issuer_matches(check: IssuerCheck, configured: &str, iss: &str) -> bool {
    match check {
        IssuerCheck::Exact | IssuerCheck::ExactOrWithoutScheme => iss == configured,
        IssuerCheck::MicrosoftTenant => {
            same_authority(configured, iss) && microsoft_tenant_of(iss).is_some_and(is_tenant_id)
        }
    }
}

/// `endpoint` if it may receive tokens, codes or secrets (or be trusted for
/// keys and profiles): https, or http on a loopback host when the issuer
/// itself is on loopback (local development and tests; RFC 8252 §8.3 allows
/// http only there). A tampered or careless discovery document must not be
/// able to send our tokens elsewhere in clear. Used for the five endpoints
/// discovery names (`discovery::discover`) and again before a revocation or
/// end-session request (`revocation`).
pub fn safe_endpoint(issuer: Option<&str>, endpoint: &str) -> Option<Url> {
    let url = Url::parse(endpoint).ok()?;
    let loopback = |url: &Url| match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    let issuer_is_loopback = issuer
        .and_then(|issuer| Url::parse(issuer).ok())
        .is_some_and(|issuer| loopback(&issuer));
    match url.scheme() {
        "https" => Some(url),
        "http" if loopback(&url) && issuer_is_loopback => Some(url),
        _ => {
            tracing::warn!("refused an endpoint that is not https: {endpoint}");
            None
        }
    }
}

/// `tenant` in `{authority}/{tenant}/v2.0`.
fn microsoft_tenant_of(issuer: &str) -> Option<&str> {
    let path = issuer.strip_suffix("/v2.0")?;
    let (_authority, tenant) = path.rsplit_once('/')?;
    (!tenant.is_empty()).then_some(tenant)
}

/// Both issuers are `{authority}/<tenant>/v2.0` with the same authority.
fn same_authority(a: &str, b: &str) -> bool {
    let authority = |issuer: &str| {
        issuer
            .strip_suffix("/v2.0")
            .and_then(|path| path.rsplit_once('/'))
            .map(|(authority, _tenant)| authority.to_owned())
    };
    authority(a).is_some_and(|left| Some(left) == authority(b))
}

/// A tenant id is a GUID.
fn is_tenant_id(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHORITY: &str = "https://login.microsoftonline.com";
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const PERSONAL: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

    #[test]
    fn a_tenant_id_is_a_guid_and_nothing_else() {
        assert!(is_tenant_id(TENANT));
        for not_a_guid in [
            "72f988bf-86f1-41af-91ab-2d7cd011db4g", // right lengths, not hex
            "72f988bf-86f1-41af-91ab-2d7cd011db4",  // hex, one digit short
            "72f988bf-86f1-41af-91ab2d7cd011db47",  // four groups
            "common",
            "",
        ] {
            assert!(!is_tenant_id(not_a_guid), "{not_a_guid}");
        }
    }

    #[test]
    fn exact_issuers_must_be_equal_strings() {
        let issuer = "https://id.example.com/realms/demo";
        assert!(discovery_issuer_matches(IssuerCheck::Exact, issuer, issuer));
        assert!(!discovery_issuer_matches(
            IssuerCheck::Exact,
            issuer,
            &format!("{issuer}/")
        ));
        assert!(token_issuer_matches(
            IssuerCheck::Exact,
            issuer,
            issuer,
            None
        ));
        assert!(!token_issuer_matches(
            IssuerCheck::Exact,
            issuer,
            "https://evil.example.com",
            None
        ));
        assert!(!token_issuer_matches(
            IssuerCheck::Exact,
            issuer,
            "id.example.com/realms/demo",
            None
        ));
        // RFC 9207 §2.4: the callback's `iss` is compared as a string too.
        assert!(callback_issuer_matches(IssuerCheck::Exact, issuer, issuer));
        assert!(!callback_issuer_matches(
            IssuerCheck::Exact,
            issuer,
            "https://evil.example.com"
        ));
    }

    #[test]
    fn google_issuer_may_come_without_its_scheme() {
        let google = "https://accounts.google.com";
        let check = IssuerCheck::ExactOrWithoutScheme;
        assert!(token_issuer_matches(check, google, google, None));
        assert!(token_issuer_matches(
            check,
            google,
            "accounts.google.com",
            None
        ));
        assert!(!token_issuer_matches(
            check,
            google,
            "http://accounts.google.com",
            None
        ));
        assert!(!token_issuer_matches(
            check,
            google,
            "evil.example.com",
            None
        ));
    }

    #[test]
    fn microsoft_multi_tenant_issuer_takes_the_tokens_tenant() {
        let check = IssuerCheck::MicrosoftTenant;
        let common = format!("{AUTHORITY}/common/v2.0");
        let template = format!("{AUTHORITY}/{{tenantid}}/v2.0");
        let consumers_document = format!("{AUTHORITY}/{PERSONAL}/v2.0");
        assert!(discovery_issuer_matches(check, &common, &template));
        assert!(discovery_issuer_matches(
            check,
            &format!("{AUTHORITY}/consumers/v2.0"),
            &consumers_document
        ));
        assert!(!discovery_issuer_matches(
            check,
            &common,
            "https://evil.example.com/{tenantid}/v2.0"
        ));
        assert!(!discovery_issuer_matches(
            check,
            &common,
            &format!("{AUTHORITY}/not-a-tenant/v2.0")
        ));

        let token_iss = format!("{AUTHORITY}/{TENANT}/v2.0");
        assert!(token_issuer_matches(
            check,
            &template,
            &token_iss,
            Some(TENANT)
        ));
        // `iss` and `tid` must agree, and `tid` is required.
        assert!(!token_issuer_matches(
            check,
            &template,
            &token_iss,
            Some(PERSONAL)
        ));
        assert!(!token_issuer_matches(check, &template, &token_iss, None));
        // A tenant-specific document pins the tenant.
        assert!(!token_issuer_matches(
            check,
            &consumers_document,
            &token_iss,
            Some(TENANT)
        ));
        assert!(token_issuer_matches(
            check,
            &consumers_document,
            &consumers_document,
            Some(PERSONAL)
        ));
        // A `tid` that is not a GUID cannot smuggle in another path.
        assert!(!token_issuer_matches(
            check,
            &template,
            &format!("{AUTHORITY}/x/../{TENANT}/v2.0"),
            Some("x/../72f988bf-86f1-41af-91ab-2d7cd011db47")
        ));

        assert!(callback_issuer_matches(check, &common, &token_iss));
        assert!(!callback_issuer_matches(
            check,
            &common,
            "https://evil.example.com/{TENANT}/v2.0"
        ));
        // Our authority, but no tenant id where the tenant goes.
        assert!(!callback_issuer_matches(
            check,
            &common,
            &format!("{AUTHORITY}/common/v2.0")
        ));
    }

    #[test]
    fn endpoints_that_receive_tokens_must_be_https_or_loopback_for_a_loopback_issuer() {
        let real = Some("https://accounts.example");
        let local = Some("http://127.0.0.1:8081");
        assert!(safe_endpoint(real, "https://accounts.example/revoke").is_some());
        assert!(safe_endpoint(real, "http://accounts.example/revoke").is_none());
        assert!(
            safe_endpoint(real, "http://127.0.0.1:9/revoke").is_none(),
            "a real issuer's document cannot point at plain http, even on loopback"
        );
        assert!(safe_endpoint(local, "http://127.0.0.1:8081/revoke").is_some());
        assert!(safe_endpoint(local, "http://[::1]:8081/revoke").is_some());
        assert!(safe_endpoint(local, "http://evil.example/revoke").is_none());
        assert!(safe_endpoint(local, "ftp://127.0.0.1/revoke").is_none());
        assert!(safe_endpoint(None, "not a url").is_none());
    }
}
