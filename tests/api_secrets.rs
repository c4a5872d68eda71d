//! `/secrets/`: writes need a session key, reads decrypt with one, and secrets on objects the
//! caller cannot see in NetBox stay hidden.

mod support;

use serde_json::{json, Value};
use support::api::*;

const SESSION_KEY_REQUIRED: &str =
    "A session key must be provided when creating or updating secrets.";

/// Admin unlocked with one role `login`; returns the session key and the role id.
async fn world_with_role() -> (ApiWorld, String, i64) {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let role = world.add_role("Login", "login", None).await;
    (world, session_key, role)
}

/// Registers alice's key, has admin activate it and returns alice's session key.
async fn unlock_alice(world: &ApiWorld) -> String {
    let (admin_private, _) = vector_keys();
    let (alice_private, alice_public) = second_keys();
    let alice_key = world.add_user_key(ALICE_TOKEN, &alice_public).await;
    let activated = world
        .req("POST", "user-keys/activate/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": admin_private, "user_key_ids": [alice_key] }))
        .send()
        .await;
    assert_eq!(activated.status, 200, "{}", activated.text());
    world.session_key(ALICE_TOKEN, &alice_private).await
}

fn get(world: &ApiWorld, path: &str, session_key: Option<&str>) -> ApiRequest {
    let request = world.req("GET", path).token(ADMIN_TOKEN);
    match session_key {
        Some(key) => request.session_key(key),
        None => request,
    }
}

#[tokio::test]
async fn create_without_session_key_is_400() {
    let (world, _, role) = world_with_role().await;

    let reply = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .json(&secret_body(1, role, "admin", "pw"))
        .send()
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.json(), json!([SESSION_KEY_REQUIRED]));
}

#[tokio::test]
async fn create_with_session_key_is_201() {
    let (world, session_key, role) = world_with_role().await;

    let reply = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&secret_body(1, role, "admin", "s3cr3t"))
        .send()
        .await;

    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["plaintext"], Value::Null);
    assert!(body["hash"]
        .as_str()
        .unwrap()
        .starts_with("pbkdf2_sha256$1000$"));
    assert_eq!(body["assigned_object_type"], "dcim.device");
    assert_eq!(body["assigned_object_id"], 1);
    assert_eq!(body["assigned_object"]["display"], "dev-1");
    assert_eq!(body["role"]["id"], role);
    assert_eq!(
        body["url"],
        format!(
            "http://{PUBLIC_HOST}/api/plugins/secrets/secrets/{}/",
            body["id"]
        )
    );
}

#[tokio::test]
async fn detail_decrypts_only_with_a_session_key() {
    let (world, session_key, role) = world_with_role().await;
    let id = world
        .add_secret(&session_key, 1, role, "admin", "s3cr3t")
        .await;
    let path = format!("secrets/{id}/");

    let without = get(&world, &path, None).send().await;
    let with = get(&world, &path, Some(&session_key)).send().await;

    assert_eq!(without.status, 200);
    assert_eq!(without.json()["plaintext"], Value::Null);
    assert_eq!(with.status, 200);
    assert_eq!(with.json()["plaintext"], "s3cr3t");
}

#[tokio::test]
async fn list_with_a_session_key_decrypts_every_secret() {
    let (world, session_key, role) = world_with_role().await;
    world
        .add_secret(&session_key, 1, role, "one", "first")
        .await;
    world
        .add_secret(&session_key, 2, role, "two", "second")
        .await;

    let reply = get(&world, "secrets/", Some(&session_key)).send().await;

    assert_eq!(reply.status, 200);
    let plain = plaintexts(&reply.json());
    assert_eq!(plain["one"], "first");
    assert_eq!(plain["two"], "second");
}

#[tokio::test]
async fn wrong_session_key_is_400() {
    let (world, session_key, role) = world_with_role().await;
    world.add_secret(&session_key, 1, role, "admin", "pw").await;
    let wrong_short = "d3Jvbmcta2V5"; // base64 of "wrong-key"
    let wrong_full = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    for key in [wrong_short, wrong_full] {
        let read = get(&world, "secrets/", Some(key)).send().await;
        let write = world
            .req("POST", "secrets/")
            .token(ADMIN_TOKEN)
            .session_key(key)
            .json(&secret_body(2, role, "other", "pw"))
            .send()
            .await;
        for reply in [read, write] {
            assert_eq!(reply.status, 400, "{key}");
            assert_eq!(reply.json(), json!(["Invalid session key."]));
        }
    }
}

#[tokio::test]
async fn undecodable_session_key_counts_as_absent() {
    let (world, session_key, role) = world_with_role().await;
    world.add_secret(&session_key, 1, role, "admin", "pw").await;
    let undecodable = "%%%abc";

    let read = get(&world, "secrets/", Some(undecodable)).send().await;
    let write = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(undecodable)
        .json(&secret_body(2, role, "other", "pw"))
        .send()
        .await;

    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["results"][0]["plaintext"], Value::Null);
    assert_eq!(write.status, 400);
    assert_eq!(write.json(), json!([SESSION_KEY_REQUIRED]));
}

#[tokio::test]
async fn patch_needs_session_key() {
    let (world, session_key, role) = world_with_role().await;
    let id = world
        .add_secret(&session_key, 1, role, "admin", "old")
        .await;
    let path = format!("secrets/{id}/");

    let without = world
        .req("PATCH", &path)
        .token(ADMIN_TOKEN)
        .json(&json!({ "plaintext": "new" }))
        .send()
        .await;
    let with = world
        .req("PATCH", &path)
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&json!({ "plaintext": "new" }))
        .send()
        .await;
    let read = get(&world, &path, Some(&session_key)).send().await;

    assert_eq!(without.status, 400);
    assert_eq!(without.json(), json!([SESSION_KEY_REQUIRED]));
    assert_eq!(with.status, 200, "{}", with.text());
    assert_eq!(with.json()["plaintext"], Value::Null);
    assert_eq!(read.json()["plaintext"], "new");
}

#[tokio::test]
async fn duplicate_secret_is_400_non_field_errors() {
    let (world, session_key, role) = world_with_role().await;
    world.add_secret(&session_key, 1, role, "admin", "pw").await;

    let reply = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&secret_body(1, role, "admin", "other"))
        .send()
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({ "non_field_errors": [
            "Secret with this Assigned object type, Assigned object id, Role and Name already exists."
        ] })
    );
}

#[tokio::test]
async fn plaintext_over_65535_bytes_is_400_on_plaintext() {
    let (world, session_key, role) = world_with_role().await;
    let largest = "x".repeat(65_535);
    let too_long = "x".repeat(65_536);

    let rejected = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&secret_body(1, role, "big", &too_long))
        .send()
        .await;
    let accepted = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&secret_body(1, role, "largest", &largest))
        .send()
        .await;

    assert_eq!(rejected.status, 400);
    assert!(
        rejected.json()["plaintext"].is_array(),
        "{}",
        rejected.text()
    );
    assert_eq!(accepted.status, 201, "{}", accepted.text());
}

#[tokio::test]
async fn multipart_accepts_role_id_and_role() {
    let (world, session_key, role) = world_with_role().await;
    let role_text = role.to_string();

    for (index, role_field) in ["role.id", "role"].into_iter().enumerate() {
        let name = format!("multipart-{index}");
        let reply = world
            .req("POST", "secrets/")
            .token(ADMIN_TOKEN)
            .session_key(&session_key)
            .multipart(&[
                ("assigned_object_type", "dcim.device"),
                ("assigned_object_id", "1"),
                (role_field, &role_text),
                ("name", &name),
                ("plaintext", "from a form"),
            ])
            .send()
            .await;
        assert_eq!(reply.status, 201, "{role_field}: {}", reply.text());
        assert_eq!(reply.json()["role"]["id"], role);
    }
}

#[tokio::test]
async fn bulk_create_is_all_or_nothing() {
    let (world, session_key, role) = world_with_role().await;
    let items = json!([
        secret_body(1, role, "good", "pw"),
        { "assigned_object_type": "dcim.device", "assigned_object_id": 2, "name": "no-role", "plaintext": "pw" },
    ]);

    let reply = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&items)
        .send()
        .await;
    let listed = get(&world, "secrets/", None).send().await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["detail"], "1 of 2 objects could not be created.");
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(
        body["errors"][0]["errors"]["role"],
        json!(["This field cannot be null."])
    );
    assert_eq!(listed.json()["count"], 0);
}

#[tokio::test]
async fn bulk_create_and_bulk_delete() {
    let (world, session_key, role) = world_with_role().await;
    let items = json!([
        secret_body(1, role, "a", "1"),
        secret_body(2, role, "b", "2")
    ]);

    let created = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&items)
        .send()
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let ids: Vec<Value> = created
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|item| json!({ "id": item["id"] }))
        .collect();
    let deleted = world
        .req("DELETE", "secrets/")
        .token(ADMIN_TOKEN)
        .json(&Value::Array(ids))
        .send()
        .await;
    let listed = get(&world, "secrets/", None).send().await;

    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert_eq!(listed.json()["count"], 0);
}

#[tokio::test]
async fn hidden_device_secrets_are_invisible() {
    let (world, session_key, role) = world_with_role().await;
    let alice_key = unlock_alice(&world).await;
    let hidden = world
        .add_secret(&session_key, 3, role, "on-three", "pw")
        .await;
    world
        .add_secret(&session_key, 1, role, "on-one", "pw")
        .await;

    let create = world
        .req("POST", "secrets/")
        .token(ALICE_TOKEN)
        .session_key(&alice_key)
        .json(&secret_body(3, role, "mine", "pw"))
        .send()
        .await;
    let list = world
        .req("GET", "secrets/")
        .token(ALICE_TOKEN)
        .session_key(&alice_key)
        .send()
        .await;
    let detail = world
        .req("GET", &format!("secrets/{hidden}/"))
        .token(ALICE_TOKEN)
        .send()
        .await;
    let role_as_alice = world
        .req("GET", &format!("secret-roles/{role}/"))
        .token(ALICE_TOKEN)
        .send()
        .await;
    let role_as_admin = world
        .req("GET", &format!("secret-roles/{role}/"))
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(
        role_as_alice.json()["secret_count"],
        1,
        "hidden secret not counted"
    );
    assert_eq!(role_as_admin.json()["secret_count"], 2);
    assert_eq!(create.status, 400);
    assert_eq!(
        create.json(),
        json!({ "assigned_object_id": ["Related object not found using the provided value: 3."] })
    );
    assert_eq!(names(&list.json()), vec!["on-one"]);
    assert_eq!(plaintexts(&list.json())["on-one"], "pw");
    assert_eq!(detail.status, 404);
}

#[tokio::test]
async fn unknown_object_type_is_400() {
    let (world, session_key, role) = world_with_role().await;
    let mut body = secret_body(1, role, "site", "pw");
    body["assigned_object_type"] = json!("dcim.site");

    let reply = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&body)
        .send()
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({ "assigned_object_type": ["Invalid content type: dcim.site"] })
    );
}

#[tokio::test]
async fn unknown_filter_is_400_naming_it() {
    let (world, _, _) = world_with_role().await;

    let reply = get(&world, "secrets/?colour=blue", None).send().await;

    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("colour"), "{}", reply.text());
}

/// Secrets `admin`/login on device 1, `enable`/login on device 2, `community`/snmp on device 2.
async fn world_with_three_secrets() -> (ApiWorld, String) {
    let (world, session_key, login) = world_with_role().await;
    let snmp = world.add_role("SNMP", "snmp", None).await;
    world.add_secret(&session_key, 1, login, "admin", "a").await;
    world
        .add_secret(&session_key, 2, login, "enable", "b")
        .await;
    world
        .add_secret(&session_key, 2, snmp, "community", "c")
        .await;
    (world, session_key)
}

#[tokio::test]
async fn list_looks_up_objects_once_per_type() {
    let (world, _) = world_with_three_secrets().await;
    let before = world.upstream_calls("/api/dcim/devices/");

    // Another credential of admin's has nothing cached yet.
    let first = world
        .req("GET", "secrets/")
        .token(ADMIN_V2_TOKEN)
        .send()
        .await;
    let after_first = world.upstream_calls("/api/dcim/devices/");
    let second = world
        .req("GET", "secrets/")
        .token(ADMIN_V2_TOKEN)
        .send()
        .await;

    assert_eq!(first.status, 200);
    assert_eq!(first.json()["count"], 3);
    assert_eq!(
        after_first - before,
        1,
        "one device lookup for three secrets"
    );
    assert_eq!(second.status, 200);
    assert_eq!(
        world.upstream_calls("/api/dcim/devices/"),
        after_first,
        "the second list is served from the object cache"
    );
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let (world, _) = world_with_three_secrets().await;
    let cases: [(&str, &[&str]); 6] = [
        (
            "assigned_object_type=dcim.device&assigned_object_id=2",
            &["community", "enable"],
        ),
        ("device_id=1", &["admin"]),
        ("role=snmp", &["community"]),
        ("q=dev-1", &["admin"]),
        ("q=ENAB", &["enable"]),
        ("name__ic=ADM", &["admin"]),
    ];

    for (query, expected) in cases {
        let reply = get(&world, &format!("secrets/?{query}"), None).send().await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.text());
        let mut found = names(&reply.json());
        found.sort();
        assert_eq!(found, expected.to_vec(), "{query}");
    }
}

#[tokio::test]
async fn pagination_links_point_at_the_public_host() {
    let (world, _) = world_with_three_secrets().await;
    let base = format!("http://{PUBLIC_HOST}/api/plugins/secrets/secrets/");

    let first = get(&world, "secrets/?limit=1", None).send().await.json();
    let last = get(&world, "secrets/?limit=1&offset=2", None)
        .send()
        .await
        .json();

    assert_eq!(first["count"], 3);
    assert_eq!(first["results"].as_array().unwrap().len(), 1);
    assert_eq!(first["next"], format!("{base}?limit=1&offset=1"));
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["previous"], format!("{base}?limit=1&offset=1"));
}

#[tokio::test]
async fn brief_and_fields_select_the_fields() {
    let (world, _) = world_with_three_secrets().await;

    let brief = get(&world, "secrets/?brief=1", None).send().await.json();
    let fields = get(&world, "secrets/?fields=id,name", None)
        .send()
        .await
        .json();

    let keys =
        |item: &Value| -> Vec<String> { item.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&brief["results"][0]),
        vec!["id", "url", "display", "name"]
    );
    assert_eq!(keys(&fields["results"][0]), vec!["id", "name"]);
}

#[tokio::test]
async fn plaintext_round_trips_byte_for_byte() {
    let (world, session_key, role) = world_with_role().await;
    let long = "ab".repeat(40);
    let cases = [
        ("unicode", "pässwörd ✓ 🔑 日本"),
        ("padded", "  spaced out \t\n"),
        ("lines", "first\nsecond\r\n\tthird"),
        ("only spaces", "   "),
        ("long", long.as_str()),
    ];

    for (name, sent) in cases {
        let id = world.add_secret(&session_key, 1, role, name, sent).await;
        let reply = get(&world, &format!("secrets/{id}/"), Some(&session_key))
            .send()
            .await;
        assert_eq!(reply.json()["plaintext"], sent, "{name}");
    }
}

#[tokio::test]
async fn options_describe_the_endpoint() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("OPTIONS", "secrets/")
        .token(ADMIN_TOKEN)
        .send()
        .await;
    let anonymous = world.req("OPTIONS", "secrets/").send().await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["name"], "Secret List");
    assert_eq!(reply.json()["actions"], json!({"POST": {}, "PUT": {}}));
    assert!(reply
        .header("allow")
        .is_some_and(|allow| allow.contains("POST")));
    assert_eq!(anonymous.status, 403);
}

#[tokio::test]
async fn every_reply_names_allowed_methods() {
    let world = ApiWorld::start().await;
    let list_methods = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";
    let cases = [
        ("GET", "secrets/", ADMIN_TOKEN, 200, list_methods),
        ("GET", "secrets/", BOB_TOKEN, 403, list_methods),
        ("GET", "secrets/", UNKNOWN_TOKEN, 403, list_methods),
        (
            "GET",
            "secrets/7/",
            ADMIN_TOKEN,
            404,
            "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
        ),
        (
            "PUT",
            "session-key/",
            ADMIN_TOKEN,
            405,
            "GET, POST, DELETE, HEAD, OPTIONS",
        ),
        (
            "GET",
            "user-keys/activate/",
            ADMIN_TOKEN,
            405,
            "POST, OPTIONS",
        ),
        ("GET", "", ADMIN_TOKEN, 200, "GET, HEAD, OPTIONS"),
    ];

    for (method, path, token, status, allowed) in cases {
        let reply = world.req(method, path).token(token).send().await;

        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
        assert_eq!(reply.header("allow"), Some(allowed), "{method} {path}");
    }

    let unknown = world
        .req("GET", "nothing-here/")
        .token(ADMIN_TOKEN)
        .send()
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("allow"), None);
}

#[tokio::test]
async fn bulk_delete_needs_a_list() {
    let (world, session_key) = world_with_three_secrets().await;

    let reply = world
        .req("DELETE", "secrets/")
        .token(ADMIN_TOKEN)
        .json(&json!({"id": 1}))
        .send()
        .await;
    let listed = get(&world, "secrets/", Some(&session_key)).send().await;

    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"detail": "Expected a list of objects, but got dict."})
    );
    assert_eq!(listed.json()["count"], 3);
}

#[tokio::test]
async fn bulk_update_item_without_id() {
    let (world, session_key) = world_with_three_secrets().await;
    let listed = get(&world, "secrets/", Some(&session_key))
        .send()
        .await
        .json();
    let first = listed["results"][0]["id"].clone();

    let reply = world
        .req("PATCH", "secrets/")
        .token(ADMIN_TOKEN)
        .json(&json!([{"id": first, "description": "x"}, {"description": "y"}]))
        .send()
        .await;
    let after = get(&world, "secrets/", Some(&session_key))
        .send()
        .await
        .json();

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "detail": "1 of 2 objects failed validation.",
            "errors": [{"index": 1, "errors": {"id": ["This field is required."]}}],
        })
    );
    assert_eq!(after["results"][0]["description"], "");
}

#[tokio::test]
async fn bulk_delete_unknown_id_keeps_all() {
    let (world, session_key) = world_with_three_secrets().await;
    let listed = get(&world, "secrets/", Some(&session_key))
        .send()
        .await
        .json();
    let first = listed["results"][0]["id"].clone();

    let reply = world
        .req("DELETE", "secrets/")
        .token(ADMIN_TOKEN)
        .json(&json!([{"id": first}, {"id": 9999}]))
        .send()
        .await;
    let after = get(&world, "secrets/", Some(&session_key)).send().await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "detail": "1 of 2 objects could not be found.",
            "errors": [{"id": 9999, "errors": {"id": ["Object with ID 9999 does not exist"]}}],
        })
    );
    assert_eq!(after.json()["count"], 3);
}

#[tokio::test]
async fn blocked_role_delete_hides_invisible_names() {
    let (world, session_key, role) = world_with_role().await;
    world
        .add_secret(&session_key, 3, role, "on-three", "pw")
        .await;
    let visible = world
        .add_secret(&session_key, 1, role, "on-one", "pw")
        .await;

    let as_alice = world
        .req("DELETE", &format!("secret-roles/{role}/"))
        .token(ALICE_TOKEN)
        .send()
        .await;
    let as_admin = world
        .req("DELETE", &format!("secret-roles/{role}/"))
        .token(ADMIN_TOKEN)
        .send()
        .await;

    let alice_detail = as_alice.json()["detail"].as_str().unwrap_or("").to_string();
    assert_eq!(as_alice.status, 409);
    assert!(!alice_detail.contains("on-three"), "{alice_detail}");
    assert!(
        alice_detail.contains(&format!("on-one ({visible})")),
        "{alice_detail}"
    );
    assert!(
        alice_detail.contains("a secret you cannot view"),
        "{alice_detail}"
    );
    assert_eq!(as_admin.status, 409);
    assert!(as_admin.json()["detail"]
        .as_str()
        .unwrap_or("")
        .contains("on-three"));
}

#[tokio::test]
async fn unknown_role_attributes_use_python_repr() {
    let (world, session_key, _) = world_with_role().await;
    let mut body = secret_body(1, 0, "admin", "pw");
    body["role"] = json!({"slug": "nope", "name": "Nope"});

    let reply = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&body)
        .send()
        .await;

    // NetBox quotes the attributes as Python prints a dict.
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json()["role"],
        json!([
            "Related object not found using the provided attributes: {'slug': 'nope', 'name': 'Nope'}"
        ])
    );
}
