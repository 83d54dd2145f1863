//! A Microsoft Graph v1.0-shaped API: `/v1.0/me`, the profile photo and the
//! signed-in user's messages, with the same paths, JSON shapes, paging and
//! errors as Graph, so that the app's Graph client works against it unchanged.
//!
//! What it owns: turning mailbox records into Graph JSON, the OData query
//! options we support (`$top`, `$skip`, `$select`, `$orderby`, `$count`),
//! `@odata.nextLink` paging and Graph's error envelope. It must not accept any
//! credential but an access token issued by this provider with the right
//! scope (`User.Read` for the profile, `Mail.Read` for mail).
//!
//! Shapes follow the fixtures in the Graph v1.0 reference (samples listed in `tests/fixtures/SOURCES.md`):
//! errors are `{"error":{"code","message","innerError":{date, request-id,
//! client-request-id}}}`, and `@odata.nextLink` is an absolute, already-encoded
//! URL that the client must follow verbatim. "Quirk N" below refers to the
//! numbered quirks in `tests/fixtures/SOURCES.md`.

use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::ProviderState;
use super::bearer;
use super::mailbox::{BodyType, DemoUser, EmailAddress, Message, find_user, html_to_text};
use super::params::Params;
use super::scopes::Scope;

/// Graph's own application id, which its 401 challenge names.
const GRAPH_RESOURCE_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const DEFAULT_PAGE_SIZE: usize = 10;
const MAX_PAGE_SIZE: usize = 100;
const MAX_SKIP: usize = 1_000_000;
/// The `Prefer` value that asks for plain-text bodies (quirk 13).
const PREFER_TEXT_BODY: &str = "outlook.body-content-type=\"text\"";

/// Message properties `$select` may name, spelled as Graph spells them.
const MESSAGE_PROPERTIES: [&str; 28] = [
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
];

/// User properties of the default `/me` response.
const USER_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// `GET /v1.0/me`.
pub(crate) async fn me(request: HttpRequest, state: web::Data<ProviderState>) -> HttpResponse {
    let user = match check_access(&state, &request, Scope::UserRead) {
        Ok(user) => user,
        Err(error) => return error.into_response(&state, &request),
    };
    let select = match Params::parse(request.query_string())
        .ok()
        .and_then(|params| params.get("$select").map(str::to_owned))
    {
        None => None,
        Some(select) => match parse_select(
            &select,
            &USER_PROPERTIES,
            "Microsoft.DirectoryServices.User",
        ) {
            Ok(select) => Some(select),
            Err(error) => return error.into_response(&request),
        },
    };
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(state.endpoint("/v1.0/$metadata#users/$entity")),
    );
    body.insert("businessPhones".into(), json!(user.business_phones));
    body.insert("displayName".into(), json!(user.display_name));
    body.insert("givenName".into(), json!(user.given_name));
    body.insert("jobTitle".into(), json!(user.job_title));
    body.insert("mail".into(), json!(user.email));
    body.insert("mobilePhone".into(), json!(user.mobile_phone));
    body.insert("officeLocation".into(), json!(user.office_location));
    body.insert("preferredLanguage".into(), json!(user.preferred_language));
    body.insert("surname".into(), json!(user.family_name));
    body.insert("userPrincipalName".into(), json!(user.email));
    body.insert("id".into(), json!(user.id));
    if let Some(select) = select {
        // Graph returns only what was selected, plus the context.
        body.retain(|name, _| name == "@odata.context" || select.contains(&name.as_str()));
    }
    HttpResponse::Ok().json(body)
}

/// `GET /v1.0/me/photo`: the photo's metadata.
pub(crate) async fn photo_metadata(
    request: HttpRequest,
    state: web::Data<ProviderState>,
) -> HttpResponse {
    let user = match check_access(&state, &request, Scope::UserRead) {
        Ok(user) => user,
        Err(error) => return error.into_response(&state, &request),
    };
    let Some(photo) = user.photo_png else {
        return photo_not_found(&request);
    };
    HttpResponse::Ok().json(json!({
        "@odata.context": state.endpoint(&format!("/v1.0/$metadata#users('{}')/photo/$entity", user.id)),
        "@odata.mediaContentType": "image/png",
        "@odata.mediaEtag": format!("W/\"{}\"", URL_SAFE_NO_PAD.encode(&Sha256::digest(photo)[..9])),
        "id": "64X64",
        "height": 64,
        "width": 64,
    }))
}

/// `GET /v1.0/me/photo/$value`: the photo's bytes, or 404 when there is none
/// (quirk 14).
pub(crate) async fn photo_value(
    request: HttpRequest,
    state: web::Data<ProviderState>,
) -> HttpResponse {
    let user = match check_access(&state, &request, Scope::UserRead) {
        Ok(user) => user,
        Err(error) => return error.into_response(&state, &request),
    };
    match user.photo_png {
        Some(photo) => HttpResponse::Ok().content_type("image/png").body(photo),
        None => photo_not_found(&request),
    }
}

fn photo_not_found(request: &HttpRequest) -> HttpResponse {
    graph_error(
        request,
        StatusCode::NOT_FOUND,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )
}

/// `GET /v1.0/me/messages`: one page of the user's mail, newest first.
pub(crate) async fn list_messages(
    request: HttpRequest,
    state: web::Data<ProviderState>,
) -> HttpResponse {
    let user = match check_access(&state, &request, Scope::MailRead) {
        Ok(user) => user,
        Err(error) => return error.into_response(&state, &request),
    };
    let query = match MessageQuery::parse(request.query_string()) {
        Ok(query) => query,
        Err(error) => return error.into_response(&request),
    };
    let messages = state.mailboxes.messages_of(user.username);
    let text_bodies = prefers_text_bodies(&request);
    let page: Vec<Value> = messages
        .iter()
        .skip(query.skip)
        .take(query.top)
        .map(|message| message_json(message, query.select.as_deref(), text_bodies))
        .collect();

    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(state.endpoint(&format!(
            "/v1.0/$metadata#users('{}')/messages{}",
            user.id,
            select_suffix(query.select.as_deref())
        ))),
    );
    body.insert("value".into(), Value::Array(page));
    // Only while more remain; the client stops when it is absent (quirk 8).
    if query.skip.saturating_add(query.top) < messages.len()
        && let Some(next) = next_link(&state, &query)
    {
        body.insert("@odata.nextLink".into(), json!(next));
    }
    with_body_preference(HttpResponse::Ok(), text_bodies).json(body)
}

/// `GET /v1.0/me/messages/{id}`.
pub(crate) async fn get_message(
    request: HttpRequest,
    state: web::Data<ProviderState>,
    path: web::Path<String>,
) -> HttpResponse {
    let user = match check_access(&state, &request, Scope::MailRead) {
        Ok(user) => user,
        Err(error) => return error.into_response(&state, &request),
    };
    let query = match MessageQuery::parse(request.query_string()) {
        Ok(query) => query,
        Err(error) => return error.into_response(&request),
    };
    // Only this user's mailbox is searched, so another user's id is simply
    // not found: the answer does not reveal that it exists.
    let Some(message) = state
        .mailboxes
        .messages_of(user.username)
        .iter()
        .find(|message| message.id == *path)
    else {
        return graph_error(
            &request,
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        );
    };
    let text_bodies = prefers_text_bodies(&request);
    let mut body = match message_json(message, query.select.as_deref(), text_bodies) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    body.insert(
        "@odata.context".into(),
        json!(state.endpoint(&format!(
            "/v1.0/$metadata#users('{}')/messages{}/$entity",
            user.id,
            select_suffix(query.select.as_deref())
        ))),
    );
    with_body_preference(HttpResponse::Ok(), text_bodies).json(body)
}

/// Any other path under `/v1.0/`, answered as Graph does.
pub(crate) fn unknown_segment(request: &HttpRequest) -> HttpResponse {
    let segment: String = request
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    graph_error(
        request,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
    )
}

/// Why a Graph request may not proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccessError {
    /// No token, or an unknown, expired or revoked one: 401.
    Unauthenticated,
    /// A valid token without the scope this resource needs: 403.
    MissingScope,
}

impl AccessError {
    fn into_response(self, state: &ProviderState, request: &HttpRequest) -> HttpResponse {
        match self {
            AccessError::Unauthenticated => unauthorized(state, request),
            AccessError::MissingScope => graph_error(
                request,
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ),
        }
    }
}

/// The demo user behind the request's access token, if it has `needed`.
fn check_access(
    state: &ProviderState,
    request: &HttpRequest,
    needed: Scope,
) -> Result<&'static DemoUser, AccessError> {
    let token = bearer::authenticate(state, request, Utc::now())
        .map_err(|_| AccessError::Unauthenticated)?;
    if !token.scopes.contains(&needed) {
        return Err(AccessError::MissingScope);
    }
    find_user(&token.username).ok_or(AccessError::Unauthenticated)
}

/// 401 as Graph sends it, challenge included (quirk 11).
fn unauthorized(state: &ProviderState, request: &HttpRequest) -> HttpResponse {
    let mut response = graph_error(
        request,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.",
    );
    let challenge = format!(
        r#"Bearer realm="", authorization_uri="{}", client_id="{GRAPH_RESOURCE_APP_ID}""#,
        state.endpoint("/authorize")
    );
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// Graph's error envelope, with the request ids Graph adds to every answer.
fn graph_error(
    request: &HttpRequest,
    status: StatusCode,
    code: &str,
    message: &str,
) -> HttpResponse {
    let request_id = random_uuid();
    let client_request_id = client_request_id(request).unwrap_or_else(|| request_id.clone());
    HttpResponse::build(status)
        .insert_header(("request-id", request_id.as_str()))
        .insert_header(("client-request-id", client_request_id.as_str()))
        .json(json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                }
            }
        }))
}

/// Graph echoes a client's `client-request-id` header; we do so only for
/// plausible ids, so the echo cannot carry arbitrary text.
fn client_request_id(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get("client-request-id")?.to_str().ok()?;
    let plausible = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    plausible.then(|| value.to_owned())
}

/// A random (version 4) UUID, as Graph's request ids are.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A 400 for a bad query option.
#[derive(Debug, PartialEq, Eq)]
struct QueryError {
    code: &'static str,
    message: String,
}

impl QueryError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "ErrorInvalidParameter",
            message: message.into(),
        }
    }

    fn into_response(self, request: &HttpRequest) -> HttpResponse {
        graph_error(request, StatusCode::BAD_REQUEST, self.code, &self.message)
    }
}

/// The OData query options of a message request.
#[derive(Debug, PartialEq, Eq)]
struct MessageQuery {
    top: usize,
    skip: usize,
    /// Canonical property names, when `$select` was given.
    select: Option<Vec<&'static str>>,
    /// `$orderby` as sent, to repeat it in `@odata.nextLink`.
    order_by: Option<String>,
}

impl MessageQuery {
    fn parse(query_string: &str) -> Result<Self, QueryError> {
        let params = Params::parse(query_string)
            .map_err(|_| QueryError::invalid("The query string is malformed."))?;
        if let Some(name) = params.repeated() {
            return Err(QueryError::invalid(format!(
                "Query option '{name}' was specified more than once."
            )));
        }
        if let Some(name) = params.names().find(|name| {
            name.starts_with('$')
                && !["$top", "$skip", "$select", "$orderby", "$count"].contains(name)
        }) {
            return Err(QueryError::invalid(format!(
                "The query option '{name}' is not supported by the demo provider."
            )));
        }
        let top = match params.get("$top") {
            None => DEFAULT_PAGE_SIZE,
            Some(value) => value
                .parse::<usize>()
                .ok()
                .filter(|top| (1..=MAX_PAGE_SIZE).contains(top))
                .ok_or_else(|| {
                    QueryError::invalid(format!(
                        "Invalid value '{value}' for query option '$top': use a whole number from 1 to {MAX_PAGE_SIZE}."
                    ))
                })?,
        };
        let skip = match params.get("$skip") {
            None => 0,
            Some(value) => value
                .parse::<usize>()
                .ok()
                .filter(|skip| *skip <= MAX_SKIP)
                .ok_or_else(|| {
                    QueryError::invalid(format!(
                        "Invalid value '{value}' for query option '$skip': use a whole number of 0 or more."
                    ))
                })?,
        };
        let select = params
            .get("$select")
            .map(|select| {
                parse_select(
                    select,
                    &MESSAGE_PROPERTIES,
                    "Microsoft.OutlookServices.Message",
                )
            })
            .transpose()?;
        let order_by = params.get("$orderby").map(str::to_owned);
        if let Some(order_by) = &order_by {
            // We always answer newest first, so that is the only order accepted.
            let normalised = order_by.split_whitespace().collect::<Vec<_>>().join(" ");
            if !normalised.eq_ignore_ascii_case("receivedDateTime desc") {
                return Err(QueryError::invalid(format!(
                    "The demo provider can only order by 'receivedDateTime desc', not '{order_by}'."
                )));
            }
        }
        Ok(Self {
            top,
            skip,
            select,
            order_by,
        })
    }
}

/// Splits `$select` and maps each name (case-insensitively) to its canonical
/// spelling. Unknown names get Graph's own error for them.
fn parse_select(
    select: &str,
    known: &[&'static str],
    type_name: &str,
) -> Result<Vec<&'static str>, QueryError> {
    let mut chosen = Vec::new();
    for name in select.split(',').map(str::trim) {
        let Some(canonical) = known.iter().find(|known| known.eq_ignore_ascii_case(name)) else {
            return Err(QueryError {
                code: "RequestBroker--ParseUri",
                message: format!("Could not find a property named '{name}' on type '{type_name}'."),
            });
        };
        if !chosen.contains(canonical) {
            chosen.push(*canonical);
        }
    }
    Ok(chosen)
}

/// `(subject,sender)` after the entity set in `@odata.context`.
fn select_suffix(select: Option<&[&str]>) -> String {
    select.map_or_else(String::new, |names| format!("({})", names.join(",")))
}

/// The absolute URL of the next page. `url` form-encodes the values, so `$`
/// becomes `%24` and `,` becomes `%2C`; the client follows it verbatim.
fn next_link(state: &ProviderState, query: &MessageQuery) -> Option<String> {
    let mut url = Url::parse(&state.endpoint("/v1.0/me/messages")).ok()?;
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("$top", &query.top.to_string());
        pairs.append_pair("$skip", &(query.skip + query.top).to_string());
        if let Some(select) = &query.select {
            pairs.append_pair("$select", &select.join(","));
        }
        if let Some(order_by) = &query.order_by {
            pairs.append_pair("$orderby", order_by);
        }
    }
    Some(url.into())
}

fn prefers_text_bodies(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all("Prefer")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|preference| {
            let preference = preference.trim();
            preference.eq_ignore_ascii_case(PREFER_TEXT_BODY)
                || preference.eq_ignore_ascii_case("outlook.body-content-type=text")
        })
}

/// Graph confirms an honoured preference with `Preference-Applied`.
fn with_body_preference(
    mut builder: actix_web::HttpResponseBuilder,
    text_bodies: bool,
) -> actix_web::HttpResponseBuilder {
    if text_bodies {
        builder.insert_header(("Preference-Applied", PREFER_TEXT_BODY));
    }
    builder
}

fn graph_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn recipient(address: &EmailAddress) -> Value {
    json!({ "emailAddress": { "name": address.name, "address": address.address } })
}

/// A message as Graph's `message` resource, limited to `select` if given
/// (Graph always adds `id` and `@odata.etag`).
fn message_json(message: &Message, select: Option<&[&str]>, text_bodies: bool) -> Value {
    let body = match (message.body.content_type, text_bodies) {
        (BodyType::Html, false) => {
            json!({ "contentType": "html", "content": message.body.content })
        }
        (BodyType::Html, true) => json!({
            "contentType": "text",
            "content": html_to_text(&message.body.content).trim().replace("\r\n\r\n\r\n", "\r\n\r\n"),
        }),
        (BodyType::Text, _) => json!({ "contentType": "text", "content": message.body.content }),
    };
    let mut map = Map::new();
    map.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", message.change_key)),
    );
    map.insert("id".into(), json!(message.id));
    map.insert("createdDateTime".into(), json!(graph_time(message.created)));
    map.insert(
        "lastModifiedDateTime".into(),
        json!(graph_time(message.last_modified)),
    );
    map.insert("changeKey".into(), json!(message.change_key));
    map.insert("categories".into(), json!([]));
    map.insert(
        "receivedDateTime".into(),
        json!(graph_time(message.received)),
    );
    map.insert("sentDateTime".into(), json!(graph_time(message.sent)));
    map.insert("hasAttachments".into(), json!(message.has_attachments));
    map.insert(
        "internetMessageId".into(),
        json!(message.internet_message_id),
    );
    map.insert("subject".into(), json!(message.subject));
    map.insert("bodyPreview".into(), json!(message.body_preview));
    map.insert("importance".into(), json!(message.importance));
    map.insert("parentFolderId".into(), json!(message.parent_folder_id));
    map.insert("conversationId".into(), json!(message.conversation_id));
    map.insert("isDeliveryReceiptRequested".into(), json!(false));
    map.insert("isReadReceiptRequested".into(), json!(false));
    map.insert("isRead".into(), json!(message.is_read));
    map.insert("isDraft".into(), json!(false));
    map.insert(
        "webLink".into(),
        json!(format!(
            "https://outlook.demo.example/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
            message.id
        )),
    );
    map.insert("inferenceClassification".into(), json!("focused"));
    map.insert("body".into(), body);
    map.insert("sender".into(), recipient(&message.from));
    map.insert("from".into(), recipient(&message.from));
    map.insert(
        "toRecipients".into(),
        Value::Array(message.to.iter().map(recipient).collect()),
    );
    map.insert(
        "ccRecipients".into(),
        Value::Array(message.cc.iter().map(recipient).collect()),
    );
    map.insert("bccRecipients".into(), json!([]));
    map.insert("replyTo".into(), json!([]));
    map.insert("flag".into(), json!({ "flagStatus": "notFlagged" }));
    if let Some(select) = select {
        map.retain(|name, _| {
            name == "@odata.etag" || name == "id" || select.contains(&name.as_str())
        });
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_query_defaults_to_ten_newest_first() {
        assert_eq!(
            MessageQuery::parse(""),
            Ok(MessageQuery {
                top: 10,
                skip: 0,
                select: None,
                order_by: None
            })
        );
    }

    #[test]
    fn message_query_reads_encoded_options_and_canonicalises_select() {
        let query = MessageQuery::parse(
            "%24select=SUBJECT%2Csender&%24top=5&%24skip=20&%24orderby=receivedDateTime+DESC&%24count=true",
        );
        assert_eq!(
            query,
            Ok(MessageQuery {
                top: 5,
                skip: 20,
                select: Some(vec!["subject", "sender"]),
                order_by: Some("receivedDateTime DESC".into()),
            })
        );
    }

    #[test]
    fn bad_query_options_are_refused() {
        for bad in [
            "$top=0",
            "$top=101",
            "$top=ten",
            "$skip=-1",
            "$select=subject,nope",
            "$orderby=subject",
            "$filter=isRead+eq+false",
            "$top=5&$top=6",
        ] {
            assert!(MessageQuery::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            MessageQuery::parse("$select=nope").map(|_| ()),
            Err(QueryError {
                code: "RequestBroker--ParseUri",
                message: "Could not find a property named 'nope' on type 'Microsoft.OutlookServices.Message'."
                    .into(),
            })
        );
    }

    #[test]
    fn random_uuids_look_like_version_4_uuids() {
        let uuid = random_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4');
    }
}
