//! Measures the secrets API where the plugin is slow: creating a session key, one decrypted
//! read, and a list of 1,000 decrypted secrets. It starts the release binary against an
//! in-process stand-in for NetBox on loopback and prints medians, next to the cost of the
//! plugin's key stretching measured in the same run.
//!
//! Run with `cargo bench --bench secrets_api`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use netbox_secrets_proxy::crypto::{
    generate_key_pair, make_pbkdf2_sha256, verify_django_hash, SECRET_HASH_ITERATIONS,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const TOKEN: &str = "Token 0123456789abcdef0123456789abcdef01234567";
const SECRETS: usize = 1000;

/// Iterations of the plugin's session-key hash on NetBox 4.7 (Django 6.1 default).
const PLUGIN_SESSION_HASH_ITERATIONS: u32 = 1_500_000;

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`; the benchmark only runs
    // under `cargo bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("secrets_api: skipped, run it with `cargo bench --bench secrets_api`");
        return;
    }

    let netbox = start_fake_netbox().await;
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let (mut proxy, base) = start_proxy(netbox, data_dir.path()).await;

    let client = reqwest_like::Client::new();
    let pair = generate_key_pair(2048).expect("key pair");
    let created = client
        .send(
            "POST",
            &format!("{base}/api/plugins/secrets/user-keys/"),
            None,
            Some(json!({"public_key": pair.public_pem})),
        )
        .await;
    assert_eq!(created.0, 201, "user key: {}", created.1);
    let role = client
        .send(
            "POST",
            &format!("{base}/api/plugins/secrets/secret-roles/"),
            None,
            Some(json!({"name": "Bench", "slug": "bench"})),
        )
        .await;
    assert_eq!(role.0, 201, "role: {}", role.1);

    let session_body = json!({"private_key": pair.private_pem.as_str()});
    let session_url = format!("{base}/api/plugins/secrets/session-key/");
    let session_create = median(50, || {
        client.send("POST", &session_url, None, Some(session_body.clone()))
    })
    .await;
    let session = client
        .send("POST", &session_url, None, Some(session_body.clone()))
        .await;
    let session_key = serde_json::from_str::<Value>(&session.1).expect("json")["session_key"]
        .as_str()
        .expect("session key")
        .to_string();

    let secrets: Vec<Value> = (0..SECRETS)
        .map(|index| {
            json!({
                "assigned_object_type": "dcim.device",
                "assigned_object_id": 1 + index % 50,
                "role": {"slug": "bench"},
                "name": format!("secret-{index}"),
                "plaintext": format!("value-{index}-0123456789"),
            })
        })
        .collect();
    let bulk = client
        .send(
            "POST",
            &format!("{base}/api/plugins/secrets/secrets/"),
            Some(&session_key),
            Some(Value::Array(secrets)),
        )
        .await;
    assert_eq!(
        bulk.0,
        201,
        "bulk create: {}",
        &bulk.1[..bulk.1.len().min(300)]
    );

    let one_url = format!("{base}/api/plugins/secrets/secrets/1/");
    let one_read = median(200, || {
        client.send("GET", &one_url, Some(&session_key), None)
    })
    .await;
    let list_url = format!("{base}/api/plugins/secrets/secrets/?limit={SECRETS}");
    let list_read = median(20, || {
        client.send("GET", &list_url, Some(&session_key), None)
    })
    .await;

    let plugin_session_check = time_plugin_session_check();
    let plugin_list_checks = time_plugin_secret_checks(SECRETS);

    println!("secrets API benchmark (medians, release build, loopback, stand-in NetBox)");
    println!(
        "  session-key creation:            {:>9.2} ms",
        ms(session_create)
    );
    println!(
        "  one decrypted read:              {:>9.2} ms",
        ms(one_read)
    );
    println!(
        "  list of {SECRETS} decrypted secrets: {:>9.2} ms",
        ms(list_read)
    );
    println!("plugin's key stretching, measured here in the same run");
    println!(
        "  one session-key hash check ({PLUGIN_SESSION_HASH_ITERATIONS} it.): {:>9.2} ms",
        ms(plugin_session_check)
    );
    println!(
        "  {SECRETS} secret hash checks ({SECRETS_HASH} it. each): {:>9.2} ms",
        ms(plugin_list_checks),
        SECRETS_HASH = SECRET_HASH_ITERATIONS
    );
    println!("ratios (plugin-equivalent work / our whole request)");
    println!(
        "  one read:  {:>7.1}x",
        ratio(plugin_session_check, one_read)
    );
    println!(
        "  list:      {:>7.1}x",
        ratio(plugin_session_check + plugin_list_checks, list_read)
    );

    let _ = proxy.kill();
    let _ = proxy.wait();
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ratio(slow: Duration, fast: Duration) -> f64 {
    slow.as_secs_f64() / fast.as_secs_f64().max(f64::EPSILON)
}

async fn median<F, Fut>(runs: usize, mut request: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let (status, body) = request().await;
        times.push(started.elapsed());
        assert!(
            status < 300,
            "status {status}: {}",
            &body[..body.len().min(300)]
        );
    }
    times.sort();
    times[times.len() / 2]
}

fn time_plugin_session_check() -> Duration {
    let stored = make_pbkdf2_sha256(b"a0a1a2a3", PLUGIN_SESSION_HASH_ITERATIONS);
    let started = Instant::now();
    assert!(verify_django_hash(b"a0a1a2a3", &stored));
    started.elapsed()
}

fn time_plugin_secret_checks(count: usize) -> Duration {
    let stored = make_pbkdf2_sha256(b"value", SECRET_HASH_ITERATIONS);
    let started = Instant::now();
    for _ in 0..count {
        assert!(verify_django_hash(b"value", &stored));
    }
    started.elapsed()
}

async fn start_proxy(netbox: SocketAddr, data_dir: &std::path::Path) -> (Child, String) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("address").port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_netbox-secrets-proxy"))
        .args(["--upstream", &format!("http://{netbox}")])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", &data_dir.display().to_string()])
        .env("NBSP_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the proxy binary");

    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the proxy did not start listening on port {port}");
}

/// Starts a stand-in for the NetBox endpoints the API calls: the credential check, superuser status,
/// object types and device briefs.
async fn start_fake_netbox() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    Ok::<_, Infallible>(fake_netbox_reply(&request, address))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

fn fake_netbox_reply(request: &Request<Incoming>, address: SocketAddr) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or("");
    let body = match path {
        "/api/authentication-check/" => {
            json!({"id": 1, "username": "admin", "display": "admin", "groups": []})
        }
        "/api/users/users/" => json!({"count": 1, "results": [{"id": 1}]}),
        "/api/core/object-types/" => {
            json!({"count": 1, "results": [{"id": 9, "rest_api_endpoint": "/api/dcim/devices/"}]})
        }
        "/api/dcim/devices/" => device_briefs(query, address),
        _ => return reply(404, json!({"detail": "Not found."})),
    };
    reply(200, body)
}

fn device_briefs(query: &str, address: SocketAddr) -> Value {
    let results: Vec<Value> = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("id="))
        .filter_map(|id| id.parse::<i64>().ok())
        .map(|id| {
            json!({"id": id, "url": format!("http://{address}/api/dcim/devices/{id}/"),
                   "display": format!("device-{id}"), "name": format!("device-{id}"), "description": ""})
        })
        .collect();
    json!({"count": results.len(), "next": null, "previous": null, "results": results})
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

/// A minimal keep-alive HTTP client on hyper, enough for the benchmark's requests.
mod reqwest_like {
    use super::*;
    use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
    use hyper_util::rt::TokioExecutor;

    pub struct Client {
        inner: HyperClient<HttpConnector, Full<Bytes>>,
    }

    impl Client {
        pub fn new() -> Client {
            Client {
                inner: HyperClient::builder(TokioExecutor::new()).build_http(),
            }
        }

        pub async fn send(
            &self,
            method: &str,
            url: &str,
            session_key: Option<&str>,
            body: Option<Value>,
        ) -> (u16, String) {
            let mut builder = Request::builder()
                .method(method)
                .uri(url)
                .header("authorization", TOKEN)
                .header("content-type", "application/json");
            if let Some(key) = session_key {
                builder = builder.header("x-session-key", key);
            }
            let payload = body.map(|value| value.to_string()).unwrap_or_default();
            let request = builder
                .body(Full::new(Bytes::from(payload)))
                .expect("request");

            let response = self
                .inner
                .request(request)
                .await
                .expect("request to the proxy");
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}
