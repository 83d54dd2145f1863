//! The demo provider's HTML pages and stylesheet.
//!
//! What it owns: the Tera templates under `templates/demo_provider/`, compiled
//! into the binary with `include_str!` (the provider must work wherever the
//! binary runs, without a templates directory), and `static/demo-provider.css`,
//! served at `/assets/style.css` because the provider is a different origin
//! from the app and the CSP allows styles only from `'self'`.
//!
//! What it must not do: build HTML by string concatenation. Every value goes
//! through a template whose name ends in `.html`, so Tera escapes it.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use tera::{Context, Tera};

const TEMPLATES: [(&str, &str); 5] = [
    (
        "demo_provider/base.html",
        include_str!("../../templates/demo_provider/base.html"),
    ),
    (
        "demo_provider/sign_in.html",
        include_str!("../../templates/demo_provider/sign_in.html"),
    ),
    (
        "demo_provider/consent.html",
        include_str!("../../templates/demo_provider/consent.html"),
    ),
    (
        "demo_provider/error.html",
        include_str!("../../templates/demo_provider/error.html"),
    ),
    (
        "demo_provider/signed_out.html",
        include_str!("../../templates/demo_provider/signed_out.html"),
    ),
];

const STYLESHEET: &str = include_str!("../../static/demo-provider.css");

/// The compiled templates.
pub(crate) struct Pages {
    tera: Tera,
}

impl Pages {
    pub(crate) fn new() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        // All at once, so that `{% extends %}` can resolve in any order.
        tera.add_raw_templates(TEMPLATES)?;
        Ok(Self { tera })
    }

    /// Renders `template` with `status`. A rendering failure is our bug, not
    /// the user's: it is logged and answered with a plain 500.
    pub(crate) fn render(
        &self,
        status: StatusCode,
        template: &str,
        context: &Context,
    ) -> HttpResponse {
        match self.tera.render(template, context) {
            Ok(html) => HttpResponse::build(status)
                .content_type(ContentType::html())
                .body(html),
            Err(error) => {
                tracing::error!(template, error = ?error, "demo provider page failed to render");
                HttpResponse::InternalServerError()
                    .content_type(ContentType::plaintext())
                    .body("The demo provider could not show this page.")
            }
        }
    }

    /// A page that explains what went wrong and what to do next.
    pub(crate) fn error_page(
        &self,
        status: StatusCode,
        title: &str,
        message: &str,
    ) -> HttpResponse {
        let mut context = Context::new();
        context.insert("title", title);
        context.insert("message", message);
        self.render(status, "demo_provider/error.html", &context)
    }
}

/// `GET /assets/style.css`.
pub(crate) async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(STYLESHEET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_templates_compile_and_escape_values() {
        let pages = Pages::new().expect("templates compile");
        let response = pages.error_page(StatusCode::BAD_REQUEST, "<b>t</b>", "<script>");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = pages
            .tera
            .render("demo_provider/error.html", &{
                let mut context = Context::new();
                context.insert("title", "<b>t</b>");
                context.insert("message", "<script>");
                context
            })
            .expect("renders");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
