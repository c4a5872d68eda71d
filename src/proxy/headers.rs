//! Header rewriting: hop-by-hop removal, forwarded headers and sensitive-value marking.

use std::net::{IpAddr, SocketAddr};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Uri;

use super::context::PublicOrigin;
use crate::config::Cidr;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Headers whose values are credentials; marked sensitive so they never print.
const SENSITIVE: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-session-key",
    "x-csrftoken",
];

/// Hop-by-hop headers that never cross the proxy, besides those listed in `Connection`.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// Marks credential headers sensitive so that Debug output and logs show no value.
pub fn mark_sensitive(headers: &mut HeaderMap) {
    for name in SENSITIVE {
        if let header::Entry::Occupied(mut entry) = headers.entry(*name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

/// Returns the requested protocol when the client asks for a connection upgrade.
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks_upgrade = connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"));
    if asks_upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
}

/// Removes hop-by-hop headers, including every header named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<String> = connection_tokens(headers).collect();
    for name in listed {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Settings for the forwarded headers, taken from the configuration.
#[derive(Clone, Debug)]
pub struct ForwardSettings {
    pub trusted_proxies: Vec<Cidr>,
    /// The configured `public_url`, if any.
    pub public_origin: Option<PublicOrigin>,
}

/// The outside view of a request: its sender and its public origin.
#[derive(Clone, Debug)]
pub struct ForwardedView {
    /// The TCP peer's address, IPv4-mapped addresses turned into IPv4.
    pub peer_ip: IpAddr,
    /// Whether the peer is a trusted proxy whose forwarded headers are kept.
    pub trusted_peer: bool,
    /// The client IP NetBox will see.
    pub client_ip: IpAddr,
    pub origin: PublicOrigin,
}

impl ForwardedView {
    /// Works out the view of a request that reached the listener from `peer` on `local`.
    ///
    /// A trusted peer's `X-Real-IP`, `X-Forwarded-For` (leftmost entry), `X-Forwarded-Host` and
    /// `X-Forwarded-Proto` are believed, in NetBox's order. Otherwise the client IP is the peer,
    /// and the origin is `public_url`, or the request's host with the listener's scheme.
    pub fn of(
        headers: &HeaderMap,
        uri: &Uri,
        peer: SocketAddr,
        local: SocketAddr,
        listener_scheme: &str,
        settings: &ForwardSettings,
    ) -> ForwardedView {
        let peer_ip = peer.ip().to_canonical();
        let trusted_peer = settings.trusted_proxies.iter().any(|c| c.contains(peer_ip));
        let default_origin = settings
            .public_origin
            .clone()
            .unwrap_or_else(|| PublicOrigin {
                scheme: listener_scheme.to_owned(),
                host: request_host(headers, uri, local),
            });

        if !trusted_peer {
            return ForwardedView {
                peer_ip,
                trusted_peer,
                client_ip: peer_ip,
                origin: default_origin,
            };
        }

        let client_ip = first_ip(headers, &X_REAL_IP)
            .or_else(|| first_ip(headers, &X_FORWARDED_FOR))
            .unwrap_or(peer_ip);
        let origin = PublicOrigin {
            scheme: first_item(headers, &X_FORWARDED_PROTO)
                .map(|proto| if proto == "https" { "https" } else { "http" }.to_owned())
                .unwrap_or(default_origin.scheme),
            host: first_item(headers, &X_FORWARDED_HOST).unwrap_or(default_origin.host),
        };
        ForwardedView {
            peer_ip,
            trusted_peer,
            client_ip,
            origin,
        }
    }
}

fn request_host(headers: &HeaderMap, uri: &Uri, local: SocketAddr) -> String {
    let from_header = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|h| !h.is_empty());
    match (from_header, uri.authority()) {
        (Some(host), _) => host.to_owned(),
        (None, Some(authority)) => authority.as_str().to_owned(),
        (None, None) => local.to_string(),
    }
}

/// Returns the first comma-separated item of the first header value, trimmed.
fn first_item(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    let item = value.split(',').next()?.trim();
    (!item.is_empty()).then(|| item.to_owned())
}

fn first_ip(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    first_item(headers, name)?.parse().ok()
}

/// Sets the forwarded headers NetBox reads for client IP, host and scheme.
///
/// From an untrusted peer, client-sent values are replaced. From a trusted proxy they are kept,
/// missing ones are filled in, and the peer is appended to `X-Forwarded-For`.
pub fn rewrite_forwarded(headers: &mut HeaderMap, view: &ForwardedView) {
    let peer = HeaderValue::from_str(&view.peer_ip.to_string())
        .expect("an IP address is a valid header value");
    let host = HeaderValue::from_str(&view.origin.host).ok();
    let proto = HeaderValue::from_str(&view.origin.scheme).ok();

    if !view.trusted_peer {
        for name in [
            &X_FORWARDED_FOR,
            &X_REAL_IP,
            &X_FORWARDED_HOST,
            &X_FORWARDED_PROTO,
        ] {
            headers.remove(name);
        }
    }

    append_forwarded_for(headers, &view.peer_ip);
    set_if_missing(headers, X_REAL_IP, Some(peer));
    set_if_missing(headers, X_FORWARDED_HOST, host);
    set_if_missing(headers, X_FORWARDED_PROTO, proto);
}

fn append_forwarded_for(headers: &mut HeaderMap, peer: &IpAddr) {
    let mut chain: Vec<String> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    chain.push(peer.to_string());

    if let Ok(value) = HeaderValue::from_str(&chain.join(", ")) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

fn set_if_missing(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    if let (false, Some(value)) = (headers.contains_key(&name), value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn settings(trusted: &[&str], public: Option<(&str, &str)>) -> ForwardSettings {
        ForwardSettings {
            trusted_proxies: trusted.iter().map(|c| c.parse().unwrap()).collect(),
            public_origin: public.map(|(scheme, host)| PublicOrigin {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
            }),
        }
    }

    fn view(map: &HeaderMap, peer: &str, settings: &ForwardSettings) -> ForwardedView {
        let uri: Uri = "/api/".parse().unwrap();
        let peer: SocketAddr = format!("{peer}:5000").parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        ForwardedView::of(map, &uri, peer, local, "http", settings)
    }

    fn value<'a>(map: &'a HeaderMap, name: &HeaderName) -> &'a str {
        map.get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn untrusted_peer_values_are_replaced() {
        let mut map = headers(&[
            ("host", "proxy.example.com"),
            ("x-forwarded-for", "127.0.0.2"),
            ("x-real-ip", "127.0.0.2"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ]);
        let view = view(&map, "192.0.2.7", &settings(&[], None));

        rewrite_forwarded(&mut map, &view);

        assert_eq!(value(&map, &X_FORWARDED_FOR), "192.0.2.7");
        assert_eq!(value(&map, &X_REAL_IP), "192.0.2.7");
        assert_eq!(value(&map, &X_FORWARDED_HOST), "proxy.example.com");
        assert_eq!(value(&map, &X_FORWARDED_PROTO), "http");
        assert_eq!(view.client_ip, "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn public_url_sets_host_and_scheme() {
        let mut map = headers(&[("host", "127.0.0.1:8080")]);
        let settings = settings(&[], Some(("https", "netbox.example.com")));
        let view = view(&map, "192.0.2.7", &settings);

        rewrite_forwarded(&mut map, &view);

        assert_eq!(value(&map, &X_FORWARDED_HOST), "netbox.example.com");
        assert_eq!(value(&map, &X_FORWARDED_PROTO), "https");
    }

    #[test]
    fn trusted_peer_values_are_kept_and_peer_appended() {
        let mut map = headers(&[
            ("host", "internal:8080"),
            ("x-forwarded-for", "198.51.100.1, 10.0.0.9"),
            ("x-forwarded-host", "netbox.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        let view = view(&map, "10.0.0.5", &settings(&["10.0.0.0/8"], None));

        rewrite_forwarded(&mut map, &view);

        assert_eq!(
            value(&map, &X_FORWARDED_FOR),
            "198.51.100.1, 10.0.0.9, 10.0.0.5"
        );
        assert_eq!(value(&map, &X_REAL_IP), "10.0.0.5");
        assert_eq!(value(&map, &X_FORWARDED_HOST), "netbox.example.com");
        assert_eq!(value(&map, &X_FORWARDED_PROTO), "https");
        assert_eq!(view.client_ip, "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!(view.origin.to_url(), "https://netbox.example.com");
    }

    #[test]
    fn trusted_x_real_ip_is_client_ip() {
        let map = headers(&[
            ("x-real-ip", "203.0.113.4"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        let view = view(&map, "10.0.0.5", &settings(&["10.0.0.0/8"], None));
        assert_eq!(view.client_ip, "203.0.113.4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut map = headers(&[
            ("connection", "keep-alive, X-Private-Hop"),
            ("x-private-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic eDp5"),
            ("authorization", "Token abc"),
            ("x-end-to-end", "kept"),
        ]);

        strip_hop_by_hop(&mut map);

        let mut names: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["authorization", "x-end-to-end"]);
    }

    #[test]
    fn credentials_are_marked_sensitive() {
        let mut map = headers(&[
            ("authorization", "Token abc"),
            ("cookie", "sessionid=x"),
            ("x-session-key", "k"),
            ("x-csrftoken", "c"),
            ("set-cookie", "a=b"),
            ("accept", "*/*"),
        ]);

        mark_sensitive(&mut map);

        for (name, value) in &map {
            assert_eq!(value.is_sensitive(), name != "accept", "{name}");
        }
        assert!(!format!("{map:?}").contains("abc"));
    }

    #[test]
    fn upgrade_needs_connection_token() {
        let requested = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        let not_requested = headers(&[("upgrade", "websocket")]);
        assert_eq!(upgrade_protocol(&requested).unwrap(), "websocket");
        assert!(upgrade_protocol(&not_requested).is_none());
    }
}
