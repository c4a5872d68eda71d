//! Authentication and authorization of the secrets API: NetBox decides who the caller is, the
//! proxy's policy decides what they may do.

mod support;

use serde_json::json;
use support::api::*;

#[tokio::test]
async fn netbox_refusal_passes_through() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("GET", "secrets/")
        .token(UNKNOWN_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 403);
    assert_eq!(reply.json(), json!({ "detail": "Invalid v1 token" }));
    assert_eq!(reply.content_type(), "application/json");
}

#[tokio::test]
async fn missing_credentials_skip_netbox() {
    let world = ApiWorld::start().await;

    let reply = world.req("GET", "secrets/").send().await;

    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        json!({ "detail": "Authentication credentials were not provided." })
    );
    assert!(world.netbox.requests().is_empty());
}

#[tokio::test]
async fn netbox_down_fails_closed_with_503_json() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let data = tempfile::tempdir().unwrap();
    let proxy = start_api(api_config(&upstream, &data, DEFAULT_POLICY)).await;

    let mut request = support::request("GET", "/api/plugins/secrets/secrets/", "");
    request
        .headers_mut()
        .insert("authorization", ADMIN_TOKEN.parse().unwrap());
    let response = support::send(proxy.addr, request).await;

    assert_eq!(response.status(), 503);
    let body = support::body_json(response).await;
    assert!(
        body["detail"].as_str().unwrap().contains("NetBox"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_new_token_checked_once() {
    let world = ApiWorld::start().await;

    let requests = (0..20).map(|_| world.req("GET", "").token(ALICE_SLOW_TOKEN).send());
    let replies = futures_util::future::join_all(requests).await;

    for reply in replies {
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert_eq!(world.auth_checks(), 1);
}

#[tokio::test]
async fn cached_success_is_reused() {
    let world = ApiWorld::start().await;

    let first = world.req("GET", "secrets/").token(ALICE_TOKEN).send().await;
    let second = world.req("GET", "secrets/").token(ALICE_TOKEN).send().await;

    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(world.auth_checks(), 1);
}

#[tokio::test]
async fn v2_bearer_token_authenticates() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("GET", "secrets/")
        .token(ALICE_V2_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn session_cookie_is_checked_before_the_token() {
    let world = ApiWorld::start().await;

    // Bob's token alone is refused; next to admin's session the request is admin's.
    let reply = world
        .req("GET", "user-keys/")
        .cookie(&format!("sessionid={ADMIN_SESSION}"))
        .token(BOB_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let checks: Vec<_> = world
        .netbox
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/api/authentication-check/"))
        .collect();
    assert_eq!(checks.len(), 1);
    assert!(checks[0].header("cookie").unwrap().contains(ADMIN_SESSION));
    assert!(checks[0].header("authorization").is_none());
}

#[tokio::test]
async fn session_post_without_csrf_rejected() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("POST", "session-key/")
        .cookie(&format!(
            "sessionid={ADMIN_SESSION}; csrftoken={CSRF_SECRET}"
        ))
        .json(&json!({ "private_key": "x" }))
        .send()
        .await;

    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        json!({ "detail": "CSRF Failed: CSRF token missing." })
    );
}

#[tokio::test]
async fn session_post_with_csrf_passes() {
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
}

#[tokio::test]
async fn read_only_token_rejected_on_writes() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("POST", "secret-roles/")
        .token(ALICE_READ_ONLY_TOKEN)
        .json(&json!({ "name": "Login", "slug": "login" }))
        .send()
        .await;

    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        json!({ "detail": "You do not have permission to perform this action." })
    );
    let read = world
        .req("GET", "secret-roles/")
        .token(ALICE_READ_ONLY_TOKEN)
        .send()
        .await;
    assert_eq!(read.status, 200);
}

#[tokio::test]
async fn read_only_token_creates_session_key() {
    let world = ApiWorld::start().await;
    let (private, public) = vector_keys();
    world.add_user_key(ALICE_TOKEN, &public).await;

    let reply = world
        .req("POST", "session-key/")
        .token(ALICE_READ_ONLY_TOKEN)
        .json(&json!({ "private_key": private }))
        .send()
        .await;

    assert_eq!(reply.status, 201, "{}", reply.text());
}

#[tokio::test]
async fn user_without_grants_rejected() {
    let world = ApiWorld::start().await;

    for path in ["secrets/", "secret-roles/", "user-keys/"] {
        let reply = world.req("GET", path).token(BOB_TOKEN).send().await;
        assert_eq!(reply.status, 403, "{path}");
        assert_eq!(
            reply.json(),
            json!({ "detail": "You do not have permission to perform this action." })
        );
    }
}

#[tokio::test]
async fn group_grant_lets_members_in() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("GET", "secret-roles/")
        .token(ALICE_TOKEN)
        .send()
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["count"], 0);
}

#[tokio::test]
async fn role_limited_grant_hides_other_roles_secrets() {
    let world = ApiWorld::start().await;
    let session_key = world.admin_unlocked().await;
    let login = world.add_role("Login", "login", None).await;
    let snmp = world.add_role("SNMP", "snmp", None).await;
    world
        .add_secret(&session_key, 1, login, "admin", "pw1")
        .await;
    let hidden = world
        .add_secret(&session_key, 1, snmp, "community", "pw2")
        .await;

    let list = world.req("GET", "secrets/").token(CAROL_TOKEN).send().await;
    let detail = world
        .req("GET", &format!("secrets/{hidden}/"))
        .token(CAROL_TOKEN)
        .send()
        .await;

    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(names(&list.json()), vec!["admin"]);
    assert_eq!(list.json()["count"], 1);
    assert_eq!(detail.status, 404);
    assert_eq!(
        detail.json(),
        json!({ "detail": "No Secret matches the given query." })
    );
}

#[tokio::test]
async fn accept_indent_pretty_prints_json() {
    let world = ApiWorld::start().await;

    let reply = world
        .req("GET", "")
        .token(ADMIN_TOKEN)
        .header("accept", "application/json; indent=4")
        .send()
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), "application/json");
    let text = reply.text();
    assert!(
        text.starts_with("{\n    \"generate-rsa-key-pair\": "),
        "{text}"
    );
}
