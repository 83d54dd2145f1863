//! Where to send the visitor after sign-in: only a path on this site.
//!
//! An open redirect after login hands a phishing page the user's trust (RFC 9700
//! §4.11). Browsers are lenient: `//evil.example` and `/\evil.example` are other
//! hosts, and a path that looks local can re-serialise to `//evil` after dot
//! segments are resolved (`/a/..//evil`, `/%2e//evil`). So we normalise the value
//! the way a browser would (resolve it against our base URL), then check the exact
//! string we will emit. The check runs when the value is stored and again when it
//! is used.

use url::Url;

/// Where to go when no (valid) return path was given.
pub const DEFAULT_RETURN_TO: &str = "/profile";

const MAX_LEN: usize = 2048;

/// Returns the normalised same-site path for `raw`, or `None` if it could leave
/// the site (or is otherwise unusable).
pub fn safe_return_path(raw: &str, base_url: &Url) -> Option<String> {
    let looks_local = raw.len() <= MAX_LEN
        && raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
    if !looks_local {
        return None;
    }
    let resolved = base_url.join(raw).ok()?;
    if resolved.origin() != base_url.origin() {
        return None;
    }
    let mut path = resolved.path().to_owned();
    if let Some(query) = resolved.query() {
        path.push('?');
        path.push_str(query);
    }
    // What we emit must itself pass the same test: `/%2e//evil` resolves to `//evil`.
    let emitted_is_local = path.starts_with('/') && !path.starts_with("//") && !path.contains('\\');
    emitted_is_local.then_some(path)
}

/// `safe_return_path`, or the default page.
pub fn return_path_or_default(raw: Option<&str>, base_url: &Url) -> String {
    raw.and_then(|raw| safe_return_path(raw, base_url))
        .unwrap_or_else(|| DEFAULT_RETURN_TO.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8080/").expect("valid")
    }

    #[test]
    fn local_paths_are_kept_with_their_query() {
        let cases = [
            ("/profile", "/profile"),
            ("/mail?page=2", "/mail?page=2"),
            ("/mail/AAMkAD-1", "/mail/AAMkAD-1"),
            ("/a/../mail", "/mail"),
            ("/mail#top", "/mail"),
            ("/search?q=a%20b", "/search?q=a%20b"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                safe_return_path(raw, &base()).as_deref(),
                Some(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_is_refused() {
        let cases = [
            "https://evil.example",
            "http://127.0.0.1:8080.evil.example/",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/.//evil.example",
            "/a/..//evil.example",
            "/%2e//evil.example",
            "/%2E%2E//evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,hi",
            " /profile",
            "/\tevil",
            "/\n/evil.example",
            "/\r\n//evil.example",
            "/pro\u{0}file",
            "profile",
            "",
            "?next=/",
        ];
        for raw in cases {
            assert_eq!(safe_return_path(raw, &base()), None, "{raw:?}");
        }
    }

    #[test]
    fn overlong_values_are_refused() {
        let raw = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(safe_return_path(&raw, &base()), None);
    }

    #[test]
    fn a_refused_or_missing_value_falls_back_to_the_profile() {
        assert_eq!(return_path_or_default(None, &base()), "/profile");
        assert_eq!(
            return_path_or_default(Some("//evil.example"), &base()),
            "/profile"
        );
        assert_eq!(return_path_or_default(Some("/mail"), &base()), "/mail");
    }
}

/// Generated return paths (docs/TESTING.md): whatever comes in, what comes
/// out is a path on this site, as a browser would resolve it.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Pieces that have opened redirects in other validators: slashes and
    /// backslashes, their percent-encodings, dot segments, whitespace and
    /// controls that browsers strip (WHATWG URL §4.4), schemes, userinfo, and
    /// Unicode look-alikes of `/` and `.`.
    const TRICKY: &[&str] = &[
        "/",
        "//",
        "\\",
        "/\\",
        "\\/",
        "%2f",
        "%2F",
        "%5c",
        "%5C",
        "%2e",
        "%2E",
        ".",
        "..",
        "./",
        "../",
        "/..",
        "\t",
        "\n",
        "\r",
        " ",
        "\u{0}",
        "\u{b}",
        "\u{c}",
        "%09",
        "%0a",
        "%00",
        ":",
        "@",
        "?",
        "#",
        "%",
        "%%",
        "evil.example",
        "http:",
        "https://",
        "javascript:",
        "data:",
        "127.0.0.1:8080",
        "\u{3002}",
        "\u{ff0f}",
        "\u{2215}",
        "\u{fe68}",
        "\u{ff3c}",
        "é",
        "\u{202e}",
        "\u{feff}",
    ];

    fn tricky_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(TRICKY).prop_map(str::to_owned),
            1 => any::<String>(),
            1 => "[a-z0-9]{1,8}",
        ]
    }

    /// Mostly values that start with `/` (the ones that get past the first
    /// test), the rest anything.
    fn return_to() -> impl Strategy<Value = String> {
        let pieces = || proptest::collection::vec(tricky_piece(), 0..10);
        prop_oneof![
            3 => pieces().prop_map(|pieces| format!("/{}", pieces.concat())),
            1 => pieces().prop_map(|pieces| pieces.concat()),
            1 => any::<String>(),
        ]
    }

    fn base_url() -> impl Strategy<Value = Url> {
        proptest::sample::select(vec![
            "http://127.0.0.1:8080/",
            "https://app.example.com/",
            "https://app.example.com/sub/dir/",
        ])
        .prop_map(|base| Url::parse(base).expect("valid base"))
    }

    /// A same-site path: one leading `/`, no scheme, nothing a browser strips
    /// or reads as a host, and resolved against any page of ours (the
    /// redirect comes from the callback URL) it stays on our origin.
    fn assert_same_site(path: &str, base: &Url) -> Result<(), TestCaseError> {
        prop_assert!(path.starts_with('/'), "{path:?}");
        prop_assert!(
            !path.starts_with("//") && !path.starts_with("/\\"),
            "{path:?}"
        );
        prop_assert!(!path.contains('\\'), "{path:?}");
        prop_assert!(
            !path.chars().any(|c| c.is_control() || c.is_whitespace()),
            "{path:?}"
        );
        prop_assert!(Url::parse(path).is_err(), "{path:?} has a scheme");
        let callback = base.join("auth/demo/callback?code=x").expect("join");
        for page in [base, &callback] {
            let resolved = page.join(path).expect("a path resolves");
            prop_assert_eq!(resolved.origin(), base.origin(), "{:?}", path);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(crate::proptest_cases::config(1000))]

        #[test]
        fn whatever_comes_in_only_a_same_site_path_comes_out(
            raw in return_to(),
            base in base_url(),
        ) {
            if let Some(path) = safe_return_path(&raw, &base) {
                assert_same_site(&path, &base)?;
                // The check runs again when the stored value is used: what
                // it let through must pass it unchanged.
                prop_assert_eq!(safe_return_path(&path, &base), Some(path.clone()));
            }
            let fallback = return_path_or_default(Some(&raw), &base);
            assert_same_site(&fallback, &base)?;
        }
    }
}
