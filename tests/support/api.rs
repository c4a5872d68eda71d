//! Set-up for the API tests: a fake NetBox with a few users, tokens and devices, the real
//! API service in front of it, and a small request builder.
//!
//! Users: `admin` (id 1, superuser), `alice` (id 2, group `operators`), `bob` (id 3, nothing),
//! `carol` (id 4, granted only secrets of the `login` role). Devices 1 to 3 exist; alice's
//! credentials see devices 1 and 2 only. Tags `core` (id 1) and `edge` (id 2) exist.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use netbox_secrets_proxy::api::ApiService;
use netbox_secrets_proxy::body::{self, BoxBody};
use netbox_secrets_proxy::config::Config;
use netbox_secrets_proxy::proxy::{OwnedHandler, Upstream};
use serde_json::{json, Value};

use super::{body_bytes, proxy_config, send, FakeNetBox, RecordedRequest, Responder, TestProxy};

/// Host the tests use for the proxy; page links and object URLs must name it.
pub const PUBLIC_HOST: &str = "proxy.test:8080";

pub const ADMIN_TOKEN: &str = "Token 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
pub const ADMIN_V2_TOKEN: &str = "Bearer nbt_AdminKey0001.Q2w3E4r5T6y7U8i9O0pAsDfGhJkLzXcVbNm12345";
pub const ALICE_TOKEN: &str = "Token a11ce00000000000000000000000000000000a";
pub const ALICE_V2_TOKEN: &str = "Bearer nbt_AliceKey0001.A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0";
/// Alice's token without write permission, so NetBox returns 403 to the render probe.
pub const ALICE_READ_ONLY_TOKEN: &str = "Token a11ce0000000000000000000000000000000r0";
/// A second token of alice whose authentication check the fake returns slowly.
pub const ALICE_SLOW_TOKEN: &str = "Token a11ce000000000000000000000000000005l0w";
pub const BOB_TOKEN: &str = "Token b0b0000000000000000000000000000000000b";
pub const CAROL_TOKEN: &str = "Token ca201000000000000000000000000000000000";
/// A token NetBox does not know.
pub const UNKNOWN_TOKEN: &str = "Token deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

pub const ADMIN_SESSION: &str = "adminsession0000000000000000000";
pub const ALICE_SESSION: &str = "alicesession0000000000000000000";
/// A CSRF secret of the right shape (32 letters and digits).
pub const CSRF_SECRET: &str = "Csrf0123456789abcdefghijABCDEFGH";

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

/// The grants every test server starts with, unless a test gives its own.
pub const DEFAULT_POLICY: &str = r#"
[[policy.grants]]
groups = ["operators"]
actions = ["view", "add", "change", "delete"]
models = ["secret", "secretrole", "userkey"]

[[policy.grants]]
users = ["carol"]
actions = ["view"]
models = ["secret"]
roles = ["login"]
"#;

/// Returns the plugin's 2048-bit test key pair (PKCS#1 private key, SPKI public key).
pub fn vector_keys() -> (String, String) {
    let text = include_str!("../fixtures/vectors/formats.json");
    let formats: Value = serde_json::from_str(text).unwrap();
    let private = formats["rsa_private_key_pkcs1_pem"].as_str().unwrap();
    let public = formats["rsa_public_key_spki_pem"].as_str().unwrap();
    (private.to_owned(), public.to_owned())
}

/// Returns a second key pair, for a second user.
pub fn second_keys() -> (String, String) {
    (
        include_str!("../fixtures/keys/second-private.pem").to_owned(),
        include_str!("../fixtures/keys/second-public.pem").to_owned(),
    )
}

#[derive(Clone, Copy)]
struct FakeUser {
    id: i64,
    username: &'static str,
    display: &'static str,
    group: Option<&'static str>,
    superuser: bool,
    devices: &'static [i64],
}

const ADMIN: FakeUser = FakeUser {
    id: 1,
    username: "admin",
    display: "admin",
    group: None,
    superuser: true,
    devices: &[1, 2, 3],
};
const ALICE: FakeUser = FakeUser {
    id: 2,
    username: "alice",
    display: "alice (Alice Reference)",
    group: Some("operators"),
    superuser: false,
    devices: &[1, 2],
};
const BOB: FakeUser = FakeUser {
    id: 3,
    username: "bob",
    display: "bob",
    group: None,
    superuser: false,
    devices: &[1, 2, 3],
};
const CAROL: FakeUser = FakeUser {
    id: 4,
    username: "carol",
    display: "carol",
    group: None,
    superuser: false,
    devices: &[1, 2, 3],
};

fn token_user(value: &str) -> Option<FakeUser> {
    let known = [
        (ADMIN_TOKEN, ADMIN),
        (ADMIN_V2_TOKEN, ADMIN),
        (ALICE_TOKEN, ALICE),
        (ALICE_V2_TOKEN, ALICE),
        (ALICE_READ_ONLY_TOKEN, ALICE),
        (ALICE_SLOW_TOKEN, ALICE),
        (BOB_TOKEN, BOB),
        (CAROL_TOKEN, CAROL),
    ];
    let sent = value.split_ascii_whitespace().nth(1)?;
    known
        .iter()
        .find(|(header, _)| header.split_ascii_whitespace().nth(1) == Some(sent))
        .map(|(_, user)| *user)
}

fn session_user(recorded: &RecordedRequest) -> Option<Option<FakeUser>> {
    let cookie = recorded.header("cookie")?;
    let session = cookie
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "sessionid")?
        .1;
    Some(match session {
        ADMIN_SESSION => Some(ADMIN),
        ALICE_SESSION => Some(ALICE),
        _ => None,
    })
}

/// Who NetBox thinks sent the request: `Ok(user)` or its 403 refusal text.
fn identify(recorded: &RecordedRequest) -> Result<FakeUser, String> {
    if let Some(Some(user)) = session_user(recorded) {
        return Ok(user);
    }
    let Some(authorization) = recorded.header("authorization") else {
        return Err(NOT_PROVIDED.to_owned());
    };
    match token_user(authorization) {
        Some(user) => Ok(user),
        None if authorization.contains("nbt_") => Err("Invalid v2 token".to_owned()),
        None => Err("Invalid v1 token".to_owned()),
    }
}

fn json_reply(status: StatusCode, value: &Value) -> Response<BoxBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(value.to_string()))
        .unwrap()
}

fn query_pairs(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map_or("", |(_, query)| query);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn list(results: Vec<Value>) -> Value {
    json!({ "count": results.len(), "next": null, "previous": null, "results": results })
}

fn user_json(user: &FakeUser) -> Value {
    let groups: Vec<Value> = user
        .group
        .iter()
        .map(|name| json!({ "id": 1, "display": name, "name": name, "description": "" }))
        .collect();
    json!({
        "id": user.id,
        "url": format!("http://{PUBLIC_HOST}/api/users/users/{}/", user.id),
        "display": user.display,
        "username": user.username,
        "is_active": true,
        "groups": groups,
        "permissions": [],
    })
}

fn device_json(id: i64) -> Value {
    json!({
        "id": id,
        "url": format!("http://{PUBLIC_HOST}/api/dcim/devices/{id}/"),
        "display": format!("dev-{id}"),
        "name": format!("dev-{id}"),
        "description": "",
    })
}

/// Returns NetBox's tags `core` (id 1) and `edge` (id 2) that match every `id`, `slug` and
/// `name` filter of the query.
fn tags_json(query: &[(String, String)]) -> Vec<Value> {
    let tags = [(1, "Core", "core", "aa1409"), (2, "Edge", "edge", "2196f3")];
    tags.iter()
        .filter(|(id, name, slug, _)| {
            query.iter().all(|(key, value)| match key.as_str() {
                "id" => value == &id.to_string(),
                "slug" => value == slug,
                "name" => value == name,
                _ => true,
            })
        })
        .map(|(id, name, slug, color)| {
            json!({
                "id": id,
                "url": format!("http://{PUBLIC_HOST}/api/extras/tags/{id}/"),
                "display": name,
                "name": name,
                "slug": slug,
                "color": color,
            })
        })
        .collect()
}

/// Returns replies for the NetBox endpoints the API calls. Other paths go to the built-in fake.
pub fn netbox_responder() -> Responder {
    Arc::new(|recorded: &RecordedRequest| {
        let path = recorded.target.split('?').next().unwrap_or("").to_owned();
        let caller = identify(recorded);

        if path == "/api/authentication-check/" {
            if recorded.header("authorization") == Some(ALICE_SLOW_TOKEN) {
                // Keeps the first check in flight while the other requests arrive.
                std::thread::sleep(Duration::from_millis(300));
            }
            return Some(match caller {
                Ok(user) => json_reply(StatusCode::OK, &user_json(&user)),
                Err(detail) => json_reply(StatusCode::FORBIDDEN, &json!({ "detail": detail })),
            });
        }

        let user = match caller {
            Ok(user) => user,
            Err(detail) => {
                return Some(json_reply(
                    StatusCode::FORBIDDEN,
                    &json!({ "detail": detail }),
                ))
            }
        };
        let query = query_pairs(&recorded.target);
        let value_of = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };

        let reply = match (recorded.method.as_str(), path.as_str()) {
            ("GET", "/api/users/users/") => {
                if !user.superuser {
                    json_reply(
                        StatusCode::FORBIDDEN,
                        &json!({ "detail": "You do not have permission to perform this action." }),
                    )
                } else {
                    let requested: Option<i64> = value_of("id").and_then(|id| id.parse().ok());
                    let superuser_only = value_of("is_superuser").as_deref() == Some("true");
                    let found: Vec<Value> = [ADMIN, ALICE, BOB, CAROL]
                        .iter()
                        .filter(|u| Some(u.id) == requested || requested.is_none())
                        .filter(|u| u.superuser || !superuser_only)
                        .map(|u| json!({ "id": u.id, "display": u.display }))
                        .collect();
                    json_reply(StatusCode::OK, &list(found))
                }
            }
            ("POST", "/api/extras/config-templates/0/render/") => {
                if recorded.header("authorization") == Some(ALICE_READ_ONLY_TOKEN) {
                    json_reply(
                        StatusCode::FORBIDDEN,
                        &json!({ "detail": "You do not have permission to perform this action." }),
                    )
                } else {
                    json_reply(
                        StatusCode::NOT_FOUND,
                        &json!({ "detail": "No ConfigTemplate matches the given query." }),
                    )
                }
            }
            ("GET", "/api/core/object-types/") => {
                let types = [
                    ("dcim", "device", 9, "/api/dcim/devices/"),
                    (
                        "virtualization",
                        "virtualmachine",
                        10,
                        "/api/virtualization/virtual-machines/",
                    ),
                ];
                let app_label = value_of("app_label");
                let model = value_of("model");
                let found: Vec<Value> = types
                    .iter()
                    .filter(|(app, name, _, _)| {
                        app_label.as_deref().map_or(true, |a| a == *app)
                            && model.as_deref().map_or(true, |m| m == *name)
                    })
                    .map(|(app, name, id, endpoint)| {
                        json!({
                            "id": id,
                            "app_label": app,
                            "model": name,
                            "rest_api_endpoint": endpoint,
                        })
                    })
                    .collect();
                json_reply(StatusCode::OK, &list(found))
            }
            ("GET", "/api/dcim/devices/") => {
                let ids: Vec<i64> = query
                    .iter()
                    .filter(|(key, _)| key == "id")
                    .filter_map(|(_, value)| value.parse().ok())
                    .collect();
                let found: Vec<Value> = user
                    .devices
                    .iter()
                    .filter(|id| ids.is_empty() || ids.contains(id))
                    .map(|id| device_json(*id))
                    .collect();
                json_reply(StatusCode::OK, &list(found))
            }
            ("GET", "/api/virtualization/virtual-machines/") => {
                json_reply(StatusCode::OK, &list(Vec::new()))
            }
            ("GET", "/api/extras/tags/") => json_reply(StatusCode::OK, &list(tags_json(&query))),
            _ => return None,
        };
        Some(reply)
    })
}

/// The fake NetBox and the proxy with the real API in front of it.
pub struct ApiWorld {
    pub netbox: FakeNetBox,
    pub proxy: TestProxy,
    pub addr: SocketAddr,
    _data: tempfile::TempDir,
}

/// Builds the proxy's configuration for `upstream` with a fresh data directory.
pub fn api_config(upstream: &str, data: &tempfile::TempDir, policy: &str) -> Config {
    let extra = format!(
        "data_dir = {:?}\n{policy}",
        data.path().display().to_string()
    );
    proxy_config(upstream, &extra)
}

/// Starts the real API service in front of `upstream`.
pub async fn start_api(config: Config) -> TestProxy {
    let upstream = Upstream::new(&config).unwrap();
    let api = ApiService::from_config(&config, upstream).unwrap();
    let handler: Arc<dyn OwnedHandler> = Arc::new(api);
    TestProxy::start(config, handler).await
}

impl ApiWorld {
    pub async fn start() -> ApiWorld {
        ApiWorld::start_with_policy(DEFAULT_POLICY).await
    }

    pub async fn start_with_policy(policy: &str) -> ApiWorld {
        let netbox = FakeNetBox::start_with(netbox_responder()).await;
        let data = tempfile::tempdir().unwrap();
        let proxy = start_api(api_config(&netbox.url(), &data, policy)).await;
        ApiWorld {
            netbox,
            addr: proxy.addr,
            proxy,
            _data: data,
        }
    }

    /// Starts a request to `path`, relative to `/api/plugins/secrets/` unless it starts with `/`.
    pub fn req(&self, method: &str, path: &str) -> ApiRequest {
        let target = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/api/plugins/secrets/{path}")
        };
        ApiRequest {
            addr: self.addr,
            method: method.parse().unwrap(),
            target,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Returns the number of authentication checks NetBox has served so far.
    pub fn auth_checks(&self) -> usize {
        self.netbox
            .requests()
            .iter()
            .filter(|r| r.target.starts_with("/api/authentication-check/"))
            .count()
    }

    /// Returns the number of requests NetBox has served whose path starts with `prefix`.
    pub fn upstream_calls(&self, prefix: &str) -> usize {
        self.netbox
            .requests()
            .iter()
            .filter(|r| r.target.starts_with(prefix))
            .count()
    }

    /// Registers the caller's public key and returns the user-key id.
    pub async fn add_user_key(&self, token: &str, public_key: &str) -> i64 {
        let reply = self
            .req("POST", "user-keys/")
            .token(token)
            .json(&json!({ "public_key": public_key }))
            .send()
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["id"].as_i64().unwrap()
    }

    /// Asks for a new session key and returns it.
    pub async fn session_key(&self, token: &str, private_key: &str) -> String {
        let reply = self
            .req("POST", "session-key/")
            .token(token)
            .json(&json!({ "private_key": private_key }))
            .send()
            .await;
        assert!(reply.status.is_success(), "{}", reply.text());
        reply.json()["session_key"].as_str().unwrap().to_owned()
    }

    /// Gives admin an active user key (the first one, so it makes the master key) and a session
    /// key, and returns the session key.
    pub async fn admin_unlocked(&self) -> String {
        let (private, public) = vector_keys();
        self.add_user_key(ADMIN_TOKEN, &public).await;
        self.session_key(ADMIN_TOKEN, &private).await
    }

    /// Creates a secret role as admin and returns its id.
    pub async fn add_role(&self, name: &str, slug: &str, parent: Option<i64>) -> i64 {
        let reply = self
            .req("POST", "secret-roles/")
            .token(ADMIN_TOKEN)
            .json(&json!({ "name": name, "slug": slug, "parent": parent }))
            .send()
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["id"].as_i64().unwrap()
    }

    /// Creates a secret on a device as admin and returns its id.
    pub async fn add_secret(
        &self,
        session_key: &str,
        device: i64,
        role: i64,
        name: &str,
        plaintext: &str,
    ) -> i64 {
        let reply = self
            .req("POST", "secrets/")
            .token(ADMIN_TOKEN)
            .session_key(session_key)
            .json(&secret_body(device, role, name, plaintext))
            .send()
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["id"].as_i64().unwrap()
    }
}

/// Builds the plugin test suite's secret payload.
pub fn secret_body(device: i64, role: i64, name: &str, plaintext: &str) -> Value {
    json!({
        "assigned_object_type": "dcim.device",
        "assigned_object_id": device,
        "role": { "id": role },
        "name": name,
        "plaintext": plaintext,
    })
}

/// A request being built.
pub struct ApiRequest {
    addr: SocketAddr,
    method: Method,
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

impl ApiRequest {
    pub fn header(mut self, name: &'static str, value: &str) -> ApiRequest {
        self.headers.append(name, value.parse().unwrap());
        self
    }

    /// Sends an `Authorization` header, given whole (`Token …` or `Bearer …`).
    pub fn token(self, authorization: &str) -> ApiRequest {
        self.header("authorization", authorization)
    }

    pub fn cookie(self, cookie: &str) -> ApiRequest {
        self.header("cookie", cookie)
    }

    pub fn session_key(self, key: &str) -> ApiRequest {
        self.header("x-session-key", key)
    }

    pub fn json(mut self, value: &Value) -> ApiRequest {
        self.body = Bytes::from(value.to_string());
        self.header("content-type", "application/json")
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> ApiRequest {
        self.body = body.into();
        self.header("content-type", content_type)
    }

    /// Sets a multipart/form-data body with these text fields.
    pub fn multipart(self, fields: &[(&str, &str)]) -> ApiRequest {
        let boundary = "----apitestboundary7MA4YWxkTrZu0gW";
        let mut text = String::new();
        for (name, value) in fields {
            text.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        text.push_str(&format!("--{boundary}--\r\n"));
        self.body(&format!("multipart/form-data; boundary={boundary}"), text)
    }

    pub async fn send(self) -> Reply {
        let mut request = Request::builder()
            .method(self.method)
            .uri(&self.target)
            .header(header::HOST, PUBLIC_HOST)
            .body(body::full(self.body))
            .unwrap();
        request.headers_mut().extend(self.headers);
        let response = send(self.addr, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = body_bytes(response).await;
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Returns every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// Names of the secrets in a list reply, in order.
pub fn names(list: &Value) -> Vec<String> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Plaintexts of a list reply by secret name.
pub fn plaintexts(list: &Value) -> HashMap<String, Value> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["name"].as_str().unwrap_or("").to_owned(),
                item["plaintext"].clone(),
            )
        })
        .collect()
}
