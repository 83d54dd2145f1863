//! `cargo bench --bench http`: the app under load, measured from outside.
//!
//! Starts three processes on 127.0.0.1, built with the bench (release) profile:
//! the demo provider (`demo-provider`), the app (`DEMO_PROVIDER=external`, a
//! fresh SQLite database) and a bare actix-web handler answering a static 200
//! (this benchmark binary itself, re-run with `BENCH_ROLE=bare`), so that each
//! one's CPU time and memory are read from `/proc` apart from the load
//! generator's. Then, each phase for `BENCH_SECONDS` (default 10):
//!
//! 1. whole sign-ins through the demo provider's real pages (start, sign-in
//!    page, consent page, callback), `BENCH_USERS` (default 16) at a time, each
//!    user with its own cookie jar;
//! 2. `/profile` with those sessions, `BENCH_CONNECTIONS` (default 64) at a
//!    time (the profile is read from the API at the first view and kept for
//!    minutes: `api::profile_cache`);
//! 3. `/profile?refresh=1`, which reads it from the API at every view;
//! 4. `/mail` (which calls the demo provider's Graph API), the same way, each
//!    user having allowed mail once before (the app asks for it at `/mail`);
//! 5. the bare handler, the same way: the ceiling for this machine;
//! 6. `/mail` and 7. the Graph request it makes, each alone at one connection
//!    for half a phase, to see what the app adds to the API's latency.
//!
//! It ends with one table, and the app's start-up time on the existing
//! database. `BENCH_REPEAT=N` (at most 20) adds a leak check: N more rounds
//! of sign-ins, `/profile` and `/mail` (3 s each), with the app's resident
//! memory after each.
//!
//! The scaled-out deployment (docs/DEPLOYMENT.md), with `--features postgres`:
//! `BENCH_DATABASE_URL` (a PostgreSQL server; the benchmark creates a
//! database of its own there and drops it at the end), `BENCH_REDIS_URL`
//! (sessions and the sign-in limit in Redis, under a key prefix of its own)
//! and `BENCH_INSTANCES=N` (at most 4; N app processes behind a round-robin
//! TCP relay standing in for the load balancer, CPU summed over them).
//! Method and latest numbers: docs/PERFORMANCE.md. Linux only (/proc).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark: a failed step should stop it with its message, and its output is its table"
)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

const APP_BIN: &str = env!("CARGO_BIN_EXE_signin-reference");
const DEMO_BIN: &str = env!("CARGO_BIN_EXE_demo-provider");
const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-client-secret";

fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("bare") {
        run_bare_handler();
        return;
    }
    let settings = Settings::from_env();
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(run(settings));
}

/// The reference ceiling: actix-web answering a static 200, nothing else.
fn run_bare_handler() {
    let address = std::env::var("BIND").expect("BIND");
    actix_web::rt::System::new().block_on(async move {
        actix_web::HttpServer::new(|| {
            actix_web::App::new().route("/", actix_web::web::get().to(|| async { "ok" }))
        })
        .bind(address)
        .expect("bind")
        .run()
        .await
        .expect("bare handler");
    });
}

struct Settings {
    users: usize,
    connections: usize,
    phase: Duration,
    /// A PostgreSQL server to create the app's database on; SQLite if unset.
    database_server: Option<String>,
    /// Sessions and the sign-in limit in this Redis, if set.
    redis: Option<String>,
    instances: usize,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.parse().ok())
                .filter(|value| *value > 0)
                .unwrap_or(default)
        };
        Settings {
            users: number("BENCH_USERS", 16),
            connections: number("BENCH_CONNECTIONS", 64),
            phase: Duration::from_secs(number("BENCH_SECONDS", 10).min(18) as u64),
            database_server: std::env::var("BENCH_DATABASE_URL")
                .ok()
                .filter(|url| !url.is_empty()),
            redis: std::env::var("BENCH_REDIS_URL")
                .ok()
                .filter(|url| !url.is_empty()),
            instances: number("BENCH_INSTANCES", 1).min(4),
        }
    }

    /// What the app runs on, for the table's heading.
    fn deployment(&self) -> String {
        format!(
            "{} instance(s) on {}, sessions in {}",
            self.instances,
            if self.database_server.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            },
            if self.redis.is_some() {
                "Redis"
            } else {
                "cookies"
            }
        )
    }
}

/// The app's database on the PostgreSQL server at `server`, made for this
/// run and dropped with its connections at the end.
struct BenchDatabase {
    server: String,
    name: String,
}

impl BenchDatabase {
    #[cfg(feature = "postgres")]
    fn create(server: &str) -> (BenchDatabase, String) {
        use diesel::Connection as _;
        use diesel::connection::SimpleConnection as _;
        let name = format!("signin_bench_{:016x}", rand::random::<u64>());
        diesel::PgConnection::establish(server)
            .unwrap_or_else(|error| panic!("BENCH_DATABASE_URL: cannot connect: {error}"))
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        let mut url = url::Url::parse(server).expect("BENCH_DATABASE_URL is a URL");
        url.set_path(&name);
        let database = BenchDatabase {
            server: server.to_owned(),
            name,
        };
        (database, url.to_string())
    }

    #[cfg(not(feature = "postgres"))]
    fn create(_: &str) -> (BenchDatabase, String) {
        panic!("BENCH_DATABASE_URL needs `cargo bench --bench http --features postgres`")
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        #[cfg(feature = "postgres")]
        {
            use diesel::Connection as _;
            use diesel::connection::SimpleConnection as _;
            if let Ok(mut admin) = diesel::PgConnection::establish(&self.server) {
                let _ = admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
        let _ = (&self.server, &self.name);
    }
}

/// The load balancer in front of several instances, at its simplest: each
/// incoming connection goes to the next instance in turn, bytes copied both
/// ways (layer 4, like a TCP load balancer; no stickiness, as sessions are
/// in Redis and validity in the database).
async fn round_robin(listener: tokio::net::TcpListener, instances: Vec<String>) {
    let mut next = 0;
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let instance = instances[next % instances.len()].clone();
        next += 1;
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(instance).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// The app's processes, measured together.
struct Instances(Vec<Process>);

impl Instances {
    fn cpu(&self) -> Duration {
        self.0.iter().map(Process::cpu).sum()
    }

    /// The largest peak of any one instance, MiB.
    fn peak_rss_mib(&self) -> f64 {
        self.0.iter().map(Process::peak_rss_mib).fold(0.0, f64::max)
    }

    fn rss_mib(&self) -> f64 {
        self.0.iter().map(Process::rss_mib).fold(0.0, f64::max)
    }
}

/// A child process, killed when dropped (also when the benchmark panics).
struct Process {
    name: &'static str,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn start(name: &'static str, program: &str, env: &[(&str, String)]) -> Self {
        let child = Command::new(program)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            // Passed through, to try allocator settings without a rebuild.
            .envs(std::env::vars().filter(|(name, _)| name.starts_with("MALLOC_")))
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Process { name, child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU time so far (`/proc/<pid>/stat`, fields 14 and 15).
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }

    /// Peak resident memory (`VmHWM` in `/proc/<pid>/status`), MiB.
    fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    /// Resident memory now (`VmRSS`), MiB.
    fn rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `url` until it answers 200 (at most 20 s); returns how long it took.
async fn wait_until_up(url: &str, since: Instant) -> Duration {
    let client = reqwest::Client::new();
    let deadline = since + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{url} did not come up");
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("no Location on {}", response.status()))
        .to_owned()
}

/// The demo provider's single-use interaction id in a page's form.
fn interaction(html: &str) -> String {
    let marker = "name=\"interaction\" value=\"";
    let start = html.find(marker).expect("interaction in page") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The demo provider's pages from its authorization URL on: the sign-in page
/// (as `user`), then the consent page ("Allow"). Returns its 303 back to the
/// redirect URI, with the code.
async fn through_demo_pages(
    client: &reqwest::Client,
    demo: &str,
    authorization_url: &str,
    user: &str,
) -> reqwest::Response {
    let html = client
        .get(authorization_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consent = client
        .post(format!("{demo}/authorize/sign-in"))
        .form(&[("interaction", interaction(&html).as_str()), ("user", user)])
        .send()
        .await
        .unwrap();
    let html = consent.text().await.unwrap();
    let redirect = client
        .post(format!("{demo}/authorize/consent"))
        .form(&[
            ("interaction", interaction(&html).as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 303);
    redirect
}

/// One whole sign-in through the demo provider's pages, as `user`.
async fn sign_in(client: &reqwest::Client, app: &str, demo: &str, user: &str) {
    let start = client
        .get(format!("{app}/auth/demo/login?return_to=%2Fprofile"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let redirect = through_demo_pages(client, demo, &location(&start), user).await;
    let callback = client.get(location(&redirect)).send().await.unwrap();
    assert_eq!(callback.status(), 303, "callback failed");
    assert_eq!(location(&callback), "/profile");
}

/// The value of the first `attribute="…"` after `marker` in a page, with
/// the entities Tera's escaping writes in URLs undone.
fn value_after(html: &str, marker: &str, attribute: &str) -> String {
    let from = html.find(marker).expect("marker in page");
    let quoted = format!("{attribute}=\"");
    let start = from + html[from..].find(&quoted).expect("attribute") + quoted.len();
    html[start..start + html[start..].find('"').unwrap()]
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

/// The mail permission, once after the first sign-in, as a person gives it:
/// `/mail`'s permission page, its button, the demo provider's pages, and back
/// to `/mail` (the app asks for mail only when it is needed).
async fn grant_mail(client: &reqwest::Client, app: &str, demo: &str, user: &str) {
    let html = client
        .get(format!("{app}/mail"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = value_after(&html, "name=\"csrf_token\"", "value");
    let asking = client
        .post(format!("{app}/mail/permission"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let authorization_url = value_after(&asking, "class=\"button continue\"", "href");
    let redirect = through_demo_pages(client, demo, &authorization_url, user).await;
    let callback = client.get(location(&redirect)).send().await.unwrap();
    assert_eq!(callback.status(), 303, "mail permission callback failed");
    assert_eq!(location(&callback), "/mail");
}

/// An access token for the demo provider's Graph API, obtained the way the app
/// obtains one (authorization code with PKCE S256, client secret in Basic
/// auth), so that the benchmark can time the API on its own.
async fn graph_access_token(demo: &str, redirect_uri: &str) -> String {
    use sha2::Digest as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let client = browser();
    let verifier = encode(&rand::random::<[u8; 32]>());
    let challenge = encode(&sha2::Sha256::digest(verifier.as_bytes()));
    let mut authorize = reqwest::Url::parse(&format!("{demo}/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid User.Read Mail.Read")
        .append_pair("state", "benchmark")
        .append_pair("nonce", "benchmark")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let redirect = through_demo_pages(&client, demo, authorize.as_str(), "alice").await;
    let callback = reqwest::Url::parse(&location(&redirect)).unwrap();
    let code = callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .expect("code in the redirect");
    let tokens: serde_json::Value = client
        .post(format!("{demo}/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Latencies of one phase.
struct Phase {
    latencies: Vec<Duration>,
    elapsed: Duration,
    app_cpu: Duration,
    demo_cpu: Duration,
    /// PostgreSQL's and Redis's CPU in the phase, when the app uses them.
    services_cpu: Services,
}

/// CPU time so far of the shared services on this machine: every process
/// named `postgres` (a backend per connection, plus the server's own
/// writers and autovacuum) and `redis-server`. The benchmark is their only
/// client while it runs.
#[derive(Clone, Copy, Default)]
struct Services {
    postgres: Duration,
    redis: Duration,
}

impl Services {
    fn now() -> Self {
        let mut services = Services::default();
        let ticks = clock_ticks_per_second();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
            let cpu = || {
                let used: u64 =
                    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
                Duration::from_secs_f64(used as f64 / ticks)
            };
            match &stat[open + 1..close] {
                "postgres" => services.postgres += cpu(),
                "redis-server" => services.redis += cpu(),
                _ => {}
            }
        }
        services
    }

    fn since(self, before: Services) -> Services {
        Services {
            postgres: self.postgres.saturating_sub(before.postgres),
            redis: self.redis.saturating_sub(before.redis),
        }
    }
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, fraction: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * fraction).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// `connections` tasks request `url` until `duration` is over, using the
/// given (signed-in) clients in turn.
async fn hammer(
    clients: &[reqwest::Client],
    url: &str,
    connections: usize,
    duration: Duration,
) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for task in 0..connections {
        let client = clients[task % clients.len()].clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200, "{url}");
                response.bytes().await.unwrap();
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort_unstable();
    (latencies, started.elapsed())
}

async fn run(settings: Settings) {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        settings.instances == 1 || settings.database_server.is_some(),
        "BENCH_INSTANCES above 1 needs BENCH_DATABASE_URL: instances share a PostgreSQL database"
    );
    let (_postgres, database) = match &settings.database_server {
        Some(server) => {
            let (database, url) = BenchDatabase::create(server);
            (Some(database), url)
        }
        None => (None, dir.path().join("bench.db").display().to_string()),
    };
    let key = |len: usize| {
        base64::engine::general_purpose::STANDARD
            .encode((0..len).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
    };
    let (app_port, demo_port, bare_port) = (free_port(), free_port(), free_port());
    let app = format!("http://127.0.0.1:{app_port}");
    let demo = format!("http://127.0.0.1:{demo_port}");
    let bare = format!("http://127.0.0.1:{bare_port}");
    let shared = vec![
        ("APP_BASE_URL", app.clone()),
        ("DEMO_PROVIDER_BIND", format!("127.0.0.1:{demo_port}")),
        ("DEMO_CLIENT_ID", CLIENT_ID.to_owned()),
        ("DEMO_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
    ];
    let mut app_env = shared.clone();
    app_env.extend([
        ("DATABASE_URL", database),
        ("SESSION_KEY", key(64)),
        ("TOKEN_KEY", key(32)),
        ("DEMO_PROVIDER", "external".to_owned()),
        // Every simulated visitor connects from 127.0.0.1: one client to the
        // per-client limit on sign-in starts, which would answer 429.
        ("SIGN_IN_STARTS_PER_MINUTE", u32::MAX.to_string()),
    ]);
    if let Some(redis) = &settings.redis {
        app_env.extend([
            ("REDIS_URL", redis.clone()),
            ("SESSION_STORE", "redis".to_owned()),
            (
                "REDIS_KEY_PREFIX",
                format!("signin-bench:{:016x}:", rand::random::<u64>()),
            ),
        ]);
    }
    // One instance listens at the app's address; several listen on ports
    // of their own, behind the relay at that address.
    let instance_ports: Vec<u16> = match settings.instances {
        1 => vec![app_port],
        n => (0..n).map(|_| free_port()).collect(),
    };
    if settings.instances > 1 {
        let relay = tokio::net::TcpListener::bind(("127.0.0.1", app_port))
            .await
            .unwrap();
        let backends = instance_ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        tokio::spawn(round_robin(relay, backends));
    }
    let start_instance = |port: u16| {
        let mut env = app_env.clone();
        env.push(("BIND", format!("127.0.0.1:{port}")));
        Process::start("app", APP_BIN, &env)
    };

    let demo_process = Process::start("demo provider", DEMO_BIN, &shared);
    wait_until_up(
        &format!("{demo}/.well-known/openid-configuration"),
        Instant::now(),
    )
    .await;
    let bare_process = Process::start(
        "bare handler",
        &std::env::current_exe().unwrap().display().to_string(),
        &[
            ("BENCH_ROLE", "bare".to_owned()),
            ("BIND", format!("127.0.0.1:{bare_port}")),
        ],
    );
    wait_until_up(&bare, Instant::now()).await;
    let started = Instant::now();
    let app_process = Instances(
        instance_ports
            .iter()
            .map(|port| start_instance(*port))
            .collect(),
    );
    for port in &instance_ports {
        wait_until_up(&format!("http://127.0.0.1:{port}/healthz"), started).await;
    }
    let first_start = started.elapsed();

    println!(
        "benchmark: {} users signing in, {} connections, {} s a phase; {}; app, demo provider and bare handler in their own processes",
        settings.users,
        settings.connections,
        settings.phase.as_secs(),
        settings.deployment()
    );

    // Phase 1: whole sign-ins.
    let clients: Vec<reqwest::Client> = (0..settings.users).map(|_| browser()).collect();
    let users = ["alice", "bob", "carol"];
    // One warm-up sign-in each (connections, discovery cache).
    for (index, client) in clients.iter().enumerate() {
        sign_in(client, &app, &demo, users[index % users.len()]).await;
    }
    let (app_cpu, demo_cpu, services) = (app_process.cpu(), demo_process.cpu(), Services::now());
    let started = Instant::now();
    let deadline = started + settings.phase;
    let mut tasks = Vec::new();
    for (index, client) in clients.iter().enumerate() {
        let (client, app, demo) = (client.clone(), app.clone(), demo.clone());
        let user = users[index % users.len()];
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                sign_in(&client, &app, &demo, user).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort_unstable();
    let sign_ins = Phase {
        latencies,
        elapsed: started.elapsed(),
        app_cpu: app_process.cpu() - app_cpu,
        demo_cpu: demo_process.cpu() - demo_cpu,
        services_cpu: Services::now().since(services),
    };

    // Each user allows mail once, as the first visit to /mail asks.
    for (index, client) in clients.iter().enumerate() {
        grant_mail(client, &app, &demo, users[index % users.len()]).await;
    }

    // Phases 2 to 5: signed-in pages and the bare handler, at
    // `connections`; phases 6 and 7: `/mail` and the Graph API it calls, alone,
    // one request at a time, to see what the app adds to the API's latency.
    let clients = Arc::new(clients);
    let graph_token = graph_access_token(&demo, &format!("{app}/auth/demo/callback")).await;
    let graph_client = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {graph_token}").parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    // The same request the app sends for the first page of `/mail`.
    let graph_messages = format!(
        "{demo}/v1.0/me/messages?%24select=id%2Csubject%2Cfrom%2CreceivedDateTime%2CbodyPreview%2CisRead%2ChasAttachments&%24top=10&%24orderby=receivedDateTime+desc"
    );
    let half_phase = settings.phase / 2;
    let mut pages = Vec::new();
    for (name, url, connections, duration) in [
        (
            "/profile",
            format!("{app}/profile"),
            settings.connections,
            settings.phase,
        ),
        (
            "/profile?refresh=1",
            format!("{app}/profile?refresh=1"),
            settings.connections,
            settings.phase,
        ),
        (
            "/mail",
            format!("{app}/mail"),
            settings.connections,
            settings.phase,
        ),
        (
            "bare handler",
            format!("{bare}/"),
            settings.connections,
            settings.phase,
        ),
        ("/mail, 1 connection", format!("{app}/mail"), 1, half_phase),
        (
            "Graph messages alone, 1 connection",
            graph_messages.clone(),
            1,
            half_phase,
        ),
    ] {
        let targets: Vec<reqwest::Client> = if name == "bare handler" {
            (0..connections).map(|_| reqwest::Client::new()).collect()
        } else if url.starts_with(&demo) {
            vec![graph_client.clone()]
        } else {
            clients.to_vec()
        };
        let (app_cpu, demo_cpu, services) =
            (app_process.cpu(), demo_process.cpu(), Services::now());
        let (latencies, elapsed) = hammer(&targets, &url, connections, duration).await;
        pages.push((
            name,
            Phase {
                latencies,
                elapsed,
                app_cpu: app_process.cpu() - app_cpu,
                demo_cpu: demo_process.cpu() - demo_cpu,
                services_cpu: Services::now().since(services),
            },
        ));
    }
    // Optional leak check: the signed-in phases again, `BENCH_REPEAT` times,
    // with the app's resident memory after each round.
    let repeat = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(0)
        .min(20);
    let mut rss_after_rounds = Vec::new();
    for _ in 0..repeat {
        let round = Duration::from_secs(3);
        for client in clients.iter() {
            sign_in(client, &app, &demo, "alice").await;
        }
        hammer(
            &clients,
            &format!("{app}/profile"),
            settings.connections,
            round,
        )
        .await;
        hammer(
            &clients,
            &format!("{app}/mail"),
            settings.connections,
            round,
        )
        .await;
        rss_after_rounds.push(app_process.rss_mib());
    }

    let app_peak = app_process.peak_rss_mib();
    let demo_peak = demo_process.peak_rss_mib();
    let bare_peak = bare_process.peak_rss_mib();

    // Start-up on the existing database (of the first instance).
    drop(app_process);
    let restarted = Instant::now();
    let restarted_instance = start_instance(instance_ports[0]);
    let restart = wait_until_up(
        &format!("http://127.0.0.1:{}/healthz", instance_ports[0]),
        restarted,
    )
    .await;
    drop(restarted_instance);

    let per_sign_in = |cpu: Duration| {
        ms(cpu / u32::try_from(sign_ins.latencies.len().max(1)).unwrap_or(u32::MAX))
    };
    println!();
    println!("{}", settings.deployment());
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| sign-ins per second | {:.1} |", sign_ins.per_second());
    println!(
        "| whole sign-in p50 / p99 (ms) | {} / {} |",
        ms(sign_ins.percentile(0.5)),
        ms(sign_ins.percentile(0.99))
    );
    println!(
        "| app CPU per sign-in (ms) | {} |",
        per_sign_in(sign_ins.app_cpu)
    );
    println!(
        "| demo provider CPU per sign-in (ms) | {} |",
        per_sign_in(sign_ins.demo_cpu)
    );
    let shared = settings.database_server.is_some() || settings.redis.is_some();
    if shared {
        println!(
            "| PostgreSQL / Redis CPU per sign-in (ms) | {} / {} |",
            per_sign_in(sign_ins.services_cpu.postgres),
            per_sign_in(sign_ins.services_cpu.redis)
        );
    }
    for (name, phase) in &pages {
        let per_request =
            phase.app_cpu.as_secs_f64() * 1000.0 / phase.latencies.len().max(1) as f64;
        println!(
            "| {name}: requests/s, p50 / p99 (ms), app CPU per request (ms) | {:.0}, {} / {}, {:.3} |",
            phase.per_second(),
            ms(phase.percentile(0.5)),
            ms(phase.percentile(0.99)),
            per_request
        );
        if shared && !name.starts_with("bare") && !name.starts_with("Graph") {
            let per =
                |cpu: Duration| cpu.as_secs_f64() * 1000.0 / phase.latencies.len().max(1) as f64;
            println!(
                "| {name}: PostgreSQL / Redis CPU per request (ms) | {:.3} / {:.3} |",
                per(phase.services_cpu.postgres),
                per(phase.services_cpu.redis)
            );
        }
    }
    let phase = |wanted: &str| {
        &pages
            .iter()
            .find(|(name, _)| *name == wanted)
            .expect("phase ran")
            .1
    };
    println!(
        "| /profile ÷ bare handler throughput | {:.0}% |",
        phase("/profile").per_second() / phase("bare handler").per_second() * 100.0
    );
    let mail = phase("/mail");
    println!(
        "| /mail demo provider CPU per request (ms) | {:.3} |",
        mail.demo_cpu.as_secs_f64() * 1000.0 / mail.latencies.len().max(1) as f64
    );
    let (mail_alone, graph_alone) = (
        phase("/mail, 1 connection").percentile(0.5),
        phase("Graph messages alone, 1 connection").percentile(0.5),
    );
    println!(
        "| /mail p50 over the Graph call's own p50, 1 connection (ms) | {} |",
        ms(mail_alone.saturating_sub(graph_alone))
    );
    println!("| app peak RSS, largest instance (MiB) | {app_peak:.1} |");
    println!("| demo provider / bare handler peak RSS (MiB) | {demo_peak:.1} / {bare_peak:.1} |");
    println!(
        "| start-up to 200 on /healthz: fresh / existing database (ms) | {} / {} |",
        ms(first_start),
        ms(restart)
    );
    if !rss_after_rounds.is_empty() {
        let rounds: Vec<String> = rss_after_rounds
            .iter()
            .map(|mib| format!("{mib:.1}"))
            .collect();
        println!(
            "| app RSS after each of {} repeated rounds (MiB) | {} |",
            rounds.len(),
            rounds.join(", ")
        );
    }
    let _ = (bare_process.name, demo_process.name);
}
