//! Session-key and activation endpoints of plugin 2.x and 3.0, served next to the current ones
//! for clients that still call them: `session-keys/`, `get-session-key/` and
//! `activate-user-key/`. They accept form-urlencoded bodies as those versions did.

use http::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::activation::{activate, parse_request, with_detail, ActivationError};
use super::call::Call;
use super::error::ApiError;
use super::pagination::{envelope, paginate};
use super::policy::{Action, Model};
use super::request::{as_integer, FormBodies};
use super::session_keys::{
    delete_own, issue, own_session_key, preserve_requested, set_session_cookie, text_field, Issued,
    UnlockError,
};
use super::user_keys;
use crate::body::BoxBody;
use crate::store::session_keys::SessionKeyRow;
use crate::store::user_keys::UserKeyRow;

/// Fields of the brief form (`?brief=1`).
const BRIEF_FIELDS: [&str; 3] = ["id", "url", "display"];

/// The model name in 404 details.
const MODEL_NAME: &str = "SessionKey";

/// Plugin 3.0's 403 detail for activation without permission, typo included.
const NO_ACTIVATE_PERMISSION: &str = "You do not have permission to active User Keys.";

/// `session-keys/`: the caller's session key as a one-item collection.
pub async fn handle_session_keys(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    match call.method {
        Method::GET | Method::HEAD => list(call).await,
        Method::POST => create(call).await,
        Method::DELETE => bulk_delete(call).await,
        ref other => Err(ApiError::method_not_allowed(other)),
    }
}

/// `session-keys/<id>/`: only the caller's own session key is found.
pub async fn handle_session_key(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    match call.method {
        Method::GET | Method::HEAD => show(call, id).await,
        Method::DELETE => delete(call, id).await,
        ref other => Err(ApiError::method_not_allowed(other)),
    }
}

/// `get-session-key/` (plugin 2.x): issues a session key and returns only its value.
pub async fn handle_get_session_key(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    if call.method != Method::POST {
        return Err(ApiError::method_not_allowed(&call.method));
    }

    let issued = issue_from_body(call).await?;
    let encoded = issued.session_key.to_base64();
    let mut response = call.json_wiped(StatusCode::OK, json!({ "session_key": encoded.as_str() }));
    set_session_cookie(call, &mut response, &encoded, true);
    Ok(response)
}

/// `activate-user-key/` (plugin 2.x and 3.0): the response is a bare JSON string. Unlike those
/// versions, a missing target id activates nothing.
pub async fn handle_activate_user_key(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    if call.method != Method::POST {
        return Err(ApiError::method_not_allowed(&call.method));
    }
    call.authorize(Model::UserKey, Action::Change)
        .await
        .map_err(|err| with_detail(err, NO_ACTIVATE_PERMISSION))?;

    let payload = call.payload(FormBodies::Accepted).await?;
    let request = parse_request(&payload, &["user_keys", "user_key_ids"])?;

    let activated = activate(call, &request).await.map_err(|err| match err {
        ActivationError::Unlock(err) => err.into_text(),
        ActivationError::Missing(ids) => missing_key(&ids),
        ActivationError::Failed(reason) => ApiError::Internal(format!("activation: {reason}")),
    })?;

    let message = legacy_success_message(activated.len());
    Ok(call.json(StatusCode::OK, &Value::String(message)))
}

fn missing_key(ids: &[i64]) -> ApiError {
    let first = ids.first().copied().unwrap_or_default();
    ApiError::Text(
        StatusCode::BAD_REQUEST,
        format!("User key with id {first} does not exist."),
    )
}

/// Formats the older success message, which always says "keys", even for one.
fn legacy_success_message(count: usize) -> String {
    format!("Successfully activated {count} user keys.")
}

async fn list(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let page = call.page()?;
    let own = own_session_key(call).await?;

    let selection = call.selection();
    let items = own
        .iter()
        .map(|(user_key, row)| (row.id, representation(call, user_key, row, None)))
        .collect();
    let (rows, info) = paginate(items, page);
    let results = rows
        .into_iter()
        .map(|fields| selection.apply(fields, &BRIEF_FIELDS))
        .collect();

    Ok(call.json(StatusCode::OK, &envelope(results, info, &call.page_links())))
}

async fn show(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    let own = own_session_key(call).await?;
    let Some((user_key, row)) = own.filter(|(_, row)| row.id == id) else {
        return Err(ApiError::not_found(MODEL_NAME));
    };

    let fields = representation(call, &user_key, &row, None);
    let body = call.selection().apply(fields, &BRIEF_FIELDS);
    Ok(call.json(StatusCode::OK, &body))
}

/// Issues a session key: the response is 200 whenever `preserve_key` was requested, even when a new key was made, and
/// 201 otherwise, as plugin 3.0 did.
async fn create(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Accepted).await?;
    let preserve = preserve_requested(&payload.data, &call.query);
    let issued = issue_with(call, &payload.data, preserve).await?;

    let status = match preserve {
        true => StatusCode::OK,
        false => StatusCode::CREATED,
    };
    let encoded = issued.session_key.to_base64();
    let fields = representation(call, &issued.user_key, &issued.row, Some(&encoded));
    let mut response = call.json_wiped(status, serde_json::Value::Object(fields));
    set_session_cookie(call, &mut response, &encoded, true);
    Ok(response)
}

async fn issue_from_body(call: &Call) -> Result<Issued, ApiError> {
    let payload = call.payload(FormBodies::Accepted).await?;
    let preserve = preserve_requested(&payload.data, &call.query);

    issue_with(call, &payload.data, preserve).await
}

async fn issue_with(call: &Call, data: &Value, preserve: bool) -> Result<Issued, ApiError> {
    let private_key = text_field(data, "private_key");

    issue(call, private_key.as_deref().map(String::as_str), preserve)
        .await
        .map_err(UnlockError::into_text)
}

async fn delete(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    let own = own_session_key(call).await?;
    if !own.is_some_and(|(_, row)| row.id == id) {
        return Err(ApiError::not_found(MODEL_NAME));
    }

    match delete_own(call).await? {
        true => Ok(call.no_content()),
        false => Err(ApiError::not_found(MODEL_NAME)),
    }
}

/// Bulk delete with a body of `[{"id": n}, ...]`; only the caller's own key can be named.
async fn bulk_delete(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Accepted).await?;
    let ids = bulk_ids(&payload.data)?;
    let own_id = own_session_key(call).await?.map(|(_, row)| row.id);

    let unknown: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| Some(*id) != own_id)
        .collect();
    if !unknown.is_empty() {
        return Err(not_found_envelope(&unknown, ids.len()));
    }

    delete_own(call).await?;
    Ok(call.no_content())
}

/// Reads the ids of a bulk-delete body.
fn bulk_ids(data: &Value) -> Result<Vec<i64>, ApiError> {
    let invalid = || {
        ApiError::Detail(
            StatusCode::BAD_REQUEST,
            "Bulk delete expects a list of objects, each with an integer \"id\".".into(),
        )
    };

    let Value::Array(items) = data else {
        return Err(invalid());
    };
    if items.is_empty() {
        return Err(invalid());
    }
    items
        .iter()
        .map(|item| item.get("id").and_then(as_integer).ok_or_else(invalid))
        .collect()
}

/// NetBox 4.7's bulk envelope for ids that were not found.
fn not_found_envelope(unknown: &[i64], total: usize) -> ApiError {
    let errors: Vec<Value> = unknown
        .iter()
        .map(|id| json!({ "id": id, "errors": { "detail": format!("No {MODEL_NAME} matches the given query.") } }))
        .collect();

    ApiError::Json(
        StatusCode::BAD_REQUEST,
        json!({
            "detail": format!("{} of {total} objects could not be found.", unknown.len()),
            "errors": errors,
        }),
    )
}

/// Renders the older representation: `{"pk", "id", "url", "display", "userkey", "session_key",
/// "created"}`, with `display` = `<username> (RSA)`.
fn representation(
    call: &Call,
    user_key: &UserKeyRow,
    row: &SessionKeyRow,
    session_key: Option<&str>,
) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("pk".into(), json!(row.id));
    fields.insert("id".into(), json!(row.id));
    fields.insert(
        "url".into(),
        json!(call.urls.api("session-keys", Some(row.id))),
    );
    fields.insert("display".into(), json!(display(user_key)));
    fields.insert("userkey".into(), user_keys::brief(&call.urls, user_key));
    fields.insert("session_key".into(), json!(session_key));
    fields.insert("created".into(), json!(row.created));
    fields
}

fn display(user_key: &UserKeyRow) -> String {
    format!("{} (RSA)", user_key.username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_ids_read_objects() {
        assert_eq!(
            bulk_ids(&json!([{"id": 3}, {"id": "4"}])).ok(),
            Some(vec![3, 4])
        );
        assert!(bulk_ids(&json!([])).is_err());
        assert!(bulk_ids(&json!({"id": 3})).is_err());
        assert!(bulk_ids(&json!([{"name": "x"}])).is_err());
    }

    #[test]
    fn not_found_envelope_counts() {
        let ApiError::Json(status, body) = not_found_envelope(&[9], 2) else {
            panic!("expected a JSON error");
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["detail"], "1 of 2 objects could not be found.");
        assert_eq!(body["errors"][0]["id"], 9);
    }

    #[test]
    fn legacy_messages() {
        assert_eq!(
            legacy_success_message(1),
            "Successfully activated 1 user keys."
        );
        let ApiError::Text(status, text) = missing_key(&[7, 8]) else {
            panic!("expected a text error");
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(text, "User key with id 7 does not exist.");
    }

    #[test]
    fn display_names_the_key_type() {
        let row = UserKeyRow {
            id: 1,
            user_id: 1,
            username: "admin".into(),
            user_display: "admin".into(),
            public_key: String::new(),
            master_key_cipher: None,
            custom_fields: json!({}),
            created: None,
            last_updated: None,
        };
        assert_eq!(display(&row), "admin (RSA)");
    }
}
