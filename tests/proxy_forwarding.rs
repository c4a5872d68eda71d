//! Forwarding to NetBox: requests and responses pass unchanged except for hop-by-hop and
//! forwarded headers; bodies stream; upgrades tunnel; upstream failures become JSON errors.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use netbox_secrets_proxy::body;
use support::{
    body_bytes, body_json, proxy_config, request, send, ChannelBody, EchoHandler, FakeNetBox,
    Generated, TestProxy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FIFTY_MB: u64 = 50 * 1024 * 1024;

/// Fails a test that would otherwise hang, without asserting anything about speed.
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("the step did not finish; the proxy is probably buffering")
}

async fn start_pair(extra: &str) -> (FakeNetBox, TestProxy) {
    let netbox = FakeNetBox::start().await;
    let proxy = TestProxy::start(proxy_config(&netbox.url(), extra), EchoHandler::new()).await;
    (netbox, proxy)
}

#[tokio::test]
async fn request_reaches_netbox_unchanged() {
    let (netbox, proxy) = start_pair("").await;
    let mut req = request(
        "POST",
        "/api/dcim/devices/?q=a%20b&x=1&x=2",
        "{\"name\":\"d\"}",
    );
    let headers = req.headers_mut();
    headers.insert("x-custom", "kept".parse().unwrap());
    headers.insert(header::AUTHORIZATION, "Token 0123".parse().unwrap());
    headers.insert(header::COOKIE, "sessionid=abc".parse().unwrap());
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());

    let response = send(proxy.addr, req).await;

    assert_eq!(response.status(), StatusCode::OK);
    let seen = netbox.last_request();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/api/dcim/devices/?q=a%20b&x=1&x=2");
    assert_eq!(seen.header("x-custom"), Some("kept"));
    assert_eq!(seen.header("authorization"), Some("Token 0123"));
    assert_eq!(seen.header("cookie"), Some("sessionid=abc"));
    assert_eq!(seen.header("host"), Some("proxy.test:8080"));
    assert_eq!(seen.body, Bytes::from_static(b"{\"name\":\"d\"}"));
}

#[tokio::test]
async fn raw_target_is_not_normalised() {
    let (netbox, proxy) = start_pair("").await;

    let target = "/api//dcim/./devices/%2e%2E/%7Efoo/?a=%2F&b=c%20d#";
    let target = target.trim_end_matches('#');
    send(proxy.addr, request("GET", target, "")).await;

    assert_eq!(netbox.last_request().target, target);
}

#[tokio::test]
async fn response_comes_back_without_hop_by_hop_headers() {
    let (_netbox, proxy) = start_pair("").await;

    let response = send(proxy.addr, request("GET", "/api/status/", "")).await;

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["x-upstream"], "fake");
    assert_eq!(headers[header::SET_COOKIE], "csrftoken=fake");
    assert!(headers.get("x-upstream-hop").is_none());
    assert!(headers.get("keep-alive").is_none());
    assert_eq!(body_json(response).await["path"], "/api/status/");
}

#[tokio::test]
async fn hop_by_hop_request_headers_are_stripped() {
    let (netbox, proxy) = start_pair("").await;
    let mut req = request("GET", "/api/", "");
    let headers = req.headers_mut();
    headers.insert(header::CONNECTION, "x-private-hop".parse().unwrap());
    headers.insert("x-private-hop", "secret".parse().unwrap());
    headers.insert("keep-alive", "timeout=5".parse().unwrap());
    headers.insert("proxy-connection", "keep-alive".parse().unwrap());
    headers.insert(header::TE, "trailers".parse().unwrap());
    headers.insert(header::TRAILER, "x-sum".parse().unwrap());
    headers.insert(header::PROXY_AUTHORIZATION, "Basic eDp5".parse().unwrap());
    headers.insert(header::UPGRADE, "websocket".parse().unwrap());

    send(proxy.addr, req).await;

    let seen = netbox.last_request();
    for name in [
        "x-private-hop",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "proxy-authorization",
        "upgrade",
    ] {
        assert!(seen.header(name).is_none(), "{name} reached NetBox");
    }
}

#[tokio::test]
async fn client_forwarded_headers_are_replaced() {
    let (netbox, proxy) = start_pair("").await;
    let mut req = request("GET", "/api/", "");
    let headers = req.headers_mut();
    headers.insert("x-forwarded-for", "127.0.0.2".parse().unwrap());
    headers.insert("x-real-ip", "127.0.0.2".parse().unwrap());
    headers.insert("x-forwarded-host", "evil.example".parse().unwrap());
    headers.insert("x-forwarded-proto", "https".parse().unwrap());

    send(proxy.addr, req).await;

    let seen = netbox.last_request();
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-host"), Some("proxy.test:8080"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
}

#[tokio::test]
async fn trusted_proxy_forwarded_headers_are_kept() {
    let (netbox, proxy) = start_pair("trusted_proxies = [\"127.0.0.0/8\"]").await;
    let mut req = request("GET", "/api/", "");
    let headers = req.headers_mut();
    headers.insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
    headers.insert("x-forwarded-host", "netbox.example.com".parse().unwrap());
    headers.insert("x-forwarded-proto", "https".parse().unwrap());

    send(proxy.addr, req).await;

    let seen = netbox.last_request();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("198.51.100.1, 127.0.0.1")
    );
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-host"), Some("netbox.example.com"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
}

#[tokio::test]
async fn public_url_reaches_netbox_as_forwarded_host_and_proto() {
    let (netbox, proxy) = start_pair("public_url = \"https://netbox.example.com:8443\"").await;

    send(proxy.addr, request("GET", "/api/dcim/devices/1/", "")).await;

    let seen = netbox.last_request();
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some("netbox.example.com:8443")
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
}

#[tokio::test]
async fn head_and_options_are_forwarded() {
    let (netbox, proxy) = start_pair("").await;

    let head = send(proxy.addr, request("HEAD", "/api/status/", "")).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(netbox.last_request().method, "HEAD");
    assert!(body_bytes(head).await.is_empty());

    let options = send(proxy.addr, request("OPTIONS", "/api/dcim/devices/", "")).await;
    assert_eq!(options.status(), StatusCode::OK);
    assert_eq!(netbox.last_request().method, "OPTIONS");
}

#[tokio::test]
async fn redirect_location_is_untouched() {
    let (_netbox, proxy) = start_pair("").await;

    let response = send(proxy.addr, request("GET", "/fake/redirect", "")).await;

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login/?next=/api/%2Fdcim/"
    );
}

#[tokio::test]
async fn upgrade_tunnels_bytes_both_ways() {
    let (netbox, proxy) = start_pair("").await;
    let req = Request::builder()
        .uri("/fake/upgrade")
        .header(header::HOST, "proxy.test")
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .body(body::empty())
        .unwrap();

    let response = send(proxy.addr, req).await;

    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()[header::UPGRADE], "websocket");
    assert_eq!(netbox.last_request().header("upgrade"), Some("websocket"));
    let upgraded = within(hyper::upgrade::on(response)).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"ping over the tunnel").await.unwrap();
    let mut echoed = [0u8; 20];
    within(io.read_exact(&mut echoed)).await.unwrap();
    assert_eq!(&echoed, b"ping over the tunnel");
}

#[tokio::test]
async fn fifty_megabyte_upload_passes_through() {
    let (netbox, proxy) = start_pair("").await;
    let req = Request::builder()
        .method("POST")
        .uri("/fake/upload")
        .header(header::HOST, "proxy.test")
        .body(Generated::new(FIFTY_MB).boxed())
        .unwrap();

    let response = within(send(proxy.addr, req)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["received"], FIFTY_MB);
    assert_eq!(netbox.last_request().body_len, FIFTY_MB);
}

#[tokio::test]
async fn fifty_megabyte_download_passes_through() {
    let (_netbox, proxy) = start_pair("").await;

    let target = format!("/fake/download/{FIFTY_MB}");
    let response = send(proxy.addr, request("GET", &target, "")).await;

    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = 0u64;
    while let Some(frame) = within(body.frame()).await {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len() as u64;
        }
    }
    assert_eq!(received, FIFTY_MB);
}

#[tokio::test]
async fn upload_reaches_netbox_before_it_ends() {
    let (netbox, proxy) = start_pair("").await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let req = Request::builder()
        .method("POST")
        .uri("/fake/upload-gated")
        .header(header::HOST, "proxy.test")
        .body(ChannelBody::new(rx).boxed())
        .unwrap();
    let addr = proxy.addr;
    let pending = tokio::spawn(async move { send(addr, req).await });

    tx.send(Bytes::from_static(b"first")).await.unwrap();
    within(netbox.first_chunk()).await;
    tx.send(Bytes::from_static(b"-second")).await.unwrap();
    drop(tx);

    let response = within(pending).await.unwrap();
    assert_eq!(body_json(response).await["received"], 12);
}

#[tokio::test]
async fn download_reaches_client_before_it_ends() {
    let (netbox, proxy) = start_pair("").await;

    let response = send(proxy.addr, request("GET", "/fake/download-gated", "")).await;
    let mut body = response.into_body();

    let first = within(body.frame()).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "first-chunk");
    netbox.release();
    let rest = within(body.collect()).await.unwrap().to_bytes();
    assert_eq!(rest, "rest");
}

#[tokio::test]
async fn unreachable_upstream_gives_json_502() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = TestProxy::start(proxy_config(&closed_url, ""), EchoHandler::new()).await;

    let response = send(proxy.addr, request("GET", "/api/", "")).await;

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        body_json(response).await["detail"],
        "NetBox is unreachable."
    );
}

#[tokio::test]
async fn slow_upstream_gives_json_504() {
    let (netbox, proxy) = start_pair("[timeouts]\nresponse_secs = 1").await;

    let response = send(proxy.addr, request("GET", "/fake/hold", "")).await;

    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(body_json(response).await["detail"].is_string());
    netbox.release();
}

#[tokio::test]
async fn live_is_always_ok() {
    let closed_url = "http://127.0.0.1:9";
    let proxy = TestProxy::start(proxy_config(closed_url, ""), EchoHandler::new()).await;

    let response = send(proxy.addr, request("GET", "/-/live", "")).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn ready_needs_handler_and_netbox() {
    let netbox = FakeNetBox::start().await;
    let handler = EchoHandler::new();
    let config = proxy_config(&netbox.url(), "base_path = \"netbox/\"");
    let proxy = TestProxy::start(config, handler.clone()).await;

    let ready = send(proxy.addr, request("GET", "/-/ready", "")).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(netbox.last_request().target, "/netbox/api/status/");

    handler
        .ready
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let not_ready = send(proxy.addr, request("GET", "/-/ready", "")).await;
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body_json(not_ready).await["detail"].is_string());
}

#[tokio::test]
async fn ready_fails_when_netbox_is_unreachable() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = TestProxy::start(proxy_config(&closed_url, ""), EchoHandler::new()).await;

    let response = send(proxy.addr, request("GET", "/-/ready", "")).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn shutdown_lets_in_flight_request_finish() {
    let (netbox, proxy) = start_pair("").await;
    let addr = proxy.addr;
    let pending = tokio::spawn(async move { send(addr, request("GET", "/fake/hold", "")).await });
    within(netbox.arrived()).await;

    let stopping = tokio::spawn(proxy.stop());
    netbox.release();

    let response = within(pending).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_bytes(response).await, "released");
    within(stopping).await.unwrap();
}
