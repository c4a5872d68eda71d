//! The API root: links to every collection, in alphabetical order as the plugin lists them.

use http::{Method, Response, StatusCode};
use serde_json::{Map, Value};

use super::call::Call;
use super::error::ApiError;
use crate::body::BoxBody;

const COLLECTIONS: [&str; 5] = [
    "generate-rsa-key-pair",
    "secret-roles",
    "secrets",
    "session-key",
    "user-keys",
];

pub async fn handle(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    if call.method != Method::GET && call.method != Method::HEAD {
        return Err(ApiError::method_not_allowed(&call.method));
    }

    let links: Map<String, Value> = COLLECTIONS
        .iter()
        .map(|name| (name.to_string(), Value::String(call.urls.api(name, None))))
        .collect();
    Ok(call.json(StatusCode::OK, &Value::Object(links)))
}
