//! What a browser is, in a few words for the list of sessions ("Firefox on
//! Linux"), from its `User-Agent` header (RFC 9110 §10.1.5). Only the
//! words are stored, never the header: enough for a person to tell their
//! laptop from their phone, and no more about them. A header can say
//! anything, so this names nothing it does not recognise.

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;

/// Browsers by the product token that tells them apart, most specific first
/// (Edge and Opera also say "Chrome"; Chrome also says "Safari").
const BROWSERS: [(&str, &str); 7] = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("reqwest", "a program (reqwest)"),
];

/// Systems by the comment token that names them, most specific first
/// (Android also says "Linux"; iPhones say "like Mac OS X").
const SYSTEMS: [(&str, &str); 6] = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// "Firefox on Linux", "Safari on iPhone", "Chrome", or `None` for a
/// browser that says nothing this recognises.
pub fn describe(request: &HttpRequest) -> Option<String> {
    let header = request.headers().get(USER_AGENT)?.to_str().ok()?;
    describe_header(header)
}

fn describe_header(header: &str) -> Option<String> {
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(token, _)| header.contains(token))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => Some(format!("{browser} on {system}")),
        (Some(browser), None) => Some(browser.to_owned()),
        (None, Some(system)) => Some(format!("A browser on {system}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::describe_header;

    #[test]
    fn common_browsers_are_named_with_their_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(
                describe_header(header).as_deref(),
                Some(expected),
                "{header}"
            );
        }
        assert_eq!(describe_header("<script>"), None);
    }
}
