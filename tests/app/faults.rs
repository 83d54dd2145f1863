//! The fault table (issue 11): each call the app makes to a provider, under
//! each way a provider fails, gives a friendly page with the right status,
//! stores nothing it should not, and works again once the fault is gone.
//!
//! The calls: discovery, the signing keys (JWKS) and the token request at
//! sign-in, and userinfo at `/profile`, with the generic OpenID Connect
//! provider against a `FakeIssuer`; Graph's `/me`, photo, mail list and one
//! message, with Microsoft against `FakeMicrosoft`. The faults: see `Fault`.
//!
//! Each row runs in its own app (its own database, and HTTP_TIMEOUT=1 for a
//! slow provider only). The rows of one call run at the same time, so the
//! one-second timeouts overlap instead of adding up.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signin_reference::http_client::MAX_MAIL_MESSAGE_BYTES;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockGuard, MockServer, ResponseTemplate};

use crate::fake_issuer::{
    CLIENT_ID, FakeIssuer, come_back_with_code, start_sign_in, token_response,
};
use crate::helpers::{TestApp, attribute_values, browser, location, spawn_app_with};
use crate::microsoft::{FakeMicrosoft, REAL_HOSTS, urlencoding};

/// The calls the app makes to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `GET {issuer}/.well-known/openid-configuration` (Discovery 1.0 §4).
    Discovery,
    /// `GET jwks_uri`: the signing keys (RFC 7517 §5).
    Jwks,
    /// `POST token_endpoint`: the code exchange (RFC 6749 §4.1.3).
    Token,
    /// `GET userinfo_endpoint` (OIDC Core §5.3), for `/profile`.
    Userinfo,
    /// Graph `GET /v1.0/me`, for `/profile`.
    Profile,
    /// Graph `GET /v1.0/me/photo/$value`, beside `/me`.
    Photo,
    /// Graph `GET /v1.0/me/messages`, for `/mail`.
    MailList,
    /// Graph `GET /v1.0/me/messages/{id}`, for `/mail/{id}`.
    Message,
}

/// The ways a provider fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answers after 3 s; the app (HTTP_TIMEOUT=1) stops waiting after 1 s.
    Slow,
    /// Nothing listens on the port: the connection is refused.
    Refused,
    /// 500 with an HTML page, as a crashed server or a proxy in front of it sends.
    ServerErrorHtml,
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// 200 with valid JSON larger than every cap in `http_client`.
    Oversized,
}

use Call::*;
use Fault::*;

/// The words each page must say (HTML-escaped text, so no apostrophes).
const TIMED_OUT: &str = "did not answer in time";
const NOT_ANSWERING: &str = "not answering properly right now";
const TOO_LARGE: &str = "too large to be genuine";
/// The profile page, shown without the photo: a photo is no reason to fail it.
const PROFILE: &str = "Adele Vance";

/// Every call under every fault: the status and words of the page. The
/// status comes from `SignInError::status` at sign-in and from
/// `AppError::from_api` after it: 504 when the provider was too slow, 502
/// when it failed in any other way.
const TABLE: &[(Call, Fault, u16, &str)] = &[
    (Discovery, Slow, 504, TIMED_OUT),
    (Discovery, Refused, 502, NOT_ANSWERING),
    (Discovery, ServerErrorHtml, 502, NOT_ANSWERING),
    (Discovery, InvalidJson, 502, NOT_ANSWERING),
    (Discovery, Oversized, 502, TOO_LARGE),
    (Jwks, Slow, 504, TIMED_OUT),
    (Jwks, Refused, 502, NOT_ANSWERING),
    (Jwks, ServerErrorHtml, 502, NOT_ANSWERING),
    (Jwks, InvalidJson, 502, NOT_ANSWERING),
    (Jwks, Oversized, 502, TOO_LARGE),
    (Token, Slow, 504, TIMED_OUT),
    (Token, Refused, 502, NOT_ANSWERING),
    (Token, ServerErrorHtml, 502, NOT_ANSWERING),
    (Token, InvalidJson, 502, NOT_ANSWERING),
    (Token, Oversized, 502, TOO_LARGE),
    (Userinfo, Slow, 504, NOT_ANSWERING),
    (Userinfo, Refused, 502, NOT_ANSWERING),
    (Userinfo, ServerErrorHtml, 502, NOT_ANSWERING),
    (Userinfo, InvalidJson, 502, NOT_ANSWERING),
    (Userinfo, Oversized, 502, TOO_LARGE),
    (Profile, Slow, 504, NOT_ANSWERING),
    (Profile, Refused, 502, NOT_ANSWERING),
    (Profile, ServerErrorHtml, 502, NOT_ANSWERING),
    (Profile, InvalidJson, 502, NOT_ANSWERING),
    (Profile, Oversized, 502, TOO_LARGE),
    (Photo, Slow, 200, PROFILE),
    // A refused connection is per host, and the photo shares Graph's host
    // with `/me`: this row is "Graph is down".
    (Photo, Refused, 502, NOT_ANSWERING),
    (Photo, ServerErrorHtml, 200, PROFILE),
    (Photo, InvalidJson, 200, PROFILE),
    (Photo, Oversized, 200, PROFILE),
    (MailList, Slow, 504, NOT_ANSWERING),
    (MailList, Refused, 502, NOT_ANSWERING),
    (MailList, ServerErrorHtml, 502, NOT_ANSWERING),
    (MailList, InvalidJson, 502, NOT_ANSWERING),
    (MailList, Oversized, 502, TOO_LARGE),
    (Message, Slow, 504, NOT_ANSWERING),
    (Message, Refused, 502, NOT_ANSWERING),
    (Message, ServerErrorHtml, 502, NOT_ANSWERING),
    (Message, InvalidJson, 502, NOT_ANSWERING),
    (Message, Oversized, 502, TOO_LARGE),
];

#[tokio::test]
async fn each_fault_at_discovery_gives_a_clear_page_and_clears() {
    run_rows_of(Discovery).await;
}

#[tokio::test]
async fn each_fault_at_the_signing_keys_gives_a_clear_page_and_clears() {
    run_rows_of(Jwks).await;
}

#[tokio::test]
async fn each_fault_at_the_token_request_gives_a_clear_page_stores_nothing_and_clears() {
    run_rows_of(Token).await;
}

#[tokio::test]
async fn each_fault_at_userinfo_gives_a_clear_page_and_clears() {
    run_rows_of(Userinfo).await;
}

#[tokio::test]
async fn each_fault_at_graph_me_gives_a_clear_page_and_clears() {
    run_rows_of(Profile).await;
}

#[tokio::test]
async fn each_fault_at_the_photo_still_shows_the_profile_and_clears() {
    run_rows_of(Photo).await;
}

#[tokio::test]
async fn each_fault_at_the_mail_list_gives_a_clear_page_and_clears() {
    run_rows_of(MailList).await;
}

#[tokio::test]
async fn each_fault_at_a_message_gives_a_clear_page_and_clears() {
    run_rows_of(Message).await;
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
struct Row {
    call: Call,
    fault: Fault,
    status: u16,
    words: &'static str,
}

/// Runs every row of `call` at the same time.
async fn run_rows_of(call: Call) {
    let rows = TABLE
        .iter()
        .filter(|(of, ..)| *of == call)
        .map(|&(call, fault, status, words)| Row {
            call,
            fault,
            status,
            words,
        });
    futures_util::future::join_all(rows.map(|row| async move {
        match row.call {
            Discovery | Jwks | Token | Userinfo => oidc_row(row).await,
            Profile | Photo | MailList | Message => graph_row(row).await,
        }
    }))
    .await;
}

/// A provider's HTML error page; never shown to the visitor.
const PROVIDER_HTML: &str =
    "<html><body><h1>502 Bad Gateway</h1><p>upstream exploded</p></body></html>";

/// Larger than every cap: `MAX_JSON_BYTES` (1 MiB), the photo's (256 KiB)
/// and `MAX_MAIL_MESSAGE_BYTES` (4 MiB).
const OVERSIZED: usize = MAX_MAIL_MESSAGE_BYTES + 1024;

impl Call {
    /// The method and path the fake serves this call at.
    fn route(self, message_id: &str) -> (&'static str, String) {
        match self {
            Discovery => ("GET", "/.well-known/openid-configuration".into()),
            Jwks => ("GET", "/jwks".into()),
            Token => ("POST", "/token".into()),
            Userinfo => ("GET", "/userinfo".into()),
            Profile => ("GET", "/v1.0/me".into()),
            Photo => ("GET", "/v1.0/me/photo/$value".into()),
            MailList => ("GET", "/v1.0/me/messages".into()),
            Message => ("GET", format!("/v1.0/me/messages/{message_id}")),
        }
    }
}

impl Fault {
    /// The answer that plays this fault; `Refused` has none (no one listens).
    fn answer(self, call: Call) -> Option<ResponseTemplate> {
        Some(match self {
            Slow => ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_secs(3)),
            Refused => return None,
            ServerErrorHtml => ResponseTemplate::new(500).set_body_raw(PROVIDER_HTML, "text/html"),
            InvalidJson => {
                ResponseTemplate::new(200).set_body_raw("{\"value\": [", "application/json")
            }
            Oversized if call == Photo => {
                ResponseTemplate::new(200).set_body_raw(vec![0u8; OVERSIZED], "image/png")
            }
            Oversized => {
                ResponseTemplate::new(200).set_body_json(json!({"padding": "x".repeat(OVERSIZED)}))
            }
        })
    }

    /// Puts the fault in front of the fake's normal answer to `call`:
    /// mounted first, it wins (wiremock tries mocks in the order they were
    /// mounted); dropping the guard takes it away again. Not with
    /// `with_priority`: wiremock 0.6.5 sorts its mocks by priority in place,
    /// after which a guard deactivates another mock than its own.
    async fn inject(self, call: Call, server: &MockServer, message_id: &str) -> Option<MockGuard> {
        let answer = self.answer(call)?;
        let (verb, at) = call.route(message_id);
        Some(
            Mock::given(method(verb))
                .and(path(at))
                .respond_with(answer)
                .mount_as_scoped(server)
                .await,
        )
    }

    /// The app's extra variables: a short timeout against a slow provider.
    fn app_env(self) -> Vec<(&'static str, String)> {
        match self {
            Slow => vec![("HTTP_TIMEOUT", "1".to_owned())],
            _ => Vec::new(),
        }
    }
}

/// A port that refuses connections: bound but not listening, so the kernel
/// answers a connection attempt with a reset. Held for the whole row, so no
/// other test can take the port meanwhile.
struct Outage {
    socket: tokio::net::TcpSocket,
    url: String,
}

impl Outage {
    fn bind() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("http://{}", socket.local_addr().unwrap());
        Outage { socket, url }
    }

    /// The provider is back: a fake starts listening on the same port.
    async fn end(self) -> MockServer {
        let listener = self.socket.listen(128).unwrap();
        MockServer::builder()
            .listener(listener.into_std().unwrap())
            .start()
            .await
    }
}

/// Checks the page the visitor got while the fault was in place.
async fn assert_friendly_page(row: Row, response: reqwest::Response) {
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status.as_u16(), row.status, "{row:?}: {html}");
    assert!(
        html.contains(row.words),
        "{row:?}: no \"{}\" in {html}",
        row.words
    );
    assert!(
        !html.contains("upstream exploded"),
        "{row:?}: the provider's page is not ours to show"
    );
}

/// Discovery, JWKS, token and userinfo: the generic OpenID Connect provider.
/// The faulty call's endpoint is the `Outage` for `Refused` (the discovery
/// document names it), or the fake with the fault in front of it.
async fn oidc_row(row: Row) {
    let fake = FakeIssuer::start().await;
    let outage = (row.fault == Refused).then(Outage::bind);
    let host = |call: Call| match &outage {
        Some(outage) if call == row.call => outage.url.clone(),
        _ => fake.issuer(),
    };
    let issuer = host(Discovery);
    let mut document = fake.discovery_document();
    document["issuer"] = json!(issuer);
    document["jwks_uri"] = json!(format!("{}/jwks", host(Jwks)));
    document["token_endpoint"] = json!(format!("{}/token", host(Token)));
    document["userinfo_endpoint"] = json!(format!("{}/userinfo", host(Userinfo)));
    let userinfo = json!({"sub": "user-1", "name": "Fake User"});
    let healthy = |call: Call| match call {
        Discovery => Some(document.clone()),
        Jwks => Some(fake.jwks()),
        Userinfo => Some(userinfo.clone()),
        // Answered per sign-in: the ID token carries its nonce.
        Token => None,
        _ => unreachable!("not an OpenID Connect call"),
    };
    let guard = row.fault.inject(row.call, &fake.server, "").await;
    for call in [Discovery, Jwks, Userinfo] {
        mount_get(&fake.server, call, healthy(call).unwrap()).await;
    }
    let mut env = fake.oidc_env();
    env.push(("OIDC_ISSUER", issuer.clone()));
    env.extend(row.fault.app_env());
    let app = spawn_app_with(&env).await;
    let browser = browser();

    // The fault, on the page that makes the call.
    match row.call {
        Discovery | Jwks => {
            let response = browser
                .get(app.url("/auth/oidc/login?return_to=%2Fprofile"))
                .send()
                .await
                .unwrap();
            assert_friendly_page(row, response).await;
        }
        Token => {
            let authorize = format!("{}/authorize", fake.issuer());
            let started = start_sign_in(&app, &browser, "oidc", "/profile", &authorize).await;
            let response = come_back_with_code(&app, &browser, "oidc", &started).await;
            assert_friendly_page(row, response).await;
        }
        _ => {
            let back = sign_in_at_fake(&fake, &issuer, &app, &browser, &fake.server).await;
            assert_eq!(back, "/profile");
            let response = browser.get(app.url("/profile")).send().await.unwrap();
            assert_friendly_page(row, response).await;
        }
    }
    if row.call == Userinfo {
        assert_eq!(app.stored_token_rows(), 1, "{row:?}: still signed in");
    } else {
        assert_eq!(app.stored_token_rows(), 0, "{row:?}: no tokens stored");
        assert_eq!(app.stored_session_rows(), 0, "{row:?}: no session");
    }

    // The fault clears: the same steps succeed.
    drop(guard);
    let revived = match outage {
        Some(outage) => Some(outage.end().await),
        None => None,
    };
    let server_of_call = revived.as_ref().unwrap_or(&fake.server);
    if let Some(answer) = healthy(row.call)
        && revived.is_some()
    {
        mount_get(server_of_call, row.call, answer).await;
    }
    let token_server = if row.call == Token {
        server_of_call
    } else {
        &fake.server
    };
    if row.call != Userinfo {
        let back = sign_in_at_fake(&fake, &issuer, &app, &browser, token_server).await;
        assert_eq!(back, "/profile", "{row:?}: retry");
    }
    let (status, html) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{row:?}: retry: {html}");
    assert!(html.contains("Fake User"), "{row:?}: retry: {html}");
}

/// Serves `call`'s healthy answer as JSON on `server`.
async fn mount_get(server: &MockServer, call: Call, body: Value) {
    let (verb, at) = call.route("");
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// A whole sign-in with the generic provider; the token endpoint on
/// `token_server` answers once, with an ID token from `issuer` for this
/// sign-in's nonce. Returns where the app sent the browser.
async fn sign_in_at_fake(
    fake: &FakeIssuer,
    issuer: &str,
    app: &TestApp,
    browser: &reqwest::Client,
    token_server: &MockServer,
) -> String {
    let authorize = format!("{}/authorize", fake.issuer());
    let started = start_sign_in(app, browser, "oidc", "/profile", &authorize).await;
    let id_token = fake.id_token(json!({
        "iss": issuer, "sub": "user-1", "aud": CLIENT_ID,
        "nonce": started.nonce.clone().unwrap(), "name": "Fake User",
    }));
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_response(Some(&id_token))))
        .up_to_n_times(1)
        .mount(token_server)
        .await;
    let response = come_back_with_code(app, browser, "oidc", &started).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in");
    location(&response)
}

/// Graph's `/me`, photo, mail list and message: Microsoft, signed in first.
/// For `Refused`, MICROSOFT_GRAPH_URL is the `Outage`: Graph is down.
async fn graph_row(row: Row) {
    let outage = (row.fault == Refused).then(Outage::bind);
    let mut env = row.fault.app_env();
    if let Some(outage) = &outage {
        env.push(("MICROSOFT_GRAPH_URL", outage.url.clone()));
    }
    let microsoft =
        FakeMicrosoft::start_with("common", "microsoft/oidc_discovery_common_v2.json", &env).await;
    microsoft.sign_in("/profile").await;
    if matches!(row.call, MailList | Message) {
        // Mail is asked for after sign-in (incremental consent).
        microsoft.grant_mail().await;
    }
    let graph = HealthyGraph::of(&microsoft.fake);
    let guard = row
        .fault
        .inject(row.call, &microsoft.fake.server, &graph.message_id)
        .await;
    graph.mount(&microsoft.fake.server).await;
    let page = match row.call {
        MailList => "/mail".to_owned(),
        Message => format!("/mail/{}", urlencoding(&graph.message_id)),
        _ => "/profile".to_owned(),
    };

    // The fault, on the page that makes the call.
    let response = microsoft
        .browser
        .get(microsoft.app.url(&page))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status.as_u16(), row.status, "{row:?}: {html}");
    assert!(
        html.contains(row.words),
        "{row:?}: no \"{}\" in {html}",
        row.words
    );
    assert!(
        !html.contains("upstream exploded"),
        "{row:?}: the provider's page is not ours to show"
    );
    if status == StatusCode::OK {
        assert!(
            attribute_values(&html, "img.avatar", "src").is_empty(),
            "{row:?}: no photo"
        );
    }
    assert_eq!(
        microsoft.app.stored_token_rows(),
        1,
        "{row:?}: still signed in"
    );

    // The fault clears: the same page works, photo included ("Read it
    // again now": the profile shown without it was kept for 5 minutes).
    drop(guard);
    // Kept to the end of the row: a dropped `MockServer` stops serving.
    let revived = match outage {
        Some(outage) => Some(outage.end().await),
        None => None,
    };
    if let Some(graph_server) = &revived {
        graph.mount(graph_server).await;
    }
    let again = if row.call == Photo {
        "/profile?refresh=1".to_owned()
    } else {
        page
    };
    let (status, html) = microsoft.get(&again).await;
    assert_eq!(status, StatusCode::OK, "{row:?}: retry: {html}");
    assert!(
        html.contains(graph.words(row.call)),
        "{row:?}: retry: {html}"
    );
    if row.call == Photo {
        assert_eq!(
            attribute_values(&html, "img.avatar", "src"),
            ["data:image/png;base64,iVBORw0KGgo="],
            "{row:?}: retry shows the photo"
        );
    }
}

/// Graph's documented answers (tests/fixtures/microsoft) and a tiny photo.
struct HealthyGraph {
    me: Value,
    list: Value,
    message: Value,
    message_id: String,
}

impl HealthyGraph {
    fn of(fake: &FakeIssuer) -> Self {
        let message = fake.fixture("microsoft/graph_message_get_200.json", REAL_HOSTS);
        HealthyGraph {
            me: fake.fixture("microsoft/graph_me_get_200.json", REAL_HOSTS),
            list: fake.fixture(
                "microsoft/graph_me_messages_list_page1_200.json",
                REAL_HOSTS,
            ),
            message_id: message["id"].as_str().unwrap().to_owned(),
            message,
        }
    }

    async fn mount(&self, server: &MockServer) {
        for (call, body) in [
            (Profile, &self.me),
            (MailList, &self.list),
            (Message, &self.message),
        ] {
            let (verb, at) = call.route(&self.message_id);
            Mock::given(method(verb))
                .and(path(at))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .mount(server)
                .await;
        }
        // The PNG signature: the app checks the type, not the pixels.
        Mock::given(method("GET"))
            .and(path(Photo.route("").1))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(b"\x89PNG\r\n\x1a\n".to_vec(), "image/png"),
            )
            .mount(server)
            .await;
    }

    /// What the page says when `call` worked.
    fn words(&self, call: Call) -> &'static str {
        match call {
            MailList => "Your Azure AD Identity Protection Weekly Digest",
            Message => "The group represents Nevada.",
            _ => PROFILE,
        }
    }
}
