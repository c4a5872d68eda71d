//! Validation of secret payloads: the plugin's writable fields with its rules and messages.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::super::related::python_repr;
use super::super::request::as_integer;
use super::view::Loaded;
use crate::crypto::MAX_PLAINTEXT_BYTES;

/// Largest object id NetBox's positive integer field holds.
const MAX_OBJECT_ID: i64 = 2_147_483_647;

/// The fields of one secret payload, checked for type and length. `None` means absent.
#[derive(Default)]
pub struct SecretInput {
    pub assigned_object_type: Option<String>,
    pub assigned_object_id: Option<i64>,
    pub role: Option<Value>,
    pub name: Option<String>,
    pub plaintext: Option<Zeroizing<String>>,
    pub description: Option<String>,
    pub comments: Option<String>,
    pub tags: Option<Value>,
    pub custom_fields: Option<Value>,
}

/// Field errors in DRF's shape: `{"field": ["message"]}`.
pub type FieldErrors = Map<String, Value>;

fn add_error(errors: &mut FieldErrors, field: &str, message: impl Into<String>) {
    let entry = errors
        .entry(field.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(messages) = entry {
        messages.push(Value::String(message.into()));
    }
}

/// Whether a payload replaces the secret (POST, PUT) or changes some fields (PATCH).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    Full,
    Partial,
}

/// Checks one payload object. With `Full`, the fields a secret needs must be present.
pub fn parse_input(data: &Value, completeness: Completeness) -> Result<SecretInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Value::Object(fields) = data else {
        add_error(
            &mut errors,
            "non_field_errors",
            "Invalid data. Expected a dictionary, but got a list or value.",
        );
        return Err(errors);
    };

    let mut input = SecretInput {
        assigned_object_type: object_type(fields, &mut errors),
        assigned_object_id: object_id(fields, &mut errors),
        role: fields.get("role").cloned(),
        name: text(fields, "name", 100, true, &mut errors),
        plaintext: plaintext(fields, &mut errors),
        description: text(fields, "description", 200, true, &mut errors),
        comments: text(fields, "comments", usize::MAX, true, &mut errors),
        tags: fields.get("tags").cloned(),
        custom_fields: custom_fields(fields, &mut errors),
    };

    if completeness == Completeness::Full {
        require(
            &mut errors,
            "assigned_object_type",
            input.assigned_object_type.is_some(),
            fields,
        );
        require(
            &mut errors,
            "assigned_object_id",
            input.assigned_object_id.is_some(),
            fields,
        );
        if input.role.is_none() {
            add_error(&mut errors, "role", "This field cannot be null.");
        }
    }
    if input.role.as_ref().is_some_and(Value::is_null) {
        add_error(&mut errors, "role", "This field cannot be null.");
        input.role = None;
    }

    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

fn require(errors: &mut FieldErrors, field: &str, present: bool, fields: &Map<String, Value>) {
    if !present && !fields.contains_key(field) {
        add_error(errors, field, "This field is required.");
    }
}

fn object_type(fields: &Map<String, Value>, errors: &mut FieldErrors) -> Option<String> {
    let value = fields.get("assigned_object_type")?;
    let Some(text) = value.as_str() else {
        add_error(
            errors,
            "assigned_object_type",
            "This field may not be null.",
        );
        return None;
    };

    match text.split('.').count() {
        2 if !text.starts_with('.') && !text.ends_with('.') => Some(text.to_string()),
        _ if text.is_empty() => {
            add_error(
                errors,
                "assigned_object_type",
                "This field may not be null.",
            );
            None
        }
        _ => {
            add_error(
                errors,
                "assigned_object_type",
                format!("Invalid content type {text:?}: use the form <app_label>.<model_name>, e.g. dcim.device."),
            );
            None
        }
    }
}

fn object_id(fields: &Map<String, Value>, errors: &mut FieldErrors) -> Option<i64> {
    let value = fields.get("assigned_object_id")?;
    match as_integer(value) {
        Some(id) if (0..=MAX_OBJECT_ID).contains(&id) => Some(id),
        Some(_) => {
            add_error(
                errors,
                "assigned_object_id",
                format!("Ensure this value is between 0 and {MAX_OBJECT_ID}."),
            );
            None
        }
        None => {
            add_error(errors, "assigned_object_id", "A valid integer is required.");
            None
        }
    }
}

fn text(
    fields: &Map<String, Value>,
    field: &str,
    max_chars: usize,
    blank_ok: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = fields.get(field)?;
    let text = match value {
        Value::String(text) => text.trim().to_string(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => {
            add_error(errors, field, "Not a valid string.");
            return None;
        }
    };

    if text.contains('\0') {
        add_error(errors, field, "Null characters are not allowed.");
        return None;
    }
    if !blank_ok && text.is_empty() {
        add_error(errors, field, "This field may not be blank.");
        return None;
    }
    if text.chars().count() > max_chars {
        add_error(
            errors,
            field,
            format!("Ensure this field has no more than {max_chars} characters."),
        );
        return None;
    }
    Some(text)
}

/// Reads the plaintext byte for byte. The plugin trims surrounding whitespace, which would
/// silently change passwords that start or end with a space. Empty, NUL and over-long values
/// are rejected. Over 65,535 UTF-8 bytes the plugin fails with a 500, so here it is a 400.
fn plaintext(fields: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Zeroizing<String>> {
    let value = fields.get("plaintext")?;
    let text = match value {
        Value::String(text) => Zeroizing::new(text.clone()),
        Value::Number(number) => Zeroizing::new(number.to_string()),
        Value::Null => {
            add_error(errors, "plaintext", "This field may not be null.");
            return None;
        }
        _ => {
            add_error(errors, "plaintext", "Not a valid string.");
            return None;
        }
    };

    if text.is_empty() {
        add_error(errors, "plaintext", "This field may not be blank.");
        return None;
    }
    if text.contains('\0') {
        add_error(errors, "plaintext", "Null characters are not allowed.");
        return None;
    }
    if text.len() > MAX_PLAINTEXT_BYTES {
        add_error(
            errors,
            "plaintext",
            format!(
                "Ensure this field has no more than {MAX_PLAINTEXT_BYTES} bytes of UTF-8; it has {}.",
                text.len()
            ),
        );
        return None;
    }
    Some(text)
}

/// Stock NetBox cannot define custom fields for the plugin's models, so only `{}` is valid.
fn custom_fields(fields: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Value> {
    let value = fields.get("custom_fields")?;
    match value {
        Value::Object(map) if map.is_empty() => Some(value.clone()),
        Value::Object(map) => {
            for name in map.keys() {
                add_error(
                    errors,
                    "custom_fields",
                    format!("Unknown field name '{name}' in custom field data."),
                );
            }
            None
        }
        Value::Null => Some(Value::Object(Map::new())),
        _ => {
            add_error(
                errors,
                "custom_fields",
                "Invalid data. Expected a dictionary.",
            );
            None
        }
    }
}

/// Resolves a `role` reference: an id, a numeric string, or an object of attributes.
pub fn resolve_role(reference: &Value, loaded: &Loaded) -> Result<i64, FieldErrors> {
    let mut errors = FieldErrors::new();

    if let Some(id) = as_integer(reference) {
        if loaded.roles.contains_key(&id) {
            return Ok(id);
        }
        add_error(
            &mut errors,
            "role",
            format!("Related object not found using the provided numeric ID: {id}"),
        );
        return Err(errors);
    }

    let Value::Object(attributes) = reference else {
        add_error(
            &mut errors,
            "role",
            "Related objects must be referenced by numeric ID or by dictionary of attributes.",
        );
        return Err(errors);
    };

    let matches: Vec<i64> = loaded
        .roles
        .values()
        .filter(|role| {
            attributes.iter().all(|(name, wanted)| {
                let wanted_text = wanted
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| wanted.to_string());
                match name.as_str() {
                    "id" => as_integer(wanted) == Some(role.id),
                    "name" => role.name == wanted_text,
                    "slug" => role.slug == wanted_text,
                    "description" => role.description == wanted_text,
                    _ => false,
                }
            })
        })
        .map(|role| role.id)
        .collect();

    match matches.as_slice() {
        [id] => Ok(*id),
        [] => {
            add_error(
                &mut errors,
                "role",
                format!(
                    "Related object not found using the provided attributes: {}",
                    python_repr(&Value::Object(attributes.clone()))
                ),
            );
            Err(errors)
        }
        _ => {
            add_error(
                &mut errors,
                "role",
                format!(
                    "Multiple objects match the provided attributes: {}",
                    python_repr(&Value::Object(attributes.clone()))
                ),
            );
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(data: Value, completeness: Completeness) -> FieldErrors {
        match parse_input(&data, completeness) {
            Ok(_) => FieldErrors::new(),
            Err(errors) => errors,
        }
    }

    #[test]
    fn full_payload_needs_object_and_role() {
        let errors = errors_of(json!({"name": "x"}), Completeness::Full);
        assert!(errors.contains_key("assigned_object_type"));
        assert!(errors.contains_key("assigned_object_id"));
        assert!(errors.contains_key("role"));
    }

    #[test]
    fn partial_payload_needs_nothing() {
        assert!(errors_of(json!({"name": "x"}), Completeness::Partial).is_empty());
    }

    #[test]
    fn plaintext_is_kept_and_checked() {
        let input = parse_input(&json!({"plaintext": "  s3cret \n"}), Completeness::Partial)
            .ok()
            .unwrap();
        assert_eq!(
            input.plaintext.as_deref().map(String::as_str),
            Some("  s3cret \n")
        );

        let cases = [
            json!({"plaintext": ""}),
            json!({"plaintext": "a\u{0}b"}),
            json!({"plaintext": "x".repeat(65_536)}),
            json!({"plaintext": null}),
            json!({"plaintext": ["list"]}),
        ];
        for case in cases {
            assert!(
                errors_of(case.clone(), Completeness::Partial).contains_key("plaintext"),
                "{case}"
            );
        }
    }

    #[test]
    fn numbers_become_plaintext_text() {
        let input = parse_input(&json!({"plaintext": 1234}), Completeness::Partial)
            .ok()
            .unwrap();
        assert_eq!(input.plaintext.as_deref().map(String::as_str), Some("1234"));
    }

    #[test]
    fn object_fields_are_checked() {
        let cases = [
            (
                json!({"assigned_object_type": "dcim"}),
                "assigned_object_type",
            ),
            (json!({"assigned_object_type": ""}), "assigned_object_type"),
            (json!({"assigned_object_id": -1}), "assigned_object_id"),
            (json!({"assigned_object_id": "abc"}), "assigned_object_id"),
            (json!({"name": "n".repeat(101)}), "name"),
            (json!({"custom_fields": {"x": 1}}), "custom_fields"),
            (json!({"role": null}), "role"),
        ];
        for (case, field) in cases {
            assert!(
                errors_of(case.clone(), Completeness::Partial).contains_key(field),
                "{case}"
            );
        }
    }

    #[test]
    fn list_payload_is_rejected() {
        let errors = errors_of(json!([1, 2]), Completeness::Full);
        assert!(errors.contains_key("non_field_errors"));
    }
}
