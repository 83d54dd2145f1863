//! The token endpoint (RFC 6749 §3.2, §4.1.3, §5, §6) and the revocation
//! endpoint (RFC 7009).
//!
//! What it owns: exchanging an authorization code (with its PKCE verifier,
//! RFC 7636 §4.5–4.6) for tokens, refreshing with rotation, revoking, and the
//! JSON success and error responses of these endpoints. It must not show pages
//! or redirect: these endpoints are called by the app's server, never by a
//! browser.
//!
//! Every response here carries `Cache-Control: no-store` and `Pragma: no-cache`
//! (RFC 6749 §5.1), since it contains or concerns credentials.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::ProviderState;
use super::client_auth::{ClientAuthError, authenticate_client};
use super::id_token::{IdTokenInput, sign_id_token};
use super::mailbox::find_user;
use super::params::Params;
use super::scopes::{Scope, parse_scope_list, scope_string};
use super::store::{IssuedToken, REFRESH_TOKEN_TTL, StoreInner, TokenKind};
use crate::crypto::{constant_time_eq, random_url_safe, sha256_url_safe};

/// `POST /token`.
pub(crate) async fn token(
    request: HttpRequest,
    state: web::Data<ProviderState>,
    body: web::Bytes,
) -> HttpResponse {
    let now = Utc::now();
    let Ok(params) = Params::parse_body(&body) else {
        return oauth_error(&TokenError::invalid_request(
            "The body must be application/x-www-form-urlencoded UTF-8.",
        ));
    };
    // Authenticate the client before looking at the grant, so that nobody
    // learns anything about codes or tokens without the client's secret.
    let client = match authenticate_client(&state.client, &request, &params) {
        Ok(client) => client,
        Err(error) => return invalid_client(error),
    };
    if let Some(name) = params.repeated() {
        return oauth_error(&TokenError::invalid_request(format!(
            "The {name} parameter was sent more than once."
        )));
    }
    let client_id = state.client.client_id.as_str();
    let issued = match params.get("grant_type") {
        None => Err(TokenError::invalid_request("grant_type is required.")),
        Some("authorization_code") => {
            match (
                params.get("code"),
                params.get("redirect_uri"),
                params.get("code_verifier"),
            ) {
                (Some(code), Some(redirect_uri), Some(code_verifier)) => redeem_code(
                    &mut state.store.lock(),
                    &CodeRedemption {
                        client_id,
                        code,
                        redirect_uri,
                        code_verifier,
                    },
                    state.access_token_ttl,
                    now,
                ),
                _ => Err(TokenError::invalid_request(
                    "code, redirect_uri and code_verifier are required.",
                )),
            }
        }
        Some("refresh_token") => match params.get("refresh_token") {
            Some(refresh_token) => refresh(
                &mut state.store.lock(),
                client_id,
                refresh_token,
                params.get("scope"),
                state.access_token_ttl,
                now,
            ),
            None => Err(TokenError::invalid_request("refresh_token is required.")),
        },
        Some(_) => Err(TokenError {
            error: "unsupported_grant_type",
            description: "Only authorization_code and refresh_token grants are supported."
                .to_owned(),
        }),
    };
    match issued {
        Ok(tokens) => {
            tracing::info!(
                client_id,
                user = %tokens.username,
                grant = tokens.grant_type,
                method = ?client.method,
                "issued tokens"
            );
            token_success(&state, &tokens, now)
        }
        Err(error) => {
            tracing::info!(client_id, error = error.error, "token request refused");
            oauth_error(&error)
        }
    }
}

/// A refusal from the token endpoint (RFC 6749 §5.2), sent with status 400.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TokenError {
    error: &'static str,
    #[serde(rename = "error_description")]
    description: String,
}

impl TokenError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_request",
            description: description.into(),
        }
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_grant",
            description: description.into(),
        }
    }
}

/// What the client sent to redeem a code.
pub(crate) struct CodeRedemption<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) code: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) code_verifier: &'a str,
}

/// Tokens just stored, with what the response and the ID token need.
#[derive(Debug)]
pub(crate) struct IssuedTokens {
    grant_type: &'static str,
    access_token: String,
    refresh_token: Option<String>,
    /// The access token's scopes.
    scopes: Vec<Scope>,
    username: String,
    auth_time: DateTime<Utc>,
    nonce: Option<String>,
}

/// Checks a code and, if it is good, stores new tokens for it. All under the
/// one lock, so two concurrent redemptions cannot both succeed.
pub(crate) fn redeem_code(
    store: &mut StoreInner,
    redemption: &CodeRedemption<'_>,
    access_token_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, TokenError> {
    let Some(record) = store.code_mut(redemption.code, now) else {
        return Err(TokenError::invalid_grant(
            "The authorization code is unknown or has expired.",
        ));
    };
    if let Some(grant_id) = record.redeemed_as_grant.clone() {
        // RFC 6749 §4.1.2: if a code is used more than once, the server MUST
        // deny the request and SHOULD revoke all tokens issued from it. A
        // second use means the code leaked; whoever holds the first tokens
        // may be the attacker.
        let revoked = store.revoke_grant(&grant_id);
        tracing::warn!(
            client_id = redemption.client_id,
            revoked,
            "authorization code used twice: revoked every token issued from it"
        );
        return Err(TokenError::invalid_grant(
            "The authorization code has already been used.",
        ));
    }
    let record = record.clone();
    if record.client_id != redemption.client_id {
        return Err(TokenError::invalid_grant(
            "The authorization code was issued to another client.",
        ));
    }
    // From here on the code is spent whatever the outcome: a failed attempt
    // must not leave a stolen code open to more guesses.
    if record.expires_at <= now {
        store.forget_code(redemption.code, now);
        return Err(TokenError::invalid_grant(
            "The authorization code has expired.",
        ));
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the request.
    if record.redirect_uri != redemption.redirect_uri {
        store.forget_code(redemption.code, now);
        return Err(TokenError::invalid_grant(
            "redirect_uri does not match the one in the authorization request.",
        ));
    }
    if !pkce_verifier_matches(redemption.code_verifier, &record.code_challenge) {
        store.forget_code(redemption.code, now);
        return Err(TokenError::invalid_grant(
            "PKCE verification failed: code_verifier does not match code_challenge.",
        ));
    }

    let grant_id = random_url_safe(16);
    if let Some(code) = store.code_mut(redemption.code, now) {
        code.redeemed_as_grant = Some(grant_id.clone());
    }
    store.remember_redeemed_code(redemption.code, now);

    let template = IssuedToken {
        kind: TokenKind::Access,
        client_id: record.client_id,
        username: record.username,
        scopes: record.scopes,
        grant_id,
        auth_time: record.auth_time,
    };
    let refresh_scopes = template.scopes.clone();
    let wants_refresh_token = refresh_scopes.contains(&Scope::OfflineAccess);
    Ok(store_tokens(
        store,
        template,
        refresh_scopes,
        TokenPolicy {
            grant_type: "authorization_code",
            // A refresh token only when the user consented to offline access
            // (OpenID Connect Core §11).
            with_refresh_token: wants_refresh_token,
            nonce: record.nonce,
            access_token_ttl,
        },
        now,
    ))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge.
/// The verifier must also have the §4.1 form: 43–128 unreserved characters.
pub(crate) fn pkce_verifier_matches(code_verifier: &str, code_challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&code_verifier.len())
        && code_verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte));
    well_formed && constant_time_eq(&sha256_url_safe(code_verifier), code_challenge)
}

/// `grant_type=refresh_token` (RFC 6749 §6) with rotation: the old refresh
/// token stops working and a new one is issued (RFC 9700 §4.14.2), so a
/// stolen refresh token is useful only until the app next refreshes.
pub(crate) fn refresh(
    store: &mut StoreInner,
    client_id: &str,
    refresh_token: &str,
    requested_scope: Option<&str>,
    access_token_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, TokenError> {
    let Some(record) = store
        .token(refresh_token, now)
        .filter(|record| record.kind == TokenKind::Refresh && record.client_id == client_id)
        .cloned()
    else {
        return Err(TokenError::invalid_grant(
            "The refresh token is invalid, expired or revoked.",
        ));
    };
    // An optional narrower scope for the new access token; it "MUST NOT
    // include any scope not originally granted" (RFC 6749 §6).
    let access_scopes = match requested_scope.map(parse_scope_list) {
        None => record.scopes.clone(),
        Some(Ok(requested)) if requested.iter().all(|scope| record.scopes.contains(scope)) => {
            requested
        }
        Some(_) => {
            return Err(TokenError {
                error: "invalid_scope",
                description: "The requested scope exceeds the scope originally granted.".to_owned(),
            });
        }
    };
    store.remove_token(refresh_token, now);
    // The new refresh token keeps the original scope (RFC 6749 §6).
    let refresh_scopes = record.scopes.clone();
    let template = IssuedToken {
        kind: TokenKind::Access,
        scopes: access_scopes,
        ..record
    };
    Ok(store_tokens(
        store,
        template,
        refresh_scopes,
        TokenPolicy {
            grant_type: "refresh_token",
            with_refresh_token: true,
            // OpenID Connect Core §12.2: a refreshed ID token has no nonce.
            nonce: None,
            access_token_ttl,
        },
        now,
    ))
}

struct TokenPolicy {
    grant_type: &'static str,
    with_refresh_token: bool,
    nonce: Option<String>,
    access_token_ttl: Duration,
}

/// Creates an access token (and maybe a refresh token) for `template`'s grant.
/// Tokens are opaque random strings (256 bits); we store only their hashes.
fn store_tokens(
    store: &mut StoreInner,
    template: IssuedToken,
    refresh_scopes: Vec<Scope>,
    policy: TokenPolicy,
    now: DateTime<Utc>,
) -> IssuedTokens {
    let access_token = random_url_safe(32);
    store.insert_token(
        &access_token,
        template.clone(),
        now + policy.access_token_ttl,
        now,
    );
    let refresh_token = policy.with_refresh_token.then(|| {
        let refresh_token = random_url_safe(32);
        store.insert_token(
            &refresh_token,
            IssuedToken {
                kind: TokenKind::Refresh,
                scopes: refresh_scopes,
                ..template.clone()
            },
            now + REFRESH_TOKEN_TTL,
            now,
        );
        refresh_token
    });
    IssuedTokens {
        grant_type: policy.grant_type,
        access_token,
        refresh_token,
        scopes: template.scopes,
        username: template.username,
        auth_time: template.auth_time,
        nonce: policy.nonce,
    }
}

/// The successful response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

fn token_success(state: &ProviderState, tokens: &IssuedTokens, now: DateTime<Utc>) -> HttpResponse {
    let id_token = if tokens.scopes.contains(&Scope::OpenId) {
        let Some(user) = find_user(&tokens.username) else {
            tracing::error!("a token names a user that does not exist");
            return server_error();
        };
        let signed = sign_id_token(
            &state.keys,
            &IdTokenInput {
                issuer: &state.issuer,
                client_id: &state.client.client_id,
                user,
                scopes: &tokens.scopes,
                auth_time: tokens.auth_time,
                nonce: tokens.nonce.as_deref(),
                access_token: &tokens.access_token,
                access_token_lifetime: state.access_token_ttl,
                now,
            },
        );
        match signed {
            Ok(id_token) => Some(id_token),
            Err(error) => {
                tracing::error!(%error, "could not sign an ID token");
                return server_error();
            }
        }
    } else {
        None
    };
    no_store(HttpResponse::Ok()).json(TokenResponse {
        access_token: &tokens.access_token,
        token_type: "Bearer",
        expires_in: state.access_token_ttl.num_seconds(),
        scope: scope_string(&tokens.scopes),
        id_token,
        refresh_token: tokens.refresh_token.as_deref(),
    })
}

/// `POST /revoke` (RFC 7009 §2.1).
pub(crate) async fn revoke(
    request: HttpRequest,
    state: web::Data<ProviderState>,
    body: web::Bytes,
) -> HttpResponse {
    let now = Utc::now();
    let Ok(params) = Params::parse_body(&body) else {
        return oauth_error(&TokenError::invalid_request(
            "The body must be application/x-www-form-urlencoded UTF-8.",
        ));
    };
    if let Err(error) = authenticate_client(&state.client, &request, &params) {
        return invalid_client(error);
    }
    let Some(token) = params.get("token") else {
        return oauth_error(&TokenError::invalid_request("token is required."));
    };
    // token_type_hint is only a hint (RFC 7009 §2.1); one lookup finds either kind.
    let revoked = {
        let mut store = state.store.lock();
        match store.token(token, now).cloned() {
            Some(record) if record.client_id == state.client.client_id => {
                match record.kind {
                    TokenKind::Access => {
                        store.remove_token(token, now);
                        1
                    }
                    // RFC 7009 §2.1: revoking a refresh token SHOULD also
                    // invalidate the access tokens of the same grant.
                    TokenKind::Refresh => store.revoke_grant(&record.grant_id),
                }
            }
            _ => 0,
        }
    };
    tracing::info!(client_id = %state.client.client_id, revoked, "revocation request");
    // RFC 7009 §2.2: 200 whether or not the token was valid, so the answer
    // tells an attacker nothing about which tokens exist.
    no_store(HttpResponse::Ok()).finish()
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"));
    builder
}

fn oauth_error(error: &TokenError) -> HttpResponse {
    no_store(HttpResponse::BadRequest()).json(error)
}

/// RFC 6749 §5.2: `invalid_client` may be 401, and MUST be 401 with a
/// `WWW-Authenticate` challenge when the client tried HTTP Basic. We always
/// answer 401 with the challenge, since HTTP requires it on every 401
/// (RFC 9110 §15.5.2).
fn invalid_client(error: ClientAuthError) -> HttpResponse {
    tracing::info!(reason = %error, "client authentication failed");
    no_store(HttpResponse::build(StatusCode::UNAUTHORIZED))
        .insert_header((WWW_AUTHENTICATE, r#"Basic realm="demo-provider""#))
        .json(TokenError {
            error: "invalid_client",
            description: error.description().to_owned(),
        })
}

fn server_error() -> HttpResponse {
    no_store(HttpResponse::InternalServerError()).json(TokenError {
        error: "server_error",
        description: "The demo provider could not issue tokens.".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo_provider::store::{AuthorizationCode, CODE_TTL};

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT: &str = "http://127.0.0.1:9/callback";

    fn start() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000)
    }

    fn store_with_code(scopes: Vec<Scope>) -> StoreInner {
        let mut store = StoreInner::new();
        store.insert_code(
            "the-code",
            AuthorizationCode {
                client_id: "app".into(),
                redirect_uri: REDIRECT.into(),
                code_challenge: CHALLENGE.into(),
                nonce: Some("n".into()),
                username: "alice".into(),
                scopes,
                auth_time: start(),
                expires_at: start() + CODE_TTL,
                redeemed_as_grant: None,
            },
            start(),
        );
        store
    }

    fn redeem(
        store: &mut StoreInner,
        verifier: &str,
        at: DateTime<Utc>,
    ) -> Result<IssuedTokens, TokenError> {
        redeem_code(
            store,
            &CodeRedemption {
                client_id: "app",
                code: "the-code",
                redirect_uri: REDIRECT,
                code_verifier: verifier,
            },
            Duration::hours(1),
            at,
        )
    }

    #[test]
    fn the_rfc_7636_example_verifier_matches_its_challenge() {
        assert!(pkce_verifier_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_verifier_matches(
            &VERIFIER.replace('d', "e"),
            CHALLENGE
        ));
        assert!(!pkce_verifier_matches("short", CHALLENGE));
    }

    #[test]
    fn a_code_redeems_once_with_the_right_verifier() {
        let mut store = store_with_code(vec![Scope::OpenId, Scope::OfflineAccess]);
        let tokens = redeem(&mut store, VERIFIER, start()).expect("redeemed");
        assert!(
            tokens.refresh_token.is_some(),
            "offline_access gives a refresh token"
        );
        assert_eq!(tokens.nonce.as_deref(), Some("n"));
        assert_eq!(store.token_count(), 2);
    }

    #[test]
    fn a_code_used_twice_is_refused_and_its_tokens_are_revoked() {
        let mut store = store_with_code(vec![Scope::OpenId]);
        let tokens = redeem(&mut store, VERIFIER, start()).expect("first use");
        assert!(
            tokens.refresh_token.is_none(),
            "no offline_access, no refresh token"
        );
        let second = redeem(&mut store, VERIFIER, start() + Duration::seconds(5));
        assert_eq!(second.expect_err("reuse").error, "invalid_grant");
        assert!(store.token(&tokens.access_token, start()).is_none());
    }

    #[test]
    fn a_code_past_its_sixty_seconds_is_refused() {
        let mut store = store_with_code(vec![Scope::OpenId]);
        let late = redeem(
            &mut store,
            VERIFIER,
            start() + CODE_TTL + Duration::seconds(1),
        );
        assert_eq!(late.expect_err("expired").error, "invalid_grant");
    }

    #[test]
    fn a_wrong_verifier_is_refused_and_spends_the_code() {
        let mut store = store_with_code(vec![Scope::OpenId]);
        let wrong = redeem(&mut store, &"a".repeat(43), start());
        assert_eq!(wrong.expect_err("wrong verifier").error, "invalid_grant");
        let retry = redeem(&mut store, VERIFIER, start());
        assert_eq!(retry.expect_err("code spent").error, "invalid_grant");
    }

    #[test]
    fn refreshing_rotates_the_refresh_token_and_may_narrow_the_scope() {
        let mut store = store_with_code(vec![Scope::OpenId, Scope::OfflineAccess, Scope::MailRead]);
        let first = redeem(&mut store, VERIFIER, start()).expect("redeemed");
        let old_refresh = first.refresh_token.expect("refresh token");
        let later = start() + Duration::minutes(5);
        let second = refresh(
            &mut store,
            "app",
            &old_refresh,
            Some("openid"),
            Duration::hours(1),
            later,
        )
        .expect("refreshed");
        assert_eq!(second.scopes, vec![Scope::OpenId]);
        assert_ne!(second.refresh_token.as_deref(), Some(old_refresh.as_str()));
        let again = refresh(
            &mut store,
            "app",
            &old_refresh,
            None,
            Duration::hours(1),
            later,
        );
        assert_eq!(again.expect_err("rotated").error, "invalid_grant");
        let wider = refresh(
            &mut store,
            "app",
            second.refresh_token.as_deref().expect("new refresh token"),
            Some("openid User.Read"),
            Duration::hours(1),
            later,
        );
        assert_eq!(wider.expect_err("wider scope").error, "invalid_scope");
    }
}
