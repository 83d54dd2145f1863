//! Clients for the providers' APIs (step 7 of the flow), returning our own types.
//!
//! Each API has its own file that knows its paths and JSON shapes; this file holds
//! what every API shares: the types pages show, the error type, and the HTML
//! sanitiser for mail bodies. Nothing here knows about sessions, the database or
//! how the access token was obtained.

pub mod graph;
pub mod html;

use std::time::Duration;

use secrecy::SecretString;

use crate::providers::ApiKind;
pub use html::SafeHtml;

/// The signed-in person's profile, as the provider's API describes them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Profile {
    pub display_name: String,
    pub email: Option<String>,
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

/// One page of the mail list. `page` counts from 1.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailPage {
    pub messages: Vec<MailSummary>,
    pub page: u32,
    pub has_next: bool,
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
    /// 403: the token lacks a permission (scope) the call needs.
    #[error("the provider refused access: {0}")]
    Forbidden(String),
    /// 404: no such item.
    #[error("not found")]
    NotFound,
    /// 429 or 503: the provider asks us to slow down.
    #[error("the provider is throttling requests")]
    Throttled { retry_after: Option<Duration> },
    /// The provider timed out.
    #[error("the provider did not answer in time")]
    Timeout,
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
            // reqwest's Display includes the URL but never headers (no token).
            ApiError::Unavailable(error.without_url().to_string())
        }
    }
}

/// A client for the API of one provider, bound to one access token.
pub struct ApiClient<'a> {
    pub http: &'a reqwest::Client,
    pub kind: &'a ApiKind,
    pub access_token: &'a SecretString,
}

impl ApiClient<'_> {
    /// Step 7: read the profile.
    pub async fn profile(&self) -> Result<Profile, ApiError> {
        match self.kind {
            ApiKind::MicrosoftGraph { base_url } => {
                graph::profile(self.http, base_url, self.access_token).await
            }
        }
    }

    /// Step 7: one page of the newest messages.
    pub async fn mail_page(&self, page: u32) -> Result<MailPage, ApiError> {
        match self.kind {
            ApiKind::MicrosoftGraph { base_url } => {
                graph::mail_page(self.http, base_url, self.access_token, page).await
            }
        }
    }

    /// Step 7: one message.
    pub async fn message(&self, id: &str) -> Result<Message, ApiError> {
        match self.kind {
            ApiKind::MicrosoftGraph { base_url } => {
                graph::message(self.http, base_url, self.access_token, id).await
            }
        }
    }
}
