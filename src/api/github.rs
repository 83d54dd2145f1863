//! GitHub's REST API: who signed in (`GET /user`) and their primary, verified
//! email address (`GET /user/emails`). GitHub has no mail API.
//!
//! Shapes and quirks 28-30 in tests/fixtures/SOURCES.md: `/user.email` is null
//! unless made public; unknown fields appear over time (so nothing here denies
//! them); every request needs a User-Agent (`http_client` sets one).

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{ApiError, ErrorAnswer, Profile, get_json};
use crate::oauth::identity::VerifiedIdentity;
use crate::providers::join_path;

#[derive(Deserialize)]
struct GitHubUser {
    /// Numeric and permanent; `login` can be renamed.
    id: u64,
    login: String,
    name: Option<String>,
    email: Option<String>,
    location: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// GitHub's error body is `{"message", "documentation_url"}`. A 403 (or 429)
/// with `x-ratelimit-remaining: 0` is a rate limit, not a missing permission.
fn github_error(permission: &'static str) -> impl FnOnce(ErrorAnswer) -> ApiError {
    move |answer| {
        let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|body| body.get("message")?.as_str().map(str::to_owned));
        let rate_limited = answer
            .headers
            .get("x-ratelimit-remaining")
            .is_some_and(|remaining| remaining == "0");
        if answer.status == 403 && rate_limited {
            return ApiError::Throttled {
                retry_after: super::retry_after(&answer.headers),
            };
        }
        let forbidden = ApiError::Forbidden {
            permission,
            detail: message.clone().unwrap_or_default(),
        };
        answer.into_api_error(forbidden, message)
    }
}

/// `GET /user` and `GET /user/emails`, concurrently; the email is the primary
/// address only if GitHub verified it, else the public one (quirk 28).
async fn user_with_email(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
) -> Result<(GitHubUser, Option<String>), ApiError> {
    let user = get_json::<GitHubUser>(
        http,
        join_path(base_url, &["user"]),
        token,
        github_error("read:user"),
    );
    let emails = get_json::<Vec<GitHubEmail>>(
        http,
        join_path(base_url, &["user", "emails"]),
        token,
        github_error("user:email"),
    );
    let (user, emails) = futures_util::future::join(user, emails).await;
    let mut user = user?;
    let verified_primary = match emails {
        Ok(emails) => emails
            .into_iter()
            .find(|entry| entry.primary && entry.verified)
            .map(|entry| entry.email),
        // Without the `user:email` scope the list is refused; the public
        // address (if any) is still something to show.
        Err(ApiError::Forbidden { .. } | ApiError::NotFound) => None,
        Err(other) => return Err(other),
    };
    let email = verified_primary.or_else(|| user.email.take());
    Ok((user, email))
}

/// Who signed in: the numeric id is the subject.
pub async fn identity(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
) -> Result<VerifiedIdentity, ApiError> {
    let (user, email) = user_with_email(http, base_url, token).await?;
    Ok(VerifiedIdentity {
        subject: user.id.to_string(),
        name: user.name.or(Some(user.login)),
        email,
        auth_time: None,
    })
}

/// The profile page's data.
pub async fn profile(
    http: &reqwest::Client,
    base_url: &Url,
    token: &SecretString,
) -> Result<Profile, ApiError> {
    let (user, email) = user_with_email(http, base_url, token).await?;
    Ok(Profile {
        display_name: user.name.unwrap_or_else(|| user.login.clone()),
        email,
        username: Some(user.login),
        office_location: user.location,
        // `avatar_url` is on another site; our pages load no remote images.
        ..Profile::default()
    })
}
