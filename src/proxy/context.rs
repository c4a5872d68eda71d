//! Request context passed to the secrets API: client IP, public origin and route.

use std::net::IpAddr;

/// The public scheme and host NetBox writes into URLs, such as `https` and
/// `proxy.example.com:8443`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicOrigin {
    pub scheme: String,
    pub host: String,
}

impl PublicOrigin {
    /// Returns `scheme://host`, the form of an `Origin` header.
    pub fn to_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

/// Facts about a request to the secrets API.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The client IP NetBox should see, after trusted-proxy handling.
    pub client_ip: IpAddr,
    /// Public scheme and host for URLs and CSRF checks.
    pub origin: PublicOrigin,
    /// NetBox's BASE_PATH as a prefix: `/` or `/netbox/`.
    pub base_path: String,
    /// The route inside the secrets API.
    pub route: OwnedRoute,
}

/// A request path inside one of the secrets API prefixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRoute {
    pub prefix: ApiPrefix,
    /// Normalised path after the prefix, such as `secrets/12/`, or `` for the API root.
    pub rest: String,
}

/// The two path prefixes the proxy serves itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiPrefix {
    /// `<base>api/plugins/secrets/`, where netbox-secrets serves its API.
    Plugin,
    /// `<base>api/secrets/`, the path of the pre-plugin NetBox secrets API.
    Legacy,
}
