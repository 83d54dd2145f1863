//! `cargo run --bin demo-provider`: the built-in demo provider alone, as its
//! own process, for an app started with `DEMO_PROVIDER=external` (the
//! benchmark runs them apart to measure each one's CPU and memory).
//!
//! Reads the same variables as the app: DEMO_PROVIDER_BIND, DEMO_CLIENT_ID,
//! DEMO_CLIENT_SECRET (which both must share), DEMO_TOKEN_TTL, and APP_BASE_URL
//! for the redirect URIs it accepts. Like the app it answers `--help` and
//! `--version`, and stops gracefully on SIGTERM or Ctrl-C (SHUTDOWN_TIMEOUT).

use signin_reference::startup::{demo_settings, stop_on_signal};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    if let Some(exit) = signin_reference::cli::answer("demo-provider", std::env::args_os().skip(1))
    {
        return exit;
    }
    let Some(config) = signin_reference::startup::load_config() else {
        return std::process::ExitCode::FAILURE;
    };
    let (Some(demo), Some(settings)) = (config.demo.as_ref(), demo_settings(&config)) else {
        tracing::error!("DEMO_PROVIDER is off: there is no demo provider to run");
        return std::process::ExitCode::FAILURE;
    };
    let server = match std::net::TcpListener::bind(demo.bind)
        .and_then(|listener| signin_reference::demo_provider::run(listener, settings))
    {
        Ok(server) => server,
        Err(error) => {
            tracing::error!(
                "could not start the demo provider on {}: {error}",
                demo.bind
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    stop_on_signal(vec![server.handle()]);
    match server.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("demo provider stopped: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
