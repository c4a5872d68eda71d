//! Conversions shared by the query files: JSON columns and id lists.

use rusqlite::types::Type;
use rusqlite::Row;
use serde_json::Value;

/// Reads a TEXT column that contains a JSON document.
pub(crate) fn json(row: &Row<'_>, index: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(index)?;

    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

/// Writes a JSON document as TEXT.
pub(crate) fn json_text(value: &Value) -> String {
    value.to_string()
}

/// Encodes ids as a JSON array, for `IN (SELECT value FROM json_each(?))`.
pub(crate) fn id_list(ids: &[i64]) -> String {
    Value::from(ids.to_vec()).to_string()
}
