//! The scopes the demo provider knows, how they are parsed from the `scope`
//! parameter (RFC 6749 §3.3) and how the consent page describes them.
//!
//! This module must not decide what a scope allows; the endpoints that serve
//! data (userinfo, Graph) check the scopes a token carries.

/// One scope a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// OpenID Connect Core §3.1.2.1: makes the request an OpenID Connect one.
    OpenId,
    /// OpenID Connect Core §5.4: name claims.
    Profile,
    /// OpenID Connect Core §5.4: `email`, `email_verified`.
    Email,
    /// OpenID Connect Core §11: asks for a refresh token.
    OfflineAccess,
    /// Microsoft Graph permission to read the signed-in user's profile.
    UserRead,
    /// Microsoft Graph permission to read the signed-in user's mail.
    MailRead,
}

impl Scope {
    /// Every scope, in the order the discovery document lists them.
    pub(crate) const ALL: [Scope; 6] = [
        Scope::OpenId,
        Scope::Profile,
        Scope::Email,
        Scope::OfflineAccess,
        Scope::UserRead,
        Scope::MailRead,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
            Scope::OfflineAccess => "offline_access",
            Scope::UserRead => "User.Read",
            Scope::MailRead => "Mail.Read",
        }
    }

    /// Scope values are case-sensitive (RFC 6749 §3.3).
    fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == value)
    }

    /// What the consent page says the app will be able to do.
    pub(crate) fn consent_description(self) -> &'static str {
        match self {
            Scope::OpenId => "Sign you in",
            Scope::Profile => "See your name",
            Scope::Email => "See your email address",
            Scope::OfflineAccess => "Keep access to what you allow here when you are not using it",
            Scope::UserRead => "Read your profile",
            Scope::MailRead => "Read your mail",
        }
    }
}

/// The `scope` parameter named a scope we do not know.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnknownScope(pub(crate) String);

/// Parses a space-delimited scope list (RFC 6749 §3.3), dropping duplicates and
/// keeping the order of first appearance.
pub(crate) fn parse_scope_list(value: &str) -> Result<Vec<Scope>, UnknownScope> {
    let mut scopes = Vec::new();
    for token in value.split(' ').filter(|token| !token.is_empty()) {
        let scope = Scope::parse(token).ok_or_else(|| UnknownScope(token.to_owned()))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// The space-delimited form used in token responses (RFC 6749 §5.1).
pub(crate) fn scope_string(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_list_is_split_on_spaces_and_deduplicated() {
        assert_eq!(
            parse_scope_list("openid  email openid Mail.Read"),
            Ok(vec![Scope::OpenId, Scope::Email, Scope::MailRead])
        );
    }

    #[test]
    fn scope_names_are_case_sensitive() {
        assert_eq!(
            parse_scope_list("openid mail.read"),
            Err(UnknownScope("mail.read".to_owned()))
        );
    }

    #[test]
    fn scope_string_round_trips() {
        let scopes = parse_scope_list("openid offline_access User.Read").expect("known scopes");
        assert_eq!(scope_string(&scopes), "openid offline_access User.Read");
    }
}
