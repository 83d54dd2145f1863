//! Reading `application/x-www-form-urlencoded` parameters, from a query string
//! or a form body, with the rules of RFC 6749 §3.1 and §3.2: a parameter sent
//! without a value is treated as omitted, and a parameter must not be repeated.
//!
//! This module must not know what any parameter means. We parse by hand rather
//! than with actix's `Query`/`Form` extractors so that a malformed request gets
//! the protocol's own error response (an OAuth error, a Graph error or an error
//! page) instead of the framework's plain-text 400.

use std::collections::HashMap;

/// Parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, String>,
    /// The first parameter that appeared more than once, if any.
    repeated: Option<String>,
}

/// The input was not valid form encoding (for example, not UTF-8).
#[derive(Debug, thiserror::Error)]
#[error("the parameters are not valid application/x-www-form-urlencoded data")]
pub(crate) struct MalformedParams;

impl Params {
    pub(crate) fn parse(encoded: &str) -> Result<Self, MalformedParams> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(encoded).map_err(|_| MalformedParams)?;
        let mut params = Params::default();
        for (name, value) in pairs {
            if params.values.contains_key(&name) {
                params.repeated.get_or_insert(name);
                continue;
            }
            params.values.insert(name, value);
        }
        Ok(params)
    }

    /// Parses a request body, which must be UTF-8.
    pub(crate) fn parse_body(body: &[u8]) -> Result<Self, MalformedParams> {
        Self::parse(std::str::from_utf8(body).map_err(|_| MalformedParams)?)
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// The name of a parameter that was sent more than once.
    pub(crate) fn repeated(&self) -> Option<&str> {
        self.repeated.as_deref()
    }

    /// All parameter names, for rejecting unsupported options.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space
/// and `%XX` a byte. Used for HTTP Basic client credentials, which RFC 6749
/// §2.3.1 encodes this way before base64. `None` for bad `%` escapes or
/// bytes that are not UTF-8.
pub(crate) fn form_urldecode(component: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(component.len());
    let mut input = component.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = hex_value(input.next()?)?;
                let low = hex_value(input.next()?)?;
                bytes.push(high << 4 | low);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_absent_and_repeats_are_noticed() {
        let params = Params::parse("a=1&b=&a=2&c=x%20y").expect("valid");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("x y"));
        assert_eq!(params.repeated(), Some("a"));
    }

    #[test]
    fn form_urldecode_handles_plus_percent_and_rejects_bad_escapes() {
        assert_eq!(form_urldecode("a+b%3Ac%25").as_deref(), Some("a b:c%"));
        assert_eq!(form_urldecode("%zz"), None);
        assert_eq!(form_urldecode("%4"), None);
        assert_eq!(form_urldecode("%FF"), None, "not UTF-8");
    }
}

/// Generated query strings and bodies (docs/TESTING.md).
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::proptest_cases::config(1000))]

        #[test]
        fn any_body_parses_or_is_malformed(
            body in prop_oneof![
                any::<Vec<u8>>(),
                "([a-z_]{1,6}|=|&|\\+|%|%2|%zz|%FF|%C3|%00|;){0,24}".prop_map(String::into_bytes),
            ],
        ) {
            if let Ok(params) = Params::parse_body(&body) {
                // An empty value is never handed out (RFC 6749 §3.1).
                for name in params.names() {
                    prop_assert_ne!(params.get(name), Some(""));
                }
            }
        }

        /// `form_urldecode` undoes form encoding for any text, and refuses
        /// or decodes any other input without panicking.
        #[test]
        fn form_urldecode_undoes_form_encoding(text in any::<String>(), junk in any::<String>()) {
            let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
            prop_assert_eq!(form_urldecode(&encoded), Some(text));
            let _ = form_urldecode(&junk);
        }
    }
}
