//! Pages: the templates (compiled into the binary and parsed once at start-up)
//! and the typed contexts handlers give them.
//!
//! Templates are named `.html`, so Tera escapes every value. The only value
//! marked `safe` is mail HTML that went through `api::SafeHtml`. Escaping HTML is
//! not enough inside a URL: links with a return path are built here with proper
//! encoding (`login_link`), and a message id in a link uses `urlencode_strict`.

use std::collections::HashMap;

use actix_session::SessionExt as _;
use actix_web::{HttpMessage as _, HttpRequest};
use serde::Serialize;
use tera::Tera;

use actix_web::HttpResponse;
use actix_web::http::header;

use crate::providers::Providers;
use crate::session::{self, SessionUser};

/// Every template, embedded so the binary is self-contained and nothing is
/// re-read per request.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("guest.html", include_str!("../templates/guest.html")),
    ("profile.html", include_str!("../templates/profile.html")),
    ("mail.html", include_str!("../templates/mail.html")),
    (
        "mail_permission.html",
        include_str!("../templates/mail_permission.html"),
    ),
    (
        "asking_provider.html",
        include_str!("../templates/asking_provider.html"),
    ),
    (
        "admin_consent.html",
        include_str!("../templates/admin_consent.html"),
    ),
    ("linked.html", include_str!("../templates/linked.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("setup.html", include_str!("../templates/setup.html")),
    (
        "signed_out.html",
        include_str!("../templates/signed_out.html"),
    ),
    ("leaving.html", include_str!("../templates/leaving.html")),
    // The timeline of a sign-in's later events: on /flow, and on
    // /signed-out when the teaching layer records them.
    (
        "partials/events.html",
        include_str!("../templates/partials/events.html"),
    ),
    (
        "delete_account.html",
        include_str!("../templates/delete_account.html"),
    ),
    ("sessions.html", include_str!("../templates/sessions.html")),
    (
        "partials/provider_buttons.html",
        include_str!("../templates/partials/provider_buttons.html"),
    ),
];

/// The parsed templates.
#[derive(Debug)]
pub struct Views {
    tera: Tera,
}

/// What every page shows around its content: who is signed in, with which
/// provider, and the sign-out form with its CSRF token.
#[derive(Debug, Serialize)]
pub struct Layout {
    pub signed_in: Option<SignedInView>,
    pub csrf_token: Option<String>,
    /// The demo provider is on in production (`Config::demo_in_production`):
    /// every page says so, since it signs in anyone who clicks a demo account.
    pub demo_banner: bool,
    /// The teaching layer is built in: pages link to `/flow` and `/learn`.
    pub teaching: bool,
}

#[allow(
    clippy::derivable_impls,
    reason = "derivable only when built without the teaching layer (`allow`, not `expect`: the other build has nothing to allow)"
)]
impl Default for Layout {
    fn default() -> Self {
        Layout {
            signed_in: None,
            csrf_token: None,
            demo_banner: false,
            teaching: cfg!(feature = "teaching"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SignedInView {
    pub name: String,
    pub provider_name: String,
}

/// A provider button: "Sign in with …", linking to the sign-in start.
#[derive(Debug, Serialize)]
pub struct ProviderButton {
    pub id: String,
    pub name: String,
    pub href: String,
}

/// The error page's button: what to do next.
#[derive(Debug, Serialize)]
pub struct RetryLink {
    pub label: &'static str,
    pub link: String,
}

/// The error page's content.
#[derive(Debug, Serialize)]
pub struct ErrorPage {
    pub title: String,
    pub status: u16,
    pub message: String,
    /// The provider's own words (`error_description`), shown escaped.
    pub provider_detail: Option<String>,
    /// What the provider's error means and what to do next.
    pub explanation: Option<crate::oauth::plain_words::Explanation>,
    pub retry: Option<RetryLink>,
    /// Where an administrator can approve the app for the organisation,
    /// when the provider said one must (`oauth::admin_consent`).
    pub admin_consent_url: Option<String>,
    /// Shown for our own failures, so a report can be matched to the log.
    pub request_id: Option<String>,
}

impl Layout {
    /// The layout for a request, from its session.
    /// `site` is the configured providers and whether the demo banner shows
    /// (`AppState::site`); `None` when the app's state is not reachable.
    pub fn for_request(request: &HttpRequest, site: Option<(&Providers, bool)>) -> Self {
        let session = request.get_session();
        // Only a user whose session was checked in this request (by
        // `web::Visitor`); a page that never checked shows no one signed in.
        let checked = request.extensions().get::<Option<SessionUser>>().cloned();
        match (site, checked) {
            (Some((providers, demo_banner)), Some(user)) => {
                Layout::for_user(user.as_ref(), &session, providers, demo_banner)
            }
            (Some((providers, demo_banner)), None) => {
                Layout::for_user(None, &session, providers, demo_banner)
            }
            (None, _) => Layout::default(),
        }
    }

    /// The layout for an already-read session user.
    pub fn for_user(
        user: Option<&SessionUser>,
        session: &actix_session::Session,
        providers: &Providers,
        demo_banner: bool,
    ) -> Self {
        let Some(user) = user else {
            return Layout {
                demo_banner,
                ..Layout::default()
            };
        };
        let provider_name = providers
            .get(&user.provider)
            .map(|provider| provider.display_name.clone())
            .unwrap_or_else(|| user.provider.clone());
        Layout {
            signed_in: Some(SignedInView {
                name: user.display_name.clone(),
                provider_name,
            }),
            csrf_token: session::csrf_token(session),
            demo_banner,
            ..Layout::default()
        }
    }
}

/// `/login?return_to=…`, encoded.
pub fn login_link(return_to: &str) -> String {
    format!("/login?{}", encode_query(&[("return_to", return_to)]))
}

/// 303 See Other to a path on this site.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Buttons for every configured provider, each coming back to `return_to`.
pub fn provider_buttons(providers: &Providers, return_to: &str) -> Vec<ProviderButton> {
    providers
        .iter()
        .map(|provider| ProviderButton {
            id: provider.id.to_owned(),
            name: provider.display_name.clone(),
            href: sign_in_link(provider.id, return_to),
        })
        .collect()
}

/// Where the callback of a request for the mail permission sends a person
/// who did not grant it: `/mail` then says so instead of asking as if for
/// the first time.
pub const MAIL_NOT_ALLOWED_PATH: &str = "/mail?permission=not-granted";

/// Where the answer to a request for the mail permission that came back
/// without it sends the browser: `/mail` saying so, for the same mailbox.
pub fn mail_not_allowed_path(return_to: &str) -> String {
    match return_to.strip_prefix("/mail?") {
        Some(query) => format!("{MAIL_NOT_ALLOWED_PATH}&{query}"),
        None => MAIL_NOT_ALLOWED_PATH.to_owned(),
    }
}

/// `/auth/{provider}/login?return_to=…`, encoded.
pub fn sign_in_link(provider_id: &str, return_to: &str) -> String {
    format!(
        "/auth/{provider_id}/login?{}",
        encode_query(&[("return_to", return_to)])
    )
}

/// `/auth/{provider}/login?return_to=…&consent=again`: sign in again and be
/// asked for consent again, to grant a missing permission.
pub fn consent_again_link(provider_id: &str, return_to: &str) -> String {
    format!(
        "/auth/{provider_id}/login?{}",
        encode_query(&[("return_to", return_to), ("consent", "again")])
    )
}

fn encode_query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Views {
    /// Parses every template, the app's and `more` (the teaching layer's,
    /// when it is built in); a template error stops the start, not a request.
    pub fn load(more: &[(&str, &str)]) -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().chain(more).copied())?;
        tera.register_filter("datetime", datetime_filter);
        Ok(Views { tera })
    }

    /// Renders `template` with `layout` and `page` (as `layout.*` and `page.*`).
    pub fn render_page(
        &self,
        template: &str,
        layout: &Layout,
        page: &impl Serialize,
    ) -> Result<String, tera::Error> {
        let mut context = tera::Context::new();
        context.insert("layout", layout);
        context.insert("page", page);
        self.tera.render(template, &context)
    }
}

/// `{{ value | datetime }}`: an RFC 3339 string or Unix seconds as
/// "Mon 23 Nov 2026, 14:05 UTC".
fn datetime_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let time = match value {
        tera::Value::Number(number) => number
            .as_i64()
            .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0)),
        tera::Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.with_timezone(&chrono::Utc)),
        _ => None,
    };
    Ok(tera::Value::String(
        time.map(|time| time.format("%a %-d %b %Y, %H:%M UTC").to_string())
            .unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_templates_parse() {
        Views::load(&[]).expect("templates parse");
    }

    #[test]
    fn links_encode_the_return_path() {
        assert_eq!(
            login_link("/mail?page=2&x=a b"),
            "/login?return_to=%2Fmail%3Fpage%3D2%26x%3Da+b"
        );
        assert_eq!(
            sign_in_link("demo", "/profile"),
            "/auth/demo/login?return_to=%2Fprofile"
        );
    }

    #[test]
    fn datetime_filter_formats_timestamps_and_rfc3339() {
        let none = HashMap::new();
        let from_seconds =
            datetime_filter(&tera::Value::from(1_795_000_000_i64), &none).expect("formats");
        assert!(from_seconds.as_str().is_some_and(|s| s.ends_with("UTC")));
        let from_text =
            datetime_filter(&tera::Value::from("2026-11-20T09:14:03Z"), &none).expect("formats");
        assert_eq!(from_text.as_str(), Some("Fri 20 Nov 2026, 09:14 UTC"));
    }
}
