//! Secret roles, user keys, their activation and the RSA key-pair generator over HTTP.

mod support;

use serde_json::{json, Value};
use support::api::*;

#[tokio::test]
async fn role_tree_depth_and_count() {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let root = world.add_role("Credentials", "credentials", None).await;
    let child = world.add_role("Login", "login", Some(root)).await;
    world
        .add_secret(&session_key, 1, child, "admin", "pw")
        .await;

    let list = world
        .req("GET", "secret-roles/")
        .token(ADMIN_TOKEN)
        .send()
        .await;
    let detail = world
        .req("GET", &format!("secret-roles/{child}/"))
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(list.status, 200);
    let results = list.json()["results"].clone();
    assert_eq!(results[0]["slug"], "credentials");
    assert_eq!(results[0]["_depth"], 0);
    assert_eq!(results[0]["secret_count"], 1);
    assert_eq!(results[1]["slug"], "login");
    assert_eq!(results[1]["_depth"], 1);
    assert_eq!(results[1]["secret_count"], 1);
    assert_eq!(detail.json()["parent"]["id"], root);
    assert_eq!(detail.json()["parent"]["_depth"], 0);
}

#[tokio::test]
async fn role_in_use_cannot_be_deleted() {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let root = world.add_role("Credentials", "credentials", None).await;
    let child = world.add_role("Login", "login", Some(root)).await;
    world
        .add_secret(&session_key, 1, child, "admin", "pw")
        .await;

    for id in [child, root] {
        let reply = world
            .req("DELETE", &format!("secret-roles/{id}/"))
            .token(ADMIN_TOKEN)
            .send()
            .await;
        assert_eq!(reply.status, 409, "{}", reply.text());
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.starts_with("Unable to delete object. 1 dependent objects were found: admin ("),
            "{detail}"
        );
    }
    let unused = world.add_role("Spare", "spare", None).await;
    let deleted = world
        .req("DELETE", &format!("secret-roles/{unused}/"))
        .token(ADMIN_TOKEN)
        .send()
        .await;
    assert_eq!(deleted.status, 204);
}

#[tokio::test]
async fn role_bulk_create_counts_every_item() {
    let world = ApiWorld::start().await;
    world.add_role("Login", "login", None).await;

    let reply = world
        .req("POST", "secret-roles/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"name": "SNMP", "slug": "snmp"},
            {"name": "Enable", "slug": "enable"},
            {"name": "Login", "slug": "login-two"},
        ]))
        .send()
        .await;
    let listed = world
        .req("GET", "secret-roles/")
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "detail": "1 of 3 objects could not be created.",
            "errors": [{
                "index": 2,
                "errors": {"name": ["Secret Role with this name already exists."]},
            }],
        })
    );
    assert_eq!(listed.json()["count"], 1);
}

#[tokio::test]
async fn first_user_key_is_active() {
    let world = ApiWorld::start().await;
    let (_, admin_public) = vector_keys();
    let (_, alice_public) = second_keys();

    let first = world
        .req("POST", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "public_key": admin_public }))
        .send()
        .await;
    let second = world
        .req("POST", "user-keys/")
        .token(ALICE_TOKEN)
        .json(&json!({ "public_key": alice_public }))
        .send()
        .await;

    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["is_active"], true);
    assert_eq!(first.json()["user"]["username"], "admin");
    assert_eq!(second.status, 201, "{}", second.text());
    assert_eq!(second.json()["is_active"], false);
    assert_eq!(second.json()["is_filled"], true);
    assert_eq!(second.json()["display"], "alice");
}

#[tokio::test]
async fn activation_gives_another_user_the_master_key() {
    let world = ApiWorld::start().await;
    let (admin_private, admin_public) = vector_keys();
    let (alice_private, alice_public) = second_keys();
    world.add_user_key(ADMIN_TOKEN, &admin_public).await;
    let alice_key = world.add_user_key(ALICE_TOKEN, &alice_public).await;

    let reply = world
        .req("POST", "user-keys/activate/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": admin_private, "user_key_ids": [alice_key] }))
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "message": "Successfully activated 1 user key.",
            "activated_count": 1,
            "activated_keys": [alice_key],
        })
    );
    let session = world
        .req("POST", "session-key/")
        .token(ALICE_TOKEN)
        .json(&json!({ "private_key": alice_private }))
        .send()
        .await;
    assert_eq!(session.status, 201, "{}", session.text());
}

#[tokio::test]
async fn activation_missing_id_is_404() {
    let world = ApiWorld::start().await;
    let (admin_private, admin_public) = vector_keys();
    let (_, alice_public) = second_keys();
    world.add_user_key(ADMIN_TOKEN, &admin_public).await;
    let alice_key = world.add_user_key(ALICE_TOKEN, &alice_public).await;

    let reply = world
        .req("POST", "user-keys/activate/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": admin_private, "user_key_ids": [alice_key, 9999] }))
        .send()
        .await;
    let alice = world
        .req("GET", &format!("user-keys/{alice_key}/"))
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["invalid_keys"], json!([9999]));
    assert!(reply.json()["error"].as_str().unwrap().contains("9999"));
    assert_eq!(alice.json()["is_active"], false);
}

#[tokio::test]
async fn last_active_key_delete_is_409() {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let role = world.add_role("Login", "login", None).await;
    world.add_secret(&session_key, 1, role, "admin", "pw").await;
    let keys = world
        .req("GET", "user-keys/")
        .token(ADMIN_TOKEN)
        .send()
        .await;
    let admin_key = keys.json()["results"][0]["id"].as_i64().unwrap();

    let reply = world
        .req("DELETE", &format!("user-keys/{admin_key}/"))
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 409, "{}", reply.text());
    assert!(reply.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("Unable to delete object. 1 dependent objects were found:"));
}

#[tokio::test]
async fn public_key_change_ends_session_key() {
    let world = ApiWorld::start().await;
    let (admin_private, admin_public) = vector_keys();
    let (alice_private, alice_public) = second_keys();
    let admin_session = world.admin_unlocked().await;
    let role = world.add_role("Login", "login", None).await;
    world
        .add_secret(&admin_session, 1, role, "admin", "pw")
        .await;
    let alice_key = world.add_user_key(ALICE_TOKEN, &alice_public).await;
    let activated = world
        .req("POST", "user-keys/activate/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": admin_private, "user_key_ids": [alice_key] }))
        .send()
        .await;
    assert_eq!(activated.status, 200);
    let alice_session = world.session_key(ALICE_TOKEN, &alice_private).await;

    let changed = world
        .req("PATCH", &format!("user-keys/{alice_key}/"))
        .token(ALICE_TOKEN)
        .json(&json!({ "public_key": admin_public }))
        .send()
        .await;
    let session = world
        .req("GET", "session-key/")
        .token(ALICE_TOKEN)
        .send()
        .await;
    let read = world
        .req("GET", "secrets/")
        .token(ALICE_TOKEN)
        .session_key(&alice_session)
        .send()
        .await;

    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(changed.json()["is_active"], false);
    assert_eq!(session.status, 404);
    assert_eq!(read.status, 400);
    assert_eq!(read.json(), json!(["Invalid session key."]));
}

#[tokio::test]
async fn same_public_key_patch_keeps_the_key_active() {
    let world = ApiWorld::start().await;
    let (_, public) = vector_keys();
    let id = world.add_user_key(ADMIN_TOKEN, &public).await;

    let reply = world
        .req("PATCH", &format!("user-keys/{id}/"))
        .token(ADMIN_TOKEN)
        .json(&json!({ "public_key": public }))
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["is_active"], true);
}

#[tokio::test]
async fn generator_refuses_bad_key_sizes() {
    let world = ApiWorld::start().await;

    for size in ["bad", "1024", "2050", "8448"] {
        let reply = world
            .req("GET", &format!("generate-rsa-key-pair/?key_size={size}"))
            .token(BOB_TOKEN)
            .send()
            .await;
        assert_eq!(reply.status, 400, "{size}: {}", reply.text());
        assert!(reply.json()["error"].is_string(), "{size}");
    }
}

#[tokio::test]
async fn generator_returns_a_usable_key_pair() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("GET", "generate-rsa-key-pair/")
        .token(BOB_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["key_size"], 2048);
    let public = body["public_key"].as_str().unwrap();
    let private = body["private_key"].as_str().unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    world.add_user_key(ADMIN_TOKEN, public).await;
    let session = world.session_key(ADMIN_TOKEN, private).await;
    assert_eq!(session.len(), 44);
}

#[tokio::test]
async fn root_lists_endpoints_sorted() {
    let world = ApiWorld::start().await;

    let reply = world.req("GET", "").token(BOB_TOKEN).send().await;

    let base = format!("http://{PUBLIC_HOST}/api/plugins/secrets/");
    let expected: Value = json!({
        "generate-rsa-key-pair": format!("{base}generate-rsa-key-pair/"),
        "secret-roles": format!("{base}secret-roles/"),
        "secrets": format!("{base}secrets/"),
        "session-key": format!("{base}session-key/"),
        "user-keys": format!("{base}user-keys/"),
    });
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), expected);
    let keys: Vec<String> = reply.json().as_object().unwrap().keys().cloned().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[tokio::test]
async fn unknown_key_owner_uses_python_repr() {
    let world = ApiWorld::start().await;
    let (_, public) = vector_keys();

    let reply = world
        .req("POST", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!({"public_key": public, "user": {"username": "nobody"}}))
        .send()
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json()["user"],
        json!(["Related object not found using the provided attributes: {'username': 'nobody'}"])
    );
}

#[tokio::test]
async fn update_of_missing_object_is_404() {
    let world = ApiWorld::start().await;
    let cases = [
        (
            "PUT",
            "secret-roles/999/",
            json!({"name": "x"}),
            "SecretRole",
        ),
        (
            "PATCH",
            "secret-roles/999/",
            json!({"slug": ""}),
            "SecretRole",
        ),
        (
            "PATCH",
            "user-keys/999/",
            json!({"public_key": "junk"}),
            "UserKey",
        ),
        ("PUT", "user-keys/999/", json!({}), "UserKey"),
    ];

    // The lookup comes before the body is validated, as in DRF.
    for (method, path, body, model) in cases {
        let reply = world
            .req(method, path)
            .token(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await;

        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
        assert_eq!(
            reply.json(),
            json!({"detail": format!("No {model} matches the given query.")}),
            "{method} {path}"
        );
    }
}
