//! Clients for the providers' APIs (step 7 of the flow), returning our own types.
//!
//! Each API has its own file that knows its paths, JSON shapes and error
//! envelope (`graph`, `gmail`, `github`, `userinfo`); this file holds what every
//! API shares: the types pages show, `ApiError`, the authenticated GET with its
//! error classification, and the dispatch from a provider's description to the
//! right file. Nothing here knows about sessions, the database or how the access
//! token was obtained.

pub mod github;
pub mod gmail;
pub mod graph;
pub mod html;
pub mod profile_cache;
pub mod userinfo;

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

pub use html::SafeHtml;

use crate::http_client::{MAX_ERROR_BODY_BYTES, MAX_JSON_BYTES, ReadError, read_capped};
use crate::oauth::identity::VerifiedIdentity;
use crate::providers::{MailApi, ProfileApi, Provider};

/// The signed-in person's profile, as the provider's API describes them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Profile {
    pub display_name: String,
    pub email: Option<String>,
    /// The account name at the provider, where it has one (GitHub's login).
    pub username: Option<String>,
    pub job_title: Option<String>,
    pub office_location: Option<String>,
    pub phone: Option<String>,
    pub preferred_language: Option<String>,
    /// A `data:` URL of the photo (only image types we allow), if there is one.
    pub photo_data_url: Option<String>,
}

/// One line in the mail list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailSummary {
    pub id: String,
    pub from_name: String,
    pub from_address: String,
    pub subject: String,
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    pub preview: String,
    pub is_read: bool,
    pub has_attachments: bool,
}

/// One page of the mail list, newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailPage {
    pub messages: Vec<MailSummary>,
    /// Opaque position of the next (older) page, as the API gave it; `None` on
    /// the last page.
    pub next_cursor: Option<String>,
}

/// One message with its body, made safe to show.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Message {
    pub summary: MailSummary,
    pub to: Vec<String>,
    /// Sanitised HTML (text bodies are escaped and wrapped in `<pre>`).
    pub body: SafeHtml,
}

/// Messages shown per page of the mail list.
pub const PAGE_SIZE: u32 = 10;

/// What can go wrong calling a provider's API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: the access token is missing, expired or revoked (RFC 6750 §3.1).
    #[error("the provider no longer accepts our access token")]
    Unauthorized,
    /// 403: the token lacks the permission (scope) the call needs.
    #[error("the provider refused access without the {permission} permission: {detail}")]
    Forbidden {
        /// The scope, as the person saw it on the consent page.
        permission: &'static str,
        detail: String,
    },
    /// 404: no such item, or a paging position the API does not know.
    #[error("not found")]
    NotFound,
    /// 400: a paging cursor (from the browser) that the API could not have
    /// given us, so it is not followed.
    #[error("the paging cursor is not one the provider gave")]
    InvalidCursor,
    /// 429 or 503 (or a provider's own rate-limit answer): slow down.
    #[error("the provider is throttling requests")]
    Throttled { retry_after: Option<Duration> },
    /// The provider timed out.
    #[error("the provider did not answer in time")]
    Timeout,
    /// This provider has no such API (GitHub has no mail).
    #[error("this provider has no such API")]
    NotOffered,
    /// 502: the answer was larger than any genuine one (`http_client`'s caps),
    /// so it was dropped unread.
    #[error("the provider's answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// Connection failures, other 5xx, bodies that are not what the API documents.
    #[error("the provider's API is not answering properly: {0}")]
    Unavailable(String),
}

impl From<reqwest::Error> for ApiError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            ApiError::Timeout
        } else if error.is_decode() {
            ApiError::Unavailable("the response is not the JSON the API documents".into())
        } else {
            // Without the URL: it can carry a paging token.
            ApiError::Unavailable(error.without_url().to_string())
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::TooLarge { limit } => ApiError::TooLarge { limit },
            ReadError::Http(error) => error.into(),
        }
    }
}

/// A non-2xx answer, for the API's own file to interpret.
#[derive(Debug)]
pub struct ErrorAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ErrorAnswer {
    /// What statuses mean for every API: 401 (RFC 6750 §3.1), 404, 429
    /// (RFC 6585 §4) and 503 with `Retry-After` (RFC 9110 §10.2.3). A 403 becomes
    /// `forbidden`; anything else is `Unavailable` with the API's own words.
    pub fn into_api_error(self, forbidden: ApiError, api_message: Option<String>) -> ApiError {
        match self.status {
            401 => ApiError::Unauthorized,
            403 => forbidden,
            404 => ApiError::NotFound,
            429 | 503 => ApiError::Throttled {
                retry_after: retry_after(&self.headers),
            },
            status => {
                ApiError::Unavailable(api_message.unwrap_or_else(|| format!("HTTP {status}")))
            }
        }
    }
}

/// `GET url` with the access token (RFC 6750 §2.1). A non-2xx answer is handed to
/// `on_error`, which knows the API's error envelope.
pub async fn get_with_token(
    http: &reqwest::Client,
    url: Url,
    token: &SecretString,
    on_error: impl FnOnce(ErrorAnswer) -> ApiError,
) -> Result<reqwest::Response, ApiError> {
    let response = http
        .get(url)
        .bearer_auth(token.expose_secret())
        .header(header::ACCEPT, "application/json")
        .send()
        .await?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    // Only the error code and message are read from it: an error body over
    // the cap is left unread, and the status alone decides.
    let body = read_capped(response, MAX_ERROR_BODY_BYTES)
        .await
        .unwrap_or_default();
    Err(on_error(ErrorAnswer {
        status,
        headers,
        body,
    }))
}

/// `get_with_token`, then the body (at most `MAX_JSON_BYTES`) as JSON of type `T`.
pub async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
    token: &SecretString,
    on_error: impl FnOnce(ErrorAnswer) -> ApiError,
) -> Result<T, ApiError> {
    get_json_within(http, url, token, MAX_JSON_BYTES, on_error).await
}

/// `get_json` for an answer that may be larger (a whole mail message): at
/// most `limit` bytes.
pub async fn get_json_within<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
    token: &SecretString,
    limit: usize,
    on_error: impl FnOnce(ErrorAnswer) -> ApiError,
) -> Result<T, ApiError> {
    let response = get_with_token(http, url, token, on_error).await?;
    let body = read_capped(response, limit).await?;
    // Only where it failed: the message could quote the body.
    serde_json::from_slice(&body).map_err(|error| {
        ApiError::Unavailable(format!(
            "the response is not the JSON the API documents (line {}, column {})",
            error.line(),
            error.column()
        ))
    })
}

/// `Retry-After` in seconds; Graph has sent fractional values ("2.128").
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(|seconds| Duration::from_secs_f64(seconds.min(86_400.0)).max(Duration::from_secs(1)))
}

/// A client for the APIs of one provider, bound to one access token.
pub struct ApiClient<'a> {
    http: &'a reqwest::Client,
    profile_api: &'a ProfileApi,
    mail_api: Option<&'a MailApi>,
    access_token: &'a SecretString,
    /// For `ProfileApi::OpenIdUserInfo`: the endpoint from discovery, and the
    /// `sub` its answer must have (the ID token's, OIDC Core §5.3.2).
    userinfo: Option<(Url, Option<String>)>,
}

impl<'a> ApiClient<'a> {
    pub fn new(
        http: &'a reqwest::Client,
        provider: &'a Provider,
        access_token: &'a SecretString,
    ) -> Self {
        ApiClient {
            http,
            profile_api: &provider.profile_api,
            mail_api: provider.mail_api.as_ref(),
            access_token,
            userinfo: None,
        }
    }

    /// The userinfo endpoint (from discovery) for `ProfileApi::OpenIdUserInfo`,
    /// and the subject whose profile we expect from it.
    pub fn with_userinfo(
        mut self,
        endpoint: Option<Url>,
        expected_subject: Option<String>,
    ) -> Self {
        self.userinfo = endpoint.map(|endpoint| (endpoint, expected_subject));
        self
    }

    fn userinfo(&self) -> Result<userinfo::UserInfoRequest<'_>, ApiError> {
        let (endpoint, subject) = self.userinfo.as_ref().ok_or_else(|| {
            ApiError::Unavailable(
                "the provider's discovery document names no userinfo endpoint".into(),
            )
        })?;
        Ok(userinfo::UserInfoRequest {
            http: self.http,
            endpoint,
            token: self.access_token,
            expected_subject: subject.as_deref(),
        })
    }

    /// The profile request, in words, for `/flow`.
    pub fn describe_profile_call(&self) -> String {
        match self.profile_api {
            ProfileApi::MicrosoftGraph { base_url } => format!("GET {base_url}v1.0/me"),
            ProfileApi::OpenIdUserInfo => match &self.userinfo {
                Some((endpoint, _)) => format!("GET {endpoint}"),
                None => "GET the userinfo endpoint".into(),
            },
            ProfileApi::GitHub { base_url } => format!("GET {base_url}user"),
        }
    }

    /// The mail request, in words, for `/flow`.
    pub fn describe_mail_call(&self) -> String {
        match self.mail_api {
            Some(MailApi::MicrosoftGraph { base_url }) => {
                format!("GET {base_url}v1.0/me/messages")
            }
            Some(MailApi::Gmail { base_url }) => {
                format!("GET {base_url}gmail/v1/users/me/messages")
            }
            None => "(no mail API)".into(),
        }
    }

    /// Who the access token belongs to, for providers without an ID token.
    pub async fn identity(&self) -> Result<VerifiedIdentity, ApiError> {
        match self.profile_api {
            ProfileApi::GitHub { base_url } => {
                github::identity(self.http, base_url, self.access_token).await
            }
            ProfileApi::MicrosoftGraph { base_url } => {
                graph::identity(self.http, base_url, self.access_token).await
            }
            ProfileApi::OpenIdUserInfo => self.userinfo()?.identity().await,
        }
    }

    /// Step 7: read the profile.
    pub async fn profile(&self) -> Result<Profile, ApiError> {
        match self.profile_api {
            ProfileApi::MicrosoftGraph { base_url } => {
                graph::profile(self.http, base_url, self.access_token).await
            }
            ProfileApi::OpenIdUserInfo => self.userinfo()?.profile().await,
            ProfileApi::GitHub { base_url } => {
                github::profile(self.http, base_url, self.access_token).await
            }
        }
    }

    /// Step 7: one page of the newest messages, from the start or from `cursor`.
    pub async fn mail_page(&self, cursor: Option<&str>) -> Result<MailPage, ApiError> {
        match self.mail_api.ok_or(ApiError::NotOffered)? {
            MailApi::MicrosoftGraph { base_url } => {
                graph::mail_page(self.http, base_url, self.access_token, cursor).await
            }
            MailApi::Gmail { base_url } => {
                gmail::mail_page(self.http, base_url, self.access_token, cursor).await
            }
        }
    }

    /// Step 7: one message.
    pub async fn message(&self, id: &str) -> Result<Message, ApiError> {
        match self.mail_api.ok_or(ApiError::NotOffered)? {
            MailApi::MicrosoftGraph { base_url } => {
                graph::message(self.http, base_url, self.access_token, id).await
            }
            MailApi::Gmail { base_url } => {
                gmail::message(self.http, base_url, self.access_token, id).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_whole_and_fractional_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "2.128".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs_f64(2.128)));
        headers.insert(header::RETRY_AFTER, "30".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
        headers.insert(header::RETRY_AFTER, "soon".parse().expect("header"));
        assert_eq!(retry_after(&headers), None);
    }
}

/// Generated `Retry-After` values (docs/TESTING.md): a provider's header,
/// read without panicking and never as a wait longer than a day.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn retry_after_value() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec![
                "NaN",
                "inf",
                "-inf",
                "-1",
                "-0",
                "1e308",
                "1e-308",
                "2.128",
                "0",
                "",
                " 5 ",
                "18446744073709551616",
                "Wed, 21 Oct 2015 07:28:00 GMT",
            ])
            .prop_map(str::to_owned),
            any::<f64>().prop_map(|seconds| seconds.to_string()),
            "[ -~]*",
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_cases::config(1000))]

        #[test]
        fn any_retry_after_is_read_as_one_second_to_one_day_or_ignored(
            value in retry_after_value(),
        ) {
            let Ok(value) = header::HeaderValue::from_str(&value) else {
                return Ok(());
            };
            let headers = HeaderMap::from_iter([(header::RETRY_AFTER, value)]);
            if let Some(wait) = retry_after(&headers) {
                prop_assert!(wait >= Duration::from_secs(1));
                prop_assert!(wait <= Duration::from_secs(86_400));
            }
        }
    }
}
