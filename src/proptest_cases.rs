//! How many cases each property test runs (docs/TESTING.md, "Property
//! tests"): a modest default so `cargo test` stays fast, or `PROPTEST_CASES`
//! for a long run (`PROPTEST_CASES=100000 cargo test --lib proptests`).
//! Test-only; nothing else belongs here.

use proptest::test_runner::Config;

/// `default_cases` cases, unless `PROPTEST_CASES` names another number.
pub(crate) fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        ..Config::default()
    }
}
