//! NetBox's dynamic field selection: `brief`, `fields` and `omit`.

use http::Method;
use serde_json::{Map, Value};

use super::request::Query;

/// The fields a client asked to see.
#[derive(Clone, Debug, Default)]
pub struct FieldSelection {
    brief: bool,
    fields: Option<Vec<String>>,
    omit: Vec<String>,
}

impl FieldSelection {
    /// Reads `brief` (GET only, any non-empty value), `fields` and `omit`.
    pub fn from_query(query: &Query, method: &Method) -> FieldSelection {
        let brief = *method == Method::GET && query.has_value("brief");
        let fields = query
            .get("fields")
            .filter(|value| !value.is_empty())
            .map(split_names);
        let omit = query.get("omit").map(split_names).unwrap_or_default();

        FieldSelection {
            brief,
            fields,
            omit,
        }
    }

    /// Cuts a full representation down to the selected fields, keeping its field order.
    pub fn apply(&self, full: Map<String, Value>, brief_fields: &[&str]) -> Value {
        if !self.brief && self.fields.is_none() && self.omit.is_empty() {
            return Value::Object(full);
        }

        let keep = |name: &String| match (&self.fields, self.brief) {
            (Some(fields), _) => fields.contains(name),
            (None, true) => brief_fields.contains(&name.as_str()),
            (None, false) => true,
        };

        let selected = full
            .into_iter()
            .filter(|(name, _)| keep(name) && !self.omit.contains(name))
            .collect();
        Value::Object(selected)
    }
}

fn split_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> Map<String, Value> {
        match json!({"id": 1, "url": "u", "display": "d", "name": "n", "hash": "h"}) {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn select(raw: &str, method: Method) -> Value {
        FieldSelection::from_query(&Query::parse(Some(raw)), &method)
            .apply(full(), &["id", "url", "display", "name"])
    }

    #[test]
    fn brief_keeps_brief_fields() {
        assert_eq!(
            select("brief=1", Method::GET),
            json!({"id": 1, "url": "u", "display": "d", "name": "n"})
        );
    }

    #[test]
    fn brief_is_ignored_outside_get() {
        assert_eq!(select("brief=1", Method::POST), Value::Object(full()));
    }

    #[test]
    fn fields_and_omit_select_by_name() {
        assert_eq!(
            select("fields=id,hash", Method::GET),
            json!({"id": 1, "hash": "h"})
        );
        assert_eq!(
            select("omit=hash,url", Method::GET),
            json!({"id": 1, "display": "d", "name": "n"})
        );
    }
}
