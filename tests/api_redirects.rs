//! The trailing-slash redirect of the secrets API: its `Location` is always a path on this
//! host, however the request path was spelled.

mod support;

use std::sync::Arc;

use netbox_secrets_proxy::api::ApiService;
use netbox_secrets_proxy::proxy::Upstream;
use support::{proxy_config, raw_request, FakeNetBox, TestProxy};

async fn start_api(netbox: &FakeNetBox, data: &tempfile::TempDir) -> TestProxy {
    let extra = format!("data_dir = {:?}", data.path().display().to_string());
    let config = proxy_config(&netbox.url(), &extra);
    let upstream = Upstream::new(&config).unwrap();
    let api = ApiService::from_config(&config, upstream).unwrap();
    TestProxy::start(config, Arc::new(api)).await
}

fn location(head: &str) -> Option<String> {
    head.lines()
        .find_map(|line| line.strip_prefix("location: "))
        .map(str::to_owned)
}

#[tokio::test]
async fn redirect_location_never_names_another_host() {
    let netbox = FakeNetBox::start().await;
    let data = tempfile::tempdir().unwrap();
    let proxy = start_api(&netbox, &data).await;

    let cases = [
        (
            "//evil.example/../api/plugins/secrets/secrets",
            "/api/plugins/secrets/secrets/",
        ),
        (
            "/%2F%2Fevil.example/../api/plugins/secrets/secrets?brief=1",
            "/api/plugins/secrets/secrets/?brief=1",
        ),
        ("/api//secrets//secrets", "/api/secrets/secrets/"),
        (
            "/api/plugins/secrets/secrets?limit=2",
            "/api/plugins/secrets/secrets/?limit=2",
        ),
    ];
    for (target, expected) in cases {
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n");
        let response = raw_request(proxy.addr, request.as_bytes()).await;

        assert_eq!(response.status, 301, "target {target}");
        assert_eq!(
            location(&response.head).as_deref(),
            Some(expected),
            "target {target}"
        );
    }
    assert!(netbox.requests().is_empty());
    proxy.stop().await;
}
