//! Making untrusted mail HTML safe to show in our origin, with ammonia.
//!
//! Mail is written by strangers. Shown as-is it could run script with the user's
//! session (stored XSS), so only an allow-list of tags and attributes survives:
//! no script, no event handlers, no `javascript:` URLs, no frames, no forms.
//! Links open with `rel="noopener noreferrer"`, and remote images are dropped so
//! that opening a message does not tell the sender (tracking pixels); our
//! Content-Security-Policy would block them anyway.

use std::collections::HashSet;

/// HTML that went through [`SafeHtml::sanitize`]; the only way to make one.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(transparent)]
pub struct SafeHtml(String);

impl SafeHtml {
    /// Cleans untrusted HTML.
    pub fn sanitize(untrusted: &str) -> Self {
        let mut builder = ammonia::Builder::default();
        builder
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
            .link_rel(Some("noopener noreferrer"))
            .rm_tags(&["img"])
            .add_tag_attributes("a", &["title"]);
        SafeHtml(builder.clean(untrusted).to_string())
    }

    /// Plain text, escaped and kept in its lines.
    pub fn from_text(text: &str) -> Self {
        SafeHtml(format!(
            "<pre class=\"mail-text\">{}</pre>",
            ammonia::clean_text(text)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_handlers_frames_and_javascript_urls_are_removed() {
        let hostile = r#"<p>Hi <b>there</b></p><script>alert('xss')</script>
            <img src=x onerror="alert(1)"><a href="javascript:alert(1)">click</a>
            <iframe src="https://evil.example"></iframe><a href="https://ok.example">ok</a>
            <form action="https://evil.example"><input name=p></form>"#;
        let clean = SafeHtml::sanitize(hostile);
        let html = clean.as_str();
        for forbidden in [
            "<script",
            "onerror",
            "javascript:",
            "<iframe",
            "<img",
            "<form",
            "<input",
        ] {
            assert!(!html.contains(forbidden), "{forbidden} survived: {html}");
        }
        assert!(html.contains("<b>there</b>"));
        assert!(html.contains(r#"href="https://ok.example""#));
        assert!(html.contains("noopener noreferrer"));
    }

    #[test]
    fn text_bodies_are_escaped() {
        let clean = SafeHtml::from_text("1 < 2 & <script>");
        assert!(!clean.as_str().contains("<script>"));
        assert!(clean.as_str().starts_with("<pre"));
    }
}
