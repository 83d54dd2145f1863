//! What the provider sends back to our redirect URI (step 4), as the
//! callback route reads it from the query string. Only the shape: checking it
//! is `flow`'s work.

use secrecy::SecretString;

/// What `finish` needs from the provider's redirect to our callback
/// (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 `iss`). Unknown parameters are
/// ignored, as RFC 6749 §4.1.2 asks: Google adds several.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<SecretString>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
    /// The answer from Microsoft's admin-consent endpoint (`admin_consent`),
    /// and the tenant it was given for (`admin_consent` module).
    pub admin_consent: Option<String>,
    pub tenant: Option<String>,
}

/// Generated callback query strings (docs/TESTING.md), read exactly as the
/// callback route reads them: actix-web's `Query` extractor over
/// `serde_urlencoded`.
#[cfg(test)]
mod proptests {
    use actix_web::web::Query;
    use proptest::prelude::*;
    use secrecy::ExposeSecret as _;

    use super::CallbackParams;

    const NAMES: &[&str] = &[
        "code",
        "state",
        "error",
        "error_description",
        "iss",
        "scope",
        "session_state",
    ];

    /// Pieces of hostile query strings: broken escapes, invalid UTF-8 once
    /// decoded, separators inside names and values.
    const TRICKY: &[&str] = &[
        "%",
        "%z",
        "%zz",
        "%FF",
        "%C3",
        "%00",
        "&",
        "&&",
        "=",
        "==",
        "+",
        ";",
        "#",
        "?",
        "state",
        "code=",
        "state=",
        "error=access_denied",
        "iss=http://x",
        "%26",
        "%3D",
        "\u{0}",
        "é",
    ];

    fn raw_query() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            3 => proptest::sample::select(TRICKY).prop_map(str::to_owned),
            1 => any::<String>(),
        ];
        prop_oneof![
            proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat()),
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_cases::config(1000))]

        #[test]
        fn any_query_string_parses_or_is_refused_without_panicking(raw in raw_query()) {
            let _ = Query::<CallbackParams>::from_query(&raw);
        }

        /// What the provider sent is what the flow reads, whatever the
        /// characters: a value changed on the way could only fail a check
        /// later, never match something else.
        #[test]
        fn each_parameter_sent_once_is_read_back_exactly(
            values in proptest::collection::btree_map(
                proptest::sample::select(NAMES),
                any::<String>(),
                0..NAMES.len(),
            ),
        ) {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &values {
                query.append_pair(name, value);
            }
            let query = query.finish();
            let params = Query::<CallbackParams>::from_query(&query)
                .map_err(|error| TestCaseError::fail(format!("{query:?}: {error}")))?
                .into_inner();
            let sent = |name: &str| values.get(name).cloned();
            prop_assert_eq!(params.code.map(|code| code.expose_secret().to_owned()), sent("code"));
            prop_assert_eq!(params.state, sent("state"));
            prop_assert_eq!(params.error, sent("error"));
            prop_assert_eq!(params.error_description, sent("error_description"));
            prop_assert_eq!(params.iss, sent("iss"));
        }
    }
}
