//! `/secrets/`: list, read, create, change and delete secrets, decrypting them with the
//! caller's session key.

mod input;
mod query;
mod view;
mod write;

use std::collections::HashMap;

use http::{Method, Response, StatusCode};
use serde_json::Value;

use super::bulk::{self, ItemFailure};
use super::call::Call;
use super::error::ApiError;
use super::pagination::{envelope, paginate};
use super::policy::{Action, Model};
use super::request::FormBodies;
use super::session::{decrypt_for_read, has_session_key, unlock_master_key};
use crate::body::BoxBody;
use crate::crypto::MasterKey;
use crate::store::secrets::{self as secret_store, SecretRow};
use crate::store::tags::{self as tag_store, ObjectKind};
use crate::store::StoreError;
use input::{parse_input, Completeness};
use query::{filter_set, sort, CustomFilters};
use view::{
    is_visible, load_all, load_some, object_key, orphans_visible, render, visible_objects, Loaded,
    BRIEF_FIELDS,
};
use write::{
    prepare_change, prepare_new, rejection_response, unique_key_of, PreparedChange, PreparedSecret,
    Rejection,
};

/// The plugin's message for a write without a session key.
const SESSION_KEY_REQUIRED: &str =
    "A session key must be provided when creating or updating secrets.";

pub async fn handle_list(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    match call.method {
        Method::GET | Method::HEAD => list(call).await,
        Method::POST => create(call).await,
        Method::PUT | Method::PATCH => bulk_update(call).await,
        Method::DELETE => bulk_delete(call).await,
        ref other => Err(ApiError::method_not_allowed(other)),
    }
}

pub async fn handle_detail(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    match call.method {
        Method::GET | Method::HEAD => retrieve(call, id).await,
        Method::PUT => update(call, id, Completeness::Full).await,
        Method::PATCH => update(call, id, Completeness::Partial).await,
        Method::DELETE => delete(call, id).await,
        ref other => Err(ApiError::method_not_allowed(other)),
    }
}

/// Returns the id and role id of every secret the caller can see, for role responses that
/// must not reveal the others.
pub async fn visible_secret_roles(call: &Call) -> Result<Vec<(i64, i64)>, ApiError> {
    let scope = match call.authorize(Model::Secret, Action::View).await {
        Ok(scope) => scope,
        Err(ApiError::Detail(StatusCode::FORBIDDEN, _)) => return Ok(Vec::new()),
        Err(other) => return Err(other),
    };
    let loaded = load_all(call).await?;
    let all: Vec<&SecretRow> = loaded.secrets.iter().collect();
    let objects = visible_objects(call, &all).await?;
    let orphans = orphans_visible(call, &all, &objects).await?;

    Ok(all
        .into_iter()
        .filter(|secret| is_visible(secret, &loaded, &scope, &objects, orphans))
        .map(|secret| (secret.id, secret.role_id))
        .collect())
}

/// Counts, per role, the secrets the caller can see, for the roles' `secret_count`: the plugin
/// counts every secret, which would reveal secrets on objects hidden from the caller.
pub async fn visible_counts_by_role(call: &Call) -> Result<HashMap<i64, i64>, ApiError> {
    let mut counts = HashMap::new();
    for (_, role_id) in visible_secret_roles(call).await? {
        *counts.entry(role_id).or_insert(0) += 1;
    }
    Ok(counts)
}

async fn list(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let scope = call.authorize(Model::Secret, Action::View).await?;
    let master_key = unlock_master_key(call).await?;
    let loaded = load_all(call).await?;

    let filters = filter_set();
    let filter = filters.compile(&call.query)?;
    let custom = CustomFilters::read(call, &loaded).await?;
    let type_ids = object_type_ids(call, &custom).await?;

    let candidates: Vec<&SecretRow> = loaded
        .secrets
        .iter()
        .filter(|secret| filter.matches(secret))
        .filter(|secret| custom.matches_stored(secret, &loaded, &type_ids))
        .collect();
    let objects = visible_objects(call, &candidates).await?;
    let orphans = orphans_visible(call, &candidates, &objects).await?;
    let mut shown: Vec<&SecretRow> = candidates
        .into_iter()
        .filter(|secret| is_visible(secret, &loaded, &scope, &objects, orphans))
        .filter(|secret| custom.matches_object(secret, &objects))
        .collect();
    sort(&mut shown, call.query.get("ordering"), &loaded);

    let items = shown
        .into_iter()
        .map(|secret| (secret.id, secret))
        .collect();
    let (page, info) = paginate(items, call.page()?);
    let selection = call.selection();
    let results = page
        .into_iter()
        .map(|secret| {
            let plaintext = master_key
                .as_ref()
                .and_then(|key| decrypt_for_read(&call.state.verified, key, secret));
            let full = render(
                call,
                secret,
                &loaded,
                objects.get(&object_key(secret)),
                plaintext.as_ref().map(|text| text.as_str()),
            );
            selection.apply(full, &BRIEF_FIELDS)
        })
        .collect();

    let page = envelope(results, info, &call.page_links());
    Ok(call.json_wiped(StatusCode::OK, page))
}

/// NetBox's object-type ids of the configured types, fetched only when a filter needs them.
async fn object_type_ids(
    call: &Call,
    custom: &CustomFilters,
) -> Result<Vec<(String, i64)>, ApiError> {
    if !custom.needs_type_ids() {
        return Ok(Vec::new());
    }

    let objects = &call.state.objects;
    let mut ids = Vec::new();
    for object_type in objects.allowed_types() {
        let id = objects.type_id(&call.caller, object_type).await?;
        ids.push((object_type.clone(), id));
    }
    Ok(ids)
}

async fn retrieve(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    let scope = call.authorize(Model::Secret, Action::View).await?;
    let master_key = unlock_master_key(call).await?;
    let loaded = load_some(call, vec![id]).await?;
    let (secret, assigned_object) = visible_secret(call, &loaded, &scope, id).await?;

    let plaintext = master_key
        .as_ref()
        .and_then(|key| decrypt_for_read(&call.state.verified, key, secret));
    let full = render(
        call,
        secret,
        &loaded,
        Some(&assigned_object),
        plaintext.as_ref().map(|text| text.as_str()),
    );
    Ok(call.json_wiped(StatusCode::OK, call.selection().apply(full, &BRIEF_FIELDS)))
}

/// Returns the secret and its assigned object when the caller may see it, else the plugin's 404.
async fn visible_secret<'a>(
    call: &Call,
    loaded: &'a Loaded,
    scope: &super::policy::Scope,
    id: i64,
) -> Result<(&'a SecretRow, Value), ApiError> {
    let not_found = || ApiError::not_found("Secret");
    let secret = loaded
        .secrets
        .iter()
        .find(|secret| secret.id == id)
        .ok_or_else(not_found)?;

    let objects = visible_objects(call, &[secret]).await?;
    let orphans = orphans_visible(call, &[secret], &objects).await?;
    if !is_visible(secret, loaded, scope, &objects, orphans) {
        return Err(not_found());
    }
    let assigned_object = objects
        .get(&object_key(secret))
        .cloned()
        .unwrap_or(Value::Null);
    Ok((secret, assigned_object))
}

/// Opens the master key for a write; writes need a session key even without a plaintext.
async fn require_master_key(call: &Call) -> Result<MasterKey, ApiError> {
    unlock_master_key(call)
        .await?
        .ok_or_else(|| ApiError::Messages(vec![SESSION_KEY_REQUIRED.to_string()]))
}

/// Splits a body into its items; a JSON list is a bulk request.
fn items_of(data: &Value) -> (&[Value], bool) {
    match data {
        Value::Array(items) => (items, true),
        other => (std::slice::from_ref(other), false),
    }
}

async fn create(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let scope = call.authorize(Model::Secret, Action::Add).await?;
    let master_key = require_master_key(call).await?;
    let payload = call.payload(FormBodies::Rejected).await?;
    let (items, bulk) = items_of(&payload.data);
    let loaded = load_all(call).await?;

    let mut taken: Vec<_> = loaded.secrets.iter().map(unique_key_of).collect();
    let mut prepared = Vec::new();
    let mut rejections = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let outcome = match parse_input(item, Completeness::Full) {
            Ok(input) => prepare_new(call, input, &loaded, &scope, &master_key, &mut taken).await,
            Err(fields) => Err(Rejection::Fields(fields)),
        };
        match outcome {
            Ok(secret) => prepared.push(secret),
            Err(Rejection::Fields(fields)) => rejections.push((index, fields)),
            Err(Rejection::Request(err)) => return Err(err),
        }
    }
    if !rejections.is_empty() {
        return Err(rejection_response(rejections, items.len(), bulk));
    }

    let stored = insert_all(call, prepared).await?;
    respond_with(call, StatusCode::CREATED, stored, bulk).await
}

/// Inserts every prepared secret in one transaction, so a bulk create is all-or-nothing.
async fn insert_all(
    call: &Call,
    prepared: Vec<PreparedSecret>,
) -> Result<Vec<(SecretRow, Value)>, ApiError> {
    let rows = call
        .state
        .store
        .write(move |transaction| {
            let mut stored = Vec::new();
            for item in prepared {
                let row = secret_store::insert(transaction, &item.secret)?;
                tag_store::set(transaction, ObjectKind::Secret, row.id, &item.tags)?;
                stored.push((row, item.assigned_object));
            }
            Ok(stored)
        })
        .await
        .map_err(conflict_as_duplicate)?;

    mark_verified(call, &rows);
    Ok(rows)
}

/// Records that the stored ciphertexts match their hashes, since we just wrote both.
fn mark_verified(call: &Call, rows: &[(SecretRow, Value)]) {
    for (row, _) in rows {
        call.state.verified.mark(row.id, &row.ciphertext, &row.hash);
    }
}

/// Maps a unique-constraint race between our check and the insert to the plugin's 400.
fn conflict_as_duplicate(err: StoreError) -> ApiError {
    match err {
        StoreError::Conflict(_) => ApiError::field("non_field_errors", write::DUPLICATE),
        other => other.into(),
    }
}

/// Builds the response to a write from the stored secrets, re-read with their roles and tags.
/// As in the plugin, `plaintext` is `null` in these responses.
async fn respond_with(
    call: &Call,
    status: StatusCode,
    stored: Vec<(SecretRow, Value)>,
    bulk: bool,
) -> Result<Response<BoxBody>, ApiError> {
    let ids = stored.iter().map(|(row, _)| row.id).collect();
    let loaded = load_some(call, ids).await?;

    let mut rendered: Vec<Value> = stored
        .iter()
        .map(|(row, assigned_object)| {
            Value::Object(render(call, row, &loaded, Some(assigned_object), None))
        })
        .collect();

    let body = if bulk {
        Value::Array(rendered)
    } else {
        rendered.pop().unwrap_or(Value::Null)
    };
    Ok(call.json(status, &body))
}

async fn update(
    call: &Call,
    id: i64,
    completeness: Completeness,
) -> Result<Response<BoxBody>, ApiError> {
    let scope = call.authorize(Model::Secret, Action::Change).await?;
    let master_key = require_master_key(call).await?;
    let payload = call.payload(FormBodies::Rejected).await?;
    let data = &payload.data;
    let loaded = load_all(call).await?;
    let (current, _) = visible_secret(call, &loaded, &scope, id).await?;

    let input = parse_input(data, completeness).map_err(ApiError::Fields)?;
    let taken: Vec<_> = loaded.secrets.iter().map(unique_key_of).collect();
    let change = match prepare_change(
        call,
        current,
        input,
        &loaded,
        &scope,
        Some(&master_key),
        &taken,
    )
    .await
    {
        Ok(change) => change,
        Err(Rejection::Fields(fields)) => return Err(ApiError::Fields(fields)),
        Err(Rejection::Request(err)) => return Err(err),
    };

    let stored = apply_changes(call, vec![change]).await?;
    respond_with(call, StatusCode::OK, stored, false).await
}

/// `PUT`/`PATCH` on the list with `[{"id": n, …}]`: all-or-nothing. A session key is needed
/// only for items that carry a plaintext.
async fn bulk_update(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let scope = call.authorize(Model::Secret, Action::Change).await?;
    let master_key = unlock_master_key(call).await?;
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk::items(&payload.data)?;
    let ids = bulk::ids(items)?;
    let loaded = load_all(call).await?;
    let currents = visible_secrets(call, &loaded, &scope, &ids).await?;
    let completeness = if call.method == Method::PUT {
        Completeness::Full
    } else {
        Completeness::Partial
    };

    let taken: Vec<_> = loaded.secrets.iter().map(unique_key_of).collect();
    let mut changes = Vec::new();
    let mut failures = Vec::new();
    for ((item, id), current) in items.iter().zip(&ids).zip(currents) {
        let outcome = match parse_input(item, completeness) {
            Ok(input) => {
                let master_key = master_key.as_ref();
                prepare_change(call, current, input, &loaded, &scope, master_key, &taken).await
            }
            Err(fields) => Err(Rejection::Fields(fields)),
        };
        match outcome {
            Ok(change) => changes.push(change),
            Err(Rejection::Fields(fields)) => failures.push((*id, ItemFailure::Fields(fields))),
            Err(Rejection::Request(err)) => return Err(err),
        }
    }
    if !failures.is_empty() {
        return Err(bulk::failures_by_id(failures, items.len(), "updated"));
    }

    let stored = apply_changes(call, changes).await?;
    respond_with(call, StatusCode::OK, stored, true).await
}

/// Returns the secrets that `ids` name, in the same order, or NetBox's bulk "could not be
/// found" 400 when the caller cannot see some of them.
async fn visible_secrets<'a>(
    call: &Call,
    loaded: &'a Loaded,
    scope: &super::policy::Scope,
    ids: &[i64],
) -> Result<Vec<&'a SecretRow>, ApiError> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        match visible_secret(call, loaded, scope, *id).await {
            Ok((secret, _)) => found.push(secret),
            Err(ApiError::Detail(StatusCode::NOT_FOUND, _)) => {}
            Err(other) => return Err(other),
        }
    }

    bulk::check_found(ids, |id| found.iter().any(|secret| secret.id == id))?;
    Ok(found)
}

async fn apply_changes(
    call: &Call,
    changes: Vec<PreparedChange>,
) -> Result<Vec<(SecretRow, Value)>, ApiError> {
    let rows = call
        .state
        .store
        .write(move |transaction| {
            let mut stored = Vec::new();
            for change in changes {
                let row = secret_store::update(transaction, change.id, &change.changes)?;
                if let Some(tags) = &change.tags {
                    tag_store::set(transaction, ObjectKind::Secret, row.id, tags)?;
                }
                stored.push((row, change.assigned_object));
            }
            Ok(stored)
        })
        .await
        .map_err(conflict_as_duplicate)?;

    mark_verified(call, &rows);
    Ok(rows)
}

/// Checks a session key sent with a request that does not need one: as in the plugin, any
/// session key sent to `/secrets/` must be valid.
async fn check_sent_session_key(call: &Call) -> Result<(), ApiError> {
    if has_session_key(call) {
        unlock_master_key(call).await?;
    }
    Ok(())
}

async fn delete(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    let scope = call.authorize(Model::Secret, Action::Delete).await?;
    check_sent_session_key(call).await?;
    let loaded = load_some(call, vec![id]).await?;
    visible_secret(call, &loaded, &scope, id).await?;

    call.state
        .store
        .write(move |transaction| secret_store::delete(transaction, id))
        .await?;
    Ok(call.no_content())
}

/// `DELETE` on the list with `[{"id": n}, …]`: all-or-nothing.
async fn bulk_delete(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let scope = call.authorize(Model::Secret, Action::Delete).await?;
    check_sent_session_key(call).await?;
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk::items(&payload.data)?;
    let ids = bulk::ids(items)?;
    let loaded = load_some(call, ids.clone()).await?;
    visible_secrets(call, &loaded, &scope, &ids).await?;

    call.state
        .store
        .write(move |transaction| {
            for id in ids {
                secret_store::delete(transaction, id)?;
            }
            Ok(())
        })
        .await?;
    Ok(call.no_content())
}
