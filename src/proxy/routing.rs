//! Path ownership: the requests the proxy serves itself, decided as Django resolves paths.
//!
//! A request is ours when its path, after percent-decoding (including `%2F` and `%2E`),
//! collapsing `//` runs and resolving `.` and `..` segments, falls under one of the secrets API
//! prefixes. Such a request is never forwarded, however it was spelled. Every other request is
//! forwarded with its raw bytes.

use percent_encoding::percent_decode_str;

use super::context::{ApiPrefix, OwnedRoute};

/// Prefix reserved for the proxy's health endpoints. NetBox serves nothing under it.
pub const HEALTH_PREFIX: &str = "/-/";

/// The destination of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// To NetBox, unchanged.
    Forward,
    /// To the secrets API.
    Owned(OwnedRoute),
    /// To a health endpoint.
    Health(HealthCheck),
}

/// The health endpoints under [`HEALTH_PREFIX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthCheck {
    Live,
    Ready,
    /// Any other path under the reserved prefix.
    Unknown,
}

impl Destination {
    /// Returns the route template for logs, which never contains the raw path or query.
    pub fn template(&self) -> String {
        match self {
            Destination::Forward => "forward".to_owned(),
            Destination::Health(HealthCheck::Live) => "health:live".to_owned(),
            Destination::Health(HealthCheck::Ready) => "health:ready".to_owned(),
            Destination::Health(HealthCheck::Unknown) => "health:unknown".to_owned(),
            Destination::Owned(route) => {
                let label = match route.prefix {
                    ApiPrefix::Plugin => "secrets",
                    ApiPrefix::Legacy => "secrets-legacy",
                };
                format!("{label}:{}", rest_template(&route.rest))
            }
        }
    }
}

/// Path segments of the secrets API kept as they are in route templates.
const KNOWN_SEGMENTS: &[&str] = &[
    "secrets",
    "secret-roles",
    "user-keys",
    "session-key",
    "session-keys",
    "generate-rsa-key-pair",
    "activate",
    "get-session-key",
    "activate-user-key",
];

fn rest_template(rest: &str) -> String {
    rest.split('/')
        .map(|segment| {
            if segment.is_empty() || KNOWN_SEGMENTS.contains(&segment) {
                segment
            } else if segment.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                "{other}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Decides the [`Destination`] of request paths for one NetBox BASE_PATH.
#[derive(Clone, Debug)]
pub struct Router {
    plugin_prefix: String,
    legacy_prefix: String,
}

impl Router {
    /// Builds a router for `base_prefix`, which is `/` or `/netbox/`.
    pub fn new(base_prefix: &str) -> Router {
        Router {
            plugin_prefix: format!("{base_prefix}api/plugins/secrets"),
            legacy_prefix: format!("{base_prefix}api/secrets"),
        }
    }

    /// Routes a raw request path (without the query).
    pub fn route(&self, raw_path: &str) -> Destination {
        let path = normalise_path(raw_path);

        if let Some(check) = path.strip_prefix(HEALTH_PREFIX) {
            return Destination::Health(match check {
                "live" => HealthCheck::Live,
                "ready" => HealthCheck::Ready,
                _ => HealthCheck::Unknown,
            });
        }

        let owned = [
            (ApiPrefix::Plugin, &self.plugin_prefix),
            (ApiPrefix::Legacy, &self.legacy_prefix),
        ];
        for (prefix, text) in owned {
            if let Some(rest) = rest_after(&path, text) {
                return Destination::Owned(OwnedRoute { prefix, rest });
            }
        }
        Destination::Forward
    }
}

/// Returns the part after `prefix/`, or `` when `path` is exactly `prefix`.
fn rest_after(path: &str, prefix: &str) -> Option<String> {
    let tail = path.strip_prefix(prefix)?;
    if tail.is_empty() {
        return Some(String::new());
    }
    tail.strip_prefix('/').map(str::to_owned)
}

/// Normalises a raw path: percent-decodes it once, collapses empty segments and resolves `.`
/// and `..` (never above the root). A trailing slash is kept. Invalid UTF-8 becomes U+FFFD.
pub fn normalise_path(raw: &str) -> String {
    let decoded = percent_decode_str(raw).decode_utf8_lossy();

    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            other => {
                segments.push(other);
                trailing_slash = false;
            }
        }
    }
    if decoded.ends_with('/') {
        trailing_slash = true;
    }

    let mut path = format!("/{}", segments.join("/"));
    if trailing_slash && !segments.is_empty() {
        path.push('/');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_path_cases() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("/api/", "/api/"),
            ("/api", "/api"),
            ("//api///dcim//", "/api/dcim/"),
            ("/api/./dcim/.", "/api/dcim/"),
            ("/api/dcim/..", "/api/"),
            ("/../../api/", "/api/"),
            ("/api%2Fplugins%2fsecrets/", "/api/plugins/secrets/"),
            ("/api/%2e%2E/x", "/x"),
            ("/a%20b/", "/a b/"),
            ("/bad%zz/", "/bad%zz/"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalise_path(raw), expected, "raw path {raw:?}");
        }
    }

    #[test]
    fn owned_routes_carry_normalised_rest() {
        let router = Router::new("/");
        let cases = [
            ("/api/plugins/secrets/", ApiPrefix::Plugin, ""),
            ("/api/plugins/secrets", ApiPrefix::Plugin, ""),
            (
                "/api/plugins/secrets/secrets/12/",
                ApiPrefix::Plugin,
                "secrets/12/",
            ),
            (
                "/api/plugins//secrets//secrets/",
                ApiPrefix::Plugin,
                "secrets/",
            ),
            ("/api/secrets/secrets/", ApiPrefix::Legacy, "secrets/"),
        ];
        for (raw, prefix, rest) in cases {
            let expected = Destination::Owned(OwnedRoute {
                prefix,
                rest: rest.to_owned(),
            });
            assert_eq!(router.route(raw), expected, "raw path {raw:?}");
        }
    }

    #[test]
    fn health_paths_are_reserved() {
        let router = Router::new("/");
        assert_eq!(
            router.route("/-/live"),
            Destination::Health(HealthCheck::Live)
        );
        assert_eq!(
            router.route("/-/ready"),
            Destination::Health(HealthCheck::Ready)
        );
        assert_eq!(
            router.route("/-/x"),
            Destination::Health(HealthCheck::Unknown)
        );
        assert_eq!(router.route("/-"), Destination::Forward);
    }

    #[test]
    fn templates_hide_raw_segments() {
        let route = |rest: &str| {
            Destination::Owned(OwnedRoute {
                prefix: ApiPrefix::Plugin,
                rest: rest.to_owned(),
            })
        };
        assert_eq!(route("secrets/12/").template(), "secrets:secrets/{id}/");
        assert_eq!(route("").template(), "secrets:");
        assert_eq!(
            route("secrets/hunter2/").template(),
            "secrets:secrets/{other}/"
        );
        assert_eq!(Destination::Forward.template(), "forward");
    }
}
