//! JSON responses the proxy writes itself, shaped like NetBox's: `{"detail": "..."}`.

use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{self, BoxBody};

/// Builds a JSON response from `value`.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<BoxBody> {
    let mut response = Response::new(body::full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Builds a `{"detail": ...}` error response.
pub fn detail(status: StatusCode, detail: &str) -> Response<BoxBody> {
    json(status, &serde_json::json!({ "detail": detail }))
}
