//! Microsoft Graph v1.0: the profile (`/me`, `/me/photo/$value`) and mail
//! (`/me/messages`). The demo provider answers the same paths with the same
//! shapes, so this client runs offline today and against Microsoft unchanged.
//!
//! Shapes and quirks: the Graph v1.0 reference for `user` and `message`; the
//! numbered quirks are in tests/fixtures/SOURCES.md. Paging uses `$top`/`$skip`
//! with our own page number (we never fetch a URL that came back through the
//! browser), and the
//! `@odata.nextLink` tells whether another page exists.

use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;

use super::{ApiError, MailPage, MailSummary, Message, PAGE_SIZE, Profile, SafeHtml};

/// Largest photo we inline into the page.
const MAX_PHOTO_BYTES: usize = 256 * 1024;

/// Fields of the mail list; `$select` keeps the response small.
const LIST_FIELDS: &str = "id,subject,from,receivedDateTime,bodyPreview,isRead,hasAttachments";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    display_name: Option<String>,
    mail: Option<String>,
    user_principal_name: Option<String>,
    job_title: Option<String>,
    office_location: Option<String>,
    mobile_phone: Option<String>,
    #[serde(default)]
    business_phones: Vec<String>,
    preferred_language: Option<String>,
}

#[derive(Deserialize)]
struct GraphList {
    value: Vec<GraphMessage>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphMessage {
    id: String,
    subject: Option<String>,
    from: Option<GraphRecipient>,
    received_date_time: Option<String>,
    body_preview: Option<String>,
    is_read: Option<bool>,
    has_attachments: Option<bool>,
    #[serde(default)]
    to_recipients: Vec<GraphRecipient>,
    body: Option<GraphBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphRecipient {
    email_address: Option<GraphEmailAddress>,
}

#[derive(Deserialize)]
struct GraphEmailAddress {
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphBody {
    content_type: Option<String>,
    content: Option<String>,
}

/// Graph's error envelope: `{"error": {"code", "message"}}`.
#[derive(Deserialize)]
struct GraphErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    code: Option<String>,
    message: Option<String>,
}

fn endpoint(base_url: &Url, segments: &[&str]) -> Result<Url, ApiError> {
    let mut url = base_url.clone();
    url.path_segments_mut()
        .map_err(|()| ApiError::Unavailable("the Graph base URL cannot have a path".into()))?
        .pop_if_empty()
        // Each segment is percent-encoded, so a message id cannot add path parts.
        .extend(segments);
    Ok(url)
}

async fn get(
    http: &reqwest::Client,
    url: Url,
    token: &SecretString,
) -> Result<reqwest::Response, ApiError> {
    let response = http
        .get(url)
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let message = response
        .json::<GraphErrorEnvelope>()
        .await
        .ok()
        .map(|envelope| {
            format!(
                "{}: {}",
                envelope.error.code.unwrap_or_default(),
                envelope.error.message.unwrap_or_default()
            )
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    Err(match status {
        401 => ApiError::Unauthorized,
        403 => ApiError::Forbidden(message),
        404 => ApiError::NotFound,
        429 | 503 => ApiError::Throttled { retry_after },
        _ => ApiError::Unavailable(message),
    })
}

/// `Retry-After` in seconds; Graph has sent fractional values ("2.128").
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(|seconds| Duration::from_secs_f64(seconds.min(86_400.0)).max(Duration::from_secs(1)))
}

/// `GET /v1.0/me`, with `/v1.0/me/photo/$value` fetched at the same time.
pub async fn profile(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
) -> Result<Profile, ApiError> {
    let user_request = async {
        get(http, endpoint(base_url, &["v1.0", "me"])?, token)
            .await?
            .json::<GraphUser>()
            .await
            .map_err(ApiError::from)
    };
    let photo_request = photo(http, base_url, token);
    let (user, photo) = futures_util::future::join(user_request, photo_request).await;
    let user = user?;
    Ok(Profile {
        display_name: user.display_name.unwrap_or_default(),
        // `mail` may be null; the sign-in name is then the best address we have.
        email: user.mail.or(user.user_principal_name),
        job_title: user.job_title,
        office_location: user.office_location,
        phone: user
            .mobile_phone
            .or_else(|| user.business_phones.into_iter().next()),
        preferred_language: user.preferred_language,
        // A missing photo (404) or a failed photo request is no reason to fail the page.
        photo_data_url: photo.ok().flatten(),
    })
}

async fn photo(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
) -> Result<Option<String>, ApiError> {
    let url = endpoint(base_url, &["v1.0", "me", "photo", "$value"])?;
    let response = match get(http, url, token).await {
        Ok(response) => response,
        Err(ApiError::NotFound) => return Ok(None),
        Err(error) => return Err(error),
    };
    // Only raster types we know: an SVG "photo" could carry script.
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let Some(content_type) = content_type
        .filter(|kind| matches!(kind.as_str(), "image/jpeg" | "image/png" | "image/gif"))
    else {
        return Ok(None);
    };
    let bytes = response.bytes().await?;
    if bytes.len() > MAX_PHOTO_BYTES {
        return Ok(None);
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(Some(format!("data:{content_type};base64,{encoded}")))
}

/// `GET /v1.0/me/messages`, newest first, one page.
pub async fn mail_page(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
    page: u32,
) -> Result<MailPage, ApiError> {
    let page = page.max(1);
    let skip = (page - 1).saturating_mul(PAGE_SIZE);
    let mut url = endpoint(base_url, &["v1.0", "me", "messages"])?;
    url.query_pairs_mut()
        .append_pair("$select", LIST_FIELDS)
        .append_pair("$top", &PAGE_SIZE.to_string())
        .append_pair("$skip", &skip.to_string())
        .append_pair("$orderby", "receivedDateTime desc");
    let list: GraphList = get(http, url, token).await?.json().await?;
    Ok(MailPage {
        messages: list.value.into_iter().map(summary).collect(),
        page,
        has_next: list.next_link.is_some(),
    })
}

/// `GET /v1.0/me/messages/{id}`.
pub async fn message(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
    id: &str,
) -> Result<Message, ApiError> {
    let url = endpoint(base_url, &["v1.0", "me", "messages", id])?;
    let mut message: GraphMessage = get(http, url, token).await?.json().await?;
    let body = message.body.take();
    let to = std::mem::take(&mut message.to_recipients)
        .into_iter()
        .filter_map(|recipient| recipient.email_address)
        .map(|address| match (address.name, address.address) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (name, address) => name.or(address).unwrap_or_default(),
        })
        .collect();
    let body = match body {
        Some(GraphBody {
            content_type: Some(kind),
            content: Some(content),
        }) if kind.eq_ignore_ascii_case("html") => SafeHtml::sanitize(&content),
        Some(GraphBody {
            content: Some(content),
            ..
        }) => SafeHtml::from_text(&content),
        _ => SafeHtml::from_text(""),
    };
    Ok(Message {
        summary: summary(message),
        to,
        body,
    })
}

fn summary(message: GraphMessage) -> MailSummary {
    let (from_name, from_address) = message
        .from
        .and_then(|from| from.email_address)
        .map(|address| (address.name, address.address))
        .unwrap_or_default();
    MailSummary {
        id: message.id,
        from_address: from_address.clone().unwrap_or_default(),
        from_name: from_name.or(from_address).unwrap_or_default(),
        subject: message
            .subject
            .filter(|subject| !subject.trim().is_empty())
            .unwrap_or_else(|| "(no subject)".into()),
        received_at: message
            .received_date_time
            .and_then(|time| chrono::DateTime::parse_from_rfc3339(&time).ok())
            .map(|time| time.with_timezone(&chrono::Utc)),
        preview: message.body_preview.unwrap_or_default(),
        is_read: message.is_read.unwrap_or(true),
        has_attachments: message.has_attachments.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_whole_and_fractional_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "2.128".parse().expect("header"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs_f64(2.128)));
        headers.insert(reqwest::header::RETRY_AFTER, "30".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "soon".parse().expect("header"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn message_ids_are_one_encoded_path_segment() {
        let base = Url::parse("http://127.0.0.1:8081/").expect("url");
        let url = endpoint(&base, &["v1.0", "me", "messages", "../../admin?x=1/"]).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8081/v1.0/me/messages/..%2F..%2Fadmin%3Fx=1%2F"
        );
    }
}
