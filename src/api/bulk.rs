//! Bulk requests on list URLs, handled the same way for every model. NetBox 4.7.3's bulk mixins
//! check an update or delete in stages, and only the first stage that fails is reported:
//!
//! 1. the body is a JSON list ([`items`]);
//! 2. every entry is an object with an integer `id` ([`ids`], reported by `index`);
//! 3. no `id` is listed twice ([`ids`], reported by `id`);
//! 4. every `id` names an object the caller can see ([`check_found`]);
//! 5. each object is validated and written ([`failures_by_id`]).
//!
//! Creates skip stages 2 to 4 and report by `index` ([`failures_by_index`]). Failures come back
//! in NetBox's bulk envelope, `{"detail": "<summary>", "errors": [...]}`, and a rejected batch
//! leaves the store as it was.

use std::collections::HashMap;

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::role_input::python_type;
use crate::store::StoreError;

/// Key of errors that concern no single field, as NetBox 4.7.3 configures DRF.
pub const NON_FIELD_ERRORS: &str = "__all__";

/// NetBox's per-object message when the caller may not write that object.
const PERMISSION_DENIED: &str = "You do not have permission to perform this action on this object.";

/// Savepoint that lets a rejected batch roll back while the store's transaction commits.
const SAVEPOINT: &str = "bulk_request";

/// The reason one object of a batch could not be written.
#[derive(Debug)]
pub enum ItemFailure {
    /// Field errors, keyed by field name.
    Fields(Map<String, Value>),
    /// The object vanished between the existence check and the write.
    NotFound,
    /// The caller may not write the object as submitted.
    Forbidden,
    /// A delete blocked by this many dependent objects.
    Protected(usize),
}

impl ItemFailure {
    /// Returns the status this failure implies on its own.
    fn status(&self) -> StatusCode {
        match self {
            ItemFailure::Forbidden => StatusCode::FORBIDDEN,
            ItemFailure::Protected(_) => StatusCode::CONFLICT,
            ItemFailure::Fields(_) | ItemFailure::NotFound => StatusCode::BAD_REQUEST,
        }
    }

    /// Returns the `errors` object of this failure in the envelope entry of object `id`.
    fn body(self, id: Option<i64>) -> Value {
        match self {
            ItemFailure::Fields(fields) => Value::Object(fields),
            ItemFailure::NotFound => json!({"id": [not_found_message(id.unwrap_or_default())]}),
            ItemFailure::Forbidden => json!({NON_FIELD_ERRORS: [PERMISSION_DENIED]}),
            ItemFailure::Protected(count) => json!({NON_FIELD_ERRORS: [format!(
                "Unable to delete: {count} dependent object(s) prevent deletion."
            )]}),
        }
    }
}

/// Returns the entries of a bulk request body, which must be a JSON list. An empty body, `{}`,
/// `null` and `""` count as no data, as in NetBox.
pub fn items(data: &Value) -> Result<&[Value], ApiError> {
    let detail = match data {
        Value::Array(items) => return Ok(items),
        Value::Null => "Expected a list of objects, but no data was submitted.".to_string(),
        Value::Object(fields) if fields.is_empty() => {
            "Expected a list of objects, but no data was submitted.".to_string()
        }
        Value::String(text) if text.is_empty() => {
            "Expected a list of objects, but no data was submitted.".to_string()
        }
        other => format!(
            "Expected a list of objects, but got {}.",
            python_type(other)
        ),
    };
    Err(ApiError::Json(
        StatusCode::BAD_REQUEST,
        json!({"detail": detail}),
    ))
}

/// Reads the `id` of every entry of a bulk update or delete. Entries that name no integer `id`
/// are reported by position, and ids listed more than once by id, before any object is looked
/// up.
pub fn ids(items: &[Value]) -> Result<Vec<i64>, ApiError> {
    let mut ids = Vec::with_capacity(items.len());
    let mut errors = Vec::new();

    for (index, item) in items.iter().enumerate() {
        match read_entry(item) {
            Ok(id) => ids.push(id),
            Err(fields) => errors.push(json!({"index": index, "errors": fields})),
        }
    }
    if !errors.is_empty() {
        let detail = format!(
            "{} of {} objects failed validation.",
            errors.len(),
            items.len()
        );
        return Err(envelope(StatusCode::BAD_REQUEST, detail, errors));
    }

    reject_repeated_ids(&ids)?;
    Ok(ids)
}

/// Checks one entry the way NetBox's `BulkOperationSerializer` does: an object with an integer
/// `id` and an optional non-blank string `changelog_message`.
fn read_entry(item: &Value) -> Result<i64, Map<String, Value>> {
    let mut errors = Map::new();
    let fields = match item {
        Value::Object(fields) => fields,
        Value::Null => {
            errors.insert(
                NON_FIELD_ERRORS.into(),
                json!(["This field may not be null."]),
            );
            return Err(errors);
        }
        other => {
            let message = format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(other)
            );
            errors.insert(NON_FIELD_ERRORS.into(), json!([message]));
            return Err(errors);
        }
    };

    let id = match fields.get("id") {
        None => Err("This field is required."),
        Some(Value::Null) => Err("This field may not be null."),
        Some(value) => drf_integer(value).ok_or("A valid integer is required."),
    };
    if let Err(message) = id {
        errors.insert("id".into(), json!([message]));
    }

    let changelog_error = match fields.get("changelog_message") {
        None | Some(Value::Number(_)) => None,
        Some(Value::Null) => Some("This field may not be null."),
        Some(Value::String(text)) if text.trim().is_empty() => Some("This field may not be blank."),
        Some(Value::String(_)) => None,
        Some(_) => Some("Not a valid string."),
    };
    if let Some(message) = changelog_error {
        errors.insert("changelog_message".into(), json!([message]));
    }

    match id {
        Ok(id) if errors.is_empty() => Ok(id),
        _ => Err(errors),
    }
}

/// Parses an integer as DRF's `IntegerField` does: JSON integers, floats without a fraction
/// (`3.0`), and text such as `" 3 "`, `"+3"`, `"3.00"` or `"1_000"`. Booleans are rejected.
// NOTE: DRF also accepts integers beyond the i64 range, which NetBox then reports as not found.
// Here they fail as "A valid integer is required.", because no stored id can be that large.
fn drf_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => match number.as_i64() {
            Some(id) => Some(id),
            None => {
                let float = number.as_f64()?;
                // Python prints floats from 1e16 upwards in exponent form, which int() rejects.
                let in_range = float.fract() == 0.0 && float.abs() < 1e16;
                in_range.then_some(float as i64)
            }
        },
        Value::String(text) => parse_python_int(strip_zero_fraction(text)),
        _ => None,
    }
}

/// Removes what DRF's `IntegerField` strips before calling `int()`: a trailing `.` followed
/// only by zeros and whitespace.
fn strip_zero_fraction(text: &str) -> &str {
    let Some(dot) = text.rfind('.') else {
        return text;
    };
    let tail = text[dot + 1..].trim_end();
    match tail.chars().all(|c| c == '0') {
        true => &text[..dot],
        false => text,
    }
}

/// Parses text as Python's `int()` does for base 10: surrounding whitespace, an optional sign,
/// and digits with single underscores between them.
fn parse_python_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !well_formed {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// Rejects a batch that lists an object more than once, as NetBox 4.7.3 does, because only one
/// of the entries for it could be applied.
fn reject_repeated_ids(ids: &[i64]) -> Result<(), ApiError> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for id in ids {
        *counts.entry(*id).or_default() += 1;
    }

    let mut errors = Vec::new();
    let mut reported = Vec::new();
    for id in ids {
        let count = counts[id];
        if count > 1 && !reported.contains(id) {
            reported.push(*id);
            let message =
                format!("Each object may be specified only once; ID {id} is listed {count} times");
            errors.push(json!({"id": id, "errors": {"id": [message]}}));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }

    let detail = format!(
        "{} of {} objects are listed more than once.",
        errors.len(),
        ids.len()
    );
    Err(envelope(StatusCode::BAD_REQUEST, detail, errors))
}

/// Rejects the batch when any id names no object the caller can see, before anything is
/// validated or written. As on single-object URLs, hidden and missing objects look the same.
pub fn check_found(ids: &[i64], exists: impl Fn(i64) -> bool) -> Result<(), ApiError> {
    let missing: Vec<i64> = ids.iter().copied().filter(|id| !exists(*id)).collect();
    if missing.is_empty() {
        return Ok(());
    }

    let errors = missing
        .iter()
        .map(|id| json!({"id": id, "errors": {"id": [not_found_message(*id)]}}))
        .collect();
    Err(not_found_envelope(missing.len(), ids.len(), errors))
}

fn not_found_message(id: i64) -> String {
    format!("Object with ID {id} does not exist")
}

fn not_found_envelope(missing: usize, total: usize, errors: Vec<Value>) -> ApiError {
    let detail = format!("{missing} of {total} objects could not be found.");
    envelope(StatusCode::BAD_REQUEST, detail, errors)
}

/// Builds the envelope for objects of an update or delete that failed, keyed by id. `verb` is
/// `"updated"` or `"deleted"`. An object that vanished during the batch makes it a
/// "could not be found" response, as if the existence check had caught it.
pub fn failures_by_id(failures: Vec<(i64, ItemFailure)>, total: usize, verb: &str) -> ApiError {
    if failures
        .iter()
        .any(|(_, failure)| matches!(failure, ItemFailure::NotFound))
    {
        let errors: Vec<Value> = failures
            .into_iter()
            .filter(|(_, failure)| matches!(failure, ItemFailure::NotFound))
            .map(|(id, failure)| json!({"id": id, "errors": failure.body(Some(id))}))
            .collect();
        return not_found_envelope(errors.len(), total, errors);
    }

    let status = batch_status(failures.iter().map(|(_, failure)| failure));
    let detail = format!("{} of {total} objects could not be {verb}.", failures.len());
    let errors = failures
        .into_iter()
        .map(|(id, failure)| json!({"id": id, "errors": failure.body(Some(id))}))
        .collect();
    envelope(status, detail, errors)
}

/// Builds the envelope for the objects of a bulk create that failed, keyed by their position
/// in the request.
pub fn failures_by_index(failures: Vec<(usize, ItemFailure)>, total: usize) -> ApiError {
    let status = batch_status(failures.iter().map(|(_, failure)| failure));
    let detail = format!(
        "{} of {total} objects could not be created.",
        failures.len()
    );
    let errors = failures
        .into_iter()
        .map(|(index, failure)| json!({"index": index, "errors": failure.body(None)}))
        .collect();
    envelope(status, detail, errors)
}

/// Picks the one status of a failed batch as NetBox 4.7.3 does: 403 outranks 409, which
/// outranks 400, because the higher one would still stand once the others were fixed.
fn batch_status<'a>(failures: impl Iterator<Item = &'a ItemFailure>) -> StatusCode {
    let rank = |status: StatusCode| match status {
        StatusCode::FORBIDDEN => 2,
        StatusCode::CONFLICT => 1,
        _ => 0,
    };
    failures
        .map(ItemFailure::status)
        .max_by_key(|status| rank(*status))
        .unwrap_or(StatusCode::BAD_REQUEST)
}

fn envelope(status: StatusCode, detail: String, errors: Vec<Value>) -> ApiError {
    ApiError::Json(status, json!({"detail": detail, "errors": errors}))
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
            other => panic!("unexpected error {other:?}"),
        }
    }

    fn fields(name: &str, message: &str) -> Map<String, Value> {
        Map::from_iter([(name.to_string(), json!([message]))])
    }

    #[test]
    fn items_need_a_list() {
        assert_eq!(items(&json!([{"id": 1}])).unwrap().len(), 1);
        assert_eq!(items(&json!([])).unwrap().len(), 0);

        let no_data = json!({"detail": "Expected a list of objects, but no data was submitted."});
        for data in [json!({}), json!(null), json!("")] {
            let (status, error) = body(items(&data).unwrap_err());
            assert_eq!(status, StatusCode::BAD_REQUEST, "{data}");
            assert_eq!(error, no_data, "{data}");
        }

        let cases = [
            (json!({"id": 1}), "dict"),
            (json!("x"), "str"),
            (json!(5), "int"),
            (json!(1.5), "float"),
            (json!(true), "bool"),
        ];
        for (data, type_name) in cases {
            let (_, error) = body(items(&data).unwrap_err());
            let expected = format!("Expected a list of objects, but got {type_name}.");
            assert_eq!(error, json!({"detail": expected}), "{data}");
        }
    }

    #[test]
    fn ids_read_like_drf_integer_field() {
        let items = [
            json!({"id": 3}),
            json!({"id": "4"}),
            json!({"id": " 5 "}),
            json!({"id": "+6"}),
            json!({"id": "7.00 "}),
            json!({"id": 8.0}),
            json!({"id": "9_0"}),
            json!({"id": -1}),
            json!({"id": 11, "changelog_message": "why"}),
        ];

        assert_eq!(ids(&items).unwrap(), [3, 4, 5, 6, 7, 8, 90, -1, 11]);
    }

    #[test]
    fn ids_report_bad_entries_by_index() {
        let cases = [
            (json!({}), json!({"id": ["This field is required."]})),
            (
                json!({"id": null}),
                json!({"id": ["This field may not be null."]}),
            ),
            (
                json!({"id": "x"}),
                json!({"id": ["A valid integer is required."]}),
            ),
            (
                json!({"id": 1.5}),
                json!({"id": ["A valid integer is required."]}),
            ),
            (
                json!({"id": true}),
                json!({"id": ["A valid integer is required."]}),
            ),
            (
                json!({"id": ""}),
                json!({"id": ["A valid integer is required."]}),
            ),
            (
                json!({"id": "1__0"}),
                json!({"id": ["A valid integer is required."]}),
            ),
            (
                json!({"id": 1e20}),
                json!({"id": ["A valid integer is required."]}),
            ),
            (
                json!("x"),
                json!({"__all__": ["Invalid data. Expected a dictionary, but got str."]}),
            ),
            (
                json!([]),
                json!({"__all__": ["Invalid data. Expected a dictionary, but got list."]}),
            ),
            (
                json!(null),
                json!({"__all__": ["This field may not be null."]}),
            ),
            (
                json!({"id": 1, "changelog_message": []}),
                json!({"changelog_message": ["Not a valid string."]}),
            ),
            (
                json!({"id": 1, "changelog_message": " "}),
                json!({"changelog_message": ["This field may not be blank."]}),
            ),
        ];

        for (entry, expected) in cases {
            let (status, error) = body(ids(&[json!({"id": 1}), entry.clone()]).unwrap_err());
            assert_eq!(status, StatusCode::BAD_REQUEST, "{entry}");
            assert_eq!(
                error["detail"], "1 of 2 objects failed validation.",
                "{entry}"
            );
            assert_eq!(
                error["errors"],
                json!([{"index": 1, "errors": expected}]),
                "{entry}"
            );
        }
    }

    #[test]
    fn ids_reject_repeats_after_entries() {
        let (_, error) =
            body(ids(&[json!({"id": 4}), json!({"id": "4"}), json!({"id": 5})]).unwrap_err());
        assert_eq!(error["detail"], "1 of 3 objects are listed more than once.");
        assert_eq!(
            error["errors"],
            json!([{"id": 4, "errors": {"id": ["Each object may be specified only once; ID 4 is listed 2 times"]}}])
        );

        let (_, error) = body(ids(&[json!({"id": 4}), json!({"id": 4}), json!({})]).unwrap_err());
        assert_eq!(error["detail"], "1 of 3 objects failed validation.");
    }

    #[test]
    fn check_found_lists_missing_ids() {
        assert!(check_found(&[1, 2], |_| true).is_ok());

        let (status, error) = body(check_found(&[1, 7, 9], |id| id == 1).unwrap_err());

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["detail"], "2 of 3 objects could not be found.");
        assert_eq!(
            error["errors"],
            json!([
                {"id": 7, "errors": {"id": ["Object with ID 7 does not exist"]}},
                {"id": 9, "errors": {"id": ["Object with ID 9 does not exist"]}},
            ])
        );
    }

    #[test]
    fn failures_by_id_keep_the_verb() {
        let failures = vec![(4, ItemFailure::Fields(fields("name", "Bad.")))];

        let (status, error) = body(failures_by_id(failures, 2, "updated"));

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["detail"], "1 of 2 objects could not be updated.");
        assert_eq!(
            error["errors"],
            json!([{"id": 4, "errors": {"name": ["Bad."]}}])
        );
    }

    #[test]
    fn failures_by_id_report_vanished_alone() {
        let failures = vec![
            (4, ItemFailure::Fields(fields("name", "Bad."))),
            (9, ItemFailure::NotFound),
        ];

        let (status, error) = body(failures_by_id(failures, 3, "updated"));

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["detail"], "1 of 3 objects could not be found.");
        assert_eq!(
            error["errors"],
            json!([{"id": 9, "errors": {"id": ["Object with ID 9 does not exist"]}}])
        );
    }

    #[test]
    fn failures_pick_the_highest_status() {
        let protected = vec![
            (1, ItemFailure::Fields(fields("name", "Bad."))),
            (2, ItemFailure::Protected(3)),
        ];
        let (status, error) = body(failures_by_id(protected, 2, "deleted"));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["detail"], "2 of 2 objects could not be deleted.");
        assert_eq!(
            error["errors"][1],
            json!({"id": 2, "errors": {"__all__": ["Unable to delete: 3 dependent object(s) prevent deletion."]}})
        );

        let forbidden = vec![(0, ItemFailure::Protected(1)), (1, ItemFailure::Forbidden)];
        let (status, error) = body(failures_by_index(forbidden, 3));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(error["detail"], "2 of 3 objects could not be created.");
        assert_eq!(
            error["errors"][1],
            json!({"index": 1, "errors": {"__all__": [PERMISSION_DENIED]}})
        );
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
        let accepted = in_savepoint(&connection, |connection| {
            insert(connection, 2);
            Ok(Ok::<_, ()>(()))
        });

        assert_eq!(rejected.unwrap(), Err("rejected"));
        assert_eq!(accepted.unwrap(), Ok(()));
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
