//! References to related objects in request bodies (`parent`, `role`, `tags`): a numeric id,
//! a numeric string or an object of attributes, with NetBox's error messages.

use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::store::tags::TagRow;
use crate::store::StoreError;

/// A reference to one related object as a client wrote it.
#[derive(Clone, Debug, PartialEq)]
pub enum RelatedRef {
    Id(i64),
    /// Attribute lookup such as `{"slug": "login"}`; `{"id": n}` alone becomes [`RelatedRef::Id`].
    Attributes(Map<String, Value>),
}

impl RelatedRef {
    /// Reads a reference, or returns NetBox's message for a value of the wrong shape.
    pub fn parse(value: &Value) -> Result<RelatedRef, String> {
        match value {
            Value::Number(number) => number.as_i64().map(RelatedRef::Id).ok_or_else(|| unrecognized(value)),
            Value::String(text) => text.trim().parse().map(RelatedRef::Id).map_err(|_| unrecognized(value)),
            Value::Object(attributes) => Ok(from_attributes(attributes)),
            _ => Err(unrecognized(value)),
        }
    }

    /// Finds the one candidate this reference names. `attribute` reads a candidate's
    /// attribute by name and returns `None` for attributes the model does not have.
    pub fn resolve<'c, T>(
        &self,
        candidates: &'c [T],
        id_of: impl Fn(&T) -> i64,
        attribute: impl Fn(&T, &str) -> Option<Value>,
    ) -> Result<&'c T, String> {
        let attributes = match self {
            RelatedRef::Id(id) => {
                return candidates
                    .iter()
                    .find(|candidate| id_of(candidate) == *id)
                    .ok_or_else(|| {
                        format!("Related object not found using the provided numeric ID: {id}")
                    });
            }
            RelatedRef::Attributes(attributes) => attributes,
        };

        let mut found = candidates.iter().filter(|candidate| {
            attributes
                .iter()
                .all(|(name, wanted)| attribute_matches(attribute(candidate, name), wanted))
        });
        let shown = python_repr(&Value::Object(attributes.clone()));
        match (found.next(), found.next()) {
            (Some(candidate), None) => Ok(candidate),
            (None, _) => Err(format!(
                "Related object not found using the provided attributes: {shown}"
            )),
            (Some(_), Some(_)) => Err(format!(
                "Multiple objects match the provided attributes: {shown}"
            )),
        }
    }
}

fn from_attributes(attributes: &Map<String, Value>) -> RelatedRef {
    if attributes.len() == 1 {
        if let Some(id) = attributes.get("id").and_then(super::request::as_integer) {
            return RelatedRef::Id(id);
        }
    }
    RelatedRef::Attributes(attributes.clone())
}

fn unrecognized(value: &Value) -> String {
    format!(
        "Related objects must be referenced by numeric ID or by dictionary of attributes. \
         Received an unrecognized value: {}",
        python_text(value)
    )
}

/// Compares an attribute the way a Django `filter(name=value)` would for the simple types
/// used here: numbers given as text match numeric columns.
fn attribute_matches(actual: Option<Value>, wanted: &Value) -> bool {
    match (actual, wanted) {
        (None, _) => false,
        (Some(Value::Number(actual)), Value::String(text)) => {
            text.trim().parse::<i64>().ok() == actual.as_i64()
        }
        (Some(actual), wanted) => actual == *wanted,
    }
}

/// Writes a JSON value as Python's `str()` shows the parsed value, which is how NetBox quotes
/// attributes in its messages: `{'slug': 'x', 'id': 1, 'ok': True}`.
pub fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => quote_python(text),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{}: {}", quote_python(key), python_repr(value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// Like [`python_repr`], but a top-level string is shown bare, as `str()` of a string is.
fn python_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => python_repr(other),
    }
}

/// Quotes text as Python's `repr()` does for printable strings: single quotes unless the text
/// contains a single quote and no double quote.
fn quote_python(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };

    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push(quote);
    for character in text.chars() {
        match character {
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if c == quote => {
                quoted.push('\\');
                quoted.push(c);
            }
            c => quoted.push(c),
        }
    }
    quoted.push(quote);
    quoted
}

/// Returns every NetBox tag the store has seen on any object, one row per tag id.
///
/// TODO: tags are not fetched from NetBox yet, so a tag that exists in NetBox but was never
/// assigned through this proxy (or imported) is reported as not found.
pub fn known_tags(conn: &Connection) -> Result<Vec<TagRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT tag_id, MAX(name), MAX(slug), MAX(color) FROM object_tags \
         GROUP BY tag_id ORDER BY tag_id",
    )?;

    let rows = statement.query_map([], |row| {
        Ok(TagRow {
            id: row.get(0)?,
            name: row.get(1)?,
            slug: row.get(2)?,
            color: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Resolves a list of tag references against the known tags; the first failing reference's
/// message is returned.
pub fn resolve_tags(references: &[RelatedRef], known: &[TagRow]) -> Result<Vec<TagRow>, String> {
    let mut tags: Vec<TagRow> = Vec::new();

    for reference in references {
        let tag = reference.resolve(known, |tag| tag.id, tag_attribute)?;
        if !tags.iter().any(|existing| existing.id == tag.id) {
            tags.push(tag.clone());
        }
    }
    Ok(tags)
}

fn tag_attribute(tag: &TagRow, name: &str) -> Option<Value> {
    match name {
        "id" => Some(Value::from(tag.id)),
        "name" => Some(Value::from(tag.name.as_str())),
        "slug" => Some(Value::from(tag.slug.as_str())),
        "color" => Some(Value::from(tag.color.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tags() -> Vec<TagRow> {
        ["alpha", "beta"]
            .iter()
            .enumerate()
            .map(|(index, slug)| TagRow {
                id: index as i64 + 1,
                name: slug.to_uppercase(),
                slug: slug.to_string(),
                color: "ff0000".to_string(),
            })
            .collect()
    }

    #[test]
    fn references_parse_from_numbers_text_and_objects() {
        assert_eq!(RelatedRef::parse(&json!(3)), Ok(RelatedRef::Id(3)));
        assert_eq!(RelatedRef::parse(&json!(" 4 ")), Ok(RelatedRef::Id(4)));
        assert_eq!(RelatedRef::parse(&json!({"id": "5"})), Ok(RelatedRef::Id(5)));

        let by_slug = RelatedRef::parse(&json!({"slug": "x"})).unwrap();
        assert!(matches!(by_slug, RelatedRef::Attributes(_)));
    }

    #[test]
    fn unrecognized_references_are_rejected() {
        let expected = "Related objects must be referenced by numeric ID or by dictionary of \
                        attributes. Received an unrecognized value: abc";
        assert_eq!(RelatedRef::parse(&json!("abc")), Err(expected.to_string()));
        assert!(RelatedRef::parse(&json!([1])).is_err());
        assert!(RelatedRef::parse(&json!(true)).is_err());
    }

    #[test]
    fn resolve_finds_by_id_and_attributes() {
        let known = tags();
        let by_slug = RelatedRef::parse(&json!({"slug": "beta"})).unwrap();
        let by_id_text = RelatedRef::parse(&json!({"id": "2", "slug": "beta"})).unwrap();

        let resolved = resolve_tags(&[RelatedRef::Id(1), by_slug, by_id_text], &known).unwrap();
        let ids: Vec<i64> = resolved.iter().map(|tag| tag.id).collect();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn resolve_reports_missing_and_ambiguous() {
        let known = tags();

        let missing = resolve_tags(&[RelatedRef::Id(9)], &known).unwrap_err();
        assert_eq!(missing, "Related object not found using the provided numeric ID: 9");

        let by_name = RelatedRef::parse(&json!({"name": "GAMMA"})).unwrap();
        let missing = resolve_tags(&[by_name], &known).unwrap_err();
        assert_eq!(
            missing,
            "Related object not found using the provided attributes: {'name': 'GAMMA'}"
        );

        let by_color = RelatedRef::parse(&json!({"color": "ff0000"})).unwrap();
        let ambiguous = resolve_tags(&[by_color], &known).unwrap_err();
        assert_eq!(
            ambiguous,
            "Multiple objects match the provided attributes: {'color': 'ff0000'}"
        );
    }

    #[test]
    fn python_repr_matches_python() {
        let value = json!({"slug": "it's", "n": 1, "ok": true, "none": null, "list": ["a\"b"]});
        assert_eq!(
            python_repr(&value),
            r#"{'slug': "it's", 'n': 1, 'ok': True, 'none': None, 'list': ['a"b']}"#
        );
    }
}
