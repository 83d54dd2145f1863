//! Finding the access token a request carries, for the resource endpoints
//! (`/userinfo` and the Graph API).
//!
//! What it owns: reading `Authorization: Bearer <token>` (RFC 6750 §2.1) and
//! looking the token up. It must not decide what a missing scope means or how
//! to word the error; each endpoint answers in its own format (RFC 6750 §3 for
//! userinfo, Graph's error envelope for Graph).
//!
//! Only the header form is accepted; tokens in query strings end up in logs
//! and browser history (RFC 6750 §2.3, §5.3).

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use chrono::{DateTime, Utc};

use super::ProviderState;
use super::store::{IssuedToken, TokenKind};

/// Why a request is not authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerError {
    /// No `Authorization: Bearer` header at all (RFC 6750 §3.1: then the
    /// challenge carries no error code).
    Missing,
    /// A token was sent but is unknown, expired, revoked or not an access token.
    Invalid,
}

/// The access token's record, if the request carries a valid one.
pub(crate) fn authenticate(
    state: &ProviderState,
    request: &HttpRequest,
    now: DateTime<Utc>,
) -> Result<IssuedToken, BearerError> {
    let token = bearer_token(request).ok_or(BearerError::Missing)?;
    state
        .store
        .lock()
        .token(token, now)
        .filter(|record| record.kind == TokenKind::Access)
        .cloned()
        .ok_or(BearerError::Invalid)
}

/// The credentials of `Authorization: Bearer <token>`. The scheme name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        let request = TestRequest::default()
            .insert_header((AUTHORIZATION, "bearer abc"))
            .to_http_request();
        assert_eq!(bearer_token(&request), Some("abc"));
        let basic = TestRequest::default()
            .insert_header((AUTHORIZATION, "Basic abc"))
            .to_http_request();
        assert_eq!(bearer_token(&basic), None);
        let empty = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer "))
            .to_http_request();
        assert_eq!(bearer_token(&empty), None);
    }
}
