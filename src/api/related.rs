//! References to related objects in request bodies (such as a role's `parent`): a numeric
//! id, a numeric string or an object of attributes, with NetBox's error messages.

use serde_json::{Map, Value};

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
            Value::Number(number) => number
                .as_i64()
                .map(RelatedRef::Id)
                .ok_or_else(|| unrecognized(value)),
            Value::String(text) => text
                .trim()
                .parse()
                .map(RelatedRef::Id)
                .map_err(|_| unrecognized(value)),
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
                .all(|(name, expected)| attribute_matches(attribute(candidate, name), expected))
        });
        let quoted = python_repr(&Value::Object(attributes.clone()));
        match (found.next(), found.next()) {
            (Some(candidate), None) => Ok(candidate),
            (None, _) => Err(format!(
                "Related object not found using the provided attributes: {quoted}"
            )),
            (Some(_), Some(_)) => Err(format!(
                "Multiple objects match the provided attributes: {quoted}"
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Candidates `(id, slug, color)`.
    const CANDIDATES: [(i64, &str, &str); 2] = [(1, "alpha", "red"), (2, "beta", "red")];

    fn resolve(reference: &RelatedRef) -> Result<i64, String> {
        let attribute = |candidate: &(i64, &str, &str), name: &str| match name {
            "id" => Some(Value::from(candidate.0)),
            "slug" => Some(Value::from(candidate.1)),
            "color" => Some(Value::from(candidate.2)),
            _ => None,
        };
        reference
            .resolve(&CANDIDATES, |candidate| candidate.0, attribute)
            .map(|candidate| candidate.0)
    }

    fn parsed(value: Value) -> RelatedRef {
        RelatedRef::parse(&value).unwrap()
    }

    #[test]
    fn references_parse_from_numbers_text_and_objects() {
        assert_eq!(RelatedRef::parse(&json!(3)), Ok(RelatedRef::Id(3)));
        assert_eq!(RelatedRef::parse(&json!(" 4 ")), Ok(RelatedRef::Id(4)));
        assert_eq!(
            RelatedRef::parse(&json!({"id": "5"})),
            Ok(RelatedRef::Id(5))
        );
        assert!(matches!(
            parsed(json!({"slug": "x"})),
            RelatedRef::Attributes(_)
        ));
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
        assert_eq!(resolve(&RelatedRef::Id(1)), Ok(1));
        assert_eq!(resolve(&parsed(json!({"slug": "beta"}))), Ok(2));
        assert_eq!(resolve(&parsed(json!({"id": "2", "slug": "beta"}))), Ok(2));
    }

    #[test]
    fn resolve_reports_missing_and_ambiguous() {
        assert_eq!(
            resolve(&RelatedRef::Id(9)),
            Err("Related object not found using the provided numeric ID: 9".to_string())
        );
        assert_eq!(
            resolve(&parsed(json!({"slug": "gamma"}))),
            Err(
                "Related object not found using the provided attributes: {'slug': 'gamma'}"
                    .to_string()
            )
        );
        assert_eq!(
            resolve(&parsed(json!({"nope": 1}))),
            Err("Related object not found using the provided attributes: {'nope': 1}".to_string())
        );
        assert_eq!(
            resolve(&parsed(json!({"color": "red"}))),
            Err("Multiple objects match the provided attributes: {'color': 'red'}".to_string())
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
