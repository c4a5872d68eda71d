//! Loading secrets with their roles and tags, deciding which ones the caller may see, and
//! rendering the plugin's representation.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::super::call::Call;
use super::super::error::ApiError;
use super::super::policy::Scope;
use super::super::render::nested_tags;
use crate::store::secret_roles::{self, SecretRoleRow};
use crate::store::secrets::{self, SecretRow};
use crate::store::tags::{self, ObjectKind, TagRow};

/// Fields of the brief form (`?brief=1`).
pub const BRIEF_FIELDS: [&str; 4] = ["id", "url", "display", "name"];

/// Secrets with everything needed to filter and render them.
pub struct Loaded {
    pub secrets: Vec<SecretRow>,
    pub roles: HashMap<i64, SecretRoleRow>,
    pub tags: HashMap<i64, Vec<TagRow>>,
}

impl Loaded {
    pub fn role_of(&self, secret: &SecretRow) -> Option<&SecretRoleRow> {
        self.roles.get(&secret.role_id)
    }

    pub fn tags_of(&self, secret: &SecretRow) -> &[TagRow] {
        self.tags.get(&secret.id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Loads every secret, every role and the secrets' tags in one read.
pub async fn load_all(call: &Call) -> Result<Loaded, ApiError> {
    Ok(call
        .state
        .store
        .read(|connection| {
            let secrets = secrets::list(connection)?;
            let ids: Vec<i64> = secrets.iter().map(|secret| secret.id).collect();
            let tags = tags::get_many(connection, ObjectKind::Secret, &ids)?;
            let roles = roles_by_id(connection)?;
            Ok(Loaded {
                secrets,
                roles,
                tags,
            })
        })
        .await?)
}

/// Loads the given secrets (those that exist), every role and the secrets' tags.
pub async fn load_some(call: &Call, ids: Vec<i64>) -> Result<Loaded, ApiError> {
    Ok(call
        .state
        .store
        .read(move |connection| {
            let secrets = secrets::list_by_ids(connection, &ids)?;
            let tags = tags::get_many(connection, ObjectKind::Secret, &ids)?;
            let roles = roles_by_id(connection)?;
            Ok(Loaded {
                secrets,
                roles,
                tags,
            })
        })
        .await?)
}

fn roles_by_id(
    connection: &rusqlite::Connection,
) -> Result<HashMap<i64, SecretRoleRow>, crate::store::StoreError> {
    Ok(secret_roles::list(connection)?
        .into_iter()
        .map(|role| (role.id, role))
        .collect())
}

/// Assigned objects the caller can see, keyed by type and id, in NetBox's brief form.
pub type VisibleObjects = HashMap<(String, i64), Value>;

/// Looks up the assigned objects of these secrets in NetBox, one request per type.
///
/// A secret whose object is missing from the result is hidden from the caller: either the
/// object is gone, the caller may not view it, or its type is no longer configured.
pub async fn visible_objects(
    call: &Call,
    secrets: &[&SecretRow],
) -> Result<VisibleObjects, ApiError> {
    let mut ids_by_type: HashMap<&str, Vec<i64>> = HashMap::new();
    for secret in secrets {
        let ids = ids_by_type
            .entry(secret.assigned_object_type.as_str())
            .or_default();
        if !ids.contains(&secret.assigned_object_id) {
            ids.push(secret.assigned_object_id);
        }
    }

    let objects = &call.state.objects;
    let mut visible = VisibleObjects::new();
    for (object_type, ids) in ids_by_type {
        if !objects.is_allowed(object_type) {
            continue;
        }
        let found = objects.briefs(&call.caller, object_type, &ids).await?;
        for (id, brief) in found {
            visible.insert((object_type.to_string(), id), brief);
        }
    }

    Ok(visible)
}

/// Returns whether the caller may see this secret: its role is in scope and its assigned
/// object is visible to them in NetBox. With `orphans_visible`, a secret whose object NetBox
/// does not return is shown too, with `assigned_object: null`.
pub fn is_visible(
    secret: &SecretRow,
    loaded: &Loaded,
    scope: &Scope,
    objects: &VisibleObjects,
    orphans_visible: bool,
) -> bool {
    let Some(role) = loaded.role_of(secret) else {
        return false;
    };
    scope.allows_role(&role.slug) && (orphans_visible || objects.contains_key(&object_key(secret)))
}

/// Returns whether secrets whose assigned object NetBox did not return are shown to the caller.
///
/// A superuser can view every NetBox object, so for them a missing object is gone, and its
/// secrets stay listed with `assigned_object: null`, as in the plugin. For anyone else a
/// missing object may only be hidden from them, so its secrets are hidden too.
pub async fn orphans_visible(
    call: &Call,
    secrets: &[&SecretRow],
    objects: &VisibleObjects,
) -> Result<bool, ApiError> {
    if secrets
        .iter()
        .all(|secret| objects.contains_key(&object_key(secret)))
    {
        return Ok(false);
    }
    Ok(call.state.auth.is_superuser(&call.caller).await?)
}

pub fn object_key(secret: &SecretRow) -> (String, i64) {
    (
        secret.assigned_object_type.clone(),
        secret.assigned_object_id,
    )
}

/// Renders the role nested in a secret: the role's brief form with `secret_count` always 0, as the
/// plugin renders it.
fn nested_role(call: &Call, role: &SecretRoleRow) -> Value {
    json!({
        "id": role.id,
        "url": call.urls.api("secret-roles", Some(role.id)),
        "display": role.name,
        "name": role.name,
        "slug": role.slug,
        "description": role.description,
        "secret_count": 0,
        "_depth": role.depth,
    })
}

/// Renders the full representation, in the plugin's field order.
pub fn render(
    call: &Call,
    secret: &SecretRow,
    loaded: &Loaded,
    assigned_object: Option<&Value>,
    plaintext: Option<&str>,
) -> Map<String, Value> {
    let role = loaded
        .role_of(secret)
        .map(|role| nested_role(call, role))
        .unwrap_or(Value::Null);

    let mut fields = Map::new();
    fields.insert("id".into(), json!(secret.id));
    fields.insert(
        "url".into(),
        json!(call.urls.api("secrets", Some(secret.id))),
    );
    fields.insert("display".into(), json!(secret.display()));
    fields.insert(
        "assigned_object_type".into(),
        json!(secret.assigned_object_type),
    );
    fields.insert(
        "assigned_object_id".into(),
        json!(secret.assigned_object_id),
    );
    fields.insert(
        "assigned_object".into(),
        assigned_object.cloned().unwrap_or(Value::Null),
    );
    fields.insert("role".into(), role);
    fields.insert("name".into(), json!(secret.name));
    fields.insert("plaintext".into(), json!(plaintext));
    fields.insert("hash".into(), json!(secret.hash));
    fields.insert("description".into(), json!(secret.description));
    fields.insert("comments".into(), json!(secret.comments));
    fields.insert(
        "tags".into(),
        nested_tags(&call.urls, loaded.tags_of(secret)),
    );
    fields.insert("custom_fields".into(), secret.custom_fields.clone());
    fields.insert("created".into(), json!(secret.created));
    fields.insert("last_updated".into(), json!(secret.last_updated));
    fields
}
