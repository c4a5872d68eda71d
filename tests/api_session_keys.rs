//! `/session-key/` and its legacy forms, following the plugin's own test list.

mod support;

use serde_json::json;
use support::api::*;

fn post_key(world: &ApiWorld, body: serde_json::Value) -> ApiRequest {
    world
        .req("POST", "session-key/")
        .token(ADMIN_TOKEN)
        .json(&body)
}

#[tokio::test]
async fn get_without_a_session_key_is_404() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("GET", "session-key/")
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.json(),
        json!({ "detail": "No active session key found" })
    );
}

#[tokio::test]
async fn post_without_a_user_key_is_400_text() {
    let world = ApiWorld::start().await;
    let (private, _) = vector_keys();

    let reply = post_key(&world, json!({ "private_key": private }))
        .send()
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.content_type(), "text/html; charset=utf-8");
    assert_eq!(reply.text(), "No UserKey found for the current user.");
}

#[tokio::test]
async fn post_with_an_inactive_user_key_is_400_text() {
    let world = ApiWorld::start().await;
    let (_, first_public) = second_keys();
    let (private, public) = vector_keys();
    world.add_user_key(ALICE_TOKEN, &first_public).await;
    world.add_user_key(ADMIN_TOKEN, &public).await;

    let reply = post_key(&world, json!({ "private_key": private }))
        .send()
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.content_type(), "text/html; charset=utf-8");
    assert_eq!(
        reply.text(),
        "UserKey has not been activated for decryption."
    );
}

#[tokio::test]
async fn post_with_an_empty_body_is_400_text() {
    let world = ApiWorld::start().await;
    let (_, public) = vector_keys();
    world.add_user_key(ADMIN_TOKEN, &public).await;

    let reply = post_key(&world, json!({})).send().await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.content_type(), "text/html; charset=utf-8");
    assert_eq!(reply.text(), "Private key was not provided.");
}

#[tokio::test]
async fn post_with_an_invalid_private_key_is_400_text() {
    let world = ApiWorld::start().await;
    let (_, public) = vector_keys();
    let (other_private, _) = second_keys();
    world.add_user_key(ADMIN_TOKEN, &public).await;

    for key in ["invalid", other_private.as_str()] {
        let reply = post_key(&world, json!({ "private_key": key })).send().await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.content_type(), "text/html; charset=utf-8");
        assert_eq!(reply.text(), "Invalid private key.");
    }
}

#[tokio::test]
async fn preserve_returns_same_key() {
    let world = ApiWorld::start().await;
    let (private, public) = vector_keys();
    let user_key = world.add_user_key(ADMIN_TOKEN, &public).await;

    let created = post_key(&world, json!({ "private_key": private }))
        .send()
        .await;
    let preserved = post_key(
        &world,
        json!({ "private_key": private, "preserve_key": true }),
    )
    .send()
    .await;
    let shown = world
        .req("GET", "session-key/")
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(preserved.status, 200, "{}", preserved.text());
    let key = created.json()["session_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 44);
    assert_eq!(preserved.json()["session_key"], key.as_str());
    assert_eq!(created.json()["userkey"]["id"], user_key);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["session_key"], serde_json::Value::Null);
    assert!(
        created.set_cookies().is_empty(),
        "token callers get no cookie"
    );
}

#[tokio::test]
async fn new_key_replaces_the_old_one() {
    let world = ApiWorld::start().await;
    let first = world.admin_unlocked().await;
    let (private, _) = vector_keys();

    let second = world.session_key(ADMIN_TOKEN, &private).await;
    let with_old = world
        .req("GET", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&first)
        .send()
        .await;

    assert_ne!(first, second);
    assert_eq!(with_old.status, 400);
    assert_eq!(with_old.json(), json!(["Invalid session key."]));
}

#[tokio::test]
async fn delete_answers_204_then_404() {
    let world = ApiWorld::start().await;
    world.admin_unlocked().await;

    let deleted = world
        .req("DELETE", "session-key/")
        .token(ADMIN_TOKEN)
        .send()
        .await;
    let again = world
        .req("DELETE", "session-key/")
        .token(ADMIN_TOKEN)
        .send()
        .await;

    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(again.status, 404);
    assert_eq!(
        again.json(),
        json!({ "detail": "No active session key found" })
    );
    for reply in [&deleted, &again] {
        let cookies = reply.set_cookies();
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with("netbox_secrets_sessionid=\"\"") && c.contains("Max-Age=0")),
            "{cookies:?}"
        );
    }
}

#[tokio::test]
async fn session_post_sets_strict_cookie() {
    let world = ApiWorld::start().await;
    let (private, public) = vector_keys();
    world.add_user_key(ADMIN_TOKEN, &public).await;

    let reply = world
        .req("POST", "session-key/")
        .cookie(&format!(
            "sessionid={ADMIN_SESSION}; csrftoken={CSRF_SECRET}"
        ))
        .header("x-csrftoken", CSRF_SECRET)
        .json(&json!({ "private_key": private }))
        .send()
        .await;

    assert_eq!(reply.status, 201, "{}", reply.text());
    let key = reply.json()["session_key"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.set_cookies(),
        vec![format!(
            "netbox_secrets_sessionid=\"{key}\"; HttpOnly; Path=/; SameSite=Strict"
        )]
    );
}

#[tokio::test]
async fn unsupported_key_format_is_named() {
    let world = ApiWorld::start().await;
    let (_, public) = vector_keys();
    world.add_user_key(ADMIN_TOKEN, &public).await;

    let cases = [
        (
            include_str!("fixtures/keys/encrypted-pkcs1.pem"),
            "encrypted",
        ),
        (
            include_str!("fixtures/keys/encrypted-pkcs8.pem"),
            "encrypted",
        ),
        (include_str!("fixtures/keys/openssh-private.pem"), "OpenSSH"),
    ];
    for (key, format) in cases {
        let reply = post_key(&world, json!({ "private_key": key })).send().await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.content_type(), "text/html; charset=utf-8");
        let text = reply.text();
        assert!(
            text.to_lowercase().contains(&format.to_lowercase()),
            "{format}: {text}"
        );
        assert!(!text.contains("BEGIN"), "the key is not echoed: {text}");
    }
}

#[tokio::test]
async fn legacy_session_keys_post_accepts_a_form_body() {
    let world = ApiWorld::start().await;
    let (private, public) = vector_keys();
    world.add_user_key(ADMIN_TOKEN, &public).await;
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("private_key", &private)
        .finish();

    let reply = world
        .req("POST", "session-keys/")
        .token(ADMIN_TOKEN)
        .body("application/x-www-form-urlencoded", form)
        .send()
        .await;

    assert_eq!(reply.status, 201, "{}", reply.text());
    let key = reply.json()["session_key"].as_str().unwrap().to_owned();
    let listed = world
        .req("GET", "secrets/")
        .token(ADMIN_TOKEN)
        .session_key(&key)
        .send()
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
}

#[tokio::test]
async fn legacy_get_session_key_returns_the_key() {
    let world = ApiWorld::start().await;
    let (private, public) = vector_keys();
    world.add_user_key(ADMIN_TOKEN, &public).await;

    let first = world
        .req("POST", "get-session-key/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": private }))
        .send()
        .await;
    let preserved = world
        .req("POST", "get-session-key/")
        .token(ADMIN_TOKEN)
        .json(&json!({ "private_key": private, "preserve_key": true }))
        .send()
        .await;

    assert_eq!(first.status, 200, "{}", first.text());
    let key = first.json()["session_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 44);
    assert_eq!(preserved.status, 200);
    assert_eq!(preserved.json(), json!({ "session_key": key }));
}

#[tokio::test]
async fn valid_header_beats_stale_cookie() {
    let world = ApiWorld::start().await;
    let stale = world.admin_unlocked().await;
    let login = world.add_role("Login", "login", None).await;
    world.add_secret(&stale, 1, login, "admin", "s3cr3t").await;
    let (private, _) = vector_keys();
    let fresh = world.session_key(ADMIN_TOKEN, &private).await;

    let reply = world
        .req("GET", "secrets/")
        .token(ADMIN_TOKEN)
        .cookie(&format!("netbox_secrets_sessionid=\"{stale}\""))
        .session_key(&fresh)
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["results"][0]["plaintext"], "s3cr3t");
}
