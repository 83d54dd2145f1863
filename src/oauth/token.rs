//! What steps 5 and 6 share across protocols: turning a token response into
//! the tokens we keep, and turning a failed token request into a `SignInError`
//! without ever copying the response body (it can hold a token).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use openidconnect::{
    HttpClientError, HttpRequest, HttpResponse, OAuth2TokenResponse, Scope, TokenType,
};
use secrecy::SecretString;
use url::Url;

use super::SignInError;
use super::identity::VerifiedIdentity;
use crate::db::tokens::ProviderTokens;
use crate::http_client::{MAX_JSON_BYTES, ReadError, read_capped};
use crate::providers::Provider;

/// What the token request (step 5) and its answer (step 6) looked like, for
/// `/flow`. Holds no secret: only the endpoint, how the client authenticated,
/// the HTTP status, the time taken and the validated ID-token claims.
#[derive(Debug, Default)]
pub struct TokenTrace {
    pub token_endpoint: Option<Url>,
    /// "HTTP Basic" or "form body" (RFC 6749 §2.3.1).
    pub client_auth: &'static str,
    pub status: Option<u16>,
    pub elapsed: Option<Duration>,
    /// Validated ID-token claims worth showing, as (name, value).
    pub id_token_claims: Vec<(String, String)>,
}

/// The longest ID token we parse. Real ones are 1 to 3 KiB (Microsoft's with
/// many group claims switches to an "overage" claim before ~200 groups, some
/// 8 KiB); the token is kept sealed and sent back as `id_token_hint` in a URL
/// at sign-out, where servers commonly stop at 8 to 16 KiB. Anything larger is
/// not an ID token we could use, and its claims are not worth parsing.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// What was observed of the last request sent through [`send_observed`]: its
/// status and duration, and whether its answer was refused as too large.
#[derive(Debug, Default)]
pub struct Observed(Mutex<ObservedRequest>);

#[derive(Debug, Default)]
struct ObservedRequest {
    status: Option<(u16, Duration)>,
    /// What was too large: "token response" or "ID token".
    too_large: Option<&'static str>,
}

impl Observed {
    /// Copies what was observed into `trace`, and turns the crate's error into
    /// ours: a refused oversized answer reaches the crate as an opaque
    /// `Other`, so it is recognised here by what `send_observed` noted.
    pub fn finish<R, RE, T>(
        self,
        response: Result<R, openidconnect::RequestTokenError<RE, T>>,
        trace: &mut TokenTrace,
    ) -> Result<R, SignInError>
    where
        RE: std::error::Error + 'static,
        T: openidconnect::ErrorResponse + 'static,
    {
        let observed = self.0.into_inner().unwrap_or_default();
        if let Some((status, elapsed)) = observed.status {
            trace.status = Some(status);
            trace.elapsed = Some(elapsed);
        }
        response.map_err(|error| match observed.too_large {
            Some(what) => SignInError::AnswerTooLarge { what },
            None => token_request_error(error),
        })
    }

    fn note(&self, update: impl FnOnce(&mut ObservedRequest)) {
        if let Ok(mut slot) = self.0.lock() {
            update(&mut slot);
        }
    }
}

/// Sends a request of the `oauth2` crate with our client, noting its status and
/// duration in `observed`. The body is read with the cap of every JSON answer
/// (`http_client::read_capped`), and an `id_token` longer than
/// [`MAX_ID_TOKEN_BYTES`] is refused before the crate parses it: this replaces
/// the crate's own `AsyncHttpClient` for reqwest, which reads bodies whole.
pub async fn send_observed(
    http: &reqwest::Client,
    request: HttpRequest,
    observed: &Observed,
) -> Result<HttpResponse, HttpClientError<reqwest::Error>> {
    let started = Instant::now();
    let request = reqwest::Request::try_from(request).map_err(Box::new)?;
    let response = http.execute(request).await.map_err(Box::new)?;
    let status = response.status();
    observed.note(|seen| seen.status = Some((status.as_u16(), started.elapsed())));
    let mut builder = openidconnect::http::Response::builder()
        .status(status)
        .version(response.version());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let too_large = |what: &'static str| {
        observed.note(|seen| seen.too_large = Some(what));
        HttpClientError::Other(format!("the {what} is too large"))
    };
    let body = match read_capped(response, MAX_JSON_BYTES).await {
        Ok(body) => body,
        Err(ReadError::TooLarge { .. }) => return Err(too_large("token response")),
        Err(ReadError::Http(error)) => return Err(HttpClientError::Reqwest(Box::new(error))),
    };
    if id_token_too_large(&body) {
        return Err(too_large("ID token"));
    }
    builder.body(body).map_err(HttpClientError::Http)
}

/// Whether the token response's `id_token` is longer than
/// [`MAX_ID_TOKEN_BYTES`].
fn id_token_too_large(body: &[u8]) -> bool {
    id_token_len(body).is_some_and(|len| len > MAX_ID_TOKEN_BYTES)
}

/// The length of the `id_token` member of a token response, if it has one,
/// without parsing the token itself.
fn id_token_len(body: &[u8]) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct IdTokenMember {
        id_token: Option<String>,
    }
    serde_json::from_slice::<IdTokenMember>(body)
        .ok()?
        .id_token
        .map(|token| token.len())
}

/// Step 6: the access token (and refresh token, lifetime and granted scopes)
/// from a successful token response (RFC 6749 §5.1).
pub fn provider_tokens<T, R>(provider: &Provider, response: &R) -> ProviderTokens
where
    T: TokenType,
    R: OAuth2TokenResponse<TokenType = T>,
{
    ProviderTokens {
        access_token: SecretString::from(response.access_token().secret().to_owned()),
        refresh_token: response
            .refresh_token()
            .map(|token| SecretString::from(token.secret().to_owned())),
        // Set by the OpenID Connect exchange, which has the ID token's type.
        id_token: None,
        access_token_expires_at: response.expires_in().map(|lifetime| {
            Utc::now().timestamp() + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2)
        }),
        // RFC 6749 §5.1: when `scope` is omitted, what we asked for was granted.
        scopes: response
            .scopes()
            .map(|scopes| granted_scopes(scopes))
            .unwrap_or_else(|| provider.scopes.clone()),
    }
}

/// Scopes as listed. RFC 6749 §3.3 separates them with spaces; GitHub uses
/// commas (`repo,gist`), so both separate here.
fn granted_scopes(scopes: &[Scope]) -> Vec<String> {
    scopes
        .iter()
        .flat_map(|scope| scope.split(','))
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Maps the crate's token-request error to ours, dropping the raw body: on a
/// parse failure it can hold a token.
pub fn token_request_error<RE, T>(error: openidconnect::RequestTokenError<RE, T>) -> SignInError
where
    RE: std::error::Error + 'static,
    T: openidconnect::ErrorResponse + 'static,
{
    match error {
        openidconnect::RequestTokenError::ServerResponse(response) => {
            // RFC 6749 §5.2: `error` is an ASCII code; keep the description apart.
            let body = serde_json::to_value(&response).unwrap_or_default();
            let code = body
                .get("error")
                .and_then(|value| value.as_str())
                .unwrap_or("unknown_error")
                .to_owned();
            let description = body
                .get("error_description")
                .and_then(|value| value.as_str())
                .map(str::to_owned);
            SignInError::TokenRequestRejected { code, description }
        }
        openidconnect::RequestTokenError::Request(inner) if is_timeout(&inner) => {
            SignInError::ProviderTimeout
        }
        openidconnect::RequestTokenError::Request(inner) => SignInError::ProviderUnavailable {
            detail: format!("token request failed: {}", error_chain(&inner)),
        },
        openidconnect::RequestTokenError::Parse(parse_error, _body) => {
            SignInError::ProviderUnavailable {
                detail: format!(
                    "token response is not valid JSON of the expected shape at {}",
                    parse_error.path()
                ),
            }
        }
        openidconnect::RequestTokenError::Other(message) => SignInError::ProviderUnavailable {
            detail: format!("token endpoint: {message}"),
        },
    }
}

/// True when the error (or one of its causes) is a reqwest timeout.
pub fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(reqwest_error) = error.downcast_ref::<reqwest::Error>()
            && reqwest_error.is_timeout()
        {
            return true;
        }
        // oauth2 boxes reqwest's error without exposing it as a `source()`.
        if let Some(openidconnect::HttpClientError::Reqwest(inner)) =
            error.downcast_ref::<openidconnect::HttpClientError<reqwest::Error>>()
        {
            return inner.is_timeout();
        }
        current = error.source();
    }
    false
}

/// "outer: inner: innermost", for logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What the token endpoint gave us, after validation: who signed in, by
/// which issuer, with which tokens.
#[derive(Debug)]
pub struct TokenExchange {
    /// Who vouches for `identity.subject`: with it, the key that finds the
    /// person again (OIDC Core §5.7; `db::accounts`). The ID token's issuer,
    /// or for plain OAuth 2.0 the authorization server's origin.
    pub issuer: String,
    pub identity: VerifiedIdentity,
    pub tokens: ProviderTokens,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_separated_by_spaces_or_commas_are_listed_one_by_one() {
        let scopes = [
            Scope::new("read:user,user:email".into()),
            Scope::new("openid".into()),
        ];
        assert_eq!(
            granted_scopes(&scopes),
            ["read:user", "user:email", "openid"]
        );
    }

    #[test]
    fn an_id_token_of_sixteen_kib_is_read_and_one_byte_more_is_refused() {
        let response = |len: usize| {
            serde_json::to_vec(&serde_json::json!({
                "access_token": "a", "token_type": "Bearer", "id_token": "x".repeat(len),
            }))
            .expect("serialises")
        };
        assert!(!id_token_too_large(&response(MAX_ID_TOKEN_BYTES)));
        assert!(id_token_too_large(&response(MAX_ID_TOKEN_BYTES + 1)));
        assert!(!id_token_too_large(br#"{"access_token":"a"}"#));
    }
}

/// Generated token responses (docs/TESTING.md): the ID token's length is
/// read from any bytes without panicking.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::proptest_cases::config(512))]

        #[test]
        fn the_id_token_length_is_read_from_any_body(
            body in prop_oneof![
                any::<Vec<u8>>(),
                any::<String>().prop_map(|token| {
                    serde_json::to_vec(&serde_json::json!({"id_token": token})).expect("serialises")
                }),
            ],
        ) {
            if let Some(len) = id_token_len(&body) {
                prop_assert!(len <= body.len());
            }
        }
    }
}
