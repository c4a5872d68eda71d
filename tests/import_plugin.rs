//! The `import-plugin` command end to end: rows written by netbox-secrets 3.1.2 are imported by
//! the built program, then read and extended through the real API in front of a fake NetBox.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use http::{header, Request, StatusCode};
use netbox_secrets_proxy::api::ApiService;
use netbox_secrets_proxy::body::{self, BoxBody};
use netbox_secrets_proxy::error::{EXIT_DATA_ERR, EXIT_STORE_NOT_EMPTY};
use netbox_secrets_proxy::proxy::{OwnedHandler, Upstream};
use rusqlite::types::Value as SqlValue;
use serde_json::{json, Value};
use support::{body_json, proxy_config, send, FakeNetBox, RecordedRequest, Responder, TestProxy};

const BIN: &str = env!("CARGO_BIN_EXE_netbox-secrets-proxy");

const VECTORS: &str = include_str!("fixtures/vectors/plugin-3.1.2-rows.json");

/// NetBox user that owns the imported user key.
const USER_ID: i64 = 7;
const USER_KEY_ID: i64 = 3;
const SESSION_KEY_ROW_ID: i64 = 12;
const ROLE_ID: i64 = 4;
/// Id of the first imported secret. The others follow in fixture order.
const FIRST_SECRET_ID: i64 = 20;
/// Object-type id the fake NetBox gives `dcim.device`.
const DEVICE_TYPE_ID: i64 = 23;

const TOKEN: &str = "Token 0123456789abcdef0123456789abcdef01234567";

/// Tables of the store, each dumped whole to compare before and after a rejected import.
const TABLES: [&str; 5] = [
    "user_keys",
    "session_keys",
    "secret_roles",
    "secrets",
    "object_tags",
];

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn fixture_secrets() -> Vec<Value> {
    vectors()["secrets"].as_array().unwrap().clone()
}

fn session_key_base64() -> String {
    vectors()["session_key"]["session_key_base64"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Device id that secret number `index` of the fixture is assigned to.
fn device_of(index: usize) -> i64 {
    1 + index as i64
}

/// Builds the document `EXPORT_QUERY` would print for the fixture's rows.
fn export_document() -> Value {
    let vectors = vectors();
    let session = &vectors["session_key"];

    let secrets: Vec<Value> = fixture_secrets()
        .iter()
        .enumerate()
        .map(|(index, secret)| {
            json!({
                "id": FIRST_SECRET_ID + index as i64,
                "assigned_object_type": "dcim.device",
                "assigned_object_id": device_of(index),
                "object_repr": format!("router{}", device_of(index)),
                "role_id": ROLE_ID,
                "name": format!("imported {index}"),
                "ciphertext": secret["ciphertext_hex"],
                "hash": secret["hash"],
                "description": "",
                "comments": "",
                "custom_field_data": {},
                "created": "2026-07-23T17:47:00.123456+02:00",
                "last_updated": "2026-07-23T15:47:00+00:00"
            })
        })
        .collect();

    json!({
        "user_keys": [{
            "id": USER_KEY_ID, "user_id": USER_ID, "username": "admin",
            "first_name": "", "last_name": "",
            "public_key": vectors["user_key_public_key"],
            "master_key_cipher": vectors["master_key_cipher_hex"],
            "created": "2026-07-23T15:47:00.5+00:00", "last_updated": null,
            "custom_field_data": {}
        }],
        "session_keys": [{
            "id": SESSION_KEY_ROW_ID, "userkey_id": USER_KEY_ID,
            "cipher": session["cipher_hex"], "hash": session["hash"],
            "created": "2026-07-23T15:50:01.000001+00:00"
        }],
        "secret_roles": [{
            "id": ROLE_ID, "name": "Login", "slug": "login", "parent_id": null,
            "description": "", "comments": "", "custom_field_data": {},
            "created": null, "last_updated": null
        }],
        "secrets": secrets,
        "tags": []
    })
}

/// A data directory with the export written next to it.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The data directory; the command must create it.
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn database(&self) -> PathBuf {
        self.data_dir().join("secrets.sqlite3")
    }

    fn write_export(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("export.json");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Runs `import-plugin --file <file>` against the workspace's data directory, feeding `stdin`.
fn run_import(workspace: &Workspace, file: &Path, stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .env_clear()
        .arg("import-plugin")
        .arg("--file")
        .arg(file)
        .args(["--upstream", "http://127.0.0.1:9"])
        .arg("--data-dir")
        .arg(workspace.data_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn import_export_file(workspace: &Workspace) -> Output {
    let file = workspace.write_export(&export_document().to_string());
    run_import(workspace, &file, b"")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads every row of every store table, ordered by the first three columns.
fn dump_store(database: &Path) -> Vec<Vec<Vec<SqlValue>>> {
    let conn = rusqlite::Connection::open(database).unwrap();

    TABLES
        .iter()
        .map(|table| {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3"))
                .unwrap();
            let columns = stmt.column_count();
            let rows = stmt
                .query_map([], |row| {
                    (0..columns).map(|i| row.get::<_, SqlValue>(i)).collect()
                })
                .unwrap();
            rows.collect::<Result<Vec<_>, _>>().unwrap()
        })
        .collect()
}

fn stored_session_hash(database: &Path) -> String {
    let conn = rusqlite::Connection::open(database).unwrap();
    conn.query_row(
        "SELECT hash FROM session_keys WHERE id = ?1",
        [SESSION_KEY_ROW_ID],
        |row| row.get(0),
    )
    .unwrap()
}

fn json_response(status: StatusCode, value: Value) -> http::Response<BoxBody> {
    http::Response::builder()
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

fn has_pair(pairs: &[(String, String)], name: &str, value: &str) -> bool {
    pairs.iter().any(|(n, v)| n == name && v == value)
}

fn device_briefs(pairs: &[(String, String)]) -> Value {
    let results: Vec<Value> = pairs
        .iter()
        .filter(|(name, _)| name == "id")
        .filter_map(|(_, id)| id.parse::<i64>().ok())
        .map(|id| {
            json!({
                "id": id,
                "url": format!("http://netbox.test/api/dcim/devices/{id}/"),
                "display": format!("router{id}"),
                "name": format!("router{id}"),
                "description": ""
            })
        })
        .collect();

    json!({"count": results.len(), "next": null, "previous": null, "results": results})
}

/// Returns the fake NetBox's response to a call from the secrets API. The token belongs to
/// superuser `admin`, and any other credential gets 403.
fn netbox_answer(recorded: &RecordedRequest) -> http::Response<BoxBody> {
    let path = recorded.target.split('?').next().unwrap_or_default();
    let pairs = query_pairs(&recorded.target);
    let authorized = recorded.header("authorization") == Some(TOKEN);

    match path {
        _ if !authorized => {
            json_response(StatusCode::FORBIDDEN, json!({"detail": "Invalid token"}))
        }
        "/api/authentication-check/" => json_response(
            StatusCode::OK,
            json!({"id": USER_ID, "username": "admin", "display": "admin", "groups": []}),
        ),
        "/api/users/users/" => {
            let superuser = has_pair(&pairs, "id", &USER_ID.to_string())
                && has_pair(&pairs, "is_superuser", "true");
            let results = match superuser {
                true => json!([{"id": USER_ID, "username": "admin"}]),
                false => json!([]),
            };
            let count = results.as_array().map_or(0, Vec::len);
            json_response(StatusCode::OK, json!({"count": count, "results": results}))
        }
        "/api/core/object-types/" if has_pair(&pairs, "model", "device") => json_response(
            StatusCode::OK,
            json!({"count": 1, "results": [{
                "id": DEVICE_TYPE_ID, "app_label": "dcim", "model": "device",
                "rest_api_endpoint": "/api/dcim/devices/"
            }]}),
        ),
        "/api/dcim/devices/" => json_response(StatusCode::OK, device_briefs(&pairs)),
        _ => json_response(StatusCode::NOT_FOUND, json!({"detail": "Not found."})),
    }
}

/// The proxy with the real secrets API on the workspace's database, in front of a fake NetBox.
struct Server {
    proxy: TestProxy,
    _netbox: FakeNetBox,
}

impl Server {
    async fn start(workspace: &Workspace) -> Server {
        let responder: Responder = Arc::new(|recorded| Some(netbox_answer(recorded)));
        let netbox = FakeNetBox::start_with(responder).await;
        let extra = format!("data_dir = \"{}\"", workspace.data_dir().display());
        let config = proxy_config(&netbox.url(), &extra);

        let upstream = Upstream::new(&config).unwrap();
        let api = ApiService::from_config(&config, upstream).unwrap();
        let handler: Arc<dyn OwnedHandler> = Arc::new(api);
        let proxy = TestProxy::start(config, handler).await;

        Server {
            proxy,
            _netbox: netbox,
        }
    }

    /// Sends an API request with the admin token, an optional session key and a JSON body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        session_key: Option<&str>,
        payload: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "proxy.test:8080")
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, TOKEN);
        if let Some(session_key) = session_key {
            builder = builder.header("x-session-key", session_key);
        }
        let body = match payload {
            Some(payload) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                body::full(payload.to_string())
            }
            None => body::empty(),
        };

        let response = send(self.proxy.addr, builder.body(body).unwrap()).await;
        let status = response.status();
        (status, body_json(response).await)
    }

    /// Lists every secret with the session key and returns their plaintexts by id.
    async fn plaintexts(&self, session_key: &str) -> HashMap<i64, Value> {
        let (status, body) = self
            .call(
                "GET",
                "/api/plugins/secrets/secrets/?limit=1000",
                Some(session_key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|secret| (secret["id"].as_i64().unwrap(), secret["plaintext"].clone()))
            .collect()
    }
}

/// Asserts that the listed plaintexts are exactly the fixture's, secret by secret.
fn assert_fixture_plaintexts(found: &HashMap<i64, Value>) {
    let expected = fixture_secrets();
    assert_eq!(found.len(), expected.len(), "number of listed secrets");

    for (index, secret) in expected.iter().enumerate() {
        let id = FIRST_SECRET_ID + index as i64;
        assert_eq!(found.get(&id), Some(&secret["plaintext"]), "secret {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_rows_work_through_the_api() {
    let workspace = Workspace::new();

    let output = import_export_file(&workspace);

    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(stdout.contains("user keys:    1\n"), "{stdout}");
    assert!(stdout.contains("session keys: 1\n"), "{stdout}");
    assert!(stdout.contains("secret roles: 1\n"), "{stdout}");
    let secret_count = format!("secrets:      {}\n", fixture_secrets().len());
    assert!(stdout.contains(&secret_count), "{stdout}");
    assert!(stdout.contains("tags:         0\n"), "{stdout}");

    let server = Server::start(&workspace).await;
    let session_key = session_key_base64();

    // The first read verifies the plugin's PBKDF2 hash of the session key and decrypts the
    // plugin's ciphertexts with the master key it unlocks.
    assert_fixture_plaintexts(&server.plaintexts(&session_key).await);
    let upgraded_hash = stored_session_hash(&workspace.database());
    assert!(!upgraded_hash.starts_with("pbkdf2_"), "{upgraded_hash}");

    // The second read verifies the upgraded hash.
    assert_fixture_plaintexts(&server.plaintexts(&session_key).await);

    let private_key = vectors()["rsa_private_key_pem"].clone();
    let (status, body) = server
        .call(
            "POST",
            "/api/plugins/secrets/session-key/",
            None,
            Some(json!({"private_key": private_key, "preserve_key": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["session_key"], json!(session_key));
    assert_eq!(body["id"], json!(SESSION_KEY_ROW_ID));

    let new_secret = json!({
        "assigned_object_type": "dcim.device",
        "assigned_object_id": device_of(0),
        "role": ROLE_ID,
        "name": "added after import",
        "plaintext": "new secret after import"
    });
    let (status, created) = server
        .call(
            "POST",
            "/api/plugins/secrets/secrets/",
            Some(&session_key),
            Some(new_secret),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let new_id = created["id"].as_i64().unwrap();

    let (status, read) = server
        .call(
            "GET",
            &format!("/api/plugins/secrets/secrets/{new_id}/"),
            Some(&session_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["plaintext"], json!("new secret after import"));
    assert_eq!(read["assigned_object"]["display"], json!("router1"));

    server.proxy.stop().await;
}

#[test]
fn second_import_rejected_store_unchanged() {
    let workspace = Workspace::new();
    let document = export_document().to_string();
    let first = run_import(&workspace, Path::new("-"), document.as_bytes());
    assert!(first.status.success(), "{}", text(&first.stderr));
    let before = dump_store(&workspace.database());

    let second = run_import(&workspace, Path::new("-"), document.as_bytes());

    let stderr = text(&second.stderr);
    assert_eq!(
        second.status.code(),
        Some(i32::from(EXIT_STORE_NOT_EMPTY)),
        "{stderr}"
    );
    assert!(stderr.contains("already contains data"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(second.stdout.is_empty(), "{}", text(&second.stdout));
    assert_eq!(dump_store(&workspace.database()), before);
}

#[test]
fn malformed_export_creates_nothing() {
    let mut bad_hex = export_document();
    bad_hex["secrets"][1]["ciphertext"] = json!("not hex");
    let cases = [
        ("{\"user_keys\": [".to_owned(), "EOF while parsing"),
        (bad_hex.to_string(), "secret 21: invalid hex"),
        (json!({"user_keys": []}).to_string(), "missing field"),
    ];

    for (document, expected) in cases {
        let workspace = Workspace::new();
        let file = workspace.write_export(&document);

        let output = run_import(&workspace, &file, b"");

        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(i32::from(EXIT_DATA_ERR)),
            "{stderr}"
        );
        assert!(stderr.contains("export.json"), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!workspace.data_dir().exists(), "data directory was created");
    }
}
