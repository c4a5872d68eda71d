//! CSRF checks for session-authenticated unsafe requests, equivalent to Django's as NetBox runs
//! it: Origin (or, over HTTPS, Referer) against the public origin, then the `X-CSRFToken` header
//! against the `csrftoken` cookie.

use http::header::{ORIGIN, REFERER};
use http::HeaderMap;

use super::client::RequestOrigin;
use crate::config::SecretString;
use crate::crypto::ct_eq;

const SECRET_LENGTH: usize = 32;
const MASKED_LENGTH: usize = 64;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEADER_SOURCE: &str = "CSRF token from the 'X-Csrftoken' HTTP header";

/// Checks a session request's CSRF protection; the error is NetBox's `detail` message.
pub fn check_csrf(
    headers: &HeaderMap,
    csrf_cookie: Option<&SecretString>,
    origin: &RequestOrigin,
) -> Result<(), String> {
    check_origin(headers, origin).map_err(failed)?;
    check_token(headers, csrf_cookie).map_err(failed)
}

fn failed(reason: String) -> String {
    format!("CSRF Failed: {reason}")
}

fn check_origin(headers: &HeaderMap, origin: &RequestOrigin) -> Result<(), String> {
    let expected = format!("{}://{}", origin.scheme, origin.host);

    if let Some(sent) = headers.get(ORIGIN) {
        let sent = String::from_utf8_lossy(sent.as_bytes());
        if !sent.eq_ignore_ascii_case(&expected) {
            return Err(format!(
                "Origin checking failed - {sent} does not match any trusted origins."
            ));
        }
        return Ok(());
    }

    if origin.scheme != "https" {
        return Ok(());
    }
    check_referer(headers, origin)
}

fn check_referer(headers: &HeaderMap, origin: &RequestOrigin) -> Result<(), String> {
    let Some(referer) = headers.get(REFERER) else {
        return Err("Referer checking failed - no Referer.".into());
    };
    let referer = String::from_utf8_lossy(referer.as_bytes()).to_string();

    let Ok(uri) = referer.parse::<http::Uri>() else {
        return Err("Referer checking failed - Referer is malformed.".into());
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err("Referer checking failed - Referer is malformed.".into());
    };
    if scheme != "https" {
        return Err("Referer checking failed - Referer is insecure while host is secure.".into());
    }
    if !authority.as_str().eq_ignore_ascii_case(&origin.host) {
        return Err(format!(
            "Referer checking failed - {referer} does not match any trusted origins."
        ));
    }
    Ok(())
}

fn check_token(headers: &HeaderMap, csrf_cookie: Option<&SecretString>) -> Result<(), String> {
    let cookie_secret = csrf_cookie
        .and_then(|cookie| secret_of(cookie.expose()).ok())
        .ok_or_else(|| "CSRF cookie not set.".to_string())?;

    let sent = headers
        .get("x-csrftoken")
        .ok_or_else(|| "CSRF token missing.".to_string())?;
    let sent = String::from_utf8_lossy(sent.as_bytes());
    let sent_secret = secret_of(&sent).map_err(|reason| format!("{HEADER_SOURCE} {reason}"))?;

    if !ct_eq(&sent_secret, &cookie_secret) {
        return Err(format!("{HEADER_SOURCE} incorrect."));
    }
    Ok(())
}

/// Returns the 32-character secret of a plain or masked token.
fn secret_of(token: &str) -> Result<Vec<u8>, &'static str> {
    let bytes = token.as_bytes();
    if bytes.len() != SECRET_LENGTH && bytes.len() != MASKED_LENGTH {
        return Err("has incorrect length.");
    }
    if !bytes.iter().all(|byte| ALPHABET.contains(byte)) {
        return Err("has invalid characters.");
    }
    if bytes.len() == SECRET_LENGTH {
        return Ok(bytes.to_vec());
    }

    let (mask, cipher) = bytes.split_at(SECRET_LENGTH);
    Ok(mask
        .iter()
        .zip(cipher)
        .map(|(mask_char, cipher_char)| {
            let shift = position(*cipher_char) + ALPHABET.len() - position(*mask_char);
            ALPHABET[shift % ALPHABET.len()]
        })
        .collect())
}

fn position(byte: u8) -> usize {
    ALPHABET
        .iter()
        .position(|candidate| *candidate == byte)
        .expect("characters were checked against the alphabet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "abcdefghijklmnopqrstuvwxyzABCDEF";

    fn origin(scheme: &str) -> RequestOrigin {
        RequestOrigin {
            client_ip: "127.0.0.1".parse().unwrap(),
            scheme: scheme.into(),
            host: "proxy.example.com".into(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn masked(secret: &str, mask: &str) -> String {
        let cipher: String = secret
            .bytes()
            .zip(mask.bytes())
            .map(|(s, m)| ALPHABET[(position(s) + position(m)) % ALPHABET.len()] as char)
            .collect();
        format!("{mask}{cipher}")
    }

    fn check(pairs: &[(&'static str, &str)], scheme: &str) -> Result<(), String> {
        let cookie = SecretString::new(SECRET.to_string());
        check_csrf(&headers(pairs), Some(&cookie), &origin(scheme))
    }

    #[test]
    fn csrf_cases() {
        let masked_token = masked(SECRET, "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvu");
        type Case<'a> = (Vec<(&'static str, &'a str)>, &'a str, Result<(), &'a str>);
        let cases: Vec<Case> = vec![
            (vec![("x-csrftoken", SECRET)], "http", Ok(())),
            (vec![("x-csrftoken", &masked_token)], "http", Ok(())),
            (vec![], "http", Err("CSRF Failed: CSRF token missing.")),
            (
                vec![("x-csrftoken", "short")],
                "http",
                Err("CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."),
            ),
            (
                vec![("x-csrftoken", "abcdefghijklmnopqrstuvwxyzABCDE!")],
                "http",
                Err("CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header has invalid characters."),
            ),
            (
                vec![("x-csrftoken", "bbcdefghijklmnopqrstuvwxyzABCDEF")],
                "http",
                Err("CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect."),
            ),
            (
                vec![("x-csrftoken", SECRET), ("origin", "http://evil.example")],
                "http",
                Err("CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins."),
            ),
            (
                vec![("x-csrftoken", SECRET), ("origin", "https://proxy.example.com")],
                "https",
                Ok(()),
            ),
            (
                vec![("x-csrftoken", SECRET)],
                "https",
                Err("CSRF Failed: Referer checking failed - no Referer."),
            ),
            (
                vec![("x-csrftoken", SECRET), ("referer", "https://proxy.example.com/dcim/")],
                "https",
                Ok(()),
            ),
            (
                vec![("x-csrftoken", SECRET), ("referer", "http://proxy.example.com/dcim/")],
                "https",
                Err("CSRF Failed: Referer checking failed - Referer is insecure while host is secure."),
            ),
        ];

        for (pairs, scheme, expected) in cases {
            let result = check(&pairs, scheme);
            assert_eq!(
                result,
                expected.map_err(str::to_string),
                "headers {pairs:?}"
            );
        }
    }

    #[test]
    fn missing_cookie_is_reported() {
        let result = check_csrf(&headers(&[("x-csrftoken", SECRET)]), None, &origin("http"));
        assert_eq!(result, Err("CSRF Failed: CSRF cookie not set.".to_string()));
    }
}
