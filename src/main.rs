//! `cargo run`: answer `--help` or `--version` (`cli`), or load `.env` (if
//! any), start logging, parse the configuration, and run the app (and the demo
//! provider) until SIGTERM or Ctrl-C.

use signin_reference::startup::Application;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    if let Some(exit) =
        signin_reference::cli::answer("signin-reference", std::env::args_os().skip(1))
    {
        return exit;
    }
    let Some(config) = signin_reference::startup::load_config() else {
        return std::process::ExitCode::FAILURE;
    };
    let base_url = config.base_url.clone();
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!("could not start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for provider in application.providers().iter() {
        tracing::info!(
            provider = provider.id,
            "offering \"Sign in with {}\"; its registered redirect URI must be {}",
            provider.display_name,
            provider.redirect_uri
        );
    }
    if let Some(demo) = application.demo_address {
        tracing::info!("demo provider listening on http://{demo}");
    }
    tracing::info!(
        "open {base_url} in a browser (listening on {})",
        application.app_address
    );
    match application.run_until_signalled().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("server stopped with an error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
