//! Credentials taken from a request the way NetBox reads them: session cookie, then token.

use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;

use crate::config::SecretString;

/// NetBox's session cookie name (Django `SESSION_COOKIE_NAME` default).
pub const SESSION_COOKIE: &str = "sessionid";

/// Django's CSRF cookie name (`CSRF_COOKIE_NAME` default).
pub const CSRF_COOKIE: &str = "csrftoken";

/// Token format, taken from the value and not from the keyword, as NetBox does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenVersion {
    V1,
    V2,
}

/// Credentials a request presented to authenticate itself.
#[derive(Default)]
pub struct Credentials {
    /// Value of the `sessionid` cookie.
    pub session: Option<SecretString>,
    /// Value of the `csrftoken` cookie, needed for CSRF checks of session requests.
    pub csrf_cookie: Option<SecretString>,
    /// The whole `Authorization` header when its first word is `Token` or `Bearer`.
    pub authorization: Option<SecretString>,
}

impl Credentials {
    /// Reads the cookies and the `Authorization` header of a request.
    pub fn from_headers(headers: &HeaderMap) -> Credentials {
        let mut credentials = Credentials::default();

        for (name, value) in cookie_pairs(headers) {
            match name.as_str() {
                SESSION_COOKIE if !value.is_empty() => {
                    credentials.session = Some(SecretString::new(value))
                }
                CSRF_COOKIE => credentials.csrf_cookie = Some(SecretString::new(value)),
                _ => {}
            }
        }

        credentials.authorization = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .filter(|value| has_token_keyword(value))
            .map(|value| SecretString::new(value.to_string()));

        credentials
    }

    /// Returns true when neither a session nor a token was presented.
    pub fn is_empty(&self) -> bool {
        self.session.is_none() && self.authorization.is_none()
    }
}

/// Returns the cookie pairs of every `Cookie` header, unquoting Django-style quoted values.
pub fn cookie_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs = Vec::new();

    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };

        for pair in text.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or(value);
            pairs.push((name.trim().to_string(), value.to_string()));
        }
    }

    pairs
}

/// Returns true when the header's first word is `Token` or `Bearer` in any case.
///
/// NetBox ignores an `Authorization` header with any other scheme, so such a request is
/// anonymous. The rest of the grammar is left to NetBox, which returns its own messages.
fn has_token_keyword(value: &str) -> bool {
    let keyword = value.split_ascii_whitespace().next().unwrap_or("");
    keyword.eq_ignore_ascii_case("token") || keyword.eq_ignore_ascii_case("bearer")
}

/// Returns the token version and, for v2 tokens, the public key part of the token.
pub fn token_details(authorization: &str) -> (TokenVersion, Option<String>) {
    let value = authorization.split_ascii_whitespace().nth(1).unwrap_or("");

    match value.strip_prefix("nbt_") {
        Some(rest) => {
            let key = rest.split_once('.').map(|(key, _)| key.to_string());
            (TokenVersion::V2, key)
        }
        None => (TokenVersion::V1, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn token_keyword_matches_in_any_case() {
        for value in ["Token abc", "token abc", "BEARER nbt_x.y", "Bearer   abc"] {
            let creds = Credentials::from_headers(&headers(&[("authorization", value)]));
            assert!(creds.authorization.is_some(), "{value} should be read");
        }
    }

    #[test]
    fn other_schemes_are_ignored() {
        for value in ["Basic Zm9vOmJhcg==", "abcdef", ""] {
            let creds = Credentials::from_headers(&headers(&[("authorization", value)]));
            assert!(creds.authorization.is_none(), "{value} should be ignored");
        }
    }

    #[test]
    fn cookies_are_read_from_every_header() {
        let map = headers(&[
            ("cookie", "csrftoken=abc; other=1"),
            ("cookie", "sessionid=\"s3ss\""),
        ]);
        let creds = Credentials::from_headers(&map);
        assert_eq!(creds.session.as_ref().map(|s| s.expose()), Some("s3ss"));
        assert_eq!(creds.csrf_cookie.as_ref().map(|s| s.expose()), Some("abc"));
    }

    #[test]
    fn token_version_follows_the_value() {
        assert_eq!(
            token_details("Token nbt_abc.def"),
            (TokenVersion::V2, Some("abc".into()))
        );
        assert_eq!(token_details("Bearer 0123abcd"), (TokenVersion::V1, None));
        assert_eq!(token_details("Bearer nbt_nodot"), (TokenVersion::V2, None));
    }
}
