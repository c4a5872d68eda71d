//! The API's error type: each case chooses its status code and the plugin-compatible body.

use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::wipe::WipedBuffer;
use crate::body::{self, BoxBody};
use crate::netbox::{AuthFailure, NetBoxError, ObjectTypeError};
use crate::store::StoreError;

/// NetBox's message for a missing model permission or a read-only token.
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";

/// Everything a request can fail with, in the shapes the plugin's clients parse.
#[derive(Debug)]
pub enum ApiError {
    /// `{"detail": "..."}` with any status.
    Detail(StatusCode, String),
    /// 400 with field errors: `{"field": ["message", ...]}`.
    Fields(Map<String, Value>),
    /// 400 with a bare JSON list of messages, as the plugin raises outside serializers.
    Messages(Vec<String>),
    /// A plain-text body sent as `text/html`, as the plugin's session-key endpoint does.
    Text(StatusCode, String),
    /// Any JSON body with any status (activation errors, bulk envelopes).
    Json(StatusCode, Value),
    /// NetBox refused the credentials: its own reply is passed on.
    Refused(Arc<crate::netbox::Refusal>),
    /// NetBox could not be reached; the request fails closed.
    Unavailable(String),
    /// A fault on our side; the detail is logged and not sent.
    Internal(String),
}

impl ApiError {
    /// 400 with one message on one field.
    pub fn field(name: &str, message: impl Into<String>) -> ApiError {
        let mut fields = Map::new();
        fields.insert(name.to_string(), json!([message.into()]));
        ApiError::Fields(fields)
    }

    /// 403 for a missing permission or a read-only token.
    pub fn forbidden() -> ApiError {
        ApiError::Detail(StatusCode::FORBIDDEN, NO_PERMISSION.into())
    }

    /// 404 naming the model, as Django's `get_object_or_404` does.
    pub fn not_found(model: &str) -> ApiError {
        ApiError::Detail(
            StatusCode::NOT_FOUND,
            format!("No {model} matches the given query."),
        )
    }

    /// 404 for a path that names no object, such as a non-numeric id.
    pub fn no_route() -> ApiError {
        ApiError::Detail(StatusCode::NOT_FOUND, "Not found.".into())
    }

    /// 405 for a method the route does not have.
    pub fn method_not_allowed(method: &http::Method) -> ApiError {
        ApiError::Detail(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method \"{method}\" not allowed."),
        )
    }

    /// Builds the response; internal details are logged here, once.
    pub fn into_response(self, indent: Option<usize>) -> Response<BoxBody> {
        match self {
            ApiError::Detail(status, detail) => {
                json_reply(status, &json!({ "detail": detail }), indent)
            }
            ApiError::Fields(fields) => {
                json_reply(StatusCode::BAD_REQUEST, &Value::Object(fields), indent)
            }
            ApiError::Messages(messages) => {
                json_reply(StatusCode::BAD_REQUEST, &json!(messages), indent)
            }
            ApiError::Text(status, text) => text_reply(status, text),
            ApiError::Json(status, value) => json_reply(status, &value, indent),
            ApiError::Refused(refusal) => refused_reply(&refusal),
            ApiError::Unavailable(reason) => {
                tracing::warn!(%reason, "netbox unavailable, request rejected");
                let detail = "NetBox is unavailable, so the credentials could not be checked; try again later.";
                json_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "detail": detail }),
                    indent,
                )
            }
            ApiError::Internal(reason) => {
                tracing::error!(%reason, "request failed");
                let detail = "Internal error in netbox-secrets-proxy; see its log.";
                json_reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({ "detail": detail }),
                    indent,
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        ApiError::Internal(format!("store: {err}"))
    }
}

impl From<NetBoxError> for ApiError {
    fn from(err: NetBoxError) -> ApiError {
        ApiError::Unavailable(err.to_string())
    }
}

impl From<ObjectTypeError> for ApiError {
    fn from(err: ObjectTypeError) -> ApiError {
        match err {
            ObjectTypeError::NetBox(err) => err.into(),
            other => ApiError::field(
                "assigned_object_type",
                format!("Invalid content type: {other}"),
            ),
        }
    }
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> ApiError {
        match failure {
            AuthFailure::Refused(refusal) => ApiError::Refused(refusal),
            AuthFailure::Unavailable(err) => err.into(),
        }
    }
}

/// Serializes a JSON reply, pretty-printed when the client asked for an indent. The body is
/// wiped from memory once hyper has sent it.
pub fn json_reply(status: StatusCode, value: &Value, indent: Option<usize>) -> Response<BoxBody> {
    let bytes = render_json(value, indent);
    let mut response = Response::new(body::full(bytes.into_bytes()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Renders JSON compactly, or with `indent` spaces the way Python's `json.dumps` does.
pub fn render_json(value: &Value, indent: Option<usize>) -> WipedBuffer {
    let mut output = WipedBuffer::default();
    let written = match indent {
        None => serde_json::to_writer(&mut output, value),
        Some(width) => {
            let indent_text = vec![b' '; width];
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&indent_text);
            let mut serializer = serde_json::Serializer::with_formatter(&mut output, formatter);
            serde::Serialize::serialize(value, &mut serializer)
        }
    };

    // The buffer never returns an I/O error and `Value` keys are always strings, so this
    // branch means a bug; the client gets what was written.
    if let Err(err) = written {
        tracing::error!(error = %err, "failed to serialize a JSON response");
    }
    output
}

fn text_reply(status: StatusCode, text: String) -> Response<BoxBody> {
    let mut response = Response::new(body::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn refused_reply(refusal: &crate::netbox::Refusal) -> Response<BoxBody> {
    let mut response = Response::new(body::full(refusal.body.clone()));
    *response.status_mut() = refusal.status;
    if let Some(content_type) = &refusal.content_type {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.clone());
    }
    response
}
