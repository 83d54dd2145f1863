//! The OpenID Connect userinfo endpoint (Core §5.3): the profile of Google and
//! of any OpenID Connect provider. Its URL comes from discovery.

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{ApiError, ErrorAnswer, Profile, get_json};
use crate::oauth::identity::VerifiedIdentity;

/// Standard claims (Core §5.1) we show. Unknown members are ignored.
#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    name: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
    locale: Option<String>,
    phone_number: Option<String>,
}

/// One userinfo request: where, with which token, for whom.
pub struct UserInfoRequest<'a> {
    pub http: &'a reqwest::Client,
    pub endpoint: &'a Url,
    pub token: &'a SecretString,
    /// The ID token's `sub`; when known, the answer must be about the same
    /// person (Core §5.3.2), or its values are not used.
    pub expected_subject: Option<&'a str>,
}

/// Errors are described in the `WWW-Authenticate` header (RFC 6750 §3); some
/// servers add a JSON body with `error_description`.
fn userinfo_error(answer: ErrorAnswer) -> ApiError {
    let description = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|body| {
            body.get("error_description")
                .and_then(|value| value.as_str())
                .map(str::to_owned)
        });
    let forbidden = ApiError::Forbidden {
        permission: "profile",
        detail: description.clone().unwrap_or_default(),
    };
    answer.into_api_error(forbidden, description)
}

impl UserInfoRequest<'_> {
    async fn fetch(&self) -> Result<UserInfo, ApiError> {
        let info: UserInfo =
            get_json(self.http, self.endpoint.clone(), self.token, userinfo_error).await?;
        if let Some(expected) = self.expected_subject
            && info.sub != expected
        {
            return Err(ApiError::Unavailable(
                "userinfo describes a different subject than the ID token".into(),
            ));
        }
        Ok(info)
    }

    pub async fn identity(&self) -> Result<VerifiedIdentity, ApiError> {
        let info = self.fetch().await?;
        Ok(VerifiedIdentity {
            subject: info.sub,
            name: info.name.or(info.preferred_username),
            email: info.email,
            auth_time: None,
        })
    }

    pub async fn profile(&self) -> Result<Profile, ApiError> {
        let info = self.fetch().await?;
        Ok(Profile {
            display_name: info
                .name
                .or_else(|| info.preferred_username.clone())
                .or_else(|| info.email.clone())
                .unwrap_or(info.sub),
            email: info.email,
            username: info.preferred_username,
            phone: info.phone_number,
            preferred_language: info.locale,
            // `picture` is a URL on another site; our pages load no remote images.
            ..Profile::default()
        })
    }
}
