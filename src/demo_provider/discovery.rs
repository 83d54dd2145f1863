//! Discovery (OpenID Connect Discovery 1.0 §3–4, RFC 8414) and the JWK Set.
//!
//! What it owns: the metadata document that tells a client where every
//! endpoint is and what the provider supports, and the public signing keys.
//! It must not invent capabilities: each value here is something the other
//! modules really do.

use actix_web::{HttpResponse, web};

use super::ProviderState;
use super::keys::SIGNING_ALGORITHM;
use super::scopes::Scope;

/// `GET /.well-known/openid-configuration`. Every URL is absolute and built
/// from the issuer, which must equal the `iss` of our ID tokens (Discovery §4.3).
pub(crate) async fn openid_configuration(state: web::Data<ProviderState>) -> HttpResponse {
    let scopes: Vec<&str> = Scope::ALL.iter().map(|scope| scope.as_str()).collect();
    HttpResponse::Ok().json(serde_json::json!({
        "issuer": state.issuer,
        "authorization_endpoint": state.endpoint("/authorize"),
        "token_endpoint": state.endpoint("/token"),
        "userinfo_endpoint": state.endpoint("/userinfo"),
        "jwks_uri": state.endpoint("/jwks"),
        "revocation_endpoint": state.endpoint("/revoke"),
        "end_session_endpoint": state.endpoint("/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
        "scopes_supported": scopes,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
            "name", "given_name", "family_name", "preferred_username",
            "email", "email_verified"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        // RFC 9207: our authorization responses carry `iss`.
        "authorization_response_iss_parameter_supported": true,
    }))
}

/// `GET /jwks`: the public half of the signing key (RFC 7517 §5).
pub(crate) async fn jwks(state: web::Data<ProviderState>) -> HttpResponse {
    HttpResponse::Ok().json(state.keys.jwks())
}
