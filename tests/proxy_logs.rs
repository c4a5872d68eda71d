//! Logging: one span per request with method, route template, status and latency, and no
//! credential, cookie, session key, private key or raw path in the output even at TRACE.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::header;
use netbox_secrets_proxy::config::{LogConfig, LogFormat};
use netbox_secrets_proxy::telemetry;
use support::{body_bytes, proxy_config, request, send, EchoHandler, FakeNetBox, TestProxy};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

const TOKEN: &str = "Token 7c1f0e2a9b8d4c3e5f6a7b8c9d0e1f2a3b4c5d6e";
const COOKIE: &str = "sessionid=cookie-value-4f2e9a; csrftoken=csrf-value-81bd";
const SESSION_KEY: &str = "c2Vzc2lvbi1rZXktdmFsdWUtMzItYnl0ZXMtbG9uZyE=";
const CSRF: &str = "csrf-header-value-5e1c";
const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAprivatekeymaterial\n-----END RSA PRIVATE KEY-----";
const QUERY_MARKER: &str = "query-marker-93af";

fn secret_request(target: &str) -> http::Request<netbox_secrets_proxy::body::BoxBody> {
    let body = serde_json::json!({ "private_key": PRIVATE_KEY }).to_string();
    let mut req = request("POST", target, body);
    let headers = req.headers_mut();
    headers.insert(header::AUTHORIZATION, TOKEN.parse().unwrap());
    headers.insert(header::COOKIE, COOKIE.parse().unwrap());
    headers.insert("x-session-key", SESSION_KEY.parse().unwrap());
    headers.insert("x-csrftoken", CSRF.parse().unwrap());
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    req
}

#[tokio::test]
async fn logs_carry_route_templates_and_no_secrets() {
    let capture = Capture::default();
    let log = LogConfig {
        format: LogFormat::Plain,
        level: "trace".to_owned(),
    };
    let subscriber = telemetry::subscriber(&log, capture.clone()).unwrap();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let netbox = FakeNetBox::start().await;
    let proxy = TestProxy::start(proxy_config(&netbox.url(), ""), EchoHandler::new()).await;
    let targets = [
        format!("/api/plugins/secrets/session-key/?{QUERY_MARKER}=1"),
        format!("/api/plugins/secrets/secrets/42/?{QUERY_MARKER}=1"),
        format!("/api/dcim/devices/?{QUERY_MARKER}=1"),
    ];
    for target in &targets {
        let response = send(proxy.addr, secret_request(target)).await;
        assert_eq!(response.status(), 200);
        body_bytes(response).await;
    }
    proxy.stop().await;

    let output = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(output.contains("route=secrets:session-key/"), "{output}");
    assert!(output.contains("route=secrets:secrets/{id}/"), "{output}");
    assert!(output.contains("route=forward"), "{output}");
    assert!(output.contains("status=200"), "{output}");
    assert!(output.contains("latency_ms="), "{output}");
    assert!(output.contains("method=POST"), "{output}");
    for secret in [
        "7c1f0e2a9b8d4c3e5f6a7b8c9d0e1f2a3b4c5d6e",
        "cookie-value-4f2e9a",
        "csrf-value-81bd",
        SESSION_KEY,
        CSRF,
        "privatekeymaterial",
        "BEGIN RSA PRIVATE KEY",
        QUERY_MARKER,
        "/api/dcim/devices/",
        "csrftoken=fake",
        "owned=1",
    ] {
        assert!(
            !output.contains(secret),
            "{secret:?} appears in the logs:\n{output}"
        );
    }
}
