//! Gmail API v1: the mail list (`users.messages.list`, then
//! `users.messages.get?format=metadata` for each message on the page) and one
//! message (`format=full`, MIME parts decoded from base64url).
//!
//! Shapes and quirks 22-24 in tests/fixtures/SOURCES.md: `internalDate` is a
//! JSON string; `messages` is absent from an empty list; bodies are base64url,
//! nested in multipart containers or directly in `payload.body`; header names
//! vary in case; rate limits come as 403 or 429 with the time to retry in the
//! message.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures_util::{StreamExt as _, TryStreamExt as _};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{
    ApiError, ErrorAnswer, MailPage, MailSummary, Message, PAGE_SIZE, SafeHtml, get_json,
    get_json_within,
};
use crate::http_client::MAX_MAIL_MESSAGE_BYTES;
use crate::providers::join_path;

/// The scope every Gmail call here needs, as the consent page shows it.
const GMAIL_READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";

/// How many `messages.get` requests run at once for one page: fast enough,
/// and far below Gmail's per-user rate limit.
const CONCURRENT_REQUESTS: usize = 4;

/// The longest `nextPageToken` we accept back from a browser.
const MAX_CURSOR_LEN: usize = 512;

/// Base64url with or without `=` padding: Gmail sends padding, other encoders
/// do not.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    /// Absent, not empty, when there is nothing to list.
    #[serde(default)]
    messages: Vec<MessageRef>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct MessageRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GmailMessage {
    id: String,
    #[serde(default)]
    label_ids: Vec<String>,
    snippet: Option<String>,
    /// Milliseconds since the epoch, as a string.
    internal_date: Option<String>,
    payload: Option<Part>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Part {
    mime_type: Option<String>,
    filename: Option<String>,
    #[serde(default)]
    headers: Vec<Header>,
    body: Option<PartBody>,
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartBody {
    data: Option<String>,
    attachment_id: Option<String>,
}

/// Google's error envelope: `{"error": {"code", "message", "errors": [{"reason"}]}}`.
#[derive(Deserialize)]
struct GoogleErrorEnvelope {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<GoogleErrorItem>,
}

#[derive(Deserialize)]
struct GoogleErrorItem {
    reason: Option<String>,
}

fn gmail_error(answer: ErrorAnswer) -> ApiError {
    let error = serde_json::from_slice::<GoogleErrorEnvelope>(&answer.body)
        .ok()
        .map(|envelope| envelope.error);
    let message = error.as_ref().and_then(|error| error.message.clone());
    let rate_limited = error.as_ref().is_some_and(|error| {
        error.errors.iter().any(|item| {
            matches!(
                item.reason.as_deref(),
                Some("rateLimitExceeded" | "userRateLimitExceeded" | "dailyLimitExceeded")
            )
        })
    });
    if rate_limited || answer.status == 429 {
        return ApiError::Throttled {
            retry_after: super::retry_after(&answer.headers)
                .or_else(|| message.as_deref().and_then(retry_after_in_message)),
        };
    }
    let forbidden = ApiError::Forbidden {
        permission: GMAIL_READONLY,
        detail: message.clone().unwrap_or_default(),
    };
    answer.into_api_error(forbidden, message)
}

/// Gmail writes when to retry into the message: "… Retry after 2023-03-07T18:18:23.688Z".
fn retry_after_in_message(message: &str) -> Option<std::time::Duration> {
    let (_, time) = message.rsplit_once("Retry after ")?;
    let time = chrono::DateTime::parse_from_rfc3339(time.trim()).ok()?;
    let wait = time.with_timezone(&chrono::Utc) - chrono::Utc::now();
    wait.to_std()
        .ok()
        .map(|wait| wait.max(std::time::Duration::from_secs(1)))
}

fn messages_url(base_url: &Url, segments: &[&str]) -> Url {
    let mut all = vec!["gmail", "v1", "users", "me", "messages"];
    all.extend_from_slice(segments);
    join_path(base_url, &all)
}

/// One page of the inbox, newest first: the ids, then each message's headers.
pub async fn mail_page(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
    cursor: Option<&str>,
) -> Result<MailPage, ApiError> {
    let mut url = messages_url(base_url, &[]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("maxResults", &PAGE_SIZE.to_string())
            .append_pair("labelIds", "INBOX");
        if let Some(token) = cursor {
            if token.is_empty() || token.len() > MAX_CURSOR_LEN {
                return Err(ApiError::InvalidCursor);
            }
            query.append_pair("pageToken", token);
        }
    }
    let list: ListResponse = get_json(http, url, token, gmail_error).await?;

    let summaries: Vec<Option<MailSummary>> = futures_util::stream::iter(list.messages)
        .map(|reference| async move {
            let mut url = messages_url(base_url, &[&reference.id]);
            url.query_pairs_mut()
                .append_pair("format", "metadata")
                .append_pair("metadataHeaders", "Subject")
                .append_pair("metadataHeaders", "From")
                .append_pair("metadataHeaders", "Date");
            match get_json::<GmailMessage>(http, url, token, gmail_error).await {
                Ok(message) => Ok(Some(summary(&message))),
                // Deleted between the list and now: leave it out.
                Err(ApiError::NotFound) => Ok(None),
                Err(error) => Err(error),
            }
        })
        // `buffered` keeps the list's order (newest first).
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;

    Ok(MailPage {
        messages: summaries.into_iter().flatten().collect(),
        next_cursor: list.next_page_token,
    })
}

/// One message with its body.
pub async fn message(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
    id: &str,
) -> Result<Message, ApiError> {
    let mut url = messages_url(base_url, &[id]);
    url.query_pairs_mut().append_pair("format", "full");
    let message: GmailMessage =
        get_json_within(http, url, token, MAX_MAIL_MESSAGE_BYTES, gmail_error).await?;
    Ok(full_message(&message))
}

/// What we show of a `format=full` message: the HTML part if there is one,
/// else the plain-text part, found by walking its MIME parts.
fn full_message(message: &GmailMessage) -> Message {
    let payload = message.payload.as_ref();
    let body = match payload.and_then(|part| find_body(part, "text/html")) {
        Some(html) => SafeHtml::sanitize(&html),
        None => SafeHtml::from_text(
            &payload
                .and_then(|part| find_body(part, "text/plain"))
                .unwrap_or_default(),
        ),
    };
    let to = payload
        .and_then(|part| header(part, "To"))
        .map(|to| vec![to.to_owned()])
        .unwrap_or_default();
    Message {
        summary: summary(message),
        to,
        body,
    }
}

/// The first inline (not attached) part of `mime_type`, depth first, decoded.
fn find_body(part: &Part, mime_type: &str) -> Option<String> {
    let is_attachment = part
        .filename
        .as_deref()
        .is_some_and(|name| !name.is_empty());
    if !is_attachment
        && part
            .mime_type
            .as_deref()
            .is_some_and(|kind| kind.eq_ignore_ascii_case(mime_type))
        && let Some(data) = part.body.as_ref().and_then(|body| body.data.as_deref())
    {
        let bytes = BASE64URL.decode(data.trim()).ok()?;
        return Some(decode_text(&bytes, header(part, "Content-Type")));
    }
    part.parts
        .iter()
        .find_map(|child| find_body(child, mime_type))
}

/// A text part's bytes as text, by the charset its `Content-Type` declares
/// (RFC 2046 §4.1.2; labels as the WHATWG Encoding Standard reads them, so
/// `ISO-8859-1` is decoded as windows-1252, as mail clients do). Gmail hands
/// over the part's bytes as sent, only base64url-encoded: a message in
/// ISO-2022-JP stays ISO-2022-JP. No charset means US-ASCII, read as UTF-8
/// (a superset); an unknown one, or bytes invalid in it, give replacement
/// characters rather than a failed page.
fn decode_text(bytes: &[u8], content_type: Option<&str>) -> String {
    let encoding = content_type
        .and_then(charset_of)
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(bytes);
    text.into_owned()
}

/// The `charset` parameter of a `Content-Type` value (RFC 2045 §5.1), quoted
/// or not.
fn charset_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').trim())
    })
}

fn has_attachment(part: &Part) -> bool {
    part.filename
        .as_deref()
        .is_some_and(|name| !name.is_empty())
        && part
            .body
            .as_ref()
            .is_some_and(|body| body.attachment_id.is_some())
        || part.parts.iter().any(has_attachment)
}

/// A header's value; names are compared without case (quirk 22).
fn header<'a>(part: &'a Part, name: &str) -> Option<&'a str> {
    part.headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_str())
}

/// `"Name" <address>` or a bare address, as (name, address).
fn parse_mailbox(value: &str) -> (String, String) {
    match value.rsplit_once('<') {
        Some((name, rest)) if rest.ends_with('>') => {
            let address = rest.trim_end_matches('>').trim().to_owned();
            let name = name.trim().trim_matches('"').trim().to_owned();
            (
                if name.is_empty() {
                    address.clone()
                } else {
                    name
                },
                address,
            )
        }
        _ => (value.trim().to_owned(), value.trim().to_owned()),
    }
}

fn summary(message: &GmailMessage) -> MailSummary {
    let empty = Part::default();
    let payload = message.payload.as_ref().unwrap_or(&empty);
    let (from_name, from_address) = header(payload, "From")
        .map(parse_mailbox)
        .unwrap_or_default();
    MailSummary {
        id: message.id.clone(),
        from_name,
        from_address,
        subject: header(payload, "Subject")
            .filter(|subject| !subject.trim().is_empty())
            .unwrap_or("(no subject)")
            .to_owned(),
        received_at: message
            .internal_date
            .as_deref()
            .and_then(|millis| millis.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis),
        preview: message.snippet.clone().unwrap_or_default(),
        is_read: !message.label_ids.iter().any(|label| label == "UNREAD"),
        has_attachments: has_attachment(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_message_yields_its_html_part_decoded_from_base64url() {
        let html = "<p>Caf\u{e9} &amp; <b>cr\u{e8}me</b></p><script>alert(1)</script>";
        let text = "Caf\u{e9} & cr\u{e8}me";
        let part = |kind: &str, content: &str| {
            serde_json::json!({
                "partId": "0", "mimeType": kind, "filename": "",
                "headers": [], "body": {"size": content.len(), "data": BASE64URL.encode(content)}
            })
        };
        let message: GmailMessage = serde_json::from_value(serde_json::json!({
            "id": "m1", "labelIds": ["INBOX"], "internalDate": "1644224582000",
            "payload": {
                "partId": "", "mimeType": "multipart/mixed", "filename": "",
                "headers": [{"name": "from", "value": "\"Alex R.\" <alex@example.com>"}],
                "body": {"size": 0},
                "parts": [
                    {"partId": "0", "mimeType": "multipart/alternative", "filename": "",
                     "headers": [], "body": {"size": 0},
                     "parts": [part("text/plain", text), part("text/html", html)]},
                    {"partId": "1", "mimeType": "application/pdf", "filename": "a.pdf",
                     "headers": [], "body": {"size": 10, "attachmentId": "att-1"}}
                ]
            }
        }))
        .expect("valid shape");
        let payload = message.payload.as_ref().expect("payload");
        let found = find_body(payload, "text/html").expect("html part");
        assert!(found.contains("cr\u{e8}me"));
        let body = SafeHtml::sanitize(&found);
        assert!(!body.as_str().contains("<script"));
        assert_eq!(find_body(payload, "text/plain").as_deref(), Some(text));

        let summary = summary(&message);
        assert_eq!(summary.from_name, "Alex R.");
        assert_eq!(summary.from_address, "alex@example.com");
        assert!(summary.has_attachments && summary.is_read);
        assert_eq!(
            summary.received_at.map(|time| time.timestamp()),
            Some(1_644_224_582)
        );
    }

    /// A text part of `mime_type` whose bytes are `bytes`, declared as `content_type`.
    fn text_part(mime_type: &str, content_type: &str, bytes: &[u8]) -> Part {
        serde_json::from_value(serde_json::json!({
            "mimeType": mime_type, "filename": "",
            "headers": [{"name": "Content-Type", "value": content_type}],
            "body": {"size": bytes.len(), "data": BASE64URL.encode(bytes)}
        }))
        .expect("valid shape")
    }

    #[test]
    fn a_windows_1252_part_is_decoded_by_its_charset() {
        // "Café à 5 €" in windows-1252: é = E9, à = E0, € = 80.
        let bytes = b"Caf\xe9 \xe0 5 \x80";
        let part = text_part("text/plain", "text/plain; charset=\"windows-1252\"", bytes);
        assert_eq!(
            find_body(&part, "text/plain").as_deref(),
            Some("Caf\u{e9} \u{e0} 5 \u{20ac}")
        );
        // ISO-8859-1 is read as windows-1252 (WHATWG), as mail clients do.
        let part = text_part(
            "text/html",
            "text/html; charset=ISO-8859-1",
            b"<p>\xe9t\xe9</p>",
        );
        assert_eq!(
            find_body(&part, "text/html").as_deref(),
            Some("<p>\u{e9}t\u{e9}</p>")
        );
    }

    #[test]
    fn an_iso_2022_jp_part_is_decoded_by_its_charset() {
        // "日本語" in ISO-2022-JP (RFC 1468): ESC $ B, JIS X 0208 codes, ESC ( B.
        let bytes = b"\x1b$BF|K\\8l\x1b(B";
        let part = text_part("text/plain", "text/plain; charset=iso-2022-jp", bytes);
        assert_eq!(
            find_body(&part, "text/plain").as_deref(),
            Some("\u{65e5}\u{672c}\u{8a9e}")
        );
    }

    #[test]
    fn an_unknown_or_missing_charset_is_read_as_utf_8_without_failing() {
        let utf8 = "caf\u{e9}".as_bytes();
        for content_type in ["text/plain; charset=x-no-such-charset", "text/plain", ""] {
            let part = text_part("text/plain", content_type, utf8);
            assert_eq!(
                find_body(&part, "text/plain").as_deref(),
                Some("caf\u{e9}"),
                "{content_type}"
            );
        }
        let part = text_part("text/plain", "text/plain; charset=utf-8", b"caf\xe9");
        assert_eq!(
            find_body(&part, "text/plain").as_deref(),
            Some("caf\u{fffd}")
        );
    }

    #[test]
    fn base64url_is_decoded_with_or_without_padding() {
        assert_eq!(BASE64URL.decode("aGk_Pw==").expect("padded"), b"hi??");
        assert_eq!(BASE64URL.decode("aGk_Pw").expect("unpadded"), b"hi??");
    }

    #[test]
    fn rate_limits_are_throttling_and_missing_scopes_are_forbidden() {
        let answer = |status: u16, body: &str| ErrorAnswer {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        let in_a_minute = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339();
        let limited = format!(
            r#"{{"error":{{"code":429,"message":"User-rate limit exceeded.  Retry after {in_a_minute}","errors":[{{"reason":"rateLimitExceeded"}}]}}}}"#
        );
        match gmail_error(answer(429, &limited)) {
            ApiError::Throttled {
                retry_after: Some(wait),
            } => assert!((50..=60).contains(&wait.as_secs()), "{wait:?}"),
            other => panic!("{other:?}"),
        }
        let quota = r#"{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}]}}"#;
        assert!(matches!(
            gmail_error(answer(403, quota)),
            ApiError::Throttled { retry_after: None }
        ));
        // Google's v1 error envelope (quirk 24) for a token without the Gmail scope.
        let scope = r#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","errors":[{"reason":"insufficientPermissions"}],"status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            gmail_error(answer(403, scope)),
            ApiError::Forbidden {
                permission: GMAIL_READONLY,
                ..
            }
        ));
        assert!(matches!(
            gmail_error(answer(401, "{}")),
            ApiError::Unauthorized
        ));
    }
}

/// Generated messages and error answers (docs/TESTING.md): the MIME walk and
/// Google's error envelope take whatever the API sends without panicking.
#[cfg(test)]
mod proptests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    const MIME_TYPES: &[&str] = &[
        "text/html",
        "TEXT/HTML",
        "text/plain",
        "multipart/alternative",
        "multipart/mixed",
        "application/pdf",
        "",
    ];
    const CHARSETS: &[&str] = &[
        "utf-8",
        "\"ISO-8859-1\"",
        "windows-1252",
        "iso-2022-jp",
        "shift_jis",
        "utf-16le",
        "x-unknown",
        "",
        "=",
    ];

    /// A part's body: valid base64url of arbitrary bytes (padded or not), or
    /// any string at all.
    fn data() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..200)
                .prop_map(|bytes| json!(BASE64URL.encode(bytes))),
            1 => proptest::collection::vec(any::<u8>(), 0..200)
                .prop_map(|bytes| json!(URL_SAFE_NO_PAD.encode(bytes))),
            1 => any::<String>().prop_map(|text| json!(text)),
            1 => Just(Value::Null),
        ]
    }

    fn content_type() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (
                proptest::sample::select(MIME_TYPES),
                proptest::sample::select(CHARSETS),
            )
                .prop_map(|(kind, charset)| format!("{kind}; charset={charset}")),
            1 => any::<String>(),
        ]
    }

    fn leaf() -> impl Strategy<Value = Value> {
        (
            proptest::sample::select(MIME_TYPES),
            proptest::option::of(proptest::sample::select(vec!["", "a.pdf"])),
            content_type(),
            data(),
            proptest::option::of(Just("ANGjdJ")),
        )
            .prop_map(|(kind, filename, content_type, data, attachment_id)| {
                json!({
                    "mimeType": kind,
                    "filename": filename,
                    "headers": [
                        {"name": "Content-Type", "value": content_type},
                        {"name": "from", "value": "\"Ann\" <ann@example.com>"},
                    ],
                    "body": {"data": data, "attachmentId": attachment_id},
                })
            })
    }

    /// Parts nested up to 8 deep, up to 6 children each.
    fn part() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(8, 64, 6, |inner| {
            (leaf(), proptest::collection::vec(inner, 0..6)).prop_map(|(mut part, children)| {
                part["parts"] = json!(children);
                part
            })
        })
    }

    proptest! {
        #![proptest_config(crate::proptest_cases::config(256))]

        /// No panic, and the page grows at most linearly with the answer:
        /// base64 shrinks, a charset turns a byte into at most one
        /// replacement character, and escaping (`&amp;`, `&#32;`) or the
        /// sanitiser's `rel` on each link adds a bounded amount per byte.
        #[test]
        fn any_mime_tree_gives_a_bounded_page(payload in part()) {
            let answer = json!({
                "id": "18c0", "labelIds": ["INBOX", "UNREAD"], "snippet": "hi",
                "internalDate": "1700000000000", "payload": payload,
            });
            let bytes = serde_json::to_vec(&answer).expect("serialises");
            let message: GmailMessage = serde_json::from_slice(&bytes).expect("a valid message");
            let shown = full_message(&message);
            prop_assert!(
                shown.body.as_str().len() <= 16 * bytes.len() + 256,
                "{} bytes of page from {} bytes of answer",
                shown.body.as_str().len(),
                bytes.len()
            );
        }

        #[test]
        fn any_error_answer_becomes_an_api_error(
            status in 400u16..600,
            body in prop_oneof![
                any::<Vec<u8>>(),
                (any::<String>(), any::<Option<String>>()).prop_map(|(message, reason)| {
                    serde_json::to_vec(&json!({"error": {
                        "code": 403, "message": message, "errors": [{"reason": reason}],
                    }})).expect("serialises")
                }),
            ],
        ) {
            let error = gmail_error(ErrorAnswer {
                status,
                headers: reqwest::header::HeaderMap::new(),
                body,
            });
            if status == 401 {
                prop_assert!(matches!(error, ApiError::Unauthorized));
            }
        }

        #[test]
        fn any_retry_hint_in_a_message_is_read_or_ignored(message in ".*Retry after .*") {
            if let Some(wait) = retry_after_in_message(&message) {
                prop_assert!(wait >= std::time::Duration::from_secs(1));
            }
        }
    }

    /// Nesting is bounded before the walk: serde_json refuses JSON nested
    /// deeper than 128 levels (its recursion limit), so a hostile message
    /// cannot overflow the stack of `find_body` or `has_attachment`, which
    /// recurse once per level.
    #[test]
    fn a_message_nested_deeper_than_serde_allows_is_refused_not_walked() {
        // Written as text: building (or dropping) a deep `Value` recurses too.
        let deep = |levels: usize| {
            let open = r#"{"mimeType":"multipart/mixed","parts":["#.repeat(levels);
            let leaf = r#"{"mimeType":"text/plain","body":{"data":"aGk"}}"#;
            let close = "]}".repeat(levels);
            format!(r#"{{"id":"1","payload":{open}{leaf}{close}}}"#)
        };
        let shallow: GmailMessage = serde_json::from_str(&deep(60)).expect("60 levels parse");
        assert!(full_message(&shallow).body.as_str().contains("hi"));
        assert!(serde_json::from_str::<GmailMessage>(&deep(100_000)).is_err());
    }
}
