//! Request bodies of user-key writes: the public key and its size rules, the owning NetBox user,
//! tags and custom fields.

use http::StatusCode;
use serde_json::{Map, Value};

use super::super::call::Call;
use super::super::error::ApiError;
use super::super::related::python_repr;
use super::super::request::as_integer;
use super::super::tags::resolve_tags;
use crate::crypto::{UserPublicKey, MAX_KEY_BITS};
use crate::store::tags::TagRow;

/// Field errors in DRF's shape: `{"field": ["message"]}`.
pub type FieldErrors = Map<String, Value>;

/// A public key that passed every check, with the trimmed text that is stored.
pub struct CheckedKey {
    pub text: String,
    pub key: UserPublicKey,
}

/// Whether a payload replaces the key (POST, PUT) or changes some fields (PATCH).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    Full,
    Partial,
}

/// The checked writable fields of one payload; `None` means absent.
pub struct UserKeyInput {
    pub public_key: Option<CheckedKey>,
    pub user: Option<UserReference>,
    pub tags: Option<Vec<TagRow>>,
    pub custom_fields: Option<Map<String, Value>>,
}

/// A reference to the key's owner in a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserReference {
    Id(i64),
    Username(String),
}

/// The NetBox user a key belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub id: i64,
    pub username: String,
    pub display: String,
}

fn add_error(errors: &mut FieldErrors, field: &str, message: impl Into<String>) {
    let entry = errors
        .entry(field.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(messages) = entry {
        messages.push(Value::String(message.into()));
    }
}

/// Checks a payload; tags are looked up in NetBox with the caller's credentials.
///
/// `private_key` is accepted and ignored. `user` is read only when `read_user` is set, because
/// it cannot change after creation.
pub async fn parse_input(
    call: &Call,
    data: &Value,
    completeness: Completeness,
    read_user: bool,
) -> Result<UserKeyInput, ApiError> {
    let Value::Object(fields) = data else {
        let mut errors = FieldErrors::new();
        let message = "Invalid data. Expected a dictionary, but got a list or value.";
        add_error(&mut errors, "non_field_errors", message);
        return Err(ApiError::Fields(errors));
    };

    let mut errors = FieldErrors::new();
    let min_bits = call.state.settings.public_key_size;
    let public_key = public_key_field(fields, completeness, min_bits, &mut errors);
    let user = match read_user {
        true => user_field(fields, &mut errors),
        false => None,
    };
    let custom_fields = custom_fields_field(fields, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors));
    }

    let tags = match fields.get("tags") {
        Some(value) => Some(resolve_tags(call, value).await?),
        None => None,
    };

    Ok(UserKeyInput {
        public_key,
        user,
        tags,
        custom_fields,
    })
}

fn public_key_field(
    fields: &Map<String, Value>,
    completeness: Completeness,
    min_bits: usize,
    errors: &mut FieldErrors,
) -> Option<CheckedKey> {
    let text = match fields.get("public_key") {
        None if completeness == Completeness::Full => {
            add_error(errors, "public_key", "This field is required.");
            return None;
        }
        None => return None,
        Some(Value::Null) => {
            add_error(errors, "public_key", "This field may not be null.");
            return None;
        }
        Some(Value::String(text)) => text.trim(),
        Some(_) => {
            add_error(errors, "public_key", "Not a valid string.");
            return None;
        }
    };

    if text.is_empty() {
        add_error(errors, "public_key", "This field may not be blank.");
        return None;
    }
    match check_public_key(text, min_bits) {
        Ok(key) => Some(CheckedKey {
            text: text.to_string(),
            key,
        }),
        Err(message) => {
            add_error(errors, "public_key", message);
            None
        }
    }
}

/// Parses a public key and applies the size rule: at least `min_bits` and at most 8192 bits.
pub fn check_public_key(text: &str, min_bits: usize) -> Result<UserPublicKey, String> {
    let key = UserPublicKey::parse(text).map_err(|err| format!("Invalid RSA key format: {err}"))?;

    let bits = key.bits();
    if bits < min_bits {
        return Err(format!(
            "Insufficient key length: this key has {bits} bits, the minimum is {min_bits} bits."
        ));
    }
    if bits > MAX_KEY_BITS {
        return Err(format!(
            "Key length exceeds the maximum: this key has {bits} bits, the maximum is \
             {MAX_KEY_BITS} bits."
        ));
    }
    Ok(key)
}

fn user_field(fields: &Map<String, Value>, errors: &mut FieldErrors) -> Option<UserReference> {
    let value = fields.get("user")?;
    if value.is_null() {
        return None;
    }

    match user_reference(value) {
        Ok(reference) => Some(reference),
        Err(message) => {
            add_error(errors, "user", message);
            None
        }
    }
}

/// Reads a user reference: an id, a numeric string, `{"id": n}` or `{"username": "x"}`.
fn user_reference(value: &Value) -> Result<UserReference, String> {
    if let Some(id) = as_integer(value) {
        return Ok(UserReference::Id(id));
    }

    let Value::Object(attributes) = value else {
        return Err(format!(
            "Related objects must be referenced by numeric ID or by dictionary of attributes. \
             Received an unrecognized value: {value}"
        ));
    };
    match (
        attributes.len(),
        attributes.get("id"),
        attributes.get("username"),
    ) {
        (1, Some(id), None) => as_integer(id)
            .map(UserReference::Id)
            .ok_or_else(|| not_found_by_attributes(value)),
        (1, None, Some(Value::String(username))) => Ok(UserReference::Username(username.clone())),
        _ => Err(not_found_by_attributes(value)),
    }
}

fn not_found_by_attributes(value: &Value) -> String {
    format!(
        "Related object not found using the provided attributes: {}",
        python_repr(value)
    )
}

fn custom_fields_field(
    fields: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Option<Map<String, Value>> {
    match fields.get("custom_fields")? {
        Value::Object(values) => Some(values.clone()),
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

/// Finds the owner of a new key: the caller when `user` is absent or names the caller,
/// otherwise the NetBox user, looked up with the caller's credentials.
pub async fn resolve_owner(
    call: &Call,
    reference: Option<&UserReference>,
) -> Result<KeyOwner, ApiError> {
    let caller = call.caller.user();
    let caller_owner = || KeyOwner {
        id: caller.id,
        username: caller.username.clone(),
        display: caller.display.clone(),
    };

    match reference {
        None => Ok(caller_owner()),
        Some(UserReference::Id(id)) if *id == caller.id => Ok(caller_owner()),
        Some(UserReference::Username(name)) if *name == caller.username => Ok(caller_owner()),
        Some(UserReference::Id(id)) => user_by_id(call, *id).await,
        Some(UserReference::Username(name)) => user_by_username(call, name).await,
    }
}

async fn user_by_id(call: &Call, id: i64) -> Result<KeyOwner, ApiError> {
    let path = format!("{}users/users/{id}/?brief=1", call.state.settings.api_root);
    let found = fetch_json(call, &path).await?;

    found.as_ref().and_then(owner_from).ok_or_else(|| {
        ApiError::field(
            "user",
            format!("Related object not found using the provided numeric ID: {id}"),
        )
    })
}

async fn user_by_username(call: &Call, username: &str) -> Result<KeyOwner, ApiError> {
    let encoded =
        percent_encoding::utf8_percent_encode(username, percent_encoding::NON_ALPHANUMERIC);
    let path = format!(
        "{}users/users/?brief=1&username={encoded}",
        call.state.settings.api_root
    );
    let found = fetch_json(call, &path).await?;

    let results = found
        .as_ref()
        .and_then(|body| body.get("results"))
        .and_then(Value::as_array);
    match results.map(Vec::as_slice) {
        Some([user]) => owner_from(user).ok_or_else(|| user_not_found(username)),
        _ => Err(user_not_found(username)),
    }
}

fn user_not_found(username: &str) -> ApiError {
    let attributes = serde_json::json!({ "username": username });
    ApiError::field("user", not_found_by_attributes(&attributes))
}

/// GETs a NetBox path with the caller's credentials; `None` when NetBox does not show it to
/// the caller (404 or 403).
async fn fetch_json(call: &Call, path: &str) -> Result<Option<Value>, ApiError> {
    let reply = call
        .state
        .netbox
        .get(path, call.caller.credential(), &call.caller.origin)
        .await?;

    match reply.status {
        StatusCode::OK => Ok(Some(reply.json()?)),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(None),
        status => Err(ApiError::Unavailable(format!(
            "netbox user lookup returned status {status}"
        ))),
    }
}

/// Reads `{"id", "username", "display"}` from NetBox's brief user.
fn owner_from(user: &Value) -> Option<KeyOwner> {
    let username = user.get("username")?.as_str()?.to_string();
    let display = user
        .get("display")
        .and_then(Value::as_str)
        .unwrap_or(&username)
        .to_string();

    Some(KeyOwner {
        id: user.get("id")?.as_i64()?,
        username,
        display,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(data: Value, completeness: Completeness) -> Result<Option<String>, FieldErrors> {
        let Value::Object(fields) = data else {
            panic!("test data is an object");
        };
        let mut errors = FieldErrors::new();
        let key = public_key_field(&fields, completeness, 2048, &mut errors);
        match errors.is_empty() {
            true => Ok(key.map(|key| key.text)),
            false => Err(errors),
        }
    }

    #[test]
    fn public_key_field_rules() {
        let cases = [
            (json!({}), "This field is required."),
            (json!({"public_key": null}), "This field may not be null."),
            (
                json!({"public_key": "  \n"}),
                "This field may not be blank.",
            ),
            (json!({"public_key": 5}), "Not a valid string."),
        ];
        for (data, message) in cases {
            let errors = check(data.clone(), Completeness::Full).unwrap_err();
            assert_eq!(errors["public_key"], json!([message]), "data {data}");
        }
        assert_eq!(check(json!({}), Completeness::Partial).unwrap(), None);
    }

    #[test]
    fn unparseable_key_names_the_format_problem() {
        let message = check_public_key("not-a-key", 2048).err().unwrap();
        assert!(message.starts_with("Invalid RSA key format: "), "{message}");
    }

    #[test]
    fn user_references() {
        assert_eq!(user_reference(&json!(4)), Ok(UserReference::Id(4)));
        assert_eq!(user_reference(&json!("4")), Ok(UserReference::Id(4)));
        assert_eq!(user_reference(&json!({"id": 4})), Ok(UserReference::Id(4)));
        assert_eq!(
            user_reference(&json!({"username": "alice"})),
            Ok(UserReference::Username("alice".into()))
        );
        assert!(user_reference(&json!({"email": "a@b"})).is_err());
        assert!(user_reference(&json!([1])).is_err());
    }

    #[test]
    fn owner_reads_brief_user() {
        let owner =
            owner_from(&json!({"id": 3, "url": "u", "display": "bob (Bob B)", "username": "bob"}));
        assert_eq!(
            owner,
            Some(KeyOwner {
                id: 3,
                username: "bob".into(),
                display: "bob (Bob B)".into()
            })
        );
        assert_eq!(owner_from(&json!({"id": 3})), None);
    }

    #[test]
    fn custom_fields_must_be_an_object() {
        let mut errors = FieldErrors::new();
        let fields = json!({"custom_fields": "x"});
        assert!(custom_fields_field(fields.as_object().unwrap(), &mut errors).is_none());
        assert_eq!(
            errors["custom_fields"],
            json!(["Invalid data. Expected a dictionary."])
        );
    }
}
