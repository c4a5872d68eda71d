//! Turning checked payloads into stored secrets: roles, scope, assigned objects, uniqueness,
//! encryption and tags.

use serde_json::{json, Value};

use super::super::bulk::{self, ItemFailure};
use super::super::call::Call;
use super::super::error::ApiError;
use super::super::policy::Scope;
use super::super::tags::resolve_tags;
use super::input::{resolve_role, FieldErrors, SecretInput};
use super::view::Loaded;
use crate::crypto::{encrypt_secret, hash_secret, MasterKey};
use crate::store::secrets::{EncryptedValue, NewSecret, SecretChanges, SecretRow};
use crate::store::tags::TagRow;

/// The plugin's message for a secret that duplicates another on the same object and role.
pub(super) const DUPLICATE: &str =
    "Secret with this Assigned object type, Assigned object id, Role and Name already exists.";

/// Reason one payload could not become a secret.
pub enum Rejection {
    /// Field errors for this payload; in bulk requests they are reported per item.
    Fields(FieldErrors),
    /// A failure of the whole request (NetBox down, a fault on our side).
    Request(ApiError),
}

impl From<ApiError> for Rejection {
    fn from(err: ApiError) -> Rejection {
        match err {
            ApiError::Fields(fields) => Rejection::Fields(fields),
            other => Rejection::Request(other),
        }
    }
}

fn field_error(field: &str, message: impl Into<String>) -> Rejection {
    Rejection::from(ApiError::field(field, message))
}

/// A new secret ready to insert, with what its response needs.
pub struct PreparedSecret {
    pub secret: NewSecret,
    pub tags: Vec<TagRow>,
    pub assigned_object: Value,
}

/// A change ready to apply to one stored secret.
pub struct PreparedChange {
    pub id: i64,
    pub changes: SecretChanges,
    pub tags: Option<Vec<TagRow>>,
    pub assigned_object: Value,
}

/// The identity of a secret for the uniqueness rule: object type, object id, role and name.
pub type UniqueKey = (String, i64, i64, String);

pub fn unique_key_of(secret: &SecretRow) -> UniqueKey {
    (
        secret.assigned_object_type.clone(),
        secret.assigned_object_id,
        secret.role_id,
        secret.name.clone(),
    )
}

/// Checks a new secret against the caller's scope, NetBox and the stored secrets, and encrypts it.
///
/// `taken` contains the unique keys of stored secrets and of earlier items of the same request.
pub async fn prepare_new(
    call: &Call,
    input: SecretInput,
    loaded: &Loaded,
    scope: &Scope,
    master_key: &MasterKey,
    taken: &mut Vec<UniqueKey>,
) -> Result<PreparedSecret, Rejection> {
    let role_id = resolve_role(input.role.as_ref().unwrap_or(&Value::Null), loaded)
        .map_err(Rejection::Fields)?;
    check_role_scope(loaded, role_id, scope)?;

    let object_type = input.assigned_object_type.unwrap_or_default();
    let object_id = input.assigned_object_id.unwrap_or_default();
    let assigned_object = find_object(call, &object_type, object_id).await?;

    let name = input.name.unwrap_or_default();
    let key = (object_type.clone(), object_id, role_id, name.clone());
    if taken.contains(&key) {
        return Err(field_error("non_field_errors", DUPLICATE));
    }

    // The plugin stores a secret without plaintext that can never be decrypted; refuse it.
    let Some(plaintext) = input.plaintext else {
        return Err(field_error("plaintext", "This field is required."));
    };
    let encrypted = encrypt(master_key, plaintext.as_bytes())?;
    let tags = match &input.tags {
        Some(references) => resolve_tags(call, references).await?,
        None => Vec::new(),
    };

    taken.push(key);
    let secret = NewSecret {
        assigned_object_type: object_type,
        assigned_object_id: object_id,
        object_repr: object_repr(&assigned_object),
        role_id,
        name,
        ciphertext: encrypted.ciphertext,
        hash: encrypted.hash,
        description: input.description.unwrap_or_default(),
        comments: input.comments.unwrap_or_default(),
        custom_fields: input.custom_fields.unwrap_or_else(|| json!({})),
    };

    Ok(PreparedSecret {
        secret,
        tags,
        assigned_object,
    })
}

/// Checks changes to a stored secret and encrypts a new plaintext.
///
/// Without a master key a new plaintext cannot be encrypted; the error uses the plugin's message.
pub async fn prepare_change(
    call: &Call,
    current: &SecretRow,
    input: SecretInput,
    loaded: &Loaded,
    scope: &Scope,
    master_key: Option<&MasterKey>,
    taken: &[UniqueKey],
) -> Result<PreparedChange, Rejection> {
    let role_id = match &input.role {
        Some(reference) => resolve_role(reference, loaded).map_err(Rejection::Fields)?,
        None => current.role_id,
    };
    check_role_scope(loaded, role_id, scope)?;

    let object_type = input
        .assigned_object_type
        .clone()
        .unwrap_or_else(|| current.assigned_object_type.clone());
    let object_id = input
        .assigned_object_id
        .unwrap_or(current.assigned_object_id);
    let assigned_object = find_object(call, &object_type, object_id).await?;

    let name = input.name.clone().unwrap_or_else(|| current.name.clone());
    let key = (object_type.clone(), object_id, role_id, name.clone());
    if key != unique_key_of(current) && taken.contains(&key) {
        return Err(field_error("non_field_errors", DUPLICATE));
    }

    let encrypted = match (&input.plaintext, master_key) {
        (Some(plaintext), Some(master_key)) => Some(encrypt(master_key, plaintext.as_bytes())?),
        (Some(_), None) => {
            return Err(field_error(
                "plaintext",
                "Cannot encrypt secret: master key not available in context",
            ))
        }
        (None, _) => None,
    };
    let tags = match &input.tags {
        Some(references) => Some(resolve_tags(call, references).await?),
        None => None,
    };

    let changes = SecretChanges {
        assigned_object_type: Some(object_type),
        assigned_object_id: Some(object_id),
        object_repr: Some(object_repr(&assigned_object)),
        role_id: Some(role_id),
        name: Some(name),
        encrypted,
        description: input.description,
        comments: input.comments,
        custom_fields: input.custom_fields,
    };

    Ok(PreparedChange {
        id: current.id,
        changes,
        tags,
        assigned_object,
    })
}

fn check_role_scope(loaded: &Loaded, role_id: i64, scope: &Scope) -> Result<(), Rejection> {
    let allowed = loaded
        .roles
        .get(&role_id)
        .is_some_and(|role| scope.allows_role(&role.slug));
    if allowed {
        Ok(())
    } else {
        Err(Rejection::Request(ApiError::forbidden()))
    }
}

/// Finds the assigned object in NetBox with the caller's credentials; an object that is gone
/// or hidden from the caller is the plugin's "related object not found".
async fn find_object(call: &Call, object_type: &str, object_id: i64) -> Result<Value, Rejection> {
    let objects = &call.state.objects;
    if !objects.is_allowed(object_type) {
        return Err(field_error(
            "assigned_object_type",
            format!("Invalid content type: {object_type}"),
        ));
    }

    let found = objects
        .brief(&call.caller, object_type, object_id)
        .await
        .map_err(ApiError::from)?;
    match found {
        Some(brief) => Ok(brief),
        None => Err(field_error(
            "assigned_object_id",
            format!("Related object not found using the provided value: {object_id}."),
        )),
    }
}

fn object_repr(assigned_object: &Value) -> Option<String> {
    let display = assigned_object.get("display")?.as_str()?;
    Some(display.chars().take(200).collect())
}

fn encrypt(master_key: &MasterKey, plaintext: &[u8]) -> Result<EncryptedValue, Rejection> {
    let ciphertext = encrypt_secret(master_key, plaintext)
        .map_err(|err| field_error("plaintext", format!("Cannot encrypt secret: {err}")))?;
    Ok(EncryptedValue {
        ciphertext,
        hash: hash_secret(plaintext),
    })
}

/// Builds the 400 for rejected creates: one payload's field errors, or NetBox 4.7's bulk
/// envelope for a list, where `rejections` are keyed by position.
pub fn rejection_response(
    rejections: Vec<(usize, FieldErrors)>,
    total: usize,
    is_list: bool,
) -> ApiError {
    if !is_list {
        if let Some((_, fields)) = rejections.into_iter().next() {
            return ApiError::Fields(fields);
        }
        return ApiError::Internal("rejection without errors".into());
    }

    let failures = rejections
        .into_iter()
        .map(|(index, fields)| (index, ItemFailure::Fields(fields)))
        .collect();
    bulk::failures_by_index(failures, total)
}
