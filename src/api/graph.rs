//! Microsoft Graph v1.0: the profile (`/me`, `/me/photo/$value`) and mail
//! (`/me/messages`). The demo provider answers the same paths with the same
//! shapes, so this client runs offline today and against Microsoft unchanged.
//!
//! Shapes and quirks: the Graph v1.0 reference for `user` and `message`; the
//! numbered quirks are in tests/fixtures/SOURCES.md. Paging follows
//! `@odata.nextLink` verbatim, as Graph asks (quirk 8); since that link travels
//! through the browser as our cursor, it is followed only when it points at
//! `{MICROSOFT_GRAPH_URL}/v1.0/me/messages`, so the token goes nowhere else.

use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{
    ApiError, ErrorAnswer, MailPage, MailSummary, Message, PAGE_SIZE, Profile, SafeHtml, get_json,
    get_json_within, get_with_token,
};
use crate::http_client::{MAX_MAIL_MESSAGE_BYTES, ReadError, read_capped};
use crate::oauth::identity::VerifiedIdentity;
use crate::providers::join_path;

/// The delegated permissions each call needs, as the consent page names them.
const USER_READ: &str = "User.Read";
const MAIL_READ: &str = "Mail.Read";

/// The longest `@odata.nextLink` we accept back from a browser.
const MAX_CURSOR_LEN: usize = 2048;

/// Largest photo we inline into the page (as a `data:` URL, a third larger);
/// Graph's largest size is 648x648, well below it. A larger one is dropped
/// while it is read, and the page is shown without it.
const MAX_PHOTO_BYTES: usize = 256 * 1024;

/// Fields of the mail list; `$select` keeps the response small.
const LIST_FIELDS: &str = "id,subject,from,receivedDateTime,bodyPreview,isRead,hasAttachments";
/// The mail list's order: newest first.
const LIST_ORDER: &str = "receivedDateTime desc";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: Option<String>,
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
    /// Usually the same as `from`; some lists select only `sender`.
    sender: Option<GraphRecipient>,
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

/// `{base_url}/v1.0/...`.
fn endpoint(base_url: &Url, segments: &[&str]) -> Url {
    let mut all = vec!["v1.0"];
    all.extend_from_slice(segments);
    join_path(base_url, &all)
}

/// Graph's error handling for a call that needs `permission`: its envelope is
/// `{"error": {"code", "message"}}` (quirk 11).
fn graph_error(permission: &'static str) -> impl FnOnce(ErrorAnswer) -> ApiError {
    move |answer| {
        let message = serde_json::from_slice::<GraphErrorEnvelope>(&answer.body)
            .ok()
            .map(|envelope| {
                format!(
                    "{}: {}",
                    envelope.error.code.unwrap_or_default(),
                    envelope.error.message.unwrap_or_default()
                )
            });
        let forbidden = ApiError::Forbidden {
            permission,
            detail: message.clone().unwrap_or_default(),
        };
        answer.into_api_error(forbidden, message)
    }
}

/// `GET /v1.0/me`: who the token belongs to (`id` is the subject).
pub async fn identity(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
) -> Result<VerifiedIdentity, ApiError> {
    let user: GraphUser = get_json(
        http,
        endpoint(base_url, &["me"]),
        token,
        graph_error(USER_READ),
    )
    .await?;
    let subject = user
        .id
        .ok_or_else(|| ApiError::Unavailable("/me has no id".into()))?;
    Ok(VerifiedIdentity {
        subject,
        name: user.display_name,
        email: user.mail.or(user.user_principal_name),
        auth_time: None,
    })
}

/// `GET /v1.0/me`, with `/v1.0/me/photo/$value` fetched at the same time.
pub async fn profile(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
) -> Result<Profile, ApiError> {
    let user_request = get_json::<GraphUser>(
        http,
        endpoint(base_url, &["me"]),
        token,
        graph_error(USER_READ),
    );
    let photo_request = photo(http, base_url, token);
    let (user, photo) = futures_util::future::join(user_request, photo_request).await;
    let user = user?;
    Ok(Profile {
        display_name: user.display_name.unwrap_or_default(),
        username: None,
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
    let url = endpoint(base_url, &["me", "photo", "$value"]);
    let response = match get_with_token(http, url, token, graph_error(USER_READ)).await {
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
    let bytes = match read_capped(response, MAX_PHOTO_BYTES).await {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(Some(format!("data:{content_type};base64,{encoded}")))
}

/// `GET /v1.0/me/messages`, newest first, one page: the first, or the one
/// `cursor` (an `@odata.nextLink` from the previous page) points to.
pub async fn mail_page(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
    cursor: Option<&str>,
) -> Result<MailPage, ApiError> {
    let messages_url = endpoint(base_url, &["me", "messages"]);
    let url = match cursor {
        None => {
            let mut url = messages_url;
            url.query_pairs_mut()
                .append_pair("$select", LIST_FIELDS)
                .append_pair("$top", &PAGE_SIZE.to_string())
                .append_pair("$orderby", LIST_ORDER);
            url
        }
        Some(next_link) => {
            graph_next_link(&messages_url, next_link).ok_or(ApiError::InvalidCursor)?
        }
    };
    let list: GraphList = get_json(http, url, token, graph_error(MAIL_READ)).await?;
    Ok(MailPage {
        messages: list.value.into_iter().map(summary).collect(),
        next_cursor: list.next_link,
    })
}

/// `next_link` as a URL, if it is a later page of exactly the list we asked
/// for: same origin and path as `messages_url`, and only the query options
/// Graph itself puts in `@odata.nextLink` for our first request (quirk 8):
/// `$top` equal to [`PAGE_SIZE`], `$select` naming our [`LIST_FIELDS`],
/// `$orderby` as we send it, and the position (`$skip` as a number, or
/// `$skiptoken`), each at most once. The cursor comes back from the browser,
/// so anything else (`$expand`, a larger `$top`, `$filter`, `$search`, an
/// unknown parameter) would let a crafted link make us fetch more, or other,
/// data with the visitor's token.
fn graph_next_link(messages_url: &Url, next_link: &str) -> Option<Url> {
    if next_link.len() > MAX_CURSOR_LEN {
        return None;
    }
    let url = Url::parse(next_link).ok()?;
    let same_list = url.origin() == messages_url.origin()
        && url.path() == messages_url.path()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none();
    if !same_list {
        return None;
    }
    let mut seen = Vec::new();
    for (name, value) in url.query_pairs() {
        let allowed = match name.as_ref() {
            "$top" => value == PAGE_SIZE.to_string(),
            "$skip" => !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()),
            "$skiptoken" => !value.is_empty(),
            "$select" => same_fields(&value, LIST_FIELDS),
            "$orderby" => value == LIST_ORDER,
            _ => false,
        };
        if !allowed || seen.contains(&name) {
            return None;
        }
        seen.push(name);
    }
    Some(url)
}

/// The same comma-separated property names, in any order and case (Graph
/// may repeat `$select` with its own spelling and order).
fn same_fields(select: &str, ours: &str) -> bool {
    let names = |list: &str| {
        let mut names: Vec<String> = list
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        names.sort();
        names
    };
    names(select) == names(ours)
}

/// `GET /v1.0/me/messages/{id}`.
pub async fn message(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
    id: &str,
) -> Result<Message, ApiError> {
    let url = endpoint(base_url, &["me", "messages", id]);
    let mut message: GraphMessage = get_json_within(
        http,
        url,
        token,
        MAX_MAIL_MESSAGE_BYTES,
        graph_error(MAIL_READ),
    )
    .await?;
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
        .or(message.sender)
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
    fn message_ids_are_one_encoded_path_segment() {
        let base = Url::parse("http://127.0.0.1:8081/").expect("url");
        let url = endpoint(&base, &["me", "messages", "../../admin?x=1/"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8081/v1.0/me/messages/..%2F..%2Fadmin%3Fx=1%2F"
        );
    }

    #[test]
    fn only_next_links_to_the_message_list_are_followed() {
        let messages = Url::parse("https://graph.microsoft.com/v1.0/me/messages").expect("url");
        let next = "https://graph.microsoft.com/v1.0/me/messages?$select=id%2csubject%2cfrom%2creceivedDateTime%2cbodyPreview%2cisRead%2chasAttachments&$top=10&$orderby=receivedDateTime+desc&$skip=10";
        assert!(graph_next_link(&messages, next).is_some());
        for foreign in [
            "https://evil.example.com/v1.0/me/messages?$skip=10",
            "http://graph.microsoft.com/v1.0/me/messages?$skip=10",
            "https://graph.microsoft.com/v1.0/me/events?$skip=10",
            "https://graph.microsoft.com.evil.example/v1.0/me/messages",
            "https://user@graph.microsoft.com/v1.0/me/messages",
            "/v1.0/me/messages?$skip=10",
        ] {
            assert!(graph_next_link(&messages, foreign).is_none(), "{foreign}");
        }
    }

    #[test]
    fn a_next_link_carries_only_the_options_graph_puts_there_for_our_list() {
        let messages = Url::parse("https://graph.microsoft.com/v1.0/me/messages").expect("url");
        let base = "https://graph.microsoft.com/v1.0/me/messages?";
        for ours in [
            "$top=10&$skip=20",
            "$skiptoken=MSZZVlVfZmY",
            "$select=subject,id,FROM,receivedDateTime,bodyPreview,isRead,hasAttachments&$skip=10",
            "$orderby=receivedDateTime%20desc&$top=10&$skip=10",
        ] {
            let link = format!("{base}{ours}");
            assert!(graph_next_link(&messages, &link).is_some(), "{ours}");
        }
        for crafted in [
            "$top=1000&$skip=10",
            "$expand=attachments&$skip=10",
            "$select=id,body&$skip=10",
            "$filter=isRead%20eq%20false&$skip=10",
            "$search=%22password%22",
            "$orderby=subject&$skip=10",
            "$skip=10&$skip=20",
            "$skip=-1",
            "$skip=10&foo=bar",
            "$skip=10&$count=true",
        ] {
            let link = format!("{base}{crafted}");
            assert!(graph_next_link(&messages, &link).is_none(), "{crafted}");
        }
    }
}

/// Generated paging cursors and error answers (docs/TESTING.md). The cursor
/// comes back from the browser, so anything may arrive.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    const MESSAGES: &str = "https://graph.microsoft.com/v1.0/me/messages";

    fn prefix() -> impl Strategy<Value = String> {
        proptest::sample::select(vec![
            MESSAGES,
            "https://graph.microsoft.com/v1.0/me/messages/",
            "https://graph.microsoft.com/v1.0/me/messages/../messages",
            "https://graph.microsoft.com/v1.0/me/%6dessages",
            "https://graph.microsoft.com:443/v1.0/me/messages",
            "https://GRAPH.microsoft.com/v1.0/me/messages",
            "https://user@graph.microsoft.com/v1.0/me/messages",
            "https://graph.microsoft.com.evil.example/v1.0/me/messages",
            "https://evil.example/v1.0/me/messages",
            "http://graph.microsoft.com/v1.0/me/messages",
            "https://graph.microsoft.com/v1.0/users/boss/messages",
            "//graph.microsoft.com/v1.0/me/messages",
            "",
        ])
        .prop_map(str::to_owned)
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                "$top", "$skip", "$skiptoken", "$select", "$orderby", "$expand", "$filter",
                "$search", "$count", "%24top", "%24expand", "$TOP", "$top ", "foo", "",
            ])
            .prop_map(str::to_owned),
            1 => any::<String>(),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec![
                "10",
                "1000",
                "-1",
                "20",
                "1e3",
                "",
                LIST_FIELDS,
                "id,body",
                LIST_ORDER,
                "receivedDateTime+desc",
                "attachments",
                "abc&$expand=attachments",
                "%26",
                "%",
            ])
            .prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    fn cursor() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (
                prefix(),
                proptest::collection::vec((name(), value()), 0..6),
                proptest::option::of(any::<String>()),
            )
                .prop_map(|(prefix, pairs, fragment)| {
                    let query: Vec<String> =
                        pairs.iter().map(|(name, value)| format!("{name}={value}")).collect();
                    let fragment = fragment.map(|text| format!("#{text}")).unwrap_or_default();
                    format!("{prefix}?{}{fragment}", query.join("&"))
                }),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_cases::config(1000))]

        /// A followed cursor goes to our list only, and carries only the
        /// options Graph puts in `@odata.nextLink` for it, each once.
        #[test]
        fn a_followed_cursor_points_at_our_list_with_our_options(cursor in cursor()) {
            let messages = Url::parse(MESSAGES).expect("url");
            let Some(url) = graph_next_link(&messages, &cursor) else {
                return Ok(());
            };
            // What reqwest sends is the serialised URL: read it back as Graph would.
            let sent = Url::parse(url.as_str()).expect("a serialised URL parses");
            prop_assert_eq!(sent.origin(), messages.origin());
            prop_assert_eq!(sent.path(), messages.path());
            prop_assert!(sent.username().is_empty() && sent.password().is_none());
            prop_assert!(sent.fragment().is_none());
            let mut seen = Vec::new();
            for (name, value) in sent.query_pairs() {
                prop_assert!(
                    ["$top", "$skip", "$skiptoken", "$select", "$orderby"].contains(&name.as_ref()),
                    "{name} in {cursor:?}"
                );
                if name == "$top" {
                    prop_assert_eq!(value.as_ref(), PAGE_SIZE.to_string());
                }
                prop_assert!(!seen.contains(&name), "{name} twice in {cursor:?}");
                seen.push(name);
            }
        }

        #[test]
        fn any_error_answer_becomes_an_api_error(
            status in 400u16..600,
            body in prop_oneof![
                any::<Vec<u8>>(),
                (any::<Option<String>>(), any::<Option<String>>()).prop_map(|(code, message)| {
                    serde_json::to_vec(&serde_json::json!({
                        "error": {"code": code, "message": message},
                    })).expect("serialises")
                }),
            ],
        ) {
            let error = graph_error(MAIL_READ)(ErrorAnswer {
                status,
                headers: reqwest::header::HeaderMap::new(),
                body,
            });
            if status == 401 {
                prop_assert!(matches!(error, ApiError::Unauthorized));
            }
        }
    }
}
