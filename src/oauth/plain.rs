//! Plain OAuth 2.0 (RFC 6749 §4.1) for providers without OpenID Connect, such as
//! GitHub: fixed endpoints, no discovery, no ID token. Who signed in is asked
//! from the provider's API afterwards (`flow::finish`).
//!
//! Uses the `oauth2` crate, which `openidconnect` is built on.

use oauth2::basic::BasicClient;
use oauth2::http::StatusCode;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpClientError, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use super::SignInError;
use super::token::{Observed, TokenTrace, provider_tokens, send_observed};
use crate::api::ApiError;
use crate::db::tokens::ProviderTokens;
use crate::providers::{ClientAuth, Prompt, Provider};

/// A provider's fixed endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints<'a> {
    pub authorization: &'a Url,
    pub token: &'a Url,
}

/// Who numbers the users of a plain OAuth 2.0 provider: the origin of its
/// authorization endpoint (`https://github.com`). Plain OAuth has no issuer
/// identifier (RFC 8414 adds one), and the origin is what the person trusted
/// when they signed in; a GitHub Enterprise server is another origin, with
/// its own user ids.
pub fn issuer(endpoints: Endpoints<'_>) -> String {
    endpoints.authorization.origin().ascii_serialization()
}

type PlainClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub(super) fn client(provider: &Provider, endpoints: Endpoints<'_>) -> PlainClient {
    BasicClient::new(ClientId::new(provider.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            provider.client_secret.expose_secret().to_owned(),
        ))
        .set_auth_uri(AuthUrl::from_url(endpoints.authorization.clone()))
        .set_token_uri(TokenUrl::from_url(endpoints.token.clone()))
        .set_auth_type(match provider.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::RequestBody => AuthType::RequestBody,
        })
        // Step 3 carries this exact URI, and step 5 repeats it (RFC 6749 §4.1.3).
        .set_redirect_uri(RedirectUrl::from_url(provider.redirect_uri.clone()))
}

/// Step 3: the authorization URL (RFC 6749 §4.1.1) with a PKCE S256 challenge
/// (RFC 7636 §4.3). PKCE is sent to every provider, as RFC 9700 §2.1.1 asks; a
/// server that does not support it ignores the parameters.
pub fn authorization_url(
    provider: &Provider,
    endpoints: Endpoints<'_>,
    state: &str,
    pkce_challenge: PkceCodeChallenge,
    prompt: Option<Prompt>,
) -> Url {
    let state = state.to_owned();
    let client = client(provider, endpoints);
    let mut request = client
        .authorize_url(move || CsrfToken::new(state))
        .set_pkce_challenge(pkce_challenge);
    for scope in &provider.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    for (name, value) in &provider.extra_authorization_params {
        request = request.add_extra_param(*name, *value);
    }
    // OAuth 2.0 has no `prompt`; GitHub documents `select_account` alone.
    if prompt == Some(Prompt::SelectAccount) {
        request = request.add_extra_param("prompt", Prompt::SelectAccount.as_str());
    }
    let (url, _state) = request.url();
    url
}

/// Steps 5 and 6: exchange the code for an access token. The crate asks for
/// JSON (`Accept: application/json`), which GitHub otherwise answers
/// form-encoded.
pub async fn exchange_code(
    provider: &Provider,
    endpoints: Endpoints<'_>,
    http: &reqwest::Client,
    code: &str,
    pkce_verifier: &SecretString,
    trace: &mut TokenTrace,
) -> Result<ProviderTokens, SignInError> {
    trace.token_endpoint = Some(endpoints.token.clone());
    trace.client_auth = client_auth_name(provider);
    let observed = Observed::default();
    let send = |request: HttpRequest| errors_reported_with_200_are_errors(http, request, &observed);
    let response = client(provider, endpoints)
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(
            pkce_verifier.expose_secret().to_owned(),
        ))
        .request_async(&send)
        .await;
    let response = observed.finish(response, trace)?;
    Ok(provider_tokens(provider, &response))
}

/// How the client authenticates at the token endpoint, for `/flow`.
pub(super) fn client_auth_name(provider: &Provider) -> &'static str {
    match provider.client_auth {
        ClientAuth::Basic => "HTTP Basic (client_secret_basic)",
        ClientAuth::RequestBody => "form body (client_secret_post)",
    }
}

/// Sends the token request. GitHub answers a refused code with HTTP 200 and an
/// `error` member (quirk 26 in tests/fixtures/SOURCES.md), where RFC 6749 §5.2
/// says 400; such an answer is relabelled 400 so that it is read as the error
/// response it is, `error_description` and all.
pub(super) async fn errors_reported_with_200_are_errors(
    http: &reqwest::Client,
    request: HttpRequest,
    observed: &Observed,
) -> Result<HttpResponse, HttpClientError<reqwest::Error>> {
    let mut response = send_observed(http, request, observed).await?;
    if response.status() == StatusCode::OK && is_error_body(response.body()) {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// A JSON object with an `error` and no `access_token`.
fn is_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|value| {
        value.get("error").is_some_and(serde_json::Value::is_string)
            && value.get("access_token").is_none()
    })
}

/// The API failed to say who signed in (`ApiClient::identity`, the step
/// that stands for an ID token here): the sign-in cannot finish.
pub fn identity_lookup_error(error: ApiError) -> SignInError {
    match error {
        ApiError::Timeout => SignInError::ProviderTimeout,
        ApiError::TooLarge { .. } => SignInError::AnswerTooLarge {
            what: "answer to who signed in",
        },
        other => SignInError::ProviderUnavailable {
            detail: format!("reading who signed in from the API: {other}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_200_with_an_error_member_is_an_error() {
        assert!(is_error_body(
            br#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#
        ));
        assert!(!is_error_body(
            br#"{"access_token":"gho_x","scope":"repo,gist","token_type":"bearer"}"#
        ));
        assert!(!is_error_body(b"access_token=gho_x&scope=repo"));
        // Both members, or neither: not the error GitHub sends with 200.
        assert!(!is_error_body(
            br#"{"access_token":"gho_x","error":"ignored"}"#
        ));
        assert!(!is_error_body(br#"{"token_type":"bearer"}"#));
    }
}

/// Generated token-endpoint bodies (docs/TESTING.md): reading whether a 200
/// is an error takes any bytes.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::proptest_cases::config(512))]

        #[test]
        fn any_body_is_read_as_an_error_or_not(
            body in prop_oneof![
                any::<Vec<u8>>(),
                (any::<String>(), any::<Option<String>>()).prop_map(|(error, token)| {
                    serde_json::to_vec(&serde_json::json!({"error": error, "access_token": token}))
                        .expect("serialises")
                }),
            ],
        ) {
            let _ = is_error_body(&body);
        }
    }
}
