//! `spawn_app()`: the app and the demo provider on port 0, a fresh database (an
//! SQLite file in a temp dir, or with TEST_DATABASE_URL a PostgreSQL database
//! of its own), and a cookie-keeping HTTP client that does not follow
//! redirects, so each step of the flow can be checked.

use std::collections::HashMap;
use std::net::TcpListener;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use signin_reference::config::Config;
use signin_reference::providers::Providers;
use signin_reference::startup::Application;

pub struct TestApp {
    /// `http://127.0.0.1:{port}` of the app.
    pub address: String,
    /// `http://127.0.0.1:{port}` of the demo provider.
    pub demo_address: String,
    /// The DATABASE_URL the app was given.
    pub database_url: String,
    // Dropped after the app's fields: the database goes last.
    _dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

/// A database for one test, removed when dropped: a fresh SQLite file, or,
/// when TEST_DATABASE_URL names a PostgreSQL server (a build with
/// `--features postgres`), a fresh database created there for this test.
pub struct TestDatabase {
    /// The DATABASE_URL to give the app.
    pub url: String,
    #[cfg(feature = "postgres")]
    _postgres: Option<PostgresDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn new() -> TestDatabase {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
        {
            Some(server) => Self::postgres(&server),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                TestDatabase {
                    url: dir.path().join("app.db").display().to_string(),
                    #[cfg(feature = "postgres")]
                    _postgres: None,
                    _dir: Some(dir),
                }
            }
        }
    }

    #[cfg(feature = "postgres")]
    fn postgres(server: &str) -> TestDatabase {
        let database = PostgresDatabase::create(server);
        TestDatabase {
            url: database.url.clone(),
            _postgres: Some(database),
            _dir: None,
        }
    }

    #[cfg(not(feature = "postgres"))]
    fn postgres(_: &str) -> TestDatabase {
        panic!(
            "TEST_DATABASE_URL is set, but this test build has SQLite only: run `cargo test --features postgres`"
        )
    }

    /// Which backend the tests run on, for skip messages.
    pub fn backend() -> &'static str {
        if std::env::var_os("TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
            "postgres"
        } else {
            "sqlite"
        }
    }
}

/// A PostgreSQL database named `signin_test_{random}` on the server that
/// TEST_DATABASE_URL names, dropped (with its connections) when the test ends.
#[cfg(feature = "postgres")]
struct PostgresDatabase {
    server: String,
    name: String,
    url: String,
}

#[cfg(feature = "postgres")]
impl PostgresDatabase {
    fn create(server: &str) -> PostgresDatabase {
        use diesel::Connection as _;
        use diesel::connection::SimpleConnection as _;
        let name = format!("signin_test_{:016x}", rand::random::<u64>());
        let mut admin = diesel::PgConnection::establish(server)
            .unwrap_or_else(|error| panic!("TEST_DATABASE_URL: cannot connect: {error}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        let mut url = url::Url::parse(server).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        PostgresDatabase {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        }
    }
}

#[cfg(feature = "postgres")]
impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        use diesel::Connection as _;
        use diesel::connection::SimpleConnection as _;
        // FORCE (PostgreSQL 13+) ends the app's pooled connections.
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.server) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A browser: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A browser whose cookies the test can read, to replay them from elsewhere
/// as someone who copied them would.
pub fn browser_with_jar() -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    (client, jar)
}

/// Another machine sending a copy of `jar`'s cookies for `app`, as they are now
/// (it keeps no cookie of its own, so every request replays the same copy).
pub fn copied_cookie(jar: &reqwest::cookie::Jar, app: &TestApp) -> reqwest::Client {
    use reqwest::cookie::CookieStore as _;
    let url = app.address.parse().expect("app URL");
    let cookie = jar.cookies(&url).expect("the browser has a cookie");
    reqwest::Client::builder()
        .default_headers(reqwest::header::HeaderMap::from_iter([(
            reqwest::header::COOKIE,
            cookie,
        )]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A browser of someone else's that holds a stolen copy of `jar`'s cookies
/// for `app`, and keeps what the app sets from then on, as a browser does
/// (unlike `copied_cookie`, whose copy never changes).
pub fn browser_with_stolen_cookie(jar: &reqwest::cookie::Jar, app: &TestApp) -> reqwest::Client {
    use reqwest::cookie::CookieStore as _;
    let url: url::Url = app.address.parse().expect("app URL");
    let cookies = jar.cookies(&url).expect("the browser has a cookie");
    let stolen = std::sync::Arc::new(reqwest::cookie::Jar::default());
    for cookie in cookies.to_str().expect("ASCII").split("; ") {
        stolen.add_cookie_str(cookie, &url);
    }
    reqwest::Client::builder()
        .cookie_provider(stolen)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with::<&str>(&[]).await
}

/// Spawns the app with extra environment variables, as a `.env` would set them.
/// `{demo_address}` in a value stands for the demo provider's `http://IP:port`.
pub async fn spawn_app_with<V: AsRef<str>>(vars: &[(&str, V)]) -> TestApp {
    let app_listener = TcpListener::bind("127.0.0.1:0").expect("bind app");
    spawn_app_on(app_listener, vars).await
}

/// `spawn_app_with`, serving on `app_listener`: for a test whose provider
/// must know the app's address before the app can be configured.
pub async fn spawn_app_on<V: AsRef<str>>(app_listener: TcpListener, vars: &[(&str, V)]) -> TestApp {
    // Logs are noise in a passing run; TEST_LOG=1 shows them. Without it,
    // the 500 answers are kept, for a failing test to show (`TestApp`'s drop).
    if std::env::var_os("TEST_LOG").is_some() {
        signin_reference::telemetry::init(signin_reference::config::LogFormat::Text);
    } else {
        server_errors::keep();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let demo_listener = TcpListener::bind("127.0.0.1:0").expect("bind demo");
    let app_address = format!("http://{}", app_listener.local_addr().unwrap());
    let demo_bind = demo_listener.local_addr().unwrap().to_string();
    // A test that shares a database between instances names it itself.
    let database = vars
        .iter()
        .all(|(name, _)| *name != "DATABASE_URL")
        .then(TestDatabase::new);
    let database_url = database
        .as_ref()
        .map_or_else(String::new, |db| db.url.clone());
    let mut env: HashMap<String, String> = HashMap::from([
        ("APP_BASE_URL".into(), app_address.clone()),
        ("DATABASE_URL".into(), database_url),
        ("SESSION_KEY".into(), random_key(64)),
        ("TOKEN_KEY".into(), random_key(32)),
        ("DEMO_PROVIDER_BIND".into(), demo_bind.clone()),
    ]);
    // TEST_REDIS_URL: sessions in Redis and the shared limit, under a key
    // prefix of this app's own (tests run side by side on one Redis).
    if let Some(redis) = test_redis_url()
        && vars.iter().all(|(name, _)| *name != "REDIS_URL")
    {
        env.insert("REDIS_URL".into(), redis);
        env.insert("SESSION_STORE".into(), "redis".into());
        env.insert("REDIS_KEY_PREFIX".into(), redis_key_prefix());
    }
    let demo_address = format!("http://{demo_bind}");
    for (name, value) in vars {
        let value = value.as_ref().replace("{demo_address}", &demo_address);
        env.insert((*name).into(), value);
    }
    let database_url = env["DATABASE_URL"].clone();
    let config = Config::from_lookup(&move |name: &str| env.get(name).cloned(), dir.path())
        .expect("valid test configuration");
    let providers = Providers::from_config(&config);
    let application = Application::build_with(config, app_listener, Some(demo_listener), providers)
        .await
        .expect("app builds");
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address: app_address,
        demo_address: format!("http://{demo_bind}"),
        database_url,
        _dir: dir,
        _database: database,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A failing test shows why the apps answered 500, if they did: the
        // cause is in the log only, never on the page. (Other 5xx are what
        // many tests provoke on purpose: a 502 from a fake provider's bad
        // answer, a 503 with the database gone.)
        if std::thread::panicking() {
            let lines = server_errors::taken();
            if !lines.is_empty() {
                eprintln!(
                    "500 answers logged in this test process (other tests' too), with their causes:\n{}",
                    lines.join("\n")
                );
            }
        }
    }
}

/// The request log lines of 500 answers, kept in memory while the suite runs.
mod server_errors {
    use std::sync::{Mutex, Once, PoisonError};

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// Enough to see a pattern; a flood of failures does not fill memory.
    const KEPT: usize = 50;

    /// Installs the log subscriber that keeps them (once per process).
    pub fn keep() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let filter = tracing_subscriber::EnvFilter::new("info");
            let subscriber = signin_reference::telemetry::subscriber(filter, || Sink);
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
    }

    /// The lines kept so far, emptied.
    pub fn taken() -> Vec<String> {
        std::mem::take(&mut *LINES.lock().unwrap_or_else(PoisonError::into_inner))
    }

    struct Sink;

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            // One call per log line; without its colours' escape codes.
            let line = String::from_utf8_lossy(buf);
            let mut plain = String::with_capacity(line.len());
            let mut in_escape = false;
            for c in line.chars() {
                match (in_escape, c) {
                    (false, '\u{1b}') => in_escape = true,
                    (false, c) => plain.push(c),
                    (true, 'm') => in_escape = false,
                    (true, _) => {}
                }
            }
            if plain.contains(" status=500 ") || plain.contains(" status=500}") {
                let mut lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
                if lines.len() < KEPT {
                    lines.push(plain.trim_end().to_owned());
                }
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

/// TEST_REDIS_URL, when the suite runs with Redis.
pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A key prefix no other test uses.
pub fn redis_key_prefix() -> String {
    format!("signin-test:{:016x}:", rand::random::<u64>())
}

/// Waits (up to 15 s) until every stored token opens under `key` (base64)
/// alone: a TOKEN_KEY rotation has finished (`key_rotation`).
pub async fn tokens_all_open_under(app: &TestApp, key: &str) {
    use base64::Engine as _;
    use diesel::prelude::*;
    use signin_reference::db::schema::provider_tokens;
    let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("base64")
        .try_into()
        .expect("32 bytes");
    let sealer = signin_reference::db::TokenSealer::new(&bytes);
    let started = std::time::Instant::now();
    loop {
        let ids: Vec<i64> = provider_tokens::table
            .select(provider_tokens::identity_id)
            .load(&mut app.database())
            .unwrap();
        let all_open = ids.iter().all(|id| {
            signin_reference::db::tokens::load(&mut app.database(), &sealer, *id).is_ok()
        });
        if !ids.is_empty() && all_open {
            return;
        }
        assert!(
            started.elapsed().as_secs() < 15,
            "tokens still under the old key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `len` random bytes in standard base64: a SESSION_KEY (64) or TOKEN_KEY (32).
pub fn random_key(len: usize) -> String {
    base64::engine::general_purpose::STANDARD
        .encode((0..len).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
}

/// What several instances of one deployment share: the database, the keys,
/// and Redis when the tests have one. Another test's instance has none of it.
pub fn shared_instance_vars(database: &TestDatabase) -> Vec<(&'static str, String)> {
    let mut shared = vec![
        ("DATABASE_URL", database.url.clone()),
        ("SESSION_KEY", random_key(64)),
        ("TOKEN_KEY", random_key(32)),
    ];
    shared.extend(shared_redis_vars());
    shared
}

/// The variables that put instances sharing one Redis on it (empty without
/// TEST_REDIS_URL): the same URL and key prefix for all of them.
pub fn shared_redis_vars() -> Vec<(&'static str, String)> {
    match test_redis_url() {
        Some(url) => vec![
            ("REDIS_URL", url),
            ("SESSION_STORE", "redis".to_owned()),
            ("REDIS_KEY_PREFIX", redis_key_prefix()),
        ],
        None => Vec::new(),
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location header on {}", response.status()))
        .to_str()
        .expect("ascii Location")
        .to_owned()
}

/// The value of `<input name="{name}">` in the first form that has one.
pub fn input_value(html: &str, name: &str) -> String {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(&format!("input[name=\"{name}\"]")).unwrap();
    document
        .select(&selector)
        .next()
        .and_then(|input| input.value().attr("value"))
        .unwrap_or_else(|| panic!("no input {name} in page:\n{html}"))
        .to_owned()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Steps 3 to 5 up to the provider's redirect back: starts the sign-in at
    /// `/auth/demo/login`, signs in as `user` at the demo provider and answers
    /// the consent page with `decision`. Returns the callback URL.
    pub async fn authorize_at_demo(
        &self,
        browser: &reqwest::Client,
        return_to: &str,
        user: &str,
        decision: &str,
    ) -> String {
        self.authorize_at_demo_as("demo", browser, return_to, user, decision)
            .await
    }

    /// `authorize_at_demo`, for the app's provider `provider` (the generic
    /// OpenID Connect provider can be pointed at the demo provider too).
    pub async fn authorize_at_demo_as(
        &self,
        provider: &str,
        browser: &reqwest::Client,
        return_to: &str,
        user: &str,
        decision: &str,
    ) -> String {
        let start = browser
            .get(self.url(&format!("/auth/{provider}/login")))
            .query(&[("return_to", return_to)])
            .send()
            .await
            .expect("start");
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let authorize_url = location(&start);
        self.answer_at_demo(provider, browser, &authorize_url, user, decision)
            .await
    }

    /// Step 4 at the demo provider: opens `authorize_url`, signs in as
    /// `user` and answers the consent page with `decision`. Returns the
    /// callback URL.
    pub async fn answer_at_demo(
        &self,
        provider: &str,
        browser: &reqwest::Client,
        authorize_url: &str,
        user: &str,
        decision: &str,
    ) -> String {
        assert!(
            authorize_url.starts_with(&self.demo_address),
            "{authorize_url}"
        );

        let sign_in_page = browser.get(authorize_url).send().await.expect("authorize");
        assert_eq!(sign_in_page.status(), StatusCode::OK);
        let html = sign_in_page.text().await.unwrap();
        let interaction = input_value(&html, "interaction");

        let consent_page = browser
            .post(format!("{}/authorize/sign-in", self.demo_address))
            .form(&[("interaction", interaction.as_str()), ("user", user)])
            .send()
            .await
            .expect("sign in at provider");
        assert_eq!(consent_page.status(), StatusCode::OK);
        let html = consent_page.text().await.unwrap();
        let interaction = input_value(&html, "interaction");

        let redirect = browser
            .post(format!("{}/authorize/consent", self.demo_address))
            .form(&[
                ("interaction", interaction.as_str()),
                ("decision", decision),
            ])
            .send()
            .await
            .expect("consent");
        assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
        let callback = location(&redirect);
        assert!(
            callback.starts_with(&self.url(&format!("/auth/{provider}/callback"))),
            "{callback}"
        );
        callback
    }

    /// A whole sign-in as `user`; returns where the app sent the browser.
    pub async fn sign_in(&self, browser: &reqwest::Client, return_to: &str, user: &str) -> String {
        let callback = self
            .authorize_at_demo(browser, return_to, user, "allow")
            .await;
        let response = browser.get(&callback).send().await.expect("callback");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "callback failed");
        location(&response)
    }

    /// `/mail` without the mail permission: the permission page, whose
    /// button (`POST /mail/permission`, with its CSRF token) starts a
    /// request for the mail scope. Returns the authorization URL the page
    /// after it goes on to.
    pub async fn ask_for_mail(&self, browser: &reqwest::Client) -> String {
        self.ask_for_mail_of(browser, None).await
    }

    /// `ask_for_mail` for the mailbox chosen with `/mail?account=…` (a
    /// linked account), or the session's own with `None`: the page's form
    /// carries the choice.
    pub async fn ask_for_mail_of(&self, browser: &reqwest::Client, account: Option<i64>) -> String {
        let page = account.map_or_else(|| "/mail".to_owned(), |id| format!("/mail?account={id}"));
        let (status, html) = self.get_html(browser, &page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("action=\"/mail/permission\""), "{html}");
        let mut form = vec![("csrf_token", input_value(&html, "csrf_token"))];
        if let Some(id) = account {
            assert_eq!(input_value(&html, "account"), id.to_string());
            form.push(("account", id.to_string()));
        }
        let start = browser
            .post(self.url("/mail/permission"))
            .form(&form)
            .send()
            .await
            .expect("ask for mail");
        // A page that goes on by itself (form-action 'self' would block a
        // 303 to another origin after a POST).
        assert_eq!(start.status(), StatusCode::OK);
        let html = start.text().await.expect("page");
        attribute_values(&html, "a.continue", "href")
            .pop()
            .unwrap_or_else(|| panic!("no link to the provider in {html}"))
    }

    /// Incremental consent at the demo provider: `/mail`'s permission page,
    /// its button, `user` allows Mail.Read, and the callback sends the
    /// browser back to `/mail`, which now lists messages.
    pub async fn grant_mail(&self, browser: &reqwest::Client, user: &str) {
        let authorize_url = self.ask_for_mail(browser).await;
        let callback = self
            .answer_at_demo("demo", browser, &authorize_url, user, "allow")
            .await;
        let response = browser.get(&callback).send().await.expect("callback");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "callback failed");
        assert_eq!(location(&response), "/mail");
    }

    /// A whole sign-in as `user`, then the mail permission: lands on `/mail`.
    pub async fn sign_in_with_mail(&self, browser: &reqwest::Client, user: &str) {
        assert_eq!(self.sign_in(browser, "/mail", user).await, "/mail");
        self.grant_mail(browser, user).await;
    }

    /// The profile's "Link a Demo provider account" button (`POST
    /// /auth/demo/link` with the CSRF token), the page after it, and `user`
    /// signing in and allowing at the demo provider. Returns the callback
    /// URL, not yet opened.
    pub async fn link_at_demo(&self, browser: &reqwest::Client, user: &str) -> String {
        let authorize_url = self.start_link(browser, "demo").await;
        self.answer_at_demo("demo", browser, &authorize_url, user, "allow")
            .await
    }

    /// The profile's "Link a … account" button for `provider` (`POST
    /// /auth/{provider}/link` with the CSRF token) and the page after it.
    /// Returns the authorization URL that page goes on to.
    pub async fn start_link(&self, browser: &reqwest::Client, provider: &str) -> String {
        let start = self
            .post_with_csrf(browser, &format!("/auth/{provider}/link"))
            .await;
        // A page that goes on by itself, as for the mail permission.
        assert_eq!(start.status(), StatusCode::OK);
        let html = start.text().await.expect("page");
        attribute_values(&html, "a.continue", "href")
            .pop()
            .unwrap_or_else(|| panic!("no link to the provider in {html}"))
    }

    /// Submits a signed-in form as its button does: `POST path` with the CSRF
    /// token of a page (`/profile`), e.g. "Sign out" (`/logout`).
    pub async fn post_with_csrf(&self, browser: &reqwest::Client, path: &str) -> reqwest::Response {
        let (_, html) = self.get_html(browser, "/profile").await;
        let token = input_value(&html, "csrf_token");
        browser
            .post(self.url(path))
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .expect("post")
    }

    /// A connection to the app's database (either backend), to arrange what
    /// a test needs (an old session, an expired pending sign-in) without
    /// waiting for it.
    pub fn database(&self) -> signin_reference::db::DbConnection {
        let backend = signin_reference::config::DatabaseBackend::parse(&self.database_url)
            .expect("the app's DATABASE_URL");
        signin_reference::db::ConnectionManager::new(backend)
            .connect()
            .expect("database opens")
    }

    /// Makes every stored access token expire now, as if its hour had passed.
    pub fn expire_access_tokens(&self) {
        use diesel::prelude::*;
        use signin_reference::db::schema::provider_tokens;
        diesel::update(provider_tokens::table)
            .set(provider_tokens::access_token_expires_at.eq(chrono::Utc::now().timestamp()))
            .execute(&mut self.database())
            .unwrap();
    }

    /// How many identities have stored tokens.
    pub fn stored_token_rows(&self) -> i64 {
        use diesel::prelude::*;
        use signin_reference::db::schema::provider_tokens;
        provider_tokens::table
            .count()
            .get_result(&mut self.database())
            .unwrap()
    }

    /// Deletes every stored token, as a refused refresh does.
    pub fn delete_stored_tokens(&self) {
        use diesel::prelude::*;
        use signin_reference::db::schema::provider_tokens;
        diesel::delete(provider_tokens::table)
            .execute(&mut self.database())
            .unwrap();
    }

    /// How many people (users) and how many accounts at providers
    /// (identities) the database holds.
    pub fn users_and_identities(&self) -> (i64, i64) {
        use diesel::prelude::*;
        use signin_reference::db::schema::{identities, users};
        let mut connection = self.database();
        (
            users::table.count().get_result(&mut connection).unwrap(),
            identities::table
                .count()
                .get_result(&mut connection)
                .unwrap(),
        )
    }

    /// Every stored identity's key, (provider, issuer, subject), in the order
    /// they were stored.
    pub fn identity_keys(&self) -> Vec<(String, String, String)> {
        use diesel::prelude::*;
        use signin_reference::db::schema::identities;
        identities::table
            .order(identities::id)
            .select((
                identities::provider,
                identities::issuer,
                identities::subject,
            ))
            .load(&mut self.database())
            .unwrap()
    }

    /// How many signed-in sessions the server knows.
    pub fn stored_session_rows(&self) -> i64 {
        use diesel::prelude::*;
        use signin_reference::db::schema::sessions;
        sessions::table
            .count()
            .get_result(&mut self.database())
            .unwrap()
    }

    pub async fn get_html(&self, browser: &reqwest::Client, path: &str) -> (StatusCode, String) {
        let response = browser.get(self.url(path)).send().await.expect("request");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }
}

/// Every value of `attribute` on elements matching `selector`, entity-decoded
/// as a browser reads them (Tera escapes `/` and `&` inside attributes).
pub fn attribute_values(html: &str, selector: &str, attribute: &str) -> Vec<String> {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(selector).unwrap();
    document
        .select(&selector)
        .filter_map(|element| element.value().attr(attribute))
        .map(str::to_owned)
        .collect()
}

/// Where the "Signing you out at …" page (the answer to a sign-out at a
/// provider with an end-session endpoint) sends the browser: its
/// `<meta http-equiv="refresh">` target, which its link repeats.
pub async fn end_session_link(response: reqwest::Response) -> String {
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the page that leaves for the provider"
    );
    let html = response.text().await.expect("body");
    let link = attribute_values(&html, "a.continue", "href")
        .pop()
        .unwrap_or_else(|| panic!("no link to the provider in:\n{html}"));
    let refresh = attribute_values(&html, "meta[http-equiv=refresh]", "content");
    assert_eq!(refresh, [format!("0; url={link}")], "{html}");
    link
}

/// Every link target in the page.
pub fn links(html: &str) -> Vec<String> {
    attribute_values(html, "a[href]", "href")
}

/// The value of query parameter `name` in `url`.
pub fn query_value(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}
