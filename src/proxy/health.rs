//! Liveness and readiness endpoints under `/-/`.

use http::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::response;
use super::upstream::Upstream;
use super::OwnedHandler;
use crate::body::{self, BoxBody};
use crate::error::chain;

/// `/-/live`: the process is up and serving.
pub fn live() -> Response<BoxBody> {
    response::json(StatusCode::OK, &json!({ "status": "live" }))
}

/// `/-/ready`: returns 200 when the secrets API is ready and NetBox returns any HTTP status
/// for `GET <base>api/status/` within the upstream timeouts, 503 otherwise.
pub async fn ready(
    handler: &dyn OwnedHandler,
    upstream: &Upstream,
    base_prefix: &str,
) -> Response<BoxBody> {
    if !handler.ready().await {
        return response::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "The secrets API is not ready.",
        );
    }
    if !netbox_answers(upstream, base_prefix).await {
        return response::detail(StatusCode::SERVICE_UNAVAILABLE, "NetBox is unreachable.");
    }
    response::json(StatusCode::OK, &json!({ "status": "ready" }))
}

async fn netbox_answers(upstream: &Upstream, base_prefix: &str) -> bool {
    let uri = match upstream.uri_for(&format!("{base_prefix}api/status/")) {
        Ok(uri) => uri,
        Err(error) => {
            tracing::error!(error = %chain(&error), "cannot build the readiness probe URL");
            return false;
        }
    };
    let mut probe = Request::new(body::empty());
    *probe.method_mut() = Method::GET;
    *probe.uri_mut() = uri;

    match upstream.send(probe).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(error = %chain(&error), "readiness probe to NetBox failed");
            false
        }
    }
}

/// Any other path under `/-/`.
pub fn unknown() -> Response<BoxBody> {
    response::detail(StatusCode::NOT_FOUND, "Not found.")
}
