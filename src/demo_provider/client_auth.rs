//! Client authentication at the token and revocation endpoints
//! (RFC 6749 §2.3.1, §3.2.1; RFC 7009 §2.1).
//!
//! What it owns: reading the client's credentials from HTTP Basic
//! (`client_secret_basic`) or from the form body (`client_secret_post`), and
//! checking them against the registered client in constant time. It must not
//! look at grants or tokens.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret as _;

use super::RegisteredClient;
use super::params::{Params, form_urldecode};
use crate::crypto::constant_time_eq;

/// How the client presented its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Debug, PartialEq, Eq)]
struct Credentials {
    method: AuthMethod,
    client_id: String,
    client_secret: String,
}

/// Client authentication failed: answer `invalid_client` (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientAuthError {
    #[error("no client credentials")]
    Missing,
    /// RFC 6749 §2.3: "The client MUST NOT use more than one authentication
    /// method in each request."
    #[error("more than one client authentication method")]
    MoreThanOneMethod,
    #[error("malformed HTTP Basic credentials")]
    MalformedBasic,
    #[error("client_id in the body differs from the authenticated client")]
    ConflictingClientId,
    #[error("unknown client or wrong secret")]
    WrongCredentials,
}

impl ClientAuthError {
    /// Safe to show the client: says what to fix, never which part of a
    /// credential was wrong.
    pub(crate) fn description(self) -> &'static str {
        match self {
            ClientAuthError::Missing => {
                "Client authentication is required: use client_secret_basic or client_secret_post."
            }
            ClientAuthError::MoreThanOneMethod => {
                "Use exactly one client authentication method, not both HTTP Basic and client_secret in the body."
            }
            ClientAuthError::MalformedBasic => "The HTTP Basic credentials are malformed.",
            ClientAuthError::ConflictingClientId => {
                "The client_id in the body does not match the authenticated client."
            }
            ClientAuthError::WrongCredentials => "Client authentication failed.",
        }
    }
}

/// A client whose credentials checked out, with how it authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthenticatedClient {
    pub(crate) method: AuthMethod,
}

/// Authenticates the client of a token or revocation request.
pub(crate) fn authenticate_client(
    registered: &RegisteredClient,
    request: &HttpRequest,
    params: &Params,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or_default());
    check_credentials(registered, authorization, params)
}

fn check_credentials(
    registered: &RegisteredClient,
    authorization: Option<&str>,
    params: &Params,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let credentials = read_credentials(authorization, params)?;
    // Evaluate both comparisons before combining them, so the time taken does
    // not reveal whether the id or the secret was wrong.
    let id_matches = credentials.client_id == registered.client_id;
    let secret_matches = constant_time_eq(
        &credentials.client_secret,
        registered.client_secret.expose_secret(),
    );
    if id_matches & secret_matches {
        Ok(AuthenticatedClient {
            method: credentials.method,
        })
    } else {
        Err(ClientAuthError::WrongCredentials)
    }
}

fn read_credentials(
    authorization: Option<&str>,
    params: &Params,
) -> Result<Credentials, ClientAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    match authorization {
        Some(header) => {
            if body_secret.is_some() {
                return Err(ClientAuthError::MoreThanOneMethod);
            }
            let (client_id, client_secret) =
                parse_basic(header).ok_or(ClientAuthError::MalformedBasic)?;
            // A client_id in the body is allowed alongside Basic (it is not a
            // second method), but it must name the same client.
            if body_id.is_some_and(|id| id != client_id) {
                return Err(ClientAuthError::ConflictingClientId);
            }
            Ok(Credentials {
                method: AuthMethod::ClientSecretBasic,
                client_id,
                client_secret,
            })
        }
        None => match (body_id, body_secret) {
            (Some(client_id), Some(client_secret)) => Ok(Credentials {
                method: AuthMethod::ClientSecretPost,
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
            }),
            _ => Err(ClientAuthError::Missing),
        },
    }
}

/// `Basic base64(urlencode(client_id) ":" urlencode(client_secret))`.
///
/// RFC 6749 §2.3.1 form-urlencodes the id and secret before joining them, so a
/// `:` inside either survives; we must decode after splitting.
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_urldecode(id)?, form_urldecode(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn registered() -> RegisteredClient {
        RegisteredClient {
            client_id: "demo app".into(),
            client_secret: SecretString::from("s3cr:t+%"),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
        }
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn params(body: &str) -> Params {
        Params::parse(body).unwrap_or_default()
    }

    #[test]
    fn basic_credentials_are_form_urldecoded_after_splitting() {
        // "demo app" / "s3cr:t+%" encoded per RFC 6749 §2.3.1.
        let header = basic("demo+app", "s3cr%3At%2B%25");
        let client = check_credentials(&registered(), Some(&header), &params(""));
        assert_eq!(
            client,
            Ok(AuthenticatedClient {
                method: AuthMethod::ClientSecretBasic
            })
        );
    }

    #[test]
    fn client_secret_post_is_accepted() {
        let body = "client_id=demo+app&client_secret=s3cr%3At%2B%25";
        let client = check_credentials(&registered(), None, &params(body));
        assert_eq!(
            client,
            Ok(AuthenticatedClient {
                method: AuthMethod::ClientSecretPost
            })
        );
    }

    #[test]
    fn both_methods_at_once_or_neither_are_refused() {
        let header = basic("demo+app", "s3cr%3At%2B%25");
        let both = check_credentials(
            &registered(),
            Some(&header),
            &params("client_secret=s3cr%3At%2B%25"),
        );
        assert_eq!(both, Err(ClientAuthError::MoreThanOneMethod));
        let neither = check_credentials(&registered(), None, &params("client_id=demo+app"));
        assert_eq!(neither, Err(ClientAuthError::Missing));
    }

    #[test]
    fn a_wrong_secret_or_a_malformed_header_is_refused() {
        let wrong = basic("demo+app", "guess");
        assert_eq!(
            check_credentials(&registered(), Some(&wrong), &params("")),
            Err(ClientAuthError::WrongCredentials)
        );
        assert_eq!(
            check_credentials(&registered(), Some("Basic !!!"), &params("")),
            Err(ClientAuthError::MalformedBasic)
        );
        assert_eq!(
            check_credentials(&registered(), Some("Bearer abc"), &params("")),
            Err(ClientAuthError::MalformedBasic)
        );
    }

    #[test]
    fn a_body_client_id_must_match_the_basic_one() {
        let header = basic("demo+app", "s3cr%3At%2B%25");
        assert_eq!(
            check_credentials(&registered(), Some(&header), &params("client_id=other")),
            Err(ClientAuthError::ConflictingClientId)
        );
    }
}

/// Generated `Authorization` headers and form bodies (docs/TESTING.md):
/// any request to the token endpoint is authenticated or refused, and
/// credentials encoded as RFC 6749 §2.3.1 says come back exactly.
#[cfg(test)]
mod proptests {
    use actix_web::http::header::HeaderValue;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;
    use secrecy::SecretString;

    use super::*;

    fn registered(client_id: &str, client_secret: &str) -> RegisteredClient {
        RegisteredClient {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.to_owned()),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
        }
    }

    fn urlencode(text: &str) -> String {
        url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // "Basic " and base64 of anything, well-formed or not.
            (
                proptest::sample::select(vec!["Basic ", "basic  ", "Basic", "Bearer ", " Basic\t"]),
                any::<Vec<u8>>(),
            )
                .prop_map(|(scheme, bytes)| format!(
                    "{scheme}{}",
                    STANDARD.encode(bytes)
                )
                .into_bytes()),
            "Basic [A-Za-z0-9+/=!%: ]{0,40}".prop_map(String::into_bytes),
            any::<Vec<u8>>(),
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_cases::config(1000))]

        #[test]
        fn any_header_and_body_are_authenticated_or_refused(
            header in proptest::option::of(header_value()),
            body in prop_oneof![
                any::<Vec<u8>>(),
                "(client_id|client_secret|grant_type|%|=|&|\\+|%3A|%zz|[a-z]){0,20}"
                    .prop_map(String::into_bytes),
            ],
        ) {
            let mut request = TestRequest::post();
            if let Some(value) = header.and_then(|bytes| HeaderValue::from_bytes(&bytes).ok()) {
                request = request.insert_header((AUTHORIZATION, value));
            }
            let params = Params::parse_body(&body).unwrap_or_default();
            let result = authenticate_client(
                &registered("demo-app", "secret"),
                &request.to_http_request(),
                &params,
            );
            // Nothing generated here knows the secret.
            prop_assert!(result.is_err());
        }

        #[test]
        fn basic_credentials_of_any_characters_come_back_exactly(
            client_id in any::<String>(),
            client_secret in any::<String>(),
        ) {
            let header = format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", urlencode(&client_id), urlencode(&client_secret)))
            );
            prop_assert_eq!(
                parse_basic(&header),
                Some((client_id.clone(), client_secret.clone()))
            );
            let client = check_credentials(
                &registered(&client_id, &client_secret),
                Some(&header),
                &Params::default(),
            );
            prop_assert_eq!(client.map(|client| client.method), Ok(AuthMethod::ClientSecretBasic));
        }
    }
}
