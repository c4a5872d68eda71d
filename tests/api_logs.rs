//! Logs of real API traffic at TRACE: no private key, session key, plaintext or token.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use netbox_secrets_proxy::config::{LogConfig, LogFormat};
use netbox_secrets_proxy::telemetry;
use serde_json::json;
use support::api::*;

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

const PLAINTEXT: &str = "plaintext-marker-7d1e4b";

/// Returns the base64 body lines of a PEM, long enough to be unmistakable in a log.
fn pem_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 40)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn trace_logs_hide_secrets() {
    let capture = Capture::default();
    let log = LogConfig {
        format: LogFormat::Plain,
        level: "trace".to_owned(),
    };
    let subscriber = telemetry::subscriber(&log, capture.clone()).unwrap();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let world = ApiWorld::start().await;
    let (private, public) = vector_keys();
    world.add_user_key(ADMIN_TOKEN, &public).await;
    let session_key = world.session_key(ADMIN_TOKEN, &private).await;
    let role = world.add_role("Login", "login", None).await;
    let id = world
        .add_secret(&session_key, 1, role, "admin", PLAINTEXT)
        .await;
    let read = world
        .req("GET", &format!("secrets/{id}/"))
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .send()
        .await;
    assert_eq!(read.json()["plaintext"], PLAINTEXT);
    let rejected = world
        .req("POST", "session-key/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": "-----BEGIN RSA PRIVATE KEY-----\nbroken-key-marker\n" }))
        .send()
        .await;
    assert_eq!(rejected.status, 400);
    world.proxy.stop().await;

    let output = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(output.contains("status=201"), "{output}");
    let token_value = ADMIN_TOKEN.split_whitespace().nth(1).unwrap();
    let mut forbidden = vec![
        session_key.clone(),
        session_key.trim_end_matches('=').to_owned(),
        PLAINTEXT.to_owned(),
        token_value.to_owned(),
        "broken-key-marker".to_owned(),
        "PRIVATE KEY".to_owned(),
    ];
    forbidden.extend(pem_lines(&private));
    for secret in forbidden {
        assert!(
            !output.contains(&secret),
            "{secret:?} appears in the logs:\n{output}"
        );
    }
}
