//! Path ownership: every spelling Django would resolve onto the secrets prefixes is served by
//! the proxy and never reaches NetBox; every other path is forwarded byte for byte.

mod support;

use support::{proxy_config, raw_request, EchoHandler, FakeNetBox, TestProxy};

/// Where a spelling must end up.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Served by the handler with this prefix and normalised rest.
    Owned(&'static str, &'static str),
    /// Forwarded to NetBox with the raw target.
    Forwarded,
}

use Expect::{Forwarded, Owned};

const NO_BASE: &[(&str, Expect)] = &[
    ("/api/plugins/secrets/secrets/", Owned("Plugin", "secrets/")),
    ("/api/plugins/secrets/", Owned("Plugin", "")),
    ("/api/plugins/secrets", Owned("Plugin", "")),
    (
        "/api/plugins/secrets/secrets/12/?brief=1",
        Owned("Plugin", "secrets/12/"),
    ),
    ("/api//plugins/secrets/", Owned("Plugin", "")),
    (
        "//api///plugins//secrets//user-keys/",
        Owned("Plugin", "user-keys/"),
    ),
    ("/api/plugins/./secrets/", Owned("Plugin", "")),
    ("/api/dcim/../plugins/secrets/", Owned("Plugin", "")),
    (
        "/api/plugins/secrets/x/../session-key/",
        Owned("Plugin", "session-key/"),
    ),
    ("/../api/plugins/secrets/", Owned("Plugin", "")),
    ("/api/plugins/%73ecrets/", Owned("Plugin", "")),
    ("/api%2Fplugins%2Fsecrets/", Owned("Plugin", "")),
    (
        "/api%2fplugins%2fsecrets%2fsecrets%2f",
        Owned("Plugin", "secrets/"),
    ),
    ("/api/plugins/%2e/secrets/", Owned("Plugin", "")),
    ("/api/dcim/%2E%2E/plugins/secrets/", Owned("Plugin", "")),
    (
        "/%61%70%69/plugins/secrets/secret-roles/",
        Owned("Plugin", "secret-roles/"),
    ),
    ("/api/secrets/secrets/", Owned("Legacy", "secrets/")),
    ("/api/secrets/", Owned("Legacy", "")),
    ("/api/secrets", Owned("Legacy", "")),
    ("/api/./secrets//secrets/?q=x", Owned("Legacy", "secrets/")),
    ("/API/plugins/secrets/", Forwarded),
    ("/api/Plugins/secrets/", Forwarded),
    ("/api/plugins/secretsX/", Forwarded),
    ("/api/plugins/secrets-extra/", Forwarded),
    ("/api/plugins/", Forwarded),
    ("/api/plugins/installed-plugins/", Forwarded),
    ("/api/secretsX/", Forwarded),
    ("/api/dcim/devices/?q=/api/plugins/secrets/", Forwarded),
    ("/plugins/secrets/secrets/", Forwarded),
    ("/api/plugins/%2573ecrets/", Forwarded),
    ("/netbox/api/plugins/secrets/", Forwarded),
];

const WITH_BASE: &[(&str, Expect)] = &[
    (
        "/netbox/api/plugins/secrets/secrets/",
        Owned("Plugin", "secrets/"),
    ),
    ("/netbox/api/plugins/secrets", Owned("Plugin", "")),
    ("/netbox//api/plugins/secrets/", Owned("Plugin", "")),
    ("/netbox%2Fapi%2Fplugins%2Fsecrets/", Owned("Plugin", "")),
    ("/other/../netbox/api/plugins/secrets/", Owned("Plugin", "")),
    (
        "/netbox/api/secrets/secrets/1/",
        Owned("Legacy", "secrets/1/"),
    ),
    ("/netbox/api/dcim/devices/", Forwarded),
    ("/NETBOX/api/plugins/secrets/", Forwarded),
    ("/api/plugins/secrets/", Forwarded),
    ("/netbox/api/plugins/secretsX/", Forwarded),
];

async fn check_table(base_path_toml: &str, table: &[(&str, Expect)]) {
    let netbox = FakeNetBox::start().await;
    let config = proxy_config(&netbox.url(), base_path_toml);
    let proxy = TestProxy::start(config, EchoHandler::new()).await;

    for (target, expect) in table {
        let before = netbox.requests().len();
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n");
        let response = raw_request(proxy.addr, request.as_bytes()).await;
        let forwarded = netbox.requests()[before..].to_vec();

        match expect {
            Owned(prefix, rest) => {
                assert_eq!(response.status, 200, "{target}: {}", response.head);
                assert!(forwarded.is_empty(), "{target} was forwarded to NetBox");
                let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
                assert_eq!(body["owned"], true, "{target}");
                assert_eq!(body["prefix"], *prefix, "{target}");
                assert_eq!(body["rest"], *rest, "{target}");
            }
            Forwarded => {
                assert_eq!(forwarded.len(), 1, "{target} did not reach NetBox");
                assert_eq!(forwarded[0].target, *target, "{target} was altered");
            }
        }
    }
}

#[tokio::test]
async fn spellings_without_base_path_route_as_django_would() {
    assert!(NO_BASE.len() >= 20);
    check_table("", NO_BASE).await;
}

#[tokio::test]
async fn spellings_with_base_path_route_as_django_would() {
    check_table("base_path = \"netbox/\"", WITH_BASE).await;
}

#[tokio::test]
async fn every_method_on_owned_paths_stays_with_the_proxy() {
    let netbox = FakeNetBox::start().await;
    let proxy = TestProxy::start(proxy_config(&netbox.url(), ""), EchoHandler::new()).await;

    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let request = format!(
            "{method} /api/plugins/secrets/secrets/1/ HTTP/1.1\r\nHost: proxy.test\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        let response = raw_request(proxy.addr, request.as_bytes()).await;
        assert_eq!(response.status, 200, "{method}");
    }
    assert!(netbox.requests().is_empty());
}

#[tokio::test]
async fn handler_context_carries_client_origin_and_base() {
    let netbox = FakeNetBox::start().await;
    let config = proxy_config(&netbox.url(), "base_path = \"netbox/\"");
    let proxy = TestProxy::start(config, EchoHandler::new()).await;

    let request = b"GET /netbox/api/plugins/secrets/ HTTP/1.1\r\nHost: proxy.test:8443\r\n\
                    X-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n";
    let response = raw_request(proxy.addr, request).await;

    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["client_ip"], "127.0.0.1");
    assert_eq!(body["origin"], "http://proxy.test:8443");
    assert_eq!(body["base_path"], "/netbox/");
}
