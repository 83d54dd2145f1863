//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0).
//!
//! What it owns: deciding whether to send the browser back to the app after
//! sign-out. The demo provider has no session of its own to end (it sets no
//! cookies, see `mod.rs`), so this endpoint is about the redirect rules: only
//! to an exactly registered `post_logout_redirect_uri` (§3), never to an
//! arbitrary address, which would make it an open redirector.
//!
//! It must not revoke tokens: that is what `/revoke` (RFC 7009) is for.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use tera::Context;
use url::Url;

use super::ProviderState;
use super::params::{MalformedParams, Params};

/// `GET /logout`.
pub(crate) async fn end_session_get(
    request: HttpRequest,
    state: web::Data<ProviderState>,
) -> HttpResponse {
    end_session(&state, Params::parse(request.query_string()))
}

/// `POST /logout` with a form body (RP-Initiated Logout 1.0 §2).
pub(crate) async fn end_session_post(
    state: web::Data<ProviderState>,
    body: web::Bytes,
) -> HttpResponse {
    end_session(&state, Params::parse_body(&body))
}

fn end_session(state: &ProviderState, params: Result<Params, MalformedParams>) -> HttpResponse {
    let Ok(params) = params else {
        return signed_out_page(
            state,
            Some("The sign-out request could not be read, so you were not sent back to the app."),
        );
    };
    let Some(target) = params.get("post_logout_redirect_uri") else {
        return signed_out_page(state, None);
    };
    if let Err(note) = check_redirect(state, &params, target) {
        tracing::info!(note, "post-logout redirect refused");
        return signed_out_page(state, Some(note));
    }
    let Ok(mut url) = Url::parse(target) else {
        return signed_out_page(
            state,
            Some("The return address registered for the app is not a valid URL."),
        );
    };
    if let Some(client_state) = params.get("state") {
        url.query_pairs_mut().append_pair("state", client_state);
    }
    tracing::info!(client_id = %state.client.client_id, "signed out; returning to the app");
    HttpResponse::SeeOther()
        .insert_header((LOCATION, url.as_str()))
        .finish()
}

/// May we redirect to `target`? The error is shown to the user.
fn check_redirect(
    state: &ProviderState,
    params: &Params,
    target: &str,
) -> Result<(), &'static str> {
    if params
        .get("client_id")
        .is_some_and(|client_id| client_id != state.client.client_id)
    {
        return Err(
            "The app that sent you here is not registered at the demo provider, so you stay here.",
        );
    }
    if let Some(hint) = params.get("id_token_hint") {
        // An expired hint is fine (§2: it identifies the client and the user,
        // it does not authorise anything). One signed with a key from before a
        // restart cannot be checked, so only the registration below counts.
        if let Some(claims) = state.keys.verify_jwt(hint) {
            let audience_ok = match &claims["aud"] {
                serde_json::Value::String(aud) => *aud == state.client.client_id,
                serde_json::Value::Array(auds) => {
                    auds.iter().any(|aud| *aud == *state.client.client_id)
                }
                _ => false,
            };
            if claims["iss"] != *state.issuer || !audience_ok {
                return Err("The sign-out request names a different app, so you stay here.");
            }
        }
    }
    // Exact match against the registration, as for redirect_uri.
    if !state
        .client
        .post_logout_redirect_uris
        .iter()
        .any(|allowed| allowed == target)
    {
        return Err(
            "The app asked to be sent back to an address that is not registered for it, so you stay here.",
        );
    }
    Ok(())
}

fn signed_out_page(state: &ProviderState, note: Option<&str>) -> HttpResponse {
    let mut context = Context::new();
    context.insert("note", &note);
    state
        .pages
        .render(StatusCode::OK, "demo_provider/signed_out.html", &context)
}
