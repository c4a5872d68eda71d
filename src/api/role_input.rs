//! Validation of secret-role request bodies with DRF's field rules and messages.

use regex::Regex;
use serde_json::{json, Map, Value};

use super::related::RelatedRef;

/// Longest `name` and `slug`, as the plugin's model declares them.
const NAME_MAX_LENGTH: usize = 100;

/// Longest `description`.
const DESCRIPTION_MAX_LENGTH: usize = 200;

/// Django's message for a slug outside `^[-a-zA-Z0-9_]+$`.
const INVALID_SLUG: &str =
    "Enter a valid \u{201c}slug\u{201d} consisting of letters, numbers, underscores or hyphens.";

/// A validated role body; `None` means the field was not sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleInput {
    pub name: Option<String>,
    pub slug: Option<String>,
    /// `Some(None)`: the role becomes a root.
    pub parent: Option<Option<RelatedRef>>,
    pub description: Option<String>,
    pub comments: Option<String>,
    pub custom_fields: Option<Map<String, Value>>,
    /// The raw `tags` value, resolved against NetBox by the handler.
    pub tags: Option<Value>,
}

/// Field errors of one object: `{"field": ["message", ...]}`.
pub type FieldErrors = Map<String, Value>;

/// Validation failures of a bulk body, by position in the list.
pub type BatchErrors = Vec<(usize, FieldErrors)>;

/// Rules of one text field.
struct TextRules {
    required: bool,
    allow_blank: bool,
    max_length: Option<usize>,
}

/// Validates one role body. `partial` (PATCH) makes every field optional.
pub fn parse_role(data: &Value, partial: bool) -> Result<RoleInput, FieldErrors> {
    let Value::Object(object) = data else {
        let message = format!(
            "Invalid data. Expected a dictionary, but got {}.",
            python_type(data)
        );
        return Err(one_error("non_field_errors", message));
    };

    let mut errors = Map::new();
    let required = !partial;
    let name_rules = TextRules {
        required,
        allow_blank: false,
        max_length: Some(NAME_MAX_LENGTH),
    };

    let input = RoleInput {
        name: text_field(object, "name", &name_rules, &mut errors),
        slug: slug_field(object, &name_rules, &mut errors),
        parent: parent_field(object, &mut errors),
        description: text_field(
            object,
            "description",
            &TextRules {
                required: false,
                allow_blank: true,
                max_length: Some(DESCRIPTION_MAX_LENGTH),
            },
            &mut errors,
        ),
        comments: text_field(
            object,
            "comments",
            &TextRules {
                required: false,
                allow_blank: true,
                max_length: None,
            },
            &mut errors,
        ),
        custom_fields: custom_fields_field(object, &mut errors),
        tags: object.get("tags").cloned(),
    };
    owner_field(object, &mut errors);

    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

/// Validates every body of a bulk request; errors come with the item's position.
pub fn parse_batch(items: &[Value], partial: bool) -> Result<Vec<RoleInput>, BatchErrors> {
    let mut inputs = Vec::with_capacity(items.len());
    let mut errors = Vec::new();

    for (index, item) in items.iter().enumerate() {
        match parse_role(item, partial) {
            Ok(input) => inputs.push(input),
            Err(fields) => errors.push((index, fields)),
        }
    }

    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(errors)
    }
}

fn one_error(field: &str, message: impl Into<String>) -> Map<String, Value> {
    let mut errors = Map::new();
    errors.insert(field.to_string(), json!([message.into()]));
    errors
}

/// Reads a DRF `CharField`: strings and numbers are accepted, surrounding whitespace is
/// trimmed, then blank, length and NUL characters are checked.
fn text_field(
    object: &Map<String, Value>,
    name: &str,
    rules: &TextRules,
    errors: &mut Map<String, Value>,
) -> Option<String> {
    let mut fail = |message: String| {
        errors.insert(name.to_string(), json!([message]));
        None
    };

    let text = match object.get(name) {
        None if rules.required => return fail("This field is required.".into()),
        None => return None,
        Some(Value::Null) => return fail("This field may not be null.".into()),
        Some(Value::String(text)) => text.trim().to_string(),
        Some(Value::Number(number)) => number.to_string(),
        Some(_) => return fail("Not a valid string.".into()),
    };

    if text.is_empty() && !rules.allow_blank {
        return fail("This field may not be blank.".into());
    }
    if let Some(max) = rules.max_length {
        if text.chars().count() > max {
            return fail(format!(
                "Ensure this field has no more than {max} characters."
            ));
        }
    }
    if text.contains('\0') {
        return fail("Null characters are not allowed.".into());
    }
    Some(text)
}

fn slug_field(
    object: &Map<String, Value>,
    rules: &TextRules,
    errors: &mut Map<String, Value>,
) -> Option<String> {
    let slug = text_field(object, "slug", rules, errors)?;

    let pattern = Regex::new("^[-a-zA-Z0-9_]+$").expect("the slug pattern is a valid regex");
    if !pattern.is_match(&slug) {
        errors.insert("slug".into(), json!([INVALID_SLUG]));
        return None;
    }
    Some(slug)
}

/// Reads `parent`: null (or an empty form value) makes a root.
fn parent_field(
    object: &Map<String, Value>,
    errors: &mut Map<String, Value>,
) -> Option<Option<RelatedRef>> {
    match object.get("parent")? {
        Value::Null => Some(None),
        Value::String(text) if text.trim().is_empty() => Some(None),
        value => match RelatedRef::parse(value) {
            Ok(reference) => Some(Some(reference)),
            Err(message) => {
                errors.insert("parent".into(), json!([message]));
                None
            }
        },
    }
}

fn custom_fields_field(
    object: &Map<String, Value>,
    errors: &mut Map<String, Value>,
) -> Option<Map<String, Value>> {
    match object.get("custom_fields")? {
        Value::Object(fields) => Some(fields.clone()),
        Value::Null => None,
        other => {
            let message = format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(other)
            );
            errors.insert("custom_fields".into(), json!([message]));
            None
        }
    }
}

/// Accepts `owner: null` only: NetBox owners are not resolved by the proxy, so any owner
/// reference is reported as not found.
fn owner_field(object: &Map<String, Value>, errors: &mut Map<String, Value>) {
    let Some(value) = object.get("owner") else {
        return;
    };
    if value.is_null() {
        return;
    }

    let no_owners: [i64; 0] = [];
    let message = match RelatedRef::parse(value) {
        Ok(reference) => match reference.resolve(&no_owners, |id| *id, |_, _| None) {
            Ok(_) => return,
            Err(message) => message,
        },
        Err(message) => message,
    };
    errors.insert("owner".into(), json!([message]));
}

/// Python's name for the type of a parsed JSON value, as DRF's messages show it.
pub fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(data: Value, partial: bool) -> Value {
        match parse_role(&data, partial) {
            Err(errors) => Value::Object(errors),
            Ok(input) => panic!("{data}: accepted as {input:?}"),
        }
    }

    #[test]
    fn valid_body_is_read() {
        let data = json!({
            "name": " Login ",
            "slug": "login_1",
            "parent": {"slug": "credentials"},
            "description": "",
            "tags": [1, "2"],
            "custom_fields": {"cf": 1},
            "owner": null,
            "changelog_message": "ignored",
        });
        let input = parse_role(&data, false).unwrap();

        assert_eq!(input.name.as_deref(), Some("Login"));
        assert_eq!(input.slug.as_deref(), Some("login_1"));
        assert!(matches!(
            input.parent,
            Some(Some(RelatedRef::Attributes(_)))
        ));
        assert_eq!(input.description.as_deref(), Some(""));
        assert_eq!(input.comments, None);
        assert_eq!(input.tags, Some(json!([1, "2"])));
        assert_eq!(
            input.custom_fields,
            Some(json!({"cf": 1}).as_object().unwrap().clone())
        );
    }

    #[test]
    fn required_fields_are_checked_unless_partial() {
        assert_eq!(
            errors_of(json!({}), false),
            json!({"name": ["This field is required."], "slug": ["This field is required."]})
        );
        assert_eq!(parse_role(&json!({}), true).unwrap(), RoleInput::default());
    }

    #[test]
    fn field_rules_give_drf_messages() {
        let long = "x".repeat(101);
        let cases = [
            (json!({"name": null}), "name", "This field may not be null."),
            (
                json!({"name": "  "}),
                "name",
                "This field may not be blank.",
            ),
            (json!({"name": true}), "name", "Not a valid string."),
            (
                json!({"name": long}),
                "name",
                "Ensure this field has no more than 100 characters.",
            ),
            (
                json!({"name": "a\u{0}b"}),
                "name",
                "Null characters are not allowed.",
            ),
            (
                json!({"description": "\u{0}"}),
                "description",
                "Null characters are not allowed.",
            ),
            (
                json!({"comments": "x\u{0}"}),
                "comments",
                "Null characters are not allowed.",
            ),
            (json!({"slug": "a b"}), "slug", INVALID_SLUG),
            (json!({"slug": "é"}), "slug", INVALID_SLUG),
            (
                json!({"description": "d".repeat(201)}),
                "description",
                "Ensure this field has no more than 200 characters.",
            ),
            (
                json!({"parent": "abc"}),
                "parent",
                "Related objects must be referenced by numeric ID or by dictionary of attributes. \
                 Received an unrecognized value: abc",
            ),
            (
                json!({"owner": 3}),
                "owner",
                "Related object not found using the provided numeric ID: 3",
            ),
            (
                json!({"custom_fields": "x"}),
                "custom_fields",
                "Invalid data. Expected a dictionary, but got str.",
            ),
        ];
        for (data, field, message) in cases {
            assert_eq!(
                errors_of(data.clone(), true),
                json!({ field: [message] }),
                "body {data}"
            );
        }
    }

    #[test]
    fn non_object_body_is_rejected() {
        assert_eq!(
            errors_of(json!("x"), false),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]})
        );
    }

    #[test]
    fn null_or_empty_parent_makes_a_root() {
        for parent in [json!(null), json!("")] {
            let input = parse_role(&json!({ "parent": parent }), true).unwrap();
            assert_eq!(input.parent, Some(None), "parent {parent}");
        }
    }

    #[test]
    fn batch_reports_positions() {
        let items = [json!({"name": "A", "slug": "a"}), json!({"name": "B"})];
        let errors = parse_batch(&items, false).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 1);
    }
}
