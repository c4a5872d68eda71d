//! Bulk requests on list URLs, handled the same way for every model. The body must be a JSON
//! list, and updates and deletes name each object by `id`. Failures come back in NetBox 4.7's
//! bulk envelope, and a rejected batch leaves the store as it was.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::{ApiError, NO_PERMISSION};
use super::request::as_integer;
use super::role_input::python_type;
use crate::store::StoreError;

/// Savepoint that lets a rejected batch roll back while the store's transaction commits.
const SAVEPOINT: &str = "bulk_request";

/// The reason one object of a batch could not be written.
#[derive(Debug)]
pub enum ItemFailure {
    Fields(Map<String, Value>),
    NotFound,
    Forbidden,
}

/// Returns the objects of a bulk request body, which DRF requires to be a JSON list.
pub fn items(data: &Value) -> Result<&[Value], ApiError> {
    match data {
        Value::Array(items) => Ok(items),
        other => Err(ApiError::field(
            "non_field_errors",
            format!(
                "Expected a list of items but got type \"{}\".",
                python_type(other)
            ),
        )),
    }
}

/// Reads the `id` of every object of a bulk update or delete. Objects without an integer `id`
/// are reported by their position in the list, because they have no id to report.
pub fn ids(items: &[Value]) -> Result<Vec<i64>, ApiError> {
    let mut ids = Vec::with_capacity(items.len());
    let mut errors = Vec::new();

    for (index, item) in items.iter().enumerate() {
        match item.get("id").and_then(as_integer) {
            Some(id) => ids.push(id),
            None => {
                let fields = json!({"id": ["This field is required."]});
                errors.push(json!({"index": index, "errors": fields}));
            }
        }
    }

    match errors.is_empty() {
        true => Ok(ids),
        false => Err(envelope(errors, items.len(), "found")),
    }
}

/// Builds NetBox 4.7's 400 for a failed batch: `{"detail": "<n> of <total> objects could not
/// be <verb>.", "errors": [...]}`, where each error names its object by `id` or `index`.
pub fn envelope(errors: Vec<Value>, total: usize, verb: &str) -> ApiError {
    let detail = format!("{} of {total} objects could not be {verb}.", errors.len());
    ApiError::Json(
        StatusCode::BAD_REQUEST,
        json!({"detail": detail, "errors": errors}),
    )
}

/// Builds the envelope for failures keyed by object id. When any object was missing, the
/// detail uses NetBox's lookup wording, "could not be found", in place of `verb`.
pub fn failures_by_id(
    failures: Vec<(i64, ItemFailure)>,
    total: usize,
    verb: &str,
    model: &str,
) -> ApiError {
    let any_missing = failures
        .iter()
        .any(|(_, failure)| matches!(failure, ItemFailure::NotFound));
    let verb = if any_missing { "found" } else { verb };

    let errors = failures
        .into_iter()
        .map(|(id, failure)| json!({"id": id, "errors": failure_body(failure, model)}))
        .collect();
    envelope(errors, total, verb)
}

/// Builds the envelope for field errors found before the store is touched. `key` is `"id"`
/// for updates and `"index"` (the position in the list) for creates.
pub fn input_error(
    errors: Vec<(i64, Map<String, Value>)>,
    total: usize,
    verb: &str,
    key: &str,
) -> ApiError {
    let errors = errors
        .into_iter()
        .map(|(position, fields)| json!({key: position, "errors": fields}))
        .collect();
    envelope(errors, total, verb)
}

/// Returns the `errors` object of one failed item; `model` is the class name in 404 messages.
pub fn failure_body(failure: ItemFailure, model: &str) -> Value {
    match failure {
        ItemFailure::Fields(fields) => Value::Object(fields),
        ItemFailure::NotFound => json!({"detail": format!("No {model} matches the given query.")}),
        ItemFailure::Forbidden => json!({"detail": NO_PERMISSION}),
    }
}

/// Runs `apply` inside a savepoint and rolls the savepoint back when `apply` rejects the batch,
/// so the surrounding store transaction commits nothing of it. A `StoreError` is passed on and
/// makes the store roll back the whole transaction.
pub fn in_savepoint<T, E>(
    connection: &rusqlite::Connection,
    apply: impl FnOnce(&rusqlite::Connection) -> Result<Result<T, E>, StoreError>,
) -> Result<Result<T, E>, StoreError> {
    connection.execute_batch(&format!("SAVEPOINT {SAVEPOINT}"))?;
    let outcome = apply(connection)?;

    let end = match &outcome {
        Ok(_) => format!("RELEASE {SAVEPOINT}"),
        Err(_) => format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"),
    };
    connection.execute_batch(&end)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(err: ApiError) -> (StatusCode, Value) {
        match err {
            ApiError::Json(status, body) => (status, body),
            ApiError::Fields(fields) => (StatusCode::BAD_REQUEST, Value::Object(fields)),
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn items_need_a_list() {
        assert_eq!(items(&json!([{"id": 1}])).unwrap().len(), 1);

        let (status, error) = body(items(&json!({"id": 1})).unwrap_err());
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            error,
            json!({"non_field_errors": ["Expected a list of items but got type \"dict\"."]})
        );
    }

    #[test]
    fn ids_reported_by_index_when_missing() {
        assert_eq!(
            ids(&[json!({"id": 3}), json!({"id": "4"})]).unwrap(),
            [3, 4]
        );

        let (_, error) = body(ids(&[json!({"id": 3}), json!({"name": "x"})]).unwrap_err());
        assert_eq!(error["detail"], "1 of 2 objects could not be found.");
        assert_eq!(
            error["errors"],
            json!([{"index": 1, "errors": {"id": ["This field is required."]}}])
        );
    }

    #[test]
    fn failures_by_id_report_missing_as_found() {
        let fields = Map::from_iter([("name".to_string(), json!(["Bad."]))]);
        let failures = vec![(4, ItemFailure::Fields(fields)), (9, ItemFailure::NotFound)];

        let (_, error) = body(failures_by_id(failures, 3, "updated", "UserKey"));

        assert_eq!(error["detail"], "2 of 3 objects could not be found.");
        assert_eq!(
            error["errors"][0],
            json!({"id": 4, "errors": {"name": ["Bad."]}})
        );
        assert_eq!(
            error["errors"][1],
            json!({"id": 9, "errors": {"detail": "No UserKey matches the given query."}})
        );
    }

    #[test]
    fn failures_by_id_keep_verb_for_fields() {
        let fields = Map::from_iter([("name".to_string(), json!(["Bad."]))]);

        let (_, error) = body(failures_by_id(
            vec![(4, ItemFailure::Fields(fields))],
            2,
            "updated",
            "UserKey",
        ));

        assert_eq!(error["detail"], "1 of 2 objects could not be updated.");
    }

    #[test]
    fn savepoint_rolls_back_a_rejected_batch() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (v INTEGER)")
            .unwrap();
        let insert = |connection: &rusqlite::Connection, value: i64| {
            connection
                .execute("INSERT INTO t (v) VALUES (?1)", [value])
                .unwrap();
        };

        let rejected = in_savepoint(&connection, |connection| {
            insert(connection, 1);
            Ok(Err::<(), _>("rejected"))
        });
        let kept = in_savepoint(&connection, |connection| {
            insert(connection, 2);
            Ok(Ok::<_, ()>(()))
        });

        assert_eq!(rejected.unwrap(), Err("rejected"));
        assert_eq!(kept.unwrap(), Ok(()));
        let values: Vec<i64> = connection
            .prepare("SELECT v FROM t")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(values, [2]);
    }
}
