//! Activation of user keys at `/user-keys/activate/`: the caller opens the master key with
//! their own private key and stores an RSA-OAEP copy of it for each target key, all or nothing.

use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::call::Call;
use super::error::{ApiError, NO_PERMISSION};
use super::policy::{Action, Model};
use super::request::{as_integer, FormBodies, Payload};
use super::session_keys::{text_field, unlock_own_master_key, UnlockError, Unlocked};
use crate::body::BoxBody;
use crate::crypto::{MasterKey, UserPublicKey};
use crate::store::user_keys::UserKeyRow;
use crate::store::{self, StoreError};

/// The plugin's 403 detail for a caller without `change` on user keys.
const NO_ACTIVATE_PERMISSION: &str = "You do not have permission to activate user keys.";

/// Largest number of target keys one request may name.
const MAX_TARGETS: usize = 100;

/// Failure of an activation. Nothing is written in any of these cases.
#[derive(Debug)]
pub enum ActivationError {
    /// The caller's own master-key copy could not be opened.
    Unlock(UnlockError),
    /// These requested ids name no user key, in request order.
    Missing(Vec<i64>),
    /// A target could not be encrypted to or stored.
    Failed(String),
}

impl From<UnlockError> for ActivationError {
    fn from(err: UnlockError) -> ActivationError {
        ActivationError::Unlock(err)
    }
}

/// A parsed activation request.
pub struct ActivationRequest {
    pub private_key: zeroize::Zeroizing<String>,
    /// Target ids, duplicates removed, first occurrence first.
    pub ids: Vec<i64>,
}

pub async fn handle(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    if call.method != Method::POST {
        return Err(ApiError::method_not_allowed(&call.method));
    }
    call.authorize(Model::UserKey, Action::Change)
        .await
        .map_err(|err| with_detail(err, NO_ACTIVATE_PERMISSION))?;

    let payload = call.payload(FormBodies::Rejected).await?;
    let request = parse_request(&payload, &["user_key_ids"])?;

    let activated = activate(call, &request).await.map_err(|err| match err {
        ActivationError::Unlock(err) => err.into_json(),
        ActivationError::Missing(ids) => missing_keys(&ids),
        ActivationError::Failed(reason) => {
            tracing::error!(%reason, "user-key activation failed");
            ApiError::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "Failed to activate user keys." }),
            )
        }
    })?;

    let body = json!({
        "message": success_message(activated.len()),
        "activated_count": activated.len(),
        "activated_keys": activated,
    });
    Ok(call.json(StatusCode::OK, &body))
}

/// Replaces NetBox's generic 403 detail with an endpoint's own message.
pub fn with_detail(err: ApiError, detail: &str) -> ApiError {
    match err {
        ApiError::Detail(StatusCode::FORBIDDEN, text) if text == NO_PERMISSION => {
            ApiError::Detail(StatusCode::FORBIDDEN, detail.to_string())
        }
        other => other,
    }
}

/// Validates the body as DRF would: `private_key` (trimmed, not blank) and a list of 1 to 100
/// integers of at least 1 under the first of `id_fields` that is present.
pub fn parse_request(payload: &Payload, id_fields: &[&str]) -> Result<ActivationRequest, ApiError> {
    let data = &payload.data;
    let mut errors = Map::new();

    let private_key = match text_field(data, "private_key") {
        None => {
            errors.insert(
                "private_key".into(),
                json!([missing_text(data, "private_key")]),
            );
            None
        }
        Some(text) if text.trim().is_empty() => {
            errors.insert(
                "private_key".into(),
                json!(["This field may not be blank."]),
            );
            None
        }
        Some(text) => Some(zeroize::Zeroizing::new(text.trim().to_string())),
    };

    let field = id_fields
        .iter()
        .copied()
        .find(|name| data.get(*name).is_some())
        .unwrap_or(id_fields[0]);
    let ids = match parse_ids(data.get(field), payload.form_encoded) {
        Ok(ids) => Some(ids),
        Err(error) => {
            errors.insert(field.to_string(), error);
            None
        }
    };

    match (private_key, ids) {
        (Some(private_key), Some(ids)) if errors.is_empty() => {
            Ok(ActivationRequest { private_key, ids })
        }
        _ => Err(ApiError::Fields(errors)),
    }
}

fn missing_text(data: &Value, name: &str) -> &'static str {
    match data.get(name) {
        None => "This field is required.",
        Some(Value::Null) => "This field may not be null.",
        Some(_) => "Not a valid string.",
    }
}

/// Parses the id list; in a multipart or form body a single value counts as a list of one.
fn parse_ids(value: Option<&Value>, form_encoded: bool) -> Result<Vec<i64>, Value> {
    let items: Vec<&Value> = match value {
        None => return Err(json!(["This field is required."])),
        Some(Value::Null) => return Err(json!(["This field may not be null."])),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::String(text)) if form_encoded && text.is_empty() => Vec::new(),
        Some(single @ Value::String(_)) if form_encoded => vec![single],
        Some(other) => {
            let kind = python_type_name(other);
            return Err(json!([format!(
                "Expected a list of items but got type \"{kind}\"."
            )]));
        }
    };

    if items.is_empty() {
        return Err(json!(["Ensure this field has at least 1 elements."]));
    }
    if items.len() > MAX_TARGETS {
        return Err(json!([format!(
            "Ensure this field has no more than {MAX_TARGETS} elements."
        )]));
    }

    let mut item_errors = Map::new();
    let mut ids = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match as_integer(item) {
            Some(id) if id >= 1 => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Some(_) => {
                let message = "Ensure this value is greater than or equal to 1.";
                item_errors.insert(index.to_string(), json!([message]));
            }
            None => {
                item_errors.insert(index.to_string(), json!(["A valid integer is required."]));
            }
        }
    }

    match item_errors.is_empty() {
        true => Ok(ids),
        false => Err(Value::Object(item_errors)),
    }
}

fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Object(_) => "dict",
        _ => "str",
    }
}

/// Activates the target keys in one write transaction, ordered by username; returns their ids
/// in that order. When any id is missing, nothing is written.
pub async fn activate(
    call: &Call,
    request: &ActivationRequest,
) -> Result<Vec<i64>, ActivationError> {
    let Unlocked { master_key, .. } = unlock_own_master_key(call, &request.private_key).await?;
    let ids = request.ids.clone();

    call.state
        .store
        .write(move |transaction| activate_in(transaction, &ids, &master_key))
        .await
        .map_err(|err| ActivationError::Failed(err.to_string()))?
}

/// Runs the activation transaction. The RSA-OAEP encryptions run here, on the store's
/// blocking thread, before the first write.
fn activate_in(
    connection: &rusqlite::Connection,
    ids: &[i64],
    master_key: &MasterKey,
) -> Result<Result<Vec<i64>, ActivationError>, StoreError> {
    let targets = store::user_keys::list_by_ids(connection, ids)?;
    let missing = missing_ids(ids, &targets);
    if !missing.is_empty() {
        return Ok(Err(ActivationError::Missing(missing)));
    }

    let mut copies = Vec::with_capacity(targets.len());
    for target in &targets {
        match encrypt_for(target, master_key) {
            Ok(copy) => copies.push((target.id, copy)),
            Err(reason) => return Ok(Err(ActivationError::Failed(reason))),
        }
    }

    for (id, copy) in &copies {
        store::user_keys::set_master_key_cipher(connection, *id, Some(copy))?;
    }
    Ok(Ok(copies.into_iter().map(|(id, _)| id).collect()))
}

fn encrypt_for(target: &UserKeyRow, master_key: &MasterKey) -> Result<Vec<u8>, String> {
    let public_key = UserPublicKey::parse(&target.public_key)
        .map_err(|err| format!("user key {} has an unusable public key: {err}", target.id))?;

    public_key
        .encrypt_master_key(master_key)
        .map_err(|err| format!("user key {}: {err}", target.id))
}

fn missing_ids(requested: &[i64], found: &[UserKeyRow]) -> Vec<i64> {
    requested
        .iter()
        .copied()
        .filter(|id| !found.iter().any(|row| row.id == *id))
        .collect()
}

/// Builds the 404 for ids that name no user key.
fn missing_keys(ids: &[i64]) -> ApiError {
    let listed: Vec<String> = ids.iter().map(i64::to_string).collect();
    let message = format!("User keys not found: {}", listed.join(", "));

    ApiError::Json(
        StatusCode::NOT_FOUND,
        json!({ "error": message, "invalid_keys": ids }),
    )
}

/// "Successfully activated 1 user key." or "... 3 user keys."
pub fn success_message(count: usize) -> String {
    let noun = match count {
        1 => "key",
        _ => "keys",
    };
    format!("Successfully activated {count} user {noun}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_body(data: Value) -> Payload {
        Payload {
            data,
            form_encoded: false,
        }
    }

    fn parse_body(data: Value, form_encoded: bool) -> Result<ActivationRequest, Value> {
        let payload = Payload { data, form_encoded };
        parse_request(&payload, &["user_key_ids"]).map_err(|err| match err {
            ApiError::Fields(fields) => Value::Object(fields),
            other => panic!("unexpected error {other:?}"),
        })
    }

    fn parse(data: Value) -> Result<ActivationRequest, Value> {
        parse_body(data, false)
    }

    #[test]
    fn single_id_counts_as_list_only_in_forms() {
        let single = json!({"private_key": "pem", "user_key_ids": "2"});

        let from_form = parse_body(single.clone(), true);
        let from_json = parse_body(single, false);

        assert_eq!(from_form.unwrap().ids, vec![2]);
        assert_eq!(
            from_json.err(),
            Some(json!({"user_key_ids": ["Expected a list of items but got type \"str\"."]}))
        );
    }

    #[test]
    fn ids_are_deduplicated_in_order() {
        let request =
            parse(json!({"private_key": " pem ", "user_key_ids": [3, 1, 3, 2, 1]})).unwrap();
        assert_eq!(request.ids, vec![3, 1, 2]);
        assert_eq!(request.private_key.as_str(), "pem");
    }

    #[test]
    fn form_ids_are_text() {
        let request = parse(json!({"private_key": "pem", "user_key_ids": ["5", "7"]})).unwrap();
        assert_eq!(request.ids, vec![5, 7]);

        let form = json!({"private_key": "pem", "user_key_ids": "9"});
        let single = parse_body(form, true).unwrap();
        assert_eq!(single.ids, vec![9]);
    }

    #[test]
    fn invalid_bodies_get_field_errors() {
        let cases = [
            (
                json!({"private_key": "pem", "user_key_ids": []}),
                json!({"user_key_ids": ["Ensure this field has at least 1 elements."]}),
            ),
            (
                json!({"private_key": "pem", "user_key_ids": ["x", 0]}),
                json!({"user_key_ids": {
                    "0": ["A valid integer is required."],
                    "1": ["Ensure this value is greater than or equal to 1."]
                }}),
            ),
            (
                json!({"user_key_ids": [1]}),
                json!({"private_key": ["This field is required."]}),
            ),
            (
                json!({"private_key": "  ", "user_key_ids": [1]}),
                json!({"private_key": ["This field may not be blank."]}),
            ),
            (
                json!({"private_key": "pem", "user_key_ids": 4}),
                json!({"user_key_ids": ["Expected a list of items but got type \"int\"."]}),
            ),
            (
                json!({}),
                json!({
                    "private_key": ["This field is required."],
                    "user_key_ids": ["This field is required."]
                }),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(body.clone()).err(), Some(expected), "body {body}");
        }
    }

    #[test]
    fn too_many_ids_are_rejected() {
        let ids: Vec<i64> = (1..=101).collect();
        let errors = parse(json!({"private_key": "pem", "user_key_ids": ids}))
            .err()
            .unwrap();
        assert_eq!(
            errors,
            json!({"user_key_ids": ["Ensure this field has no more than 100 elements."]})
        );
    }

    #[test]
    fn legacy_field_name_is_accepted() {
        let request = parse_request(
            &json_body(json!({"private_key": "pem", "user_keys": [4]})),
            &["user_keys", "user_key_ids"],
        );
        assert_eq!(request.ok().map(|request| request.ids), Some(vec![4]));
    }

    #[test]
    fn message_counts_keys() {
        assert_eq!(success_message(1), "Successfully activated 1 user key.");
        assert_eq!(success_message(2), "Successfully activated 2 user keys.");
    }

    #[test]
    fn missing_keys_lists_ids() {
        let ApiError::Json(status, body) = missing_keys(&[9999, 5]) else {
            panic!("expected a JSON error");
        };
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "User keys not found: 9999, 5");
        assert_eq!(body["invalid_keys"], json!([9999, 5]));
    }

    #[test]
    fn generic_forbidden_gets_endpoint_detail() {
        let mapped = with_detail(ApiError::forbidden(), NO_ACTIVATE_PERMISSION);
        assert!(matches!(
            mapped,
            ApiError::Detail(StatusCode::FORBIDDEN, ref text) if text == NO_ACTIVATE_PERMISSION
        ));
    }

    mod transactions {
        use super::*;
        use crate::crypto::UserPrivateKey;
        use crate::store::testing;
        use crate::store::user_keys::{self, tests::new_key};

        const FORMATS: &str = include_str!("../../tests/fixtures/vectors/formats.json");

        fn vector(name: &str) -> String {
            let formats: Value = serde_json::from_str(FORMATS).unwrap();
            formats[name].as_str().unwrap().to_string()
        }

        fn add_key(connection: &rusqlite::Connection, user_id: i64, name: &str) -> i64 {
            let mut key = new_key(user_id, name);
            key.public_key = vector("rsa_public_key_spki_pem");
            user_keys::insert(connection, &key).unwrap().id
        }

        #[test]
        fn targets_get_master_key_in_username_order() {
            let (_dir, connection) = testing::connection();
            let carol = add_key(&connection, 3, "carol");
            let bob = add_key(&connection, 2, "bob");
            let master_key = MasterKey::generate();

            let activated = activate_in(&connection, &[carol, bob], &master_key).unwrap();

            assert_eq!(activated.ok(), Some(vec![bob, carol]));
            let private_key = UserPrivateKey::parse(&vector("rsa_private_key_pkcs1_pem")).unwrap();
            for id in [bob, carol] {
                let row = user_keys::get(&connection, id).unwrap().unwrap();
                let copy = private_key.decrypt_master_key(&row.master_key_cipher.unwrap());
                assert_eq!(copy.unwrap().as_bytes(), master_key.as_bytes());
            }
        }

        #[test]
        fn missing_target_activates_nothing() {
            let (_dir, connection) = testing::connection();
            let bob = add_key(&connection, 2, "bob");

            let outcome = activate_in(&connection, &[bob, 9999], &MasterKey::generate()).unwrap();

            assert!(matches!(outcome, Err(ActivationError::Missing(ref ids)) if ids == &[9999]));
            assert!(!user_keys::get(&connection, bob)
                .unwrap()
                .unwrap()
                .is_active());
        }

        #[test]
        fn unusable_public_key_fails_before_writing() {
            let (_dir, connection) = testing::connection();
            let bob = add_key(&connection, 2, "bob");
            let broken = user_keys::insert(&connection, &new_key(4, "dave"))
                .unwrap()
                .id;

            let outcome = activate_in(&connection, &[bob, broken], &MasterKey::generate()).unwrap();

            assert!(matches!(outcome, Err(ActivationError::Failed(_))));
            assert!(!user_keys::get(&connection, bob)
                .unwrap()
                .unwrap()
                .is_active());
        }
    }
}
