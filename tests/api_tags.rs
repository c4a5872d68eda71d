//! Tags on secrets, roles and user keys: references resolved in NetBox, the `tag`, `tag__n`
//! and `tag_id` filters, and NetBox's 400 for a tag that does not exist.

mod support;

use serde_json::{json, Value};
use support::api::*;

fn invalid_choice(value: &str) -> Value {
    json!([format!(
        "Select a valid choice. {value} is not one of the available choices."
    )])
}

/// Admin unlocked with one role and two secrets: `first` tagged alpha, `second` tagged beta.
async fn world_with_tagged_secrets() -> (ApiWorld, String) {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let role = world.add_role("Login", "login", None).await;

    for (name, tags) in [
        ("first", json!([{ "slug": "alpha" }])),
        ("second", json!([2])),
    ] {
        let mut body = secret_body(1, role, name, "pw");
        body["tags"] = tags;
        let reply = world
            .req("POST", "secrets/")
            .token(ADMIN_TOKEN)
            .session_key(&session_key)
            .json(&body)
            .send()
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    (world, session_key)
}

async fn list_secrets(world: &ApiWorld, query: &str) -> Reply {
    world
        .req("GET", &format!("secrets/?{query}"))
        .token(ADMIN_TOKEN)
        .send()
        .await
}

async fn list_names(world: &ApiWorld, query: &str) -> Vec<String> {
    let reply = list_secrets(world, query).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.text());
    names(&reply.json())
}

#[tokio::test]
async fn secret_tags_come_from_netbox() {
    let (world, _) = world_with_tagged_secrets().await;

    let reply = world
        .req("GET", "secrets/?name=first")
        .token(ADMIN_TOKEN)
        .send()
        .await;

    let tags = &reply.json()["results"][0]["tags"];
    assert_eq!(tags.as_array().unwrap().len(), 1);
    assert_eq!(tags[0]["id"], 1);
    assert_eq!(tags[0]["slug"], "alpha");
    assert_eq!(tags[0]["name"], "Alpha");
    assert_eq!(tags[0]["color"], "ff0000");
    assert_eq!(
        tags[0]["url"],
        format!("http://{PUBLIC_HOST}/api/extras/tags/1/")
    );
}

#[tokio::test]
async fn tag_filters_select_secrets() {
    let (world, _) = world_with_tagged_secrets().await;

    assert_eq!(list_names(&world, "tag=alpha").await, ["first"]);
    assert_eq!(list_names(&world, "tag=beta").await, ["second"]);
    assert_eq!(list_names(&world, "tag__n=alpha").await, ["second"]);
    assert_eq!(list_names(&world, "tag_id=2").await, ["second"]);
    assert_eq!(list_names(&world, "tag_id__n=2").await, ["first"]);
    // Repeated `tag` values must all be present, as in NetBox.
    assert!(list_names(&world, "tag=alpha&tag=beta").await.is_empty());
}

#[tokio::test]
async fn unknown_tag_filter_is_400() {
    let (world, _) = world_with_tagged_secrets().await;
    let cases = [
        ("tag=nosuch", "tag", "nosuch"),
        ("tag=alpha&tag=nosuch", "tag", "nosuch"),
        ("tag__n=gone", "tag__n", "gone"),
        ("tag_id=99", "tag_id", "99"),
        ("tag_id__n=99", "tag_id__n", "99"),
        // NetBox 4.7.3 checks an empty slug too, so `?tag=` never lists everything.
        ("tag=", "tag", ""),
        ("tag=alpha&tag=", "tag", ""),
    ];

    for (query, parameter, value) in cases {
        let reply = list_secrets(&world, query).await;

        assert_eq!(reply.status, 400, "{query}: {}", reply.text());
        assert_eq!(reply.json()[parameter], invalid_choice(value), "{query}");
    }
}

#[tokio::test]
async fn malformed_tag_filter_is_400() {
    let (world, _) = world_with_tagged_secrets().await;
    let cases = [
        (
            "tag_id=",
            "tag_id",
            "\u{201c}\u{201d} is not a valid value.",
        ),
        (
            "tag_id=abc",
            "tag_id",
            "\u{201c}abc\u{201d} is not a valid value.",
        ),
        ("tag__n=%00", "tag__n", "Null characters are not allowed."),
    ];

    for (query, parameter, message) in cases {
        let reply = list_secrets(&world, query).await;

        assert_eq!(reply.status, 400, "{query}: {}", reply.text());
        assert_eq!(reply.json()[parameter], json!([message]), "{query}");
    }
}

#[tokio::test]
async fn unknown_tag_is_400_on_roles_and_keys() {
    let world = ApiWorld::start().await;
    world.admin_unlocked().await;

    for path in ["secret-roles/?tag=nosuch", "user-keys/?tag=nosuch"] {
        let reply = world.req("GET", path).token(ADMIN_TOKEN).send().await;

        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert_eq!(reply.json()["tag"], invalid_choice("nosuch"), "{path}");
    }
    for path in ["secret-roles/?tag=alpha", "user-keys/?tag=alpha"] {
        let reply = world.req("GET", path).token(ADMIN_TOKEN).send().await;

        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.json()["count"], 0, "{path}");
    }
}

#[tokio::test]
async fn tag_check_skipped_without_tag_permission() {
    let (world, _) = world_with_tagged_secrets().await;

    // NetBox rejects carol's tag list, so her filter is not checked and matches no stored tag.
    let reply = world
        .req("GET", "secrets/?tag=nosuch")
        .token(CAROL_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["count"], 0);
}

#[tokio::test]
async fn unknown_tag_reference_is_400() {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let role = world.add_role("Login", "login", None).await;
    // NetBox 4.7.3 words these errors so, without a final period.
    let cases = [
        (
            json!([{ "slug": "nosuch" }]),
            "Related object not found using the provided attributes: {'slug': 'nosuch'}",
        ),
        (
            json!([999]),
            "Related object not found using the provided numeric ID: 999",
        ),
    ];

    for (tags, message) in cases {
        let mut body = secret_body(1, role, "first", "pw");
        body["tags"] = tags;
        let reply = world
            .req("POST", "secrets/")
            .token(ADMIN_TOKEN)
            .session_key(&session_key)
            .json(&body)
            .send()
            .await;

        assert_eq!(reply.status, 400, "{}", reply.text());
        assert_eq!(reply.json()["tags"], json!([message]));
    }
    let listed = world.req("GET", "secrets/").token(ADMIN_TOKEN).send().await;
    assert_eq!(listed.json()["count"], 0);
}

#[tokio::test]
async fn bulk_create_looks_each_tag_up_once() {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let role = world.add_role("Login", "login", None).await;
    let items: Vec<Value> = ["one", "two", "three"]
        .iter()
        .map(|name| {
            let mut body = secret_body(1, role, name, "pw");
            body["tags"] = json!([{ "slug": "alpha" }]);
            body
        })
        .collect();
    let lookups_before = world.upstream_calls("/api/extras/tags/");

    let reply = world
        .req("POST", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&session_key)
        .json(&Value::Array(items))
        .send()
        .await;

    assert_eq!(reply.status, 201, "{}", reply.text());
    for created in reply.json().as_array().unwrap() {
        assert_eq!(created["tags"][0]["slug"], "alpha");
    }
    assert_eq!(
        world.upstream_calls("/api/extras/tags/") - lookups_before,
        1
    );
}
