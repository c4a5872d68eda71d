//! Bulk `PUT`, `PATCH` and `DELETE` on `/user-keys/`. The objects are written one after another
//! in one transaction, so each object's rules see the objects before it. While secrets exist, a
//! batch that changes the public key of every active key, or deletes every active key, fails
//! at the last one. Any failure keeps nothing.

use std::collections::HashSet;

use http::{Response, StatusCode};
use serde_json::{Map, Value};

use super::super::bulk::{self, ItemFailure};
use super::super::call::Call;
use super::super::error::ApiError;
use super::super::policy::{Action, Model};
use super::super::request::FormBodies;
use super::input::{parse_input, Completeness, UserKeyInput};
use super::{apply_update, remove_key, render, WriteOutcome, BRIEF_FIELDS, MODEL_NAME};
use crate::body::BoxBody;
use crate::store::tags::{self, ObjectKind, TagRow};
use crate::store::user_keys::{self, UserKeyRow};
use crate::store::StoreError;

/// Why a batch was rejected: failures of single objects, reported in the bulk envelope, or an
/// error that fails the whole request.
#[derive(Debug)]
enum BatchFailure {
    Items(Vec<(i64, ItemFailure)>),
    Request(ApiError),
}

/// A written key with its tags, read back after the whole batch.
type WrittenKey = (UserKeyRow, Vec<TagRow>);

/// Serves `PUT` (`Completeness::Full`) and `PATCH` on the list with `[{"id": n, ...}, ...]`,
/// and returns the full representation of every key in request order.
pub async fn update_keys(
    call: &Call,
    completeness: Completeness,
) -> Result<Response<BoxBody>, ApiError> {
    call.authorize(Model::UserKey, Action::Change).await?;
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk::items(&payload.data)?;
    let ids = bulk::ids(items)?;
    let writes = parse_items(call, items, ids, completeness).await?;

    let total = items.len();
    let outcome = call
        .state
        .store
        .write(move |transaction| {
            bulk::in_savepoint(transaction, |connection| apply_updates(connection, writes))
        })
        .await?;
    let keys = match outcome {
        Ok(keys) => keys,
        Err(BatchFailure::Items(failures)) => {
            return Err(bulk::failures_by_id(failures, total, "updated", MODEL_NAME))
        }
        Err(BatchFailure::Request(err)) => return Err(err),
    };

    let selection = call.selection();
    let bodies = keys
        .iter()
        .map(|(key, key_tags)| selection.apply(render(&call.urls, key, key_tags), &BRIEF_FIELDS))
        .collect();
    Ok(call.json(StatusCode::OK, &Value::Array(bodies)))
}

/// Checks every object of the body; field errors of all objects are reported together.
async fn parse_items(
    call: &Call,
    items: &[Value],
    ids: Vec<i64>,
    completeness: Completeness,
) -> Result<Vec<(i64, UserKeyInput)>, ApiError> {
    let mut writes = Vec::with_capacity(items.len());
    let mut errors: Vec<(i64, Map<String, Value>)> = Vec::new();

    for (item, id) in items.iter().zip(ids) {
        match parse_input(call, item, completeness, false).await {
            Ok(input) => writes.push((id, input)),
            Err(ApiError::Fields(fields)) => errors.push((id, fields)),
            Err(other) => return Err(other),
        }
    }

    match errors.is_empty() {
        true => Ok(writes),
        false => Err(bulk::input_error(errors, items.len(), "updated", "id")),
    }
}

/// Applies every update with the single-object rules and reads the keys back afterwards, so
/// each representation shows the state after the whole batch.
fn apply_updates(
    connection: &rusqlite::Connection,
    writes: Vec<(i64, UserKeyInput)>,
) -> Result<Result<Vec<WrittenKey>, BatchFailure>, StoreError> {
    let mut written = Vec::with_capacity(writes.len());
    let mut failures = Vec::new();

    for (id, input) in writes {
        match apply_update(connection, id, input)? {
            WriteOutcome::Done(_) => written.push(id),
            WriteOutcome::Rejected(err) => match item_failure(err) {
                Ok(failure) => failures.push((id, failure)),
                Err(err) => return Ok(Err(BatchFailure::Request(err))),
            },
        }
    }
    if !failures.is_empty() {
        return Ok(Err(BatchFailure::Items(failures)));
    }

    let mut keys = Vec::with_capacity(written.len());
    for id in written {
        let key = user_keys::get(connection, id)?.ok_or(StoreError::NotFound)?;
        let key_tags = tags::get(connection, ObjectKind::UserKey, id)?;
        keys.push((key, key_tags));
    }
    Ok(Ok(keys))
}

/// Sorts a single-object rejection into a failure of that object or of the whole request.
fn item_failure(err: ApiError) -> Result<ItemFailure, ApiError> {
    match err {
        ApiError::Fields(fields) => Ok(ItemFailure::Fields(fields)),
        ApiError::Detail(StatusCode::NOT_FOUND, _) => Ok(ItemFailure::NotFound),
        other => Err(other),
    }
}

/// Serves `DELETE` on the list with `[{"id": n}, ...]`: 204 when every key is gone with its
/// session key, else nothing is deleted.
pub async fn delete_keys(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    call.authorize(Model::UserKey, Action::Delete).await?;
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk::items(&payload.data)?;
    let ids = bulk::ids(items)?;

    let outcome = call
        .state
        .store
        .write(move |transaction| {
            let missing = missing_keys(transaction, &ids)?;
            if !missing.is_empty() {
                let failures = missing
                    .into_iter()
                    .map(|id| (id, ItemFailure::NotFound))
                    .collect();
                let envelope = bulk::failures_by_id(failures, ids.len(), "deleted", MODEL_NAME);
                return Ok(Err(envelope));
            }
            bulk::in_savepoint(transaction, |connection| remove_keys(connection, &ids))
        })
        .await?;

    outcome?;
    Ok(call.no_content())
}

fn missing_keys(connection: &rusqlite::Connection, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    let mut missing = Vec::new();
    for id in ids {
        if user_keys::get(connection, *id)?.is_none() {
            missing.push(*id);
        }
    }
    Ok(missing)
}

/// Deletes the keys one by one with the single-object protection, so the delete that would
/// remove the last active key while secrets exist stops the batch with NetBox's 409. An id
/// named twice is deleted once.
fn remove_keys(
    connection: &rusqlite::Connection,
    ids: &[i64],
) -> Result<Result<(), ApiError>, StoreError> {
    let mut removed = HashSet::new();

    for id in ids {
        if !removed.insert(*id) {
            continue;
        }
        if let Err(err) = remove_key(connection, *id)? {
            return Ok(Err(err));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::secret_roles::{self, tests::new_role};
    use crate::store::secrets::tests::new_secret;
    use crate::store::testing;
    use crate::store::user_keys::tests::new_key;

    /// Inserts a key; `active` gives it a master-key copy.
    fn stored_key(connection: &rusqlite::Connection, user_id: i64, active: bool) -> i64 {
        let row =
            user_keys::insert(connection, &new_key(user_id, &format!("user{user_id}"))).unwrap();
        let copy = active.then_some([1u8; 256]);
        user_keys::set_master_key_cipher(connection, row.id, copy.as_ref().map(|c| &c[..]))
            .unwrap();
        row.id
    }

    fn add_secret(connection: &rusqlite::Connection) {
        let role = secret_roles::insert(connection, &new_role("Login", None)).unwrap();
        crate::store::secrets::insert(connection, &new_secret(1, role.id, "admin")).unwrap();
    }

    fn tags_only() -> UserKeyInput {
        UserKeyInput {
            public_key: None,
            user: None,
            tags: None,
            custom_fields: Some(Map::from_iter([("note".to_string(), json!("x"))])),
        }
    }

    #[test]
    fn deleting_every_active_key_rejected() {
        let (_dir, connection) = testing::connection();
        let first = stored_key(&connection, 1, true);
        let second = stored_key(&connection, 2, true);
        add_secret(&connection);

        let outcome = bulk::in_savepoint(&connection, |connection| {
            remove_keys(connection, &[first, second])
        })
        .unwrap();

        let Err(ApiError::Detail(status, _)) = outcome else {
            panic!("delete was not rejected: {outcome:?}");
        };
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(user_keys::get(&connection, first).unwrap().is_some());
        assert!(user_keys::get(&connection, second).unwrap().is_some());
    }

    #[test]
    fn deleting_one_of_two_active_allowed() {
        let (_dir, connection) = testing::connection();
        let first = stored_key(&connection, 1, true);
        let second = stored_key(&connection, 2, true);
        add_secret(&connection);

        let outcome = remove_keys(&connection, &[first, first]).unwrap();

        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(user_keys::get(&connection, first).unwrap(), None);
        assert!(user_keys::get(&connection, second).unwrap().is_some());
    }

    #[test]
    fn unknown_id_fails_and_keeps_nothing() {
        let (_dir, connection) = testing::connection();
        let key = stored_key(&connection, 1, true);

        let outcome = bulk::in_savepoint(&connection, |connection| {
            apply_updates(connection, vec![(key, tags_only()), (99, tags_only())])
        })
        .unwrap();

        let Err(BatchFailure::Items(failures)) = outcome else {
            panic!("batch was not rejected: {outcome:?}");
        };
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, 99);
        assert!(matches!(failures[0].1, ItemFailure::NotFound));
        let stored = user_keys::get(&connection, key).unwrap().unwrap();
        assert_eq!(stored.custom_fields, json!({}));
    }
}
