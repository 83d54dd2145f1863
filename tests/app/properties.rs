//! Property tests against the running app (docs/TESTING.md, "Property
//! tests"): generated callback queries and return paths sent over HTTP, as
//! an attacker would send them. The parsers' own properties live next to
//! them in `src/`; these check that the whole route holds, from the query
//! string to the page or the `Location` header.
//!
//! proptest's runner is synchronous, so each test owns a Tokio runtime: the
//! app runs on its worker threads and each case blocks on its requests.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::{browser, spawn_app, spawn_app_with};

/// `default_cases`, or PROPTEST_CASES (as `src/proptest_cases.rs` reads it).
fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        ..Config::default()
    }
}

/// Callback queries: the parameters a provider sends, with any values, in
/// any number, mixed with broken escapes and separators.
fn callback_query() -> impl Strategy<Value = String> {
    let pair = (
        "(code|state|error|error_description|iss|%73tate|)",
        prop_oneof![any::<String>(), "(access_denied|%|%zz|%FF|&|=|\\+|;)*"],
    )
        .prop_map(|(name, value)| {
            let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            format!("{name}={value}")
        });
    prop_oneof![
        3 => proptest::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&")),
        1 => any::<String>(),
    ]
}

#[test]
fn any_callback_query_gets_a_4xx_page_never_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let browser = browser();
    let mut runner = TestRunner::new(config(500));
    let result = runner.run(&callback_query(), |query| {
        let Ok(url) = reqwest::Url::parse(&app.url(&format!("/auth/demo/callback?{query}"))) else {
            return Ok(());
        };
        let (status, html) = runtime.block_on(async {
            let response = browser.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        });
        // No state we issued can be in it: every answer is the visitor's
        // error (400, or 403 for a refusal), on our error page.
        prop_assert!(status.is_client_error(), "{status} for {query:?}: {html}");
        prop_assert!(html.contains("card error"), "{query:?}: {html}");
        Ok(())
    });
    result.unwrap();
}

/// Return paths: slashes, backslashes, their encodings, dots, whitespace,
/// schemes, userinfo and a Unicode slash, in any order.
fn return_to() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "(/|//|\\\\|%2[fF]|%5[cC]|%2[eE]|\\.|\\.\\.|\t|\n| |[a-z]|:|@|\\?|#|%|\u{ff0f}){0,12}",
        1 => any::<String>(),
    ]
}

#[cfg(feature = "demo-provider")]
#[test]
fn after_a_sign_in_with_any_return_to_the_browser_stays_on_the_site() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app_with(&[("SIGN_IN_STARTS_PER_MINUTE", "1000000")]));
    let base = reqwest::Url::parse(&app.address).unwrap();
    let callback = base.join("/auth/demo/callback?code=x&state=y").unwrap();
    let mut runner = TestRunner::new(config(200));
    let result = runner.run(&return_to(), |raw| {
        let landing = runtime.block_on(app.sign_in(&browser(), &raw, "alice"));
        prop_assert!(
            landing.starts_with('/') && !landing.starts_with("//") && !landing.contains('\\'),
            "{raw:?} landed on {landing:?}"
        );
        // Where a browser goes: `Location` resolved against the callback URL.
        let resolved = callback.join(&landing).unwrap();
        prop_assert_eq!(resolved.origin(), base.origin(), "{:?}", raw);
        Ok(())
    });
    result.unwrap();
}
