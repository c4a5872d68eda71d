//! Bulk `PUT`, `PATCH` and `DELETE` on `/user-keys/` over HTTP: NetBox 4.7's envelopes, the
//! rules that protect existing secrets, and all-or-nothing writes.

mod support;

use serde_json::{json, Value};
use support::api::*;

const SSH_PUBLIC: &str = include_str!("fixtures/keys/vector-ssh-rsa.pub");
const LARGE_PUBLIC: &str = include_str!("fixtures/keys/rsa8192-public.pem");

/// Message of a public-key change that would leave no active key while secrets exist.
const ONLY_ACTIVE_KEY: &str = "The public key cannot be changed while secrets exist and this is \
                               the only active user key; activate another user key first.";

/// Operators may view and change user keys but not delete them.
const NO_DELETE_POLICY: &str = r#"
[[policy.grants]]
groups = ["operators"]
actions = ["view", "add", "change"]
models = ["userkey"]
"#;

/// Registers keys for admin (active, it is the first) and alice (inactive); returns their ids.
async fn two_keys(world: &ApiWorld) -> (i64, i64) {
    let (_, admin_public) = vector_keys();
    let (_, alice_public) = second_keys();
    let admin = world.add_user_key(ADMIN_TOKEN, &admin_public).await;
    let alice = world.add_user_key(ALICE_TOKEN, &alice_public).await;
    (admin, alice)
}

/// Registers both keys, activates alice's, gives both a session key and stores one secret
/// when `with_secret` is set. Returns the key ids.
async fn two_active_keys(world: &ApiWorld, with_secret: bool) -> (i64, i64) {
    let (admin_private, _) = vector_keys();
    let (alice_private, _) = second_keys();
    let (admin, alice) = two_keys(world).await;

    let activated = world
        .req("POST", "user-keys/activate/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": admin_private, "user_key_ids": [alice] }))
        .send()
        .await;
    assert_eq!(activated.status, 200, "{}", activated.text());

    let admin_session = world.session_key(ADMIN_TOKEN, &admin_private).await;
    world.session_key(ALICE_TOKEN, &alice_private).await;
    if with_secret {
        let role = world.add_role("Login", "login", None).await;
        world
            .add_secret(&admin_session, 1, role, "admin", "pw")
            .await;
    }
    (admin, alice)
}

async fn key(world: &ApiWorld, id: i64) -> Reply {
    world
        .req("GET", &format!("user-keys/{id}/"))
        .token(ADMIN_TOKEN)
        .send()
        .await
}

async fn session_status(world: &ApiWorld, token: &str) -> u16 {
    let reply = world.req("GET", "session-key/").token(token).send().await;
    reply.status.as_u16()
}

fn tag_slugs(representation: &Value) -> Vec<&str> {
    representation["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["slug"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn bulk_patch_sets_tags_and_custom_fields() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_keys(&world).await;

    let reply = world
        .req("PATCH", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"id": alice, "tags": [{"slug": "beta"}], "custom_fields": {"team": "net"}},
            {"id": admin, "tags": [1, 2]},
        ]))
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], alice);
    assert_eq!(tag_slugs(&items[0]), ["beta"]);
    assert_eq!(items[0]["custom_fields"], json!({"team": "net"}));
    assert_eq!(items[0]["is_active"], false);
    assert_eq!(items[1]["id"], admin);
    assert_eq!(tag_slugs(&items[1]), ["alpha", "beta"]);
    assert_eq!(items[1]["is_active"], true);
    assert!(items[1]["public_key"]
        .as_str()
        .unwrap()
        .contains("PUBLIC KEY"));

    let alice_now = key(&world, alice).await.json();
    assert_eq!(tag_slugs(&alice_now), ["beta"]);
    assert_eq!(alice_now["custom_fields"], json!({"team": "net"}));
    let admin_now = key(&world, admin).await.json();
    assert_eq!(tag_slugs(&admin_now), ["alpha", "beta"]);
}

#[tokio::test]
async fn bulk_patch_respects_fields_and_omit() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_keys(&world).await;
    let body = json!([{"id": admin, "tags": []}, {"id": alice, "tags": []}]);

    let fields = world
        .req("PATCH", "user-keys/?fields=id,display")
        .token(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await;
    let omit = world
        .req("PATCH", "user-keys/?omit=public_key,user")
        .token(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await;

    assert_eq!(fields.status, 200, "{}", fields.text());
    assert_eq!(
        fields.json(),
        json!([{"id": admin, "display": "admin"}, {"id": alice, "display": "alice"}])
    );
    assert_eq!(omit.status, 200, "{}", omit.text());
    let omitted = omit.json();
    assert!(omitted[0].get("public_key").is_none());
    assert!(omitted[0].get("user").is_none());
    assert_eq!(omitted[1]["is_active"], false);
}

#[tokio::test]
async fn bulk_put_replaces_public_keys() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_keys(&world).await;
    let (_, admin_public) = vector_keys();

    let reply = world
        .req("PUT", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"id": admin, "public_key": admin_public, "tags": [{"slug": "alpha"}]},
            {"id": alice, "public_key": SSH_PUBLIC},
        ]))
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body[0]["is_active"], true);
    assert_eq!(tag_slugs(&body[0]), ["alpha"]);
    assert!(body[1]["public_key"]
        .as_str()
        .unwrap()
        .starts_with("ssh-rsa "));
    let alice_now = key(&world, alice).await.json();
    assert_eq!(alice_now["public_key"], body[1]["public_key"]);
}

#[tokio::test]
async fn bulk_put_requires_public_key() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_keys(&world).await;

    let reply = world
        .req("PUT", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"id": admin, "custom_fields": {"team": "net"}},
            {"id": alice, "public_key": SSH_PUBLIC},
        ]))
        .send()
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "detail": "1 of 2 objects could not be updated.",
            "errors": [{"id": admin, "errors": {"public_key": ["This field is required."]}}],
        })
    );
    let alice_now = key(&world, alice).await.json();
    assert!(alice_now["public_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
}

#[tokio::test]
async fn bulk_item_without_id_is_reported_by_index() {
    let world = ApiWorld::start().await;
    let (admin, _) = two_keys(&world).await;

    let reply = world
        .req("PATCH", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"id": admin, "custom_fields": {"team": "net"}},
            {"custom_fields": {"team": "ops"}},
        ]))
        .send()
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "detail": "1 of 2 objects failed validation.",
            "errors": [{"index": 1, "errors": {"id": ["This field is required."]}}],
        })
    );
    assert_eq!(key(&world, admin).await.json()["custom_fields"], json!({}));
}

#[tokio::test]
async fn bulk_unknown_id_could_not_be_found() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_keys(&world).await;

    let patch = world
        .req("PATCH", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"id": admin, "custom_fields": {"team": "net"}},
            {"id": 9999, "custom_fields": {"team": "ops"}},
        ]))
        .send()
        .await;
    let delete = world
        .req("DELETE", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([{"id": alice}, {"id": 9999}]))
        .send()
        .await;

    let not_found = json!({
        "detail": "1 of 2 objects could not be found.",
        "errors": [{"id": 9999, "errors": {"id": ["Object with ID 9999 does not exist"]}}],
    });
    assert_eq!(patch.status, 400, "{}", patch.text());
    assert_eq!(patch.json(), not_found);
    assert_eq!(delete.status, 400, "{}", delete.text());
    assert_eq!(delete.json(), not_found);
    assert_eq!(key(&world, admin).await.json()["custom_fields"], json!({}));
    assert_eq!(key(&world, alice).await.status, 200);
}

#[tokio::test]
async fn bulk_body_must_be_a_list() {
    let world = ApiWorld::start().await;
    let (admin, _) = two_keys(&world).await;

    for method in ["PUT", "PATCH", "DELETE"] {
        let reply = world
            .req(method, "user-keys/")
            .token(ADMIN_TOKEN)
            .json(&json!({"id": admin, "custom_fields": {"team": "net"}}))
            .send()
            .await;

        assert_eq!(reply.status, 400, "{method}: {}", reply.text());
        assert_eq!(
            reply.json(),
            json!({"detail": "Expected a list of objects, but got dict."}),
            "{method}"
        );
    }
    let admin_now = key(&world, admin).await;
    assert_eq!(admin_now.status, 200);
    assert_eq!(admin_now.json()["custom_fields"], json!({}));
}

#[tokio::test]
async fn bulk_invalid_public_key_keeps_every_key() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_keys(&world).await;
    let before_alice = key(&world, alice).await.json();

    let reply = world
        .req("PATCH", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"id": admin, "custom_fields": {"team": "net"}, "tags": [1]},
            {"id": alice, "public_key": "not a key"},
        ]))
        .send()
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["detail"], "1 of 2 objects could not be updated.");
    assert_eq!(body["errors"][0]["id"], alice);
    assert!(body["errors"][0]["errors"]["public_key"][0]
        .as_str()
        .unwrap()
        .starts_with("Invalid RSA key format"));
    let admin_now = key(&world, admin).await.json();
    assert_eq!(admin_now["custom_fields"], json!({}));
    assert_eq!(admin_now["tags"], json!([]));
    assert_eq!(key(&world, alice).await.json(), before_alice);
}

#[tokio::test]
async fn changing_every_active_public_key_rejected() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_active_keys(&world, true).await;
    let before_admin = key(&world, admin).await.json();
    let before_alice = key(&world, alice).await.json();

    let reply = world
        .req("PATCH", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([
            {"id": admin, "public_key": SSH_PUBLIC, "custom_fields": {"team": "net"}},
            {"id": alice, "public_key": LARGE_PUBLIC},
        ]))
        .send()
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "detail": "1 of 2 objects could not be updated.",
            "errors": [{"id": alice, "errors": {"public_key": [ONLY_ACTIVE_KEY]}}],
        })
    );
    assert_eq!(key(&world, admin).await.json(), before_admin);
    assert_eq!(key(&world, alice).await.json(), before_alice);
    assert_eq!(session_status(&world, ADMIN_TOKEN).await, 200);
    assert_eq!(session_status(&world, ALICE_TOKEN).await, 200);
}

#[tokio::test]
async fn changing_one_active_public_key_allowed() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_active_keys(&world, true).await;

    let reply = world
        .req("PATCH", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([{"id": alice, "public_key": LARGE_PUBLIC}]))
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()[0]["is_active"], false);
    assert_eq!(key(&world, admin).await.json()["is_active"], true);
    assert_eq!(session_status(&world, ALICE_TOKEN).await, 404);
    assert_eq!(session_status(&world, ADMIN_TOKEN).await, 200);
}

#[tokio::test]
async fn bulk_delete_removes_keys_and_session_keys() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_active_keys(&world, false).await;

    let reply = world
        .req("DELETE", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([{"id": admin}, {"id": alice}]))
        .send()
        .await;

    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    assert_eq!(key(&world, admin).await.status, 404);
    assert_eq!(key(&world, alice).await.status, 404);
    assert_eq!(session_status(&world, ADMIN_TOKEN).await, 404);
    assert_eq!(session_status(&world, ALICE_TOKEN).await, 404);
}

#[tokio::test]
async fn bulk_delete_of_every_active_key_is_409() {
    let world = ApiWorld::start().await;
    let (admin, alice) = two_active_keys(&world, true).await;

    let both = world
        .req("DELETE", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([{"id": admin}, {"id": alice}]))
        .send()
        .await;

    assert_eq!(both.status, 409, "{}", both.text());
    assert_eq!(
        both.json(),
        json!({
            "detail": "1 of 2 objects could not be deleted.",
            "errors": [{
                "id": alice,
                "errors": {"__all__": ["Unable to delete: 1 dependent object(s) prevent deletion."]},
            }],
        })
    );
    assert_eq!(key(&world, admin).await.json()["is_active"], true);
    assert_eq!(key(&world, alice).await.json()["is_active"], true);
    assert_eq!(session_status(&world, ADMIN_TOKEN).await, 200);
    assert_eq!(session_status(&world, ALICE_TOKEN).await, 200);

    let single_delete = world
        .req("DELETE", "user-keys/")
        .token(ADMIN_TOKEN)
        .json(&json!([{"id": alice}]))
        .send()
        .await;
    assert_eq!(single_delete.status, 204, "{}", single_delete.text());
    assert_eq!(key(&world, alice).await.status, 404);
    assert_eq!(key(&world, admin).await.status, 200);
}

#[tokio::test]
async fn bulk_writes_need_their_grant() {
    let world = ApiWorld::start_with_policy(NO_DELETE_POLICY).await;
    let (_, alice_public) = second_keys();
    let alice = world.add_user_key(ALICE_TOKEN, &alice_public).await;

    let changed = world
        .req("PATCH", "user-keys/")
        .token(ALICE_TOKEN)
        .json(&json!([{"id": alice, "custom_fields": {"team": "net"}}]))
        .send()
        .await;
    let deleted = world
        .req("DELETE", "user-keys/")
        .token(ALICE_TOKEN)
        .json(&json!([{"id": alice}]))
        .send()
        .await;
    let bob_changed = world
        .req("PATCH", "user-keys/")
        .token(BOB_TOKEN)
        .json(&json!([{"id": alice, "custom_fields": {"team": "ops"}}]))
        .send()
        .await;

    let denied = json!({"detail": "You do not have permission to perform this action."});
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(deleted.status, 403, "{}", deleted.text());
    assert_eq!(deleted.json(), denied);
    assert_eq!(bob_changed.status, 403, "{}", bob_changed.text());
    assert_eq!(bob_changed.json(), denied);
    let alice_now = key(&world, alice).await;
    assert_eq!(alice_now.status, 200);
    assert_eq!(alice_now.json()["custom_fields"], json!({"team": "net"}));
}

#[tokio::test]
async fn bulk_writes_reject_read_only_token() {
    let world = ApiWorld::start().await;
    let (_, alice_public) = second_keys();
    let alice = world.add_user_key(ALICE_TOKEN, &alice_public).await;

    let changed = world
        .req("PATCH", "user-keys/")
        .token(ALICE_READ_ONLY_TOKEN)
        .json(&json!([{"id": alice, "custom_fields": {"team": "net"}}]))
        .send()
        .await;
    let deleted = world
        .req("DELETE", "user-keys/")
        .token(ALICE_READ_ONLY_TOKEN)
        .json(&json!([{"id": alice}]))
        .send()
        .await;

    assert_eq!(changed.status, 403, "{}", changed.text());
    assert_eq!(deleted.status, 403, "{}", deleted.text());
    let alice_now = key(&world, alice).await;
    assert_eq!(alice_now.status, 200);
    assert_eq!(alice_now.json()["custom_fields"], json!({}));
}
