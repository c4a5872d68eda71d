//! `OPTIONS` responses: DRF's metadata document, which clients such as pynetbox's `choices()`
//! read to learn what an endpoint accepts.

use http::header::ALLOW;
use http::{HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::call::Call;
use super::router::Endpoint;
use crate::body::BoxBody;

/// Builds the metadata of an endpoint, with the methods it allows in `Allow`.
pub fn describe(call: &Call, endpoint: Endpoint) -> Response<BoxBody> {
    let (name, methods) = describe_endpoint(endpoint);

    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("description".into(), json!(""));
    body.insert("renders".into(), json!(["application/json"]));
    body.insert(
        "parses".into(),
        json!(["application/json", "multipart/form-data"]),
    );
    // The plugin's models have no choice fields, so the write actions list no field choices.
    let writes: Map<String, Value> = ["POST", "PUT"]
        .iter()
        .filter(|method| methods.contains(method))
        .map(|method| (method.to_string(), json!({})))
        .collect();
    if !writes.is_empty() {
        body.insert("actions".into(), Value::Object(writes));
    }

    let mut response = call.json(StatusCode::OK, &Value::Object(body));
    set_allow(&mut response, endpoint);
    response
}

/// Sets `Allow` to the endpoint's methods. DRF sends it on every response of a view, errors
/// included, and NetBox 4.7.3 does the same.
pub fn set_allow(response: &mut Response<BoxBody>, endpoint: Endpoint) {
    let (_, methods) = describe_endpoint(endpoint);
    if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
        response.headers_mut().insert(ALLOW, allow);
    }
}

/// Returns the view name DRF shows for an endpoint and the methods it allows.
fn describe_endpoint(endpoint: Endpoint) -> (&'static str, &'static [&'static str]) {
    const READ: &[&str] = &["GET", "HEAD", "OPTIONS"];
    const LIST: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    const DETAIL: &[&str] = &["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    const ACTION: &[&str] = &["POST", "OPTIONS"];

    match endpoint {
        Endpoint::Root => ("Secrets", READ),
        Endpoint::GenerateKeyPair => ("Generate RSA Key Pair", READ),
        Endpoint::UserKeys => ("User Key List", LIST),
        Endpoint::UserKey(_) => ("User Key Instance", DETAIL),
        Endpoint::ActivateUserKeys | Endpoint::LegacyActivateUserKey => {
            ("Activate User Keys", ACTION)
        }
        Endpoint::SessionKey => ("Session Key", &["GET", "POST", "DELETE", "HEAD", "OPTIONS"]),
        Endpoint::LegacySessionKeys => (
            "Session Key List",
            &["GET", "POST", "DELETE", "HEAD", "OPTIONS"],
        ),
        Endpoint::LegacySessionKey(_) => (
            "Session Key Instance",
            &["GET", "DELETE", "HEAD", "OPTIONS"],
        ),
        Endpoint::LegacyGetSessionKey => ("Get Session Key", ACTION),
        Endpoint::SecretRoles => ("Secret Role List", LIST),
        Endpoint::SecretRole(_) => ("Secret Role Instance", DETAIL),
        Endpoint::Secrets => ("Secret List", LIST),
        Endpoint::Secret(_) => ("Secret Instance", DETAIL),
    }
}
