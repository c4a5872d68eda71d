//! TLS: the listener serves HTTPS from PEM files, and an HTTPS NetBox is reached with a CA file.

mod support;

use std::sync::Arc;

use http::StatusCode;
use hyper_util::rt::TokioIo;
use netbox_secrets_proxy::config::TlsConfig;
use netbox_secrets_proxy::tls;
use rustls::pki_types::ServerName;
use support::{
    body_json, proxy_config, request, send, EchoHandler, FakeNetBox, TestCert, TestProxy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn listener_serves_https_and_reports_https_to_netbox() {
    let cert = TestCert::generate();
    let netbox = FakeNetBox::start().await;
    let extra = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        cert.cert_file, cert.key_file
    );
    let proxy = TestProxy::start(proxy_config(&netbox.url(), &extra), EchoHandler::new()).await;

    let connector = tokio_rustls::TlsConnector::from(cert.client_config());
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls_stream = connector.connect(name, stream).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls_stream))
        .await
        .unwrap();
    tokio::spawn(connection);

    let response = sender
        .send_request(request("GET", "/api/", ""))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        netbox.last_request().header("x-forwarded-proto"),
        Some("https")
    );

    let owned = sender
        .send_request(request("GET", "/api/plugins/secrets/", ""))
        .await
        .unwrap();
    assert_eq!(body_json(owned).await["origin"], "https://proxy.test:8080");
}

#[tokio::test]
async fn plain_http_to_tls_listener_gets_no_response() {
    let cert = TestCert::generate();
    let netbox = FakeNetBox::start().await;
    let extra = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        cert.cert_file, cert.key_file
    );
    let proxy = TestProxy::start(proxy_config(&netbox.url(), &extra), EchoHandler::new()).await;

    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"GET /api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;

    assert!(!received.starts_with(b"HTTP/1.1 200"));
    assert!(netbox.requests().is_empty());
}

#[tokio::test]
async fn https_upstream_is_trusted_through_ca_file() {
    let cert = TestCert::generate();
    let server_tls = tls::server_config(&TlsConfig {
        cert_file: cert.cert_file.clone(),
        key_file: cert.key_file.clone(),
    })
    .unwrap();
    let netbox = FakeNetBox::start_tls(Arc::clone(&server_tls)).await;
    let upstream = format!("https://localhost:{}", netbox.addr.port());
    let extra = format!("[upstream_tls]\nca_file = {:?}\n", cert.cert_file);
    let proxy = TestProxy::start(proxy_config(&upstream, &extra), EchoHandler::new()).await;

    let response = send(proxy.addr, request("GET", "/api/status/?x=1", "")).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(netbox.last_request().target, "/api/status/?x=1");
}

#[tokio::test]
async fn https_upstream_without_trust_gives_502() {
    let cert = TestCert::generate();
    let server_tls = tls::server_config(&TlsConfig {
        cert_file: cert.cert_file.clone(),
        key_file: cert.key_file.clone(),
    })
    .unwrap();
    let netbox = FakeNetBox::start_tls(server_tls).await;
    let upstream = format!("https://localhost:{}", netbox.addr.port());
    let proxy = TestProxy::start(proxy_config(&upstream, ""), EchoHandler::new()).await;

    let response = send(proxy.addr, request("GET", "/api/status/", "")).await;

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(netbox.requests().is_empty());
}
