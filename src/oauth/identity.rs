//! Who signed in, whichever protocol said so (an ID token, userinfo, or an
//! API such as GitHub's `/user`), bounded before it is stored or put in the
//! session cookie.

use super::SignInError;

/// The claims we keep from a validated ID token.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// `sub`: the stable, unique id of the person at this issuer.
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `auth_time` (OIDC Core §2): when the person last authenticated at the
    /// provider, as a Unix time; `None` when no ID token said so (GitHub,
    /// and providers that send it only when asked with `max_age`).
    pub auth_time: Option<i64>,
}

impl VerifiedIdentity {
    /// The name to greet the person with: their name, else their email, else
    /// their id at the provider.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| self.subject.clone())
    }
}

/// OIDC Core §2: `sub` "MUST NOT exceed 255 ASCII characters in length".
pub const MAX_SUBJECT_LEN: usize = 255;
/// Names are cut to this many characters: no one's name is longer, and the
/// display name travels in the session cookie, which browsers keep only up to
/// 4096 bytes (RFC 6265 §6.1).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest address SMTP can carry (RFC 5321 §4.5.3.1.3: a 256-octet path
/// including its angle brackets); a longer one is not an address.
pub const MAX_EMAIL_LEN: usize = 254;

impl VerifiedIdentity {
    /// The identity as we store and remember it, whichever protocol gave it
    /// (ID token, userinfo, or an API such as GitHub's `/user`): `sub` must be
    /// 1 to 255 printable ASCII characters (OIDC Core §2), the name is cut to
    /// [`MAX_NAME_CHARS`] on a character boundary, and an email longer than
    /// [`MAX_EMAIL_LEN`] is dropped. So what reaches the session cookie is
    /// bounded, whatever the provider sends.
    pub fn bounded(self) -> Result<Self, SignInError> {
        let subject = self.subject;
        if subject.is_empty()
            || subject.len() > MAX_SUBJECT_LEN
            || !subject.bytes().all(|byte| byte.is_ascii_graphic())
        {
            return Err(SignInError::UnusableSubject {
                length: subject.len(),
            });
        }
        Ok(VerifiedIdentity {
            subject,
            name: self.name.map(|name| truncate_chars(&name, MAX_NAME_CHARS)),
            email: self.email.filter(|email| email.len() <= MAX_EMAIL_LEN),
            auth_time: self.auth_time,
        })
    }
}

/// The first `max` characters of `text` (never splitting one).
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}
