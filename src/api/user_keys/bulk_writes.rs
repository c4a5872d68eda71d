//! Bulk `PUT`, `PATCH` and `DELETE` on `/user-keys/`. The objects are written one after another
//! in one transaction, so each object's rules see the objects before it. While secrets exist, a
//! batch that changes the public key of every active key, or deletes every active key, fails
//! at the last one. Any failure keeps nothing.

use http::{Response, StatusCode};
use serde_json::Value;

use super::super::bulk::{self, ItemFailure};
use super::super::call::Call;
use super::super::error::ApiError;
use super::super::policy::{Action, Model};
use super::super::request::FormBodies;
use super::input::{parse_input, Completeness, UserKeyInput};
use super::{
    apply_update, blocking_dependents, delete_key_rows, render, WriteOutcome, BRIEF_FIELDS,
};
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
    check_keys_exist(call, &ids).await?;

    let (writes, invalid) = parse_items(call, items, &ids, completeness).await?;

    let outcome = call
        .state
        .store
        .write(move |transaction| {
            bulk::in_savepoint(transaction, |connection| {
                apply_updates(connection, writes, invalid)
            })
        })
        .await?;
    let keys = match outcome {
        Ok(keys) => keys,
        Err(BatchFailure::Items(mut failures)) => {
            failures.sort_by_key(|(id, _)| ids.iter().position(|listed| listed == id));
            return Err(bulk::failures_by_id(failures, ids.len(), "updated"));
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

/// Rejects the batch when any id names no stored key, before any entry is validated.
async fn check_keys_exist(call: &Call, ids: &[i64]) -> Result<(), ApiError> {
    let requested = ids.to_vec();
    let stored: Vec<i64> = call
        .state
        .store
        .read(move |connection| user_keys::list_by_ids(connection, &requested))
        .await?
        .iter()
        .map(|key| key.id)
        .collect();

    bulk::check_found(ids, |id| stored.contains(&id))
}

/// Checks every entry of the body and returns the valid ones with the field errors of the
/// others, so that the store pass can report both together.
async fn parse_items(
    call: &Call,
    items: &[Value],
    ids: &[i64],
    completeness: Completeness,
) -> Result<(Vec<(i64, UserKeyInput)>, Vec<(i64, ItemFailure)>), ApiError> {
    let mut writes = Vec::with_capacity(items.len());
    let mut invalid = Vec::new();

    for (item, id) in items.iter().zip(ids) {
        match parse_input(call, item, completeness, false).await {
            Ok(input) => writes.push((*id, input)),
            Err(ApiError::Fields(fields)) => invalid.push((*id, ItemFailure::Fields(fields))),
            Err(other) => return Err(other),
        }
    }
    Ok((writes, invalid))
}

/// Applies every valid update with the single-object rules and reads the keys back afterwards,
/// so each representation shows the state after the whole batch. `invalid` lists the entries
/// that failed before the store pass, and any of them fails the batch.
fn apply_updates(
    connection: &rusqlite::Connection,
    writes: Vec<(i64, UserKeyInput)>,
    invalid: Vec<(i64, ItemFailure)>,
) -> Result<Result<Vec<WrittenKey>, BatchFailure>, StoreError> {
    let mut written = Vec::with_capacity(writes.len());
    let mut failures = invalid;

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

    let total = ids.len();
    let outcome = call
        .state
        .store
        .write(move |transaction| {
            let stored: Vec<i64> = user_keys::list_by_ids(transaction, &ids)?
                .iter()
                .map(|key| key.id)
                .collect();
            if let Err(err) = bulk::check_found(&ids, |id| stored.contains(&id)) {
                return Ok(Err(err));
            }

            let removed =
                bulk::in_savepoint(transaction, |connection| remove_keys(connection, &ids))?;
            Ok(removed.map_err(|failures| bulk::failures_by_id(failures, total, "deleted")))
        })
        .await?;

    outcome?;
    Ok(call.no_content())
}

/// Deletes the keys one by one with the single-object protection. A key whose delete would
/// leave secrets without an active key fails with the number of those secrets, and the keys
/// after it are still tried, so that every blocked key is reported.
fn remove_keys(
    connection: &rusqlite::Connection,
    ids: &[i64],
) -> Result<Result<(), Vec<(i64, ItemFailure)>>, StoreError> {
    let mut failures = Vec::new();

    for id in ids {
        let Some(current) = user_keys::get(connection, *id)? else {
            failures.push((*id, ItemFailure::NotFound));
            continue;
        };
        let dependents = blocking_dependents(connection, &current)?;
        if !dependents.is_empty() {
            failures.push((*id, ItemFailure::Protected(dependents.len())));
            continue;
        }
        delete_key_rows(connection, *id)?;
    }

    match failures.is_empty() {
        true => Ok(Ok(())),
        false => Ok(Err(failures)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

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
        let inactive = stored_key(&connection, 3, false);
        add_secret(&connection);

        let outcome = bulk::in_savepoint(&connection, |connection| {
            remove_keys(connection, &[first, second, inactive])
        })
        .unwrap();

        let Err(failures) = outcome else {
            panic!("delete was not rejected");
        };
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, second);
        assert!(matches!(failures[0].1, ItemFailure::Protected(1)));
        assert!(user_keys::get(&connection, first).unwrap().is_some());
        assert!(user_keys::get(&connection, second).unwrap().is_some());
        assert!(user_keys::get(&connection, inactive).unwrap().is_some());
    }

    #[test]
    fn deleting_one_of_two_active_allowed() {
        let (_dir, connection) = testing::connection();
        let first = stored_key(&connection, 1, true);
        let second = stored_key(&connection, 2, true);
        add_secret(&connection);

        let outcome = remove_keys(&connection, &[first]).unwrap();

        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(user_keys::get(&connection, first).unwrap(), None);
        assert!(user_keys::get(&connection, second).unwrap().is_some());
    }

    #[test]
    fn unknown_id_fails_and_keeps_nothing() {
        let (_dir, connection) = testing::connection();
        let key = stored_key(&connection, 1, true);

        let outcome = bulk::in_savepoint(&connection, |connection| {
            apply_updates(
                connection,
                vec![(key, tags_only()), (99, tags_only())],
                Vec::new(),
            )
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

    #[test]
    fn invalid_entry_rolls_back_valid_ones() {
        let (_dir, connection) = testing::connection();
        let key = stored_key(&connection, 1, true);
        let errors = Map::from_iter([("tags".to_string(), json!(["Bad."]))]);

        let outcome = bulk::in_savepoint(&connection, |connection| {
            apply_updates(
                connection,
                vec![(key, tags_only())],
                vec![(7, ItemFailure::Fields(errors))],
            )
        })
        .unwrap();

        let Err(BatchFailure::Items(failures)) = outcome else {
            panic!("batch was not rejected: {outcome:?}");
        };
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, 7);
        let stored = user_keys::get(&connection, key).unwrap().unwrap();
        assert_eq!(stored.custom_fields, json!({}));
    }
}
