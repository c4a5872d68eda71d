//! Maps a path inside the API to an endpoint.

use http::Method;

use super::error::ApiError;
use crate::proxy::context::ApiPrefix;

/// Every endpoint of the API, current and older generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Root,
    UserKeys,
    UserKey(i64),
    ActivateUserKeys,
    SessionKey,
    LegacySessionKeys,
    LegacySessionKey(i64),
    LegacyGetSessionKey,
    LegacyActivateUserKey,
    SecretRoles,
    SecretRole(i64),
    Secrets,
    Secret(i64),
    GenerateKeyPair,
}

/// Result of resolving a path.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    Endpoint(Endpoint),
    /// The path lacks its trailing slash; GET and HEAD are redirected, as Django does.
    AddSlash,
}

/// Resolves the normalised path after the API prefix, such as `secrets/12/`.
pub fn resolve(prefix: ApiPrefix, rest: &str, method: &Method) -> Result<Resolved, ApiError> {
    if !rest.is_empty() && !rest.ends_with('/') {
        let with_slash = format!("{rest}/");
        if endpoint_for(prefix, &with_slash).is_some() && is_read(method) {
            return Ok(Resolved::AddSlash);
        }
        return Err(ApiError::no_route());
    }

    endpoint_for(prefix, rest)
        .ok_or_else(ApiError::no_route)?
        .map(Resolved::Endpoint)
}

fn is_read(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// `None` for an unknown path; `Some(Err)` for a known collection with a malformed id.
fn endpoint_for(prefix: ApiPrefix, rest: &str) -> Option<Result<Endpoint, ApiError>> {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();

    let endpoint = match (segments.as_slice(), prefix) {
        ([""], _) => Endpoint::Root,
        (["user-keys"], _) => Endpoint::UserKeys,
        (["user-keys", "activate"], _) => Endpoint::ActivateUserKeys,
        (["user-keys", id], _) => return Some(parse_id(id).map(Endpoint::UserKey)),
        (["session-key"], _) => Endpoint::SessionKey,
        (["session-keys"], _) => Endpoint::LegacySessionKeys,
        (["session-keys", id], _) => return Some(parse_id(id).map(Endpoint::LegacySessionKey)),
        (["get-session-key"], _) => Endpoint::LegacyGetSessionKey,
        (["activate-user-key"], _) => Endpoint::LegacyActivateUserKey,
        (["secret-roles"], _) => Endpoint::SecretRoles,
        (["secret-roles", id], _) => return Some(parse_id(id).map(Endpoint::SecretRole)),
        (["secrets"], _) => Endpoint::Secrets,
        (["secrets", id], _) => return Some(parse_id(id).map(Endpoint::Secret)),
        (["generate-rsa-key-pair"], _) => Endpoint::GenerateKeyPair,
        _ => return None,
    };

    Some(Ok(endpoint))
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    match text.parse::<i64>() {
        Ok(id) if id >= 0 && text.bytes().all(|byte| byte.is_ascii_digit()) => Ok(id),
        _ => Err(ApiError::no_route()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(rest: &str) -> Option<Endpoint> {
        match resolve(ApiPrefix::Plugin, rest, &Method::GET) {
            Ok(Resolved::Endpoint(endpoint)) => Some(endpoint),
            _ => None,
        }
    }

    #[test]
    fn paths_resolve_to_endpoints() {
        let cases = [
            ("", Some(Endpoint::Root)),
            ("secrets/", Some(Endpoint::Secrets)),
            ("secrets/12/", Some(Endpoint::Secret(12))),
            ("secret-roles/3/", Some(Endpoint::SecretRole(3))),
            ("user-keys/activate/", Some(Endpoint::ActivateUserKeys)),
            ("user-keys/7/", Some(Endpoint::UserKey(7))),
            ("session-key/", Some(Endpoint::SessionKey)),
            ("session-keys/", Some(Endpoint::LegacySessionKeys)),
            ("session-keys/4/", Some(Endpoint::LegacySessionKey(4))),
            ("get-session-key/", Some(Endpoint::LegacyGetSessionKey)),
            ("activate-user-key/", Some(Endpoint::LegacyActivateUserKey)),
            ("generate-rsa-key-pair/", Some(Endpoint::GenerateKeyPair)),
            ("secrets/abc/", None),
            ("secrets/-1/", None),
            ("secrets/1/extra/", None),
            ("nothing/", None),
        ];
        for (rest, expected) in cases {
            assert_eq!(endpoint(rest), expected, "path {rest:?}");
        }
    }

    #[test]
    fn missing_slash_redirects_reads_only() {
        let read = resolve(ApiPrefix::Plugin, "secrets", &Method::GET);
        assert!(matches!(read, Ok(Resolved::AddSlash)));

        let write = resolve(ApiPrefix::Plugin, "secrets", &Method::POST);
        assert!(write.is_err());
    }
}
