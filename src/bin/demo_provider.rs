//! `cargo run --bin demo-provider`: the built-in demo provider alone, as its
//! own process, for an app started with `DEMO_PROVIDER=external` (the
//! benchmark runs them apart to measure each one's CPU and memory).
//!
//! Reads the same variables as the app: DEMO_PROVIDER_BIND, DEMO_CLIENT_ID,
//! DEMO_CLIENT_SECRET (which both must share), DEMO_TOKEN_TTL, and APP_BASE_URL
//! for the redirect URIs it accepts.

use signin_reference::startup::demo_settings;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let Some(config) = signin_reference::startup::load_config() else {
        return std::process::ExitCode::FAILURE;
    };
    let (Some(demo), Some(settings)) = (config.demo.as_ref(), demo_settings(&config)) else {
        tracing::error!("DEMO_PROVIDER is off: there is no demo provider to run");
        return std::process::ExitCode::FAILURE;
    };
    let server = std::net::TcpListener::bind(demo.bind)
        .and_then(|listener| signin_reference::demo_provider::run(listener, settings));
    match server {
        Ok(server) => match server.await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!("demo provider stopped: {error}");
                std::process::ExitCode::FAILURE
            }
        },
        Err(error) => {
            tracing::error!(
                "could not start the demo provider on {}: {error}",
                demo.bind
            );
            std::process::ExitCode::FAILURE
        }
    }
}
