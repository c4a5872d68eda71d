//! Error bodies of bulk requests on the three list URLs, as NetBox 4.7.3's bulk mixins send
//! them: the body shape, then the entries' ids, repeated ids, unknown ids, and last each
//! object's own validation.

mod support;

use serde_json::{json, Value};
use support::api::*;

/// A world with one object behind each list URL.
struct Stored {
    world: ApiWorld,
    session_key: String,
    user_key: i64,
    role: i64,
    secret: i64,
}

impl Stored {
    async fn start() -> Stored {
        let world = ApiWorld::start().await;
        let session_key = world.admin_unlocked().await;
        let user_key = world
            .req("GET", "user-keys/")
            .token(ADMIN_TOKEN)
            .send()
            .await
            .json()["results"][0]["id"]
            .as_i64()
            .unwrap();
        let role = world.add_role("Login", "login", None).await;
        let secret = world.add_secret(&session_key, 1, role, "admin", "pw").await;
        Stored {
            world,
            session_key,
            user_key,
            role,
            secret,
        }
    }

    /// Returns each list URL with the id of its stored object.
    fn urls(&self) -> [(&'static str, i64); 3] {
        [
            ("user-keys/", self.user_key),
            ("secret-roles/", self.role),
            ("secrets/", self.secret),
        ]
    }

    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let request = self
            .world
            .req(method, path)
            .token(ADMIN_TOKEN)
            .session_key(&self.session_key);
        match body {
            Some(body) => request.json(body).send().await,
            None => request.send().await,
        }
    }

    /// Reads one object back, to check that a rejected batch changed nothing.
    async fn read(&self, path: &str, id: i64) -> Value {
        let reply = self.send("GET", &format!("{path}{id}/"), None).await;
        assert_eq!(reply.status, 200, "{path}{id}/: {}", reply.text());
        reply.json()
    }
}

const BULK_METHODS: [&str; 3] = ["PUT", "PATCH", "DELETE"];

#[tokio::test]
async fn non_list_body_rejected_with_detail() {
    let stored = Stored::start().await;
    let no_data = json!({"detail": "Expected a list of objects, but no data was submitted."});
    let cases = [
        (None, no_data.clone()),
        (Some(json!({})), no_data.clone()),
        (Some(json!(null)), no_data.clone()),
        (Some(json!("")), no_data),
        (
            Some(json!("x")),
            json!({"detail": "Expected a list of objects, but got str."}),
        ),
        (
            Some(json!(5)),
            json!({"detail": "Expected a list of objects, but got int."}),
        ),
        (
            Some(json!({"id": 1})),
            json!({"detail": "Expected a list of objects, but got dict."}),
        ),
    ];

    for (path, _) in stored.urls() {
        for method in BULK_METHODS {
            for (body, expected) in &cases {
                let reply = stored.send(method, path, body.as_ref()).await;

                assert_eq!(reply.status, 400, "{method} {path} {body:?}");
                assert_eq!(reply.json(), *expected, "{method} {path} {body:?}");
            }
        }
    }
}

#[tokio::test]
async fn entry_without_integer_id_fails_validation() {
    let stored = Stored::start().await;
    let cases = [
        (json!([{}]), json!({"id": ["This field is required."]})),
        (
            json!([{"id": "x"}]),
            json!({"id": ["A valid integer is required."]}),
        ),
        (
            json!([{"id": null}]),
            json!({"id": ["This field may not be null."]}),
        ),
        (
            json!(["x"]),
            json!({"__all__": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
    ];

    for (path, _) in stored.urls() {
        for method in BULK_METHODS {
            for (body, errors) in &cases {
                let reply = stored.send(method, path, Some(body)).await;

                assert_eq!(reply.status, 400, "{method} {path} {body}");
                assert_eq!(
                    reply.json(),
                    json!({
                        "detail": "1 of 1 objects failed validation.",
                        "errors": [{"index": 0, "errors": errors}],
                    }),
                    "{method} {path} {body}"
                );
            }
        }
    }
}

#[tokio::test]
async fn unknown_id_could_not_be_found() {
    let stored = Stored::start().await;

    for (path, id) in stored.urls() {
        for method in BULK_METHODS {
            let body = json!([{"id": 999999}, {"id": id.to_string()}]);

            let reply = stored.send(method, path, Some(&body)).await;

            assert_eq!(reply.status, 400, "{method} {path}: {}", reply.text());
            assert_eq!(
                reply.json(),
                json!({
                    "detail": "1 of 2 objects could not be found.",
                    "errors": [{
                        "id": 999999,
                        "errors": {"id": ["Object with ID 999999 does not exist"]},
                    }],
                }),
                "{method} {path}"
            );
            stored.read(path, id).await;
        }
    }
}

#[tokio::test]
async fn repeated_id_listed_more_than_once() {
    let stored = Stored::start().await;

    for (path, id) in stored.urls() {
        for method in BULK_METHODS {
            let body = json!([{"id": id}, {"id": 999999}, {"id": id}]);

            let reply = stored.send(method, path, Some(&body)).await;

            let message =
                format!("Each object may be specified only once; ID {id} is listed 2 times");
            assert_eq!(reply.status, 400, "{method} {path}: {}", reply.text());
            assert_eq!(
                reply.json(),
                json!({
                    "detail": "1 of 3 objects are listed more than once.",
                    "errors": [{"id": id, "errors": {"id": [message]}}],
                }),
                "{method} {path}"
            );
            stored.read(path, id).await;
        }
    }
}

#[tokio::test]
async fn bad_entry_reported_before_unknown_id() {
    let stored = Stored::start().await;

    for (path, _) in stored.urls() {
        for method in BULK_METHODS {
            let body = json!([{"id": 999999}, {"id": "x"}]);

            let reply = stored.send(method, path, Some(&body)).await;

            assert_eq!(reply.status, 400, "{method} {path}");
            assert_eq!(
                reply.json()["detail"],
                "1 of 2 objects failed validation.",
                "{method} {path}"
            );
            assert_eq!(
                reply.json()["errors"],
                json!([{"index": 1, "errors": {"id": ["A valid integer is required."]}}]),
                "{method} {path}"
            );
        }
    }
}

/// Builds an update entry that fails the model's own validation.
fn invalid_update(path: &str, id: i64) -> Value {
    match path {
        "user-keys/" => json!({"id": id, "public_key": "not a key"}),
        "secret-roles/" => json!({"id": id, "name": ""}),
        _ => json!({"id": id, "name": "x".repeat(101)}),
    }
}

#[tokio::test]
async fn unknown_id_reported_before_invalid_fields() {
    let stored = Stored::start().await;

    for (path, id) in stored.urls() {
        for method in ["PUT", "PATCH"] {
            let body = json!([invalid_update(path, id), {"id": 999999}]);

            let reply = stored.send(method, path, Some(&body)).await;

            assert_eq!(reply.status, 400, "{method} {path}");
            assert_eq!(
                reply.json()["detail"],
                "1 of 2 objects could not be found.",
                "{method} {path}"
            );
            assert_eq!(reply.json()["errors"][0]["id"], 999999, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn invalid_fields_could_not_be_updated() {
    let stored = Stored::start().await;

    for (path, id) in stored.urls() {
        let before = stored.read(path, id).await;
        let body = json!([invalid_update(path, id)]);

        let reply = stored.send("PATCH", path, Some(&body)).await;

        let error = reply.json();
        assert_eq!(reply.status, 400, "{path}: {error}");
        assert_eq!(
            error["detail"], "1 of 1 objects could not be updated.",
            "{path}"
        );
        assert_eq!(error["errors"][0]["id"], id, "{path}");
        assert!(error["errors"][0].get("index").is_none(), "{path}");
        assert!(error["errors"][0]["errors"].is_object(), "{path}");
        assert_eq!(stored.read(path, id).await, before, "{path}");
    }
}

#[tokio::test]
async fn empty_list_is_an_empty_batch() {
    let stored = Stored::start().await;

    for (path, id) in stored.urls() {
        for method in ["PUT", "PATCH"] {
            let reply = stored.send(method, path, Some(&json!([]))).await;

            assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text());
            assert_eq!(reply.json(), json!([]), "{method} {path}");
        }

        let deleted = stored.send("DELETE", path, Some(&json!([]))).await;
        assert_eq!(deleted.status, 204, "DELETE {path}: {}", deleted.text());
        stored.read(path, id).await;
    }

    for path in ["secret-roles/", "secrets/"] {
        let created = stored.send("POST", path, Some(&json!([]))).await;

        assert_eq!(created.status, 201, "POST {path}: {}", created.text());
        assert_eq!(created.json(), json!([]), "POST {path}");
    }
}

#[tokio::test]
async fn duplicate_in_create_fails_that_entry() {
    let stored = Stored::start().await;
    let role = json!({"name": "SNMP", "slug": "snmp"});
    let secret = secret_body(2, stored.role, "enable", "pw");

    for (path, item) in [("secret-roles/", role), ("secrets/", secret)] {
        let body = json!([item, item]);

        let reply = stored.send("POST", path, Some(&body)).await;
        let listed = stored.send("GET", path, None).await;

        let error = reply.json();
        assert_eq!(reply.status, 400, "{path}: {error}");
        assert_eq!(
            error["detail"], "1 of 2 objects could not be created.",
            "{path}"
        );
        assert_eq!(error["errors"].as_array().unwrap().len(), 1, "{path}");
        assert_eq!(error["errors"][0]["index"], 1, "{path}");
        assert_eq!(listed.json()["count"], 1, "{path}");
    }
}

#[tokio::test]
async fn role_in_use_could_not_be_deleted() {
    let stored = Stored::start().await;
    let unused = stored.world.add_role("SNMP", "snmp", None).await;
    let body = json!([{"id": unused}, {"id": stored.role}]);

    let reply = stored.send("DELETE", "secret-roles/", Some(&body)).await;

    assert_eq!(reply.status, 409, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "detail": "1 of 2 objects could not be deleted.",
            "errors": [{
                "id": stored.role,
                "errors": {"__all__": ["Unable to delete: 1 dependent object(s) prevent deletion."]},
            }],
        })
    );
    stored.read("secret-roles/", unused).await;
}
