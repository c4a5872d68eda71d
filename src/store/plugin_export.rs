//! The netbox-secrets export document: the PostgreSQL query that prints it and its parsing
//! into checked rows, with bytes decoded and timestamps in the store's format.

use serde::Deserialize;
use serde_json::Value;

use super::secrets::SecretRow;
use super::session_keys::SessionKeyRow;
use super::tags::{ObjectKind, TagRow};
use super::user_keys::{display_for_user, UserKeyRow};
use super::{time, StoreError};

/// PostgreSQL query that exports the plugin's tables (plugin 3.x on NetBox 4.x) as one JSON
/// document. Byte columns are lowercase hex, timestamps are PostgreSQL's JSON form.
pub const EXPORT_QUERY: &str = "\
SELECT json_build_object(
  'user_keys', (SELECT coalesce(json_agg(json_build_object(
      'id', k.id, 'user_id', k.user_id, 'username', u.username,
      'first_name', u.first_name, 'last_name', u.last_name,
      'public_key', k.public_key, 'master_key_cipher', encode(k.master_key_cipher, 'hex'),
      'created', k.created, 'last_updated', k.last_updated,
      'custom_field_data', k.custom_field_data) ORDER BY k.id), '[]')
    FROM netbox_secrets_userkey k JOIN users_user u ON u.id = k.user_id),
  'session_keys', (SELECT coalesce(json_agg(json_build_object(
      'id', s.id, 'userkey_id', s.userkey_id, 'cipher', encode(s.cipher, 'hex'),
      'hash', s.hash, 'created', s.created) ORDER BY s.id), '[]')
    FROM netbox_secrets_sessionkey s),
  'secret_roles', (SELECT coalesce(json_agg(json_build_object(
      'id', r.id, 'name', r.name, 'slug', r.slug, 'parent_id', r.parent_id,
      'description', r.description, 'comments', r.comments,
      'custom_field_data', r.custom_field_data,
      'created', r.created, 'last_updated', r.last_updated) ORDER BY r.id), '[]')
    FROM netbox_secrets_secretrole r),
  'secrets', (SELECT coalesce(json_agg(json_build_object(
      'id', s.id, 'assigned_object_type', ct.app_label || '.' || ct.model,
      'assigned_object_id', s.assigned_object_id, 'object_repr', s._object_repr,
      'role_id', s.role_id, 'name', s.name, 'ciphertext', encode(s.ciphertext, 'hex'),
      'hash', s.hash, 'description', s.description, 'comments', s.comments,
      'custom_field_data', s.custom_field_data,
      'created', s.created, 'last_updated', s.last_updated) ORDER BY s.id), '[]')
    FROM netbox_secrets_secret s
    JOIN django_content_type ct ON ct.id = s.assigned_object_type_id),
  'tags', (SELECT coalesce(json_agg(json_build_object(
      'object_kind', ct.model, 'object_id', ti.object_id, 'tag_id', t.id,
      'name', t.name, 'slug', t.slug, 'color', t.color) ORDER BY ti.id), '[]')
    FROM extras_taggeditem ti
    JOIN extras_tag t ON t.id = ti.tag_id
    JOIN django_content_type ct ON ct.id = ti.content_type_id
    WHERE ct.app_label = 'netbox_secrets' AND ct.model IN ('secret', 'secretrole', 'userkey'))
);
";

/// A parsed, checked export: bytes decoded and timestamps normalized, ready to insert.
#[derive(Debug, Clone)]
pub struct PluginExport {
    pub user_keys: Vec<UserKeyRow>,
    pub session_keys: Vec<SessionKeyRow>,
    pub secret_roles: Vec<ImportedRole>,
    pub secrets: Vec<SecretRow>,
    pub tags: Vec<ImportedTag>,
}

/// A secret role as exported: stored columns only, no computed tree fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRole {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub parent_id: Option<i64>,
    pub description: String,
    pub comments: String,
    pub custom_fields: Value,
    pub created: Option<String>,
    pub last_updated: Option<String>,
}

/// One tag assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedTag {
    pub kind: ObjectKind,
    pub object_id: i64,
    pub tag: TagRow,
}

impl PluginExport {
    /// Parses the JSON document printed by [`EXPORT_QUERY`].
    pub fn from_json(text: &str) -> Result<PluginExport, StoreError> {
        let raw: RawExport = serde_json::from_str(text.trim())
            .map_err(|e| StoreError::InvalidExport(e.to_string()))?;

        raw.convert()
    }
}

/// The export document as PostgreSQL prints it.
#[derive(Deserialize)]
struct RawExport {
    user_keys: Vec<RawUserKey>,
    session_keys: Vec<RawSessionKey>,
    secret_roles: Vec<RawRole>,
    secrets: Vec<RawSecret>,
    #[serde(default)]
    tags: Vec<RawTag>,
}

#[derive(Deserialize)]
struct RawUserKey {
    id: i64,
    user_id: i64,
    username: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    public_key: String,
    master_key_cipher: Option<String>,
    created: Option<String>,
    last_updated: Option<String>,
    #[serde(default)]
    custom_field_data: Option<Value>,
}

#[derive(Deserialize)]
struct RawSessionKey {
    id: i64,
    userkey_id: i64,
    cipher: String,
    hash: String,
    created: String,
}

#[derive(Deserialize)]
struct RawRole {
    id: i64,
    name: String,
    slug: String,
    parent_id: Option<i64>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    comments: String,
    #[serde(default)]
    custom_field_data: Option<Value>,
    created: Option<String>,
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct RawSecret {
    id: i64,
    assigned_object_type: String,
    assigned_object_id: i64,
    object_repr: Option<String>,
    role_id: i64,
    #[serde(default)]
    name: String,
    ciphertext: String,
    hash: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    comments: String,
    #[serde(default)]
    custom_field_data: Option<Value>,
    created: Option<String>,
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct RawTag {
    object_kind: String,
    object_id: i64,
    tag_id: i64,
    name: String,
    slug: String,
    color: String,
}

impl RawExport {
    fn convert(self) -> Result<PluginExport, StoreError> {
        Ok(PluginExport {
            user_keys: convert_all(self.user_keys, RawUserKey::convert)?,
            session_keys: convert_all(self.session_keys, RawSessionKey::convert)?,
            secret_roles: convert_all(self.secret_roles, RawRole::convert)?,
            secrets: convert_all(self.secrets, RawSecret::convert)?,
            tags: convert_all(self.tags, RawTag::convert)?,
        })
    }
}

fn convert_all<R, T>(
    rows: Vec<R>,
    convert: fn(R) -> Result<T, String>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter()
        .map(convert)
        .collect::<Result<_, _>>()
        .map_err(StoreError::InvalidExport)
}

impl RawUserKey {
    fn convert(self) -> Result<UserKeyRow, String> {
        let context = |e: String| format!("user key {}: {e}", self.id);
        let first_name = self.first_name.as_deref().unwrap_or_default();
        let last_name = self.last_name.as_deref().unwrap_or_default();

        Ok(UserKeyRow {
            id: self.id,
            user_id: self.user_id,
            user_display: display_for_user(&self.username, first_name, last_name),
            username: self.username.clone(),
            public_key: self.public_key.clone(),
            master_key_cipher: self
                .master_key_cipher
                .as_deref()
                .map(decode_hex)
                .transpose()
                .map_err(context)?,
            custom_fields: custom_fields(self.custom_field_data.clone()),
            created: optional_timestamp(self.created.as_deref()).map_err(context)?,
            last_updated: optional_timestamp(self.last_updated.as_deref()).map_err(context)?,
        })
    }
}

impl RawSessionKey {
    fn convert(self) -> Result<SessionKeyRow, String> {
        let context = |e: String| format!("session key {}: {e}", self.id);

        Ok(SessionKeyRow {
            id: self.id,
            userkey_id: self.userkey_id,
            cipher: decode_hex(&self.cipher).map_err(context)?,
            created: timestamp(&self.created).map_err(context)?,
            hash: self.hash,
        })
    }
}

impl RawRole {
    fn convert(self) -> Result<ImportedRole, String> {
        let context = |e: String| format!("secret role {}: {e}", self.id);

        Ok(ImportedRole {
            id: self.id,
            created: optional_timestamp(self.created.as_deref()).map_err(context)?,
            last_updated: optional_timestamp(self.last_updated.as_deref()).map_err(context)?,
            name: self.name,
            slug: self.slug,
            parent_id: self.parent_id,
            description: self.description,
            comments: self.comments,
            custom_fields: custom_fields(self.custom_field_data),
        })
    }
}

impl RawSecret {
    fn convert(self) -> Result<SecretRow, String> {
        let context = |e: String| format!("secret {}: {e}", self.id);

        Ok(SecretRow {
            id: self.id,
            ciphertext: decode_hex(&self.ciphertext).map_err(context)?,
            created: optional_timestamp(self.created.as_deref()).map_err(context)?,
            last_updated: optional_timestamp(self.last_updated.as_deref()).map_err(context)?,
            assigned_object_type: self.assigned_object_type,
            assigned_object_id: self.assigned_object_id,
            object_repr: self.object_repr,
            role_id: self.role_id,
            name: self.name,
            hash: self.hash,
            description: self.description,
            comments: self.comments,
            custom_fields: custom_fields(self.custom_field_data),
        })
    }
}

impl RawTag {
    fn convert(self) -> Result<ImportedTag, String> {
        let kind = ObjectKind::from_model(&self.object_kind).ok_or_else(|| {
            format!(
                "tag {}: unknown object kind {:?}",
                self.tag_id, self.object_kind
            )
        })?;

        Ok(ImportedTag {
            kind,
            object_id: self.object_id,
            tag: TagRow {
                id: self.tag_id,
                name: self.name,
                slug: self.slug,
                color: self.color,
            },
        })
    }
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text).map_err(|e| format!("invalid hex: {e}"))
}

fn timestamp(text: &str) -> Result<String, String> {
    time::normalize_timestamp(text).map_err(|e| e.to_string())
}

fn optional_timestamp(text: Option<&str>) -> Result<Option<String>, String> {
    text.map(timestamp).transpose()
}

/// Returns custom-field data as a JSON object, with a NULL column as `{}`.
fn custom_fields(value: Option<Value>) -> Value {
    match value {
        Some(Value::Null) | None => Value::Object(Default::default()),
        Some(value) => value,
    }
}
