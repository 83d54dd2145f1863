//! The command line of both binaries: `--help` and `--version`, nothing else.
//!
//! Everything else is configured by environment variables (`config`); `--help`
//! lists them, so that an operator can find them without the source. An
//! unknown argument is refused (usage on stderr, exit status 2) rather than
//! ignored: a mistyped flag must not quietly start a server.
//!
//! It must not read the environment, start logging or start anything: it
//! answers before `startup::load_config` runs.

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// No argument: start the server.
    Run,
    /// `-h` or `--help`.
    Help,
    /// `-V` or `--version`.
    Version,
}

/// An argument this program does not take.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownArgument(pub String);

/// Reads the arguments (without the program name). `--help` wins over
/// `--version` when both are given.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UnknownArgument> {
    let mut command = Command::Run;
    for arg in args {
        match arg.to_str() {
            Some("-h" | "--help") => command = Command::Help,
            Some("-V" | "--version") if command != Command::Help => command = Command::Version,
            Some("-V" | "--version") => {}
            _ => return Err(UnknownArgument(arg.to_string_lossy().into_owned())),
        }
    }
    Ok(command)
}

/// For `main`: answers `--help`, `--version` or a wrong argument and says
/// which exit status to end with, or `None` when the server should start.
pub fn answer(binary: &str, args: impl IntoIterator<Item = OsString>) -> Option<ExitCode> {
    // Write errors (a closed pipe, as in `--help | head -1`) are ignored:
    // there is nobody left to tell.
    match parse(args) {
        Ok(Command::Run) => None,
        Ok(Command::Help) => {
            let _ = std::io::stdout().write_all(usage(binary).as_bytes());
            Some(ExitCode::SUCCESS)
        }
        Ok(Command::Version) => {
            let _ = writeln!(std::io::stdout(), "{}", version(binary));
            Some(ExitCode::SUCCESS)
        }
        Err(UnknownArgument(arg)) => {
            let _ = write!(
                std::io::stderr(),
                "{binary}: unknown argument `{arg}`\n\n{}",
                usage(binary)
            );
            // 2: wrong usage, as getopt-style tools answer.
            Some(ExitCode::from(2))
        }
    }
}

/// `{binary} {version}`, e.g. `signin-reference 0.1.0`.
pub fn version(binary: &str) -> String {
    format!("{binary} {}", env!("CARGO_PKG_VERSION"))
}

/// The usage text: what the program does, its two options, and every
/// environment variable in one line each (details: README "Configuration",
/// .env.example).
pub fn usage(binary: &str) -> String {
    let what = if binary == "demo-provider" {
        "Runs the built-in demo provider alone, for an app started with\n\
         DEMO_PROVIDER=external. It reads the app's variables: DEMO_*, APP_BASE_URL\n\
         (for the redirect URIs it accepts), SHUTDOWN_TIMEOUT, LOG_FORMAT, RUST_LOG."
    } else {
        "Sign in with a third party (OAuth 2.0 / OpenID Connect): a reference web app\n\
         with a built-in demo provider. Starts the app and, unless DEMO_PROVIDER=off\n\
         or external, the demo provider."
    };
    format!(
        "{what}\n\n\
         Usage: {binary} [--help | --version]\n\n\
         Options:\n  \
           -h, --help     Print this help and exit\n  \
           -V, --version  Print the version and exit\n\n\
         Configuration is read from environment variables (and from a .env file in\n\
         the working directory, if any). Every one has a development default;\n\
         details and defaults: README.md \"Configuration\" and .env.example.\n\n\
         {ENVIRONMENT}"
    )
}

/// Every variable `config` reads, one line each.
const ENVIRONMENT: &str = "\
The app:
  APP_BASE_URL             Public origin (https:// means production)
  BIND                     Address the app listens on (IP:port)
  DATABASE_URL             SQLite file path, or postgres:// URL
  DB_POOL_SIZE             Database connections per instance
  SESSION_STORE            cookie or redis: where session state lives
  REDIS_URL                Redis shared by all instances (redis:// or rediss://)
  REDIS_KEY_PREFIX         Put before every Redis key the app writes
  SESSION_KEY              Base64 of 64 bytes: encrypts the session cookie
  TOKEN_KEY                Base64 of 32 bytes: seals provider tokens at rest
  TOKEN_KEY_PREVIOUS       While rotating: also opens tokens, never seals
  SESSION_IDLE_TIMEOUT     Seconds without a request before a session ends
  SESSION_MAX_AGE          Seconds after sign-in before a session ends
  REAUTH_MAX_AGE           Seconds a sign-in counts as fresh for link, unlink, delete
  HTTP_TIMEOUT             Seconds allowed for each request to a provider
  SHUTDOWN_TIMEOUT         Seconds requests under way get after SIGTERM or Ctrl-C
  SIGN_IN_STARTS_PER_MINUTE  Sign-ins one client may start per minute
  TRUSTED_PROXIES          Reverse proxies whose X-Forwarded-For is believed
  LOG_FORMAT               text or json (one JSON object per line)
  RUST_LOG                 Log filter, e.g. debug
The demo provider:
  DEMO_PROVIDER            on, off or external
  DEMO_PROVIDER_BIND       Address the demo provider listens on
  DEMO_TOKEN_TTL           Lifetime of its access tokens, in seconds
  DEMO_CLIENT_ID           Our client id there
  DEMO_CLIENT_SECRET       Our client secret there
Real providers (each offered when its client id and secret are set):
  MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET, MICROSOFT_TENANT,
  MICROSOFT_AUTHORITY, MICROSOFT_GRAPH_URL
  GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_ISSUER, GMAIL_API_URL
  GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_URL, GITHUB_API_URL
  OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_DISPLAY_NAME, OIDC_SCOPES
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn help_version_nothing_or_refused() {
        assert_eq!(parse(args(&[])), Ok(Command::Run));
        assert_eq!(parse(args(&["--help"])), Ok(Command::Help));
        assert_eq!(parse(args(&["-h"])), Ok(Command::Help));
        assert_eq!(parse(args(&["--version"])), Ok(Command::Version));
        assert_eq!(parse(args(&["-V", "--help"])), Ok(Command::Help));
        assert_eq!(
            parse(args(&["--help", "--port=80"])),
            Err(UnknownArgument("--port=80".into()))
        );
        assert_eq!(
            parse(args(&["serve"])),
            Err(UnknownArgument("serve".into()))
        );
    }

    /// The help cannot fall behind the configuration: every variable that
    /// .env.example documents is named in it.
    #[test]
    fn the_help_names_every_variable_of_env_example() {
        let help = usage("signin-reference");
        let documented = include_str!("../.env.example")
            .lines()
            .filter_map(|line| line.trim_start_matches(['#', ' ']).split_once('='))
            .map(|(name, _)| name)
            .filter(|name| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            });
        let mut count = 0;
        for name in documented {
            count += 1;
            assert!(help.contains(name), "--help does not name {name}");
        }
        assert!(count > 30, "only {count} variables found in .env.example");
    }
}
