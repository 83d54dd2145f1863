//! The real binaries, as an operator runs them: `--help`, `--version`, a wrong
//! argument, and stopping on SIGTERM or Ctrl-C (SIGINT) while a request is
//! under way, with `LOG_FORMAT=json` so that every line it writes is checked.
//!
//! Each run gets an empty working directory (no `.env` is loaded, no `data/`
//! is written) and only the variables the test gives it. BIND is port 0, and
//! the port the kernel picked is read from the log line that names it.

use std::io::BufRead as _;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::fake_issuer::FakeIssuer;
use crate::helpers::location;

const BINARY: &str = env!("CARGO_BIN_EXE_signin-reference");
#[cfg(feature = "demo-provider")]
const DEMO_BINARY: &str = env!("CARGO_BIN_EXE_demo-provider");

/// A child process that is killed if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Its exit status, if it exits within `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name}");
    }
}

/// The binary with `args`, in `dir`, with `vars` and nothing else.
fn start(dir: &std::path::Path, args: &[&str], vars: &[(&str, String)]) -> Running {
    start_binary(BINARY, dir, args, vars)
}

fn start_binary(
    binary: &str,
    dir: &std::path::Path,
    args: &[&str],
    vars: &[(&str, String)],
) -> Running {
    let child = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running(child)
}

/// Runs the binary with `args` to its end (at most 10 s): status, stdout, stderr.
fn run_to_end(args: &[&str]) -> (ExitStatus, String, String) {
    run_binary_to_end(BINARY, args)
}

fn run_binary_to_end(binary: &str, args: &[&str]) -> (ExitStatus, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_binary(binary, dir.path(), args, &[]);
    let status = running
        .exit_within(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{args:?} did not exit: did it start a server?"));
    let read = |pipe: Option<&mut dyn std::io::Read>| {
        let mut text = String::new();
        pipe.unwrap().read_to_string(&mut text).unwrap();
        text
    };
    let stdout = read(running.0.stdout.as_mut().map(|p| p as _));
    let stderr = read(running.0.stderr.as_mut().map(|p| p as _));
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 0, "{args:?} wrote files: it started");
    (status, stdout, stderr)
}

#[test]
fn help_prints_the_usage_and_every_variable_and_exits_0() {
    for flag in ["--help", "-h"] {
        let (status, stdout, stderr) = run_to_end(&[flag]);
        assert!(status.success(), "{flag}: {status}");
        assert!(stdout.contains("Usage: signin-reference"), "{stdout}");
        for variable in [
            "APP_BASE_URL",
            "SHUTDOWN_TIMEOUT",
            "LOG_FORMAT",
            "OIDC_SCOPES",
        ] {
            assert!(stdout.contains(variable), "{flag} names {variable}");
        }
        assert!(stderr.is_empty(), "{stderr}");
    }
}

#[test]
fn version_prints_the_name_and_version_and_exits_0() {
    let (status, stdout, _) = run_to_end(&["--version"]);
    assert!(status.success());
    assert_eq!(
        stdout,
        format!("signin-reference {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_argument_prints_the_usage_on_stderr_and_exits_2() {
    let (status, stdout, stderr) = run_to_end(&["--port=80"]);
    assert_eq!(status.code(), Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("unknown argument `--port=80`"), "{stderr}");
    assert!(stderr.contains("Usage: signin-reference"), "{stderr}");
}

#[cfg(feature = "demo-provider")]
#[test]
fn the_demo_provider_binary_answers_help_and_version_too() {
    let (status, stdout, _) = run_binary_to_end(DEMO_BINARY, &["--help"]);
    assert!(status.success());
    assert!(stdout.contains("Usage: demo-provider"), "{stdout}");
    let (status, stdout, _) = run_binary_to_end(DEMO_BINARY, &["--version"]);
    assert!(status.success());
    assert_eq!(
        stdout,
        format!("demo-provider {}\n", env!("CARGO_PKG_VERSION"))
    );
    let (status, _, stderr) = run_binary_to_end(DEMO_BINARY, &["--bind"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
}

/// The app started as a process, and every line it wrote on stdout so far.
struct Started {
    process: Running,
    app: SocketAddr,
    demo: SocketAddr,
    lines: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Started {
    /// Every line written from now until the process ends.
    fn remaining_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

/// The app as a process on ports of its own choosing, with `LOG_FORMAT=json`
/// and the generic OpenID Connect provider pointing at `issuer`.
fn start_app(issuer: &FakeIssuer, shutdown_timeout: u64, http_timeout: u64) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let key = |len: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; len]);
    let mut vars = vec![
        ("BIND", "127.0.0.1:0".to_owned()),
        ("DEMO_PROVIDER_BIND", "127.0.0.1:0".to_owned()),
        (
            "DATABASE_URL",
            dir.path().join("app.db").display().to_string(),
        ),
        ("SESSION_KEY", key(64)),
        ("TOKEN_KEY", key(32)),
        ("SHUTDOWN_TIMEOUT", shutdown_timeout.to_string()),
        ("HTTP_TIMEOUT", http_timeout.to_string()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    vars.extend(issuer.oidc_env());
    let mut process = start(dir.path(), &[], &vars);

    let stdout = process.0.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });

    // "demo provider listening on http://IP:PORT", then "open … (listening on IP:PORT)".
    let (mut app, mut demo) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.is_none() || demo.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the app did not say where it listens"));
        let message = json_line(&line)["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if let Some(rest) = message.strip_prefix("demo provider listening on http://") {
            demo = Some(rest.parse().unwrap());
        } else if let Some((_, rest)) = message.split_once("(listening on ") {
            app = Some(rest.trim_end_matches(')').parse().unwrap());
        }
    }
    Started {
        process,
        app: app.unwrap(),
        demo: demo.unwrap(),
        lines,
        _dir: dir,
    }
}

/// A log line, which LOG_FORMAT=json makes one JSON object.
fn json_line(line: &str) -> Value {
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: not JSON: {line}"));
    assert!(value.is_object(), "{line}");
    value
}

/// Serves discovery after `delay`, so that starting a sign-in takes that long.
async fn slow_discovery(issuer: &FakeIssuer, delay: Duration) {
    issuer.mount_jwks("/jwks").await;
    let base = issuer.issuer();
    let document = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(document)
                .set_delay(delay),
        )
        .mount(&issuer.server)
        .await;
}

/// Waits until the fake has been asked for discovery `count` times.
async fn discovery_requests_reach(issuer: &FakeIssuer, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let requests = issuer.server.received_requests().await.unwrap_or_default();
        let seen = requests
            .iter()
            .filter(|request| request.url.path() == "/.well-known/openid-configuration")
            .count();
        if seen >= count {
            return;
        }
        assert!(Instant::now() < deadline, "{seen} discovery requests");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a sign-in at the app, which waits for the slow discovery: a request
/// under way. Returns once the app is waiting on the provider.
async fn request_under_way(
    started: &Started,
    issuer: &FakeIssuer,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    // The start-up check's discovery fetch is under way (and slow); the
    // sign-in waits for that one fetch (`DiscoveryCache`: one at a time per
    // provider) rather than sending its own, so nothing more reaches the
    // fake. A moment on loopback is plenty for the app to have the request.
    discovery_requests_reach(issuer, 1).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{}/auth/oidc/login", started.app);
    let request = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    request
}

/// Whether `address` refuses connections within `limit`.
fn refuses_connections_within(address: SocketAddr, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

async fn stops_gracefully_on(signal: &str) {
    // Arrange: a sign-in start that takes 2 s, under way.
    let issuer = FakeIssuer::start().await;
    slow_discovery(&issuer, Duration::from_secs(2)).await;
    let mut started = start_app(&issuer, 5, 10);
    let request = request_under_way(&started, &issuer).await;

    // Act
    started.process.signal(signal);
    let signalled = Instant::now();

    // Assert: no new connections, to either server...
    assert!(refuses_connections_within(
        started.app,
        Duration::from_secs(1)
    ));
    assert!(refuses_connections_within(
        started.demo,
        Duration::from_secs(1)
    ));
    // ...the request under way gets its normal answer...
    let response = request
        .await
        .unwrap()
        .expect("an answer, not a cut connection");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with(&format!("{}/authorize?", issuer.issuer())));
    // ...and the process exits 0 within SHUTDOWN_TIMEOUT.
    let status = started
        .process
        .exit_within(Duration::from_secs(5))
        .expect("exited within SHUTDOWN_TIMEOUT");
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() < Duration::from_secs(5));
    let lines = started.remaining_lines();
    assert!(!lines.is_empty());
    for line in &lines {
        json_line(line);
    }
    let said = |text: &str| lines.iter().any(|line| line.contains(text));
    assert!(said(&format!("{signal} received")), "{lines:#?}");
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn sigterm_lets_the_request_under_way_finish_then_exits_0() {
    stops_gracefully_on("TERM").await;
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn ctrl_c_stops_as_gracefully_as_sigterm() {
    stops_gracefully_on("INT").await;
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_request_slower_than_shutdown_timeout_is_cut_and_the_process_still_exits_0() {
    // Arrange: a sign-in start that would take a minute; SHUTDOWN_TIMEOUT=1.
    let issuer = FakeIssuer::start().await;
    slow_discovery(&issuer, Duration::from_secs(60)).await;
    let mut started = start_app(&issuer, 1, 120);
    let request = request_under_way(&started, &issuer).await;

    // Act
    started.process.signal("TERM");

    // Assert: gone after SHUTDOWN_TIMEOUT (and a margin), not actix's default 30 s.
    let status = started
        .process
        .exit_within(Duration::from_secs(4))
        .expect("exited soon after SHUTDOWN_TIMEOUT");
    assert!(status.success(), "{status}");
    let cut = tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .expect("the request ended with the process")
        .unwrap();
    assert!(cut.is_err(), "the connection was closed: {cut:?}");
}
