//! The UserInfo endpoint (OpenID Connect Core §5.3).
//!
//! What it owns: answering `GET`/`POST /userinfo` with the claims the access
//! token's scopes allow, and the RFC 6750 §3 error challenges. It must not
//! accept tokens from anywhere but the `Authorization` header (see `bearer.rs`).

use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::ProviderState;
use super::bearer::{self, BearerError};
use super::id_token::UserClaims;
use super::mailbox::find_user;
use super::scopes::Scope;

/// `GET /userinfo` and `POST /userinfo`.
pub(crate) async fn userinfo(
    request: HttpRequest,
    state: web::Data<ProviderState>,
) -> HttpResponse {
    let token = match bearer::authenticate(&state, &request, Utc::now()) {
        Ok(token) => token,
        // RFC 6750 §3.1: with no credentials at all, the challenge SHOULD NOT
        // carry an error code.
        Err(BearerError::Missing) => {
            return HttpResponse::Unauthorized()
                .insert_header((WWW_AUTHENTICATE, r#"Bearer realm="demo-provider""#))
                .finish();
        }
        Err(BearerError::Invalid) => return invalid_token(),
    };
    // Core §5.3: UserInfo serves tokens from an OpenID Connect request only.
    if !token.scopes.contains(&Scope::OpenId) {
        return HttpResponse::build(StatusCode::FORBIDDEN)
            .insert_header((
                WWW_AUTHENTICATE,
                r#"Bearer realm="demo-provider", error="insufficient_scope", scope="openid""#,
            ))
            .json(serde_json::json!({
                "error": "insufficient_scope",
                "error_description": "The access token was not issued for openid.",
            }));
    }
    let Some(user) = find_user(&token.username) else {
        return invalid_token();
    };
    HttpResponse::Ok().json(UserClaims::new(user, &token.scopes))
}

/// RFC 6750 §3.1 `invalid_token`: expired, revoked, malformed or unknown.
fn invalid_token() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((
            WWW_AUTHENTICATE,
            r#"Bearer realm="demo-provider", error="invalid_token", error_description="The access token is invalid, expired or revoked""#,
        ))
        .json(serde_json::json!({
            "error": "invalid_token",
            "error_description": "The access token is invalid, expired or revoked.",
        }))
}
