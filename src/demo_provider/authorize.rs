//! The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2)
//! and the two pages behind it: sign-in and consent.
//!
//! What it owns: validating the authorization request, the sign-in and
//! consent steps, and the redirect back to the client with a code or an error
//! (RFC 6749 §4.1.2, §4.1.2.1, RFC 9207). It must not issue tokens: the code it
//! hands out is only redeemable at `/token`.
//!
//! The order of checks matters. Until `client_id` and `redirect_uri` are both
//! known to be registered, an error is shown on our own page and the browser
//! is NOT redirected: otherwise anyone could use this endpoint to bounce users
//! to an address of their choice (an open redirector, RFC 6749 §4.1.2.1,
//! RFC 9700 §4.11). After that, errors go back to the client by redirect.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tera::Context;
use url::Url;

use super::ProviderState;
use super::mailbox::{DEMO_PASSWORD, DEMO_USERS, DemoUser, find_user};
use super::params::{MalformedParams, Params};
use super::scopes::{Scope, parse_scope_list};
use super::store::{
    AuthorizationCode, AuthorizationRequest, CODE_TTL, Interaction, InteractionStage,
};
use crate::crypto::{constant_time_eq, random_url_safe};

/// `state` and `nonce` are echoed back or stored; bound what we keep.
const MAX_CLIENT_VALUE_LENGTH: usize = 1024;

/// `GET /authorize`.
pub(crate) async fn authorize_get(
    request: HttpRequest,
    state: web::Data<ProviderState>,
) -> HttpResponse {
    authorize(&state, Params::parse(request.query_string()), Utc::now())
}

/// `POST /authorize` with a form body (OpenID Connect Core §3.1.2.1).
pub(crate) async fn authorize_post(
    state: web::Data<ProviderState>,
    body: web::Bytes,
) -> HttpResponse {
    authorize(&state, Params::parse_body(&body), Utc::now())
}

fn authorize(
    state: &ProviderState,
    params: Result<Params, MalformedParams>,
    now: DateTime<Utc>,
) -> HttpResponse {
    let Ok(params) = params else {
        return state.pages.error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request is malformed",
            "The app sent a sign-in request the demo provider cannot read.",
        );
    };

    // Step 1: who is asking, and where may we send the answer? (no redirect yet)
    let Some(client_id) = params.get("client_id") else {
        return state.pages.error_page(
            StatusCode::BAD_REQUEST,
            "The app did not say who it is",
            "The sign-in request has no client_id, so the demo provider cannot tell which app sent you.",
        );
    };
    if client_id != state.client.client_id {
        return state.pages.error_page(
            StatusCode::BAD_REQUEST,
            "Unknown app",
            "The app that sent you here is not registered at the demo provider, so it cannot sign you in.",
        );
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return state.pages.error_page(
            StatusCode::BAD_REQUEST,
            "The app did not say where to send you back",
            "The sign-in request has no redirect_uri. The demo provider needs it to send you back.",
        );
    };
    // Exact string comparison: no prefix, wildcard or normalisation (RFC 9700 §4.1.3).
    let registered = state
        .client
        .redirect_uris
        .iter()
        .any(|allowed| allowed == redirect_uri);
    if !registered || matches!(params.repeated(), Some("client_id" | "redirect_uri")) {
        return state.pages.error_page(
            StatusCode::BAD_REQUEST,
            "This return address is not registered",
            "The app asked to be answered at an address that is not registered for it, so the demo provider will not send you there.",
        );
    }

    // Step 2: from here on, errors are reported to the client by redirect.
    let reply = ClientRedirect {
        redirect_uri,
        state: params.get("state"),
        issuer: &state.issuer,
    };
    let request = match validate_request(&params, client_id, redirect_uri) {
        Ok(request) => request,
        Err(RequestError { error, description }) => {
            tracing::info!(client_id, error, "authorization request refused");
            return reply.send(
                state,
                &[("error", error), ("error_description", &description)],
            );
        }
    };

    let page = SignInPage {
        request: &request,
        error: None,
        typed_username: "",
    };
    let interaction_id = state.store.lock().start_interaction(
        Interaction {
            request: request.clone(),
            stage: InteractionStage::AwaitingSignIn,
        },
        now,
    );
    page.render(state, &interaction_id, StatusCode::OK)
}

/// An error the client hears about at its redirect URI (RFC 6749 §4.1.2.1).
struct RequestError {
    error: &'static str,
    description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> RequestError {
    RequestError {
        error,
        description: description.into(),
    }
}

fn validate_request(
    params: &Params,
    client_id: &str,
    redirect_uri: &str,
) -> Result<AuthorizationRequest, RequestError> {
    if let Some(name) = params.repeated() {
        // RFC 6749 §3.1: parameters MUST NOT be included more than once.
        return Err(refuse(
            "invalid_request",
            format!("The {name} parameter was sent more than once."),
        ));
    }
    match params.get("response_type") {
        None => return Err(refuse("invalid_request", "response_type is required.")),
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "Only the authorization code flow (response_type=code) is supported.",
            ));
        }
    }

    let scopes = match params.get("scope").map(parse_scope_list) {
        None => {
            return Err(refuse(
                "invalid_scope",
                "scope is required and must include openid.",
            ));
        }
        Some(Err(unknown)) => {
            return Err(refuse(
                "invalid_scope",
                format!("Unknown scope: {}.", unknown.0),
            ));
        }
        Some(Ok(scopes)) => scopes,
    };
    if !scopes.contains(&Scope::OpenId) {
        return Err(refuse(
            "invalid_scope",
            "This provider only signs users in with OpenID Connect: scope must include openid.",
        ));
    }

    // PKCE (RFC 7636) is mandatory here, as RFC 9700 §2.1.1 recommends, and
    // only with S256: "plain" would send the verifier itself through the
    // browser, which defeats the point (RFC 7636 §4.2, §7.2).
    let Some(code_challenge) = params.get("code_challenge") else {
        return Err(refuse(
            "invalid_request",
            "code_challenge is required: this provider requires PKCE (RFC 7636).",
        ));
    };
    if params.get("code_challenge_method") != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "code_challenge_method must be S256; plain is not accepted.",
        ));
    }
    if !is_s256_challenge(code_challenge) {
        return Err(refuse(
            "invalid_request",
            "code_challenge must be BASE64URL(SHA256(code_verifier)): 43 characters.",
        ));
    }

    let client_state = params.get("state");
    let nonce = params.get("nonce");
    if [client_state, nonce]
        .into_iter()
        .flatten()
        .any(|value| value.len() > MAX_CLIENT_VALUE_LENGTH)
    {
        return Err(refuse(
            "invalid_request",
            format!("state and nonce may be at most {MAX_CLIENT_VALUE_LENGTH} characters."),
        ));
    }
    // We have no single-sign-on session, so we can never sign in silently
    // (OpenID Connect Core §3.1.2.6). For the same reason `prompt=login`
    // and any `max_age` (§3.1.2.1) are always honoured: every request asks
    // the person to sign in, and the ID token's `auth_time` says it was now.
    if params.get("prompt") == Some("none") {
        return Err(refuse(
            "login_required",
            "The demo provider always asks the user to sign in.",
        ));
    }

    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: client_state.map(str::to_owned),
        nonce: nonce.map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
    })
}

/// A SHA-256 hash, base64url without padding, is exactly 43 characters.
fn is_s256_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// `POST /authorize/sign-in`: a demo-account button or username + password.
pub(crate) async fn sign_in(state: web::Data<ProviderState>, body: web::Bytes) -> HttpResponse {
    let now = Utc::now();
    let params = Params::parse_body(&body).unwrap_or_default();
    let Some(interaction_id) = params.get("interaction") else {
        return expired(&state);
    };
    let request = match state.store.lock().interaction(interaction_id, now) {
        Some(Interaction {
            request,
            stage: InteractionStage::AwaitingSignIn,
        }) => request.clone(),
        _ => return expired(&state),
    };

    let user = match params.get("user") {
        // One of the "Continue as …" buttons: a demo convenience that skips
        // the password. A real provider never offers this, of course.
        Some(username) => find_user(username),
        None => match (params.get("username"), params.get("password")) {
            (Some(username), Some(password)) => {
                find_user(username).filter(|_| constant_time_eq(password, DEMO_PASSWORD))
            }
            _ => None,
        },
    };
    let Some(user) = user else {
        // Not logged: what was typed may be a real password typed by mistake.
        tracing::info!(client_id = %request.client_id, "demo sign-in refused: wrong username or password");
        let page = SignInPage {
            request: &request,
            error: Some(
                "That username and password do not match a demo account. Every demo account's password is “demo”.",
            ),
            typed_username: params.get("username").unwrap_or_default(),
        };
        return page.render(&state, interaction_id, StatusCode::UNAUTHORIZED);
    };

    // The id shown on the sign-in page is now spent; the consent page gets a
    // fresh one, so each id is good for exactly one step.
    let consent_id = {
        let mut store = state.store.lock();
        let Some(interaction) = store.take_interaction(interaction_id, now) else {
            return expired(&state);
        };
        store.start_interaction(
            Interaction {
                request: interaction.request,
                stage: InteractionStage::AwaitingConsent {
                    username: user.username.to_owned(),
                    auth_time: now,
                },
            },
            now,
        )
    };
    tracing::info!(client_id = %request.client_id, user = user.username, "demo user signed in");
    render_consent(&state, &consent_id, &request, user)
}

/// `POST /authorize/consent`: Allow issues a code, Deny reports `access_denied`.
pub(crate) async fn consent(state: web::Data<ProviderState>, body: web::Bytes) -> HttpResponse {
    let now = Utc::now();
    let params = Params::parse_body(&body).unwrap_or_default();
    let Some(interaction_id) = params.get("interaction") else {
        return expired(&state);
    };
    let allowed = match params.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return state.pages.error_page(
                StatusCode::BAD_REQUEST,
                "Please choose Allow or Deny",
                "The consent form was sent without a decision.",
            );
        }
    };

    let taken = {
        let mut store = state.store.lock();
        let awaiting_consent = matches!(
            store.interaction(interaction_id, now),
            Some(Interaction {
                stage: InteractionStage::AwaitingConsent { .. },
                ..
            })
        );
        // Single use: taking it means a second submission finds nothing.
        awaiting_consent
            .then(|| store.take_interaction(interaction_id, now))
            .flatten()
    };
    let Some(Interaction {
        request,
        stage:
            InteractionStage::AwaitingConsent {
                username,
                auth_time,
            },
    }) = taken
    else {
        return expired(&state);
    };

    let reply = ClientRedirect {
        redirect_uri: &request.redirect_uri,
        state: request.state.as_deref(),
        issuer: &state.issuer,
    };
    if !allowed {
        tracing::info!(client_id = %request.client_id, user = %username, "user denied consent");
        return reply.send(
            &state,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied consent"),
            ],
        );
    }

    // RFC 6749 §10.10: the code must be unguessable; 256 bits from the OS.
    let code = random_url_safe(32);
    state.store.lock().insert_code(
        &code,
        AuthorizationCode {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            username: username.clone(),
            scopes: request.scopes.clone(),
            auth_time,
            expires_at: now + CODE_TTL,
            redeemed_as_grant: None,
        },
        now,
    );
    tracing::info!(client_id = %request.client_id, user = %username, "issued authorization code");
    reply.send(&state, &[("code", &code)])
}

/// Sending the browser back to the client's registered redirect URI.
struct ClientRedirect<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    issuer: &'a str,
}

impl ClientRedirect<'_> {
    /// 303 See Other to the redirect URI with `pairs`, then `state` (RFC 6749
    /// §4.1.2) and `iss` (RFC 9207 §2, against mix-up attacks). `url` encodes
    /// every value and keeps any query the registered URI already has.
    fn send(&self, provider: &ProviderState, pairs: &[(&str, &str)]) -> HttpResponse {
        let Ok(mut target) = Url::parse(self.redirect_uri) else {
            tracing::error!("a registered redirect URI is not an absolute URL");
            return provider.pages.error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The app is registered wrongly",
                "The return address registered for this app is not a valid URL.",
            );
        };
        {
            let mut query = target.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.issuer);
        }
        HttpResponse::SeeOther()
            .insert_header((LOCATION, target.as_str()))
            .finish()
    }
}

fn expired(state: &ProviderState) -> HttpResponse {
    state.pages.error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in request has expired",
        "This sign-in request has expired; go back to the app and start again.",
    )
}

#[derive(Serialize)]
struct UserChoice {
    username: &'static str,
    display_name: &'static str,
    email: &'static str,
    job_title: &'static str,
}

struct SignInPage<'a> {
    request: &'a AuthorizationRequest,
    error: Option<&'a str>,
    typed_username: &'a str,
}

impl SignInPage<'_> {
    fn render(
        &self,
        state: &ProviderState,
        interaction_id: &str,
        status: StatusCode,
    ) -> HttpResponse {
        let users: Vec<UserChoice> = DEMO_USERS
            .iter()
            .map(|user| UserChoice {
                username: user.username,
                display_name: user.display_name,
                email: user.email,
                job_title: user.job_title,
            })
            .collect();
        let mut context = Context::new();
        context.insert("client_id", &self.request.client_id);
        context.insert("interaction", interaction_id);
        context.insert("users", &users);
        context.insert("demo_password", DEMO_PASSWORD);
        context.insert("error", &self.error);
        context.insert("username", self.typed_username);
        context.insert("return_to", &origin_of(&self.request.redirect_uri));
        state
            .pages
            .render(status, "demo_provider/sign_in.html", &context)
    }
}

#[derive(Serialize)]
struct ScopeLine {
    name: &'static str,
    description: &'static str,
}

fn render_consent(
    state: &ProviderState,
    interaction_id: &str,
    request: &AuthorizationRequest,
    user: &DemoUser,
) -> HttpResponse {
    let scopes: Vec<ScopeLine> = request
        .scopes
        .iter()
        .map(|scope| ScopeLine {
            name: scope.as_str(),
            description: scope.consent_description(),
        })
        .collect();
    let mut context = Context::new();
    context.insert("client_id", &request.client_id);
    context.insert("interaction", interaction_id);
    context.insert("display_name", user.display_name);
    context.insert("email", user.email);
    context.insert("scopes", &scopes);
    context.insert("return_to", &origin_of(&request.redirect_uri));
    state
        .pages
        .render(StatusCode::OK, "demo_provider/consent.html", &context)
}

/// `http://127.0.0.1:8080` for a redirect URI on that origin: what the user
/// should recognise as "the app".
fn origin_of(redirect_uri: &str) -> String {
    Url::parse(redirect_uri)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| redirect_uri.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(query: &str) -> Params {
        Params::parse(query).expect("valid query")
    }

    fn error_of(query: &str) -> &'static str {
        match validate_request(&params(query), "app", "http://127.0.0.1:9/cb") {
            Ok(_) => "ok",
            Err(error) => error.error,
        }
    }

    #[test]
    fn a_complete_request_with_s256_is_accepted() {
        let query = format!(
            "response_type=code&scope=openid+email&code_challenge={CHALLENGE}&code_challenge_method=S256&state=s&nonce=n"
        );
        let request = validate_request(&params(&query), "app", "http://127.0.0.1:9/cb")
            .ok()
            .expect("valid");
        assert_eq!(request.scopes, vec![Scope::OpenId, Scope::Email]);
        assert_eq!(request.nonce.as_deref(), Some("n"));
    }

    #[test]
    fn pkce_is_required_and_only_s256_is_accepted() {
        assert_eq!(
            error_of("response_type=code&scope=openid"),
            "invalid_request"
        );
        let plain = format!(
            "response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=plain"
        );
        assert_eq!(error_of(&plain), "invalid_request");
        let missing_method = format!("response_type=code&scope=openid&code_challenge={CHALLENGE}");
        assert_eq!(error_of(&missing_method), "invalid_request");
        let short = "response_type=code&scope=openid&code_challenge=abc&code_challenge_method=S256";
        assert_eq!(error_of(short), "invalid_request");
    }

    #[test]
    fn response_type_and_scope_errors_use_their_rfc_codes() {
        let pkce = format!("code_challenge={CHALLENGE}&code_challenge_method=S256");
        assert_eq!(
            error_of(&format!("response_type=token&scope=openid&{pkce}")),
            "unsupported_response_type"
        );
        assert_eq!(
            error_of(&format!("response_type=code&scope=email&{pkce}")),
            "invalid_scope"
        );
        assert_eq!(
            error_of(&format!("response_type=code&scope=openid+admin&{pkce}")),
            "invalid_scope"
        );
        assert_eq!(
            error_of(&format!("response_type=code&{pkce}")),
            "invalid_scope"
        );
        assert_eq!(
            error_of(&format!(
                "response_type=code&scope=openid&scope=email&{pkce}"
            )),
            "invalid_request"
        );
    }
}
