//! Queries on `secrets`: encrypted values attached to a NetBox object, with the plugin's
//! ciphertext and hash formats stored unchanged.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::columns::{id_list, json, json_text};
use super::{time, StoreError};

/// One stored secret.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRow {
    pub id: i64,
    /// `"<app_label>.<model>"`, for example `"dcim.device"`.
    pub assigned_object_type: String,
    pub assigned_object_id: i64,
    /// Display string of the assigned object when the secret was last saved.
    pub object_repr: Option<String>,
    pub role_id: i64,
    pub name: String,
    /// IV followed by the AES-CFB8 ciphertext, empty for a secret saved without plaintext.
    pub ciphertext: Vec<u8>,
    /// Django `pbkdf2_sha256` hash of the plaintext, empty when `ciphertext` is.
    pub hash: String,
    pub description: String,
    pub comments: String,
    pub custom_fields: Value,
    pub created: Option<String>,
    pub last_updated: Option<String>,
}

impl SecretRow {
    /// Returns the display string: the name, or `Secret #<id>` when the name is empty.
    pub fn display(&self) -> String {
        display_name(&self.name, self.id)
    }
}

/// Values for a new secret.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub assigned_object_type: String,
    pub assigned_object_id: i64,
    pub object_repr: Option<String>,
    pub role_id: i64,
    pub name: String,
    pub ciphertext: Vec<u8>,
    pub hash: String,
    pub description: String,
    pub comments: String,
    pub custom_fields: Value,
}

/// A partial update: `None` keeps the stored value. `encrypted` replaces ciphertext and hash
/// together.
#[derive(Debug, Clone, Default)]
pub struct SecretChanges {
    pub assigned_object_type: Option<String>,
    pub assigned_object_id: Option<i64>,
    pub object_repr: Option<Option<String>>,
    pub role_id: Option<i64>,
    pub name: Option<String>,
    pub encrypted: Option<EncryptedValue>,
    pub description: Option<String>,
    pub comments: Option<String>,
    pub custom_fields: Option<Value>,
}

/// A new ciphertext with the hash of its plaintext.
#[derive(Debug, Clone)]
pub struct EncryptedValue {
    pub ciphertext: Vec<u8>,
    pub hash: String,
}

/// Returns the display string of a secret with this name and id.
pub fn display_name(name: &str, id: i64) -> String {
    if name.is_empty() {
        format!("Secret #{id}")
    } else {
        name.to_owned()
    }
}

const COLUMNS: &str =
    "secrets.id, assigned_object_type, assigned_object_id, object_repr, role_id, \
                       secrets.name, ciphertext, hash, secrets.description, secrets.comments, \
                       secrets.custom_fields, secrets.created, secrets.last_updated";

fn from_row(row: &Row<'_>) -> rusqlite::Result<SecretRow> {
    Ok(SecretRow {
        id: row.get(0)?,
        assigned_object_type: row.get(1)?,
        assigned_object_id: row.get(2)?,
        object_repr: row.get(3)?,
        role_id: row.get(4)?,
        name: row.get(5)?,
        ciphertext: row.get(6)?,
        hash: row.get(7)?,
        description: row.get(8)?,
        comments: row.get(9)?,
        custom_fields: json(row, 10)?,
        created: row.get(11)?,
        last_updated: row.get(12)?,
    })
}

/// Lists every secret in the plugin's default order: role name, secret name, id.
pub fn list(conn: &Connection) -> Result<Vec<SecretRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM secrets JOIN secret_roles ON secret_roles.id = secrets.role_id \
         ORDER BY secret_roles.name COLLATE natural_sort, secrets.name, secrets.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;

    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Lists the secrets with the given ids in default order. Unknown ids are skipped.
pub fn list_by_ids(conn: &Connection, ids: &[i64]) -> Result<Vec<SecretRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM secrets JOIN secret_roles ON secret_roles.id = secrets.role_id \
         WHERE secrets.id IN (SELECT value FROM json_each(?1)) \
         ORDER BY secret_roles.name COLLATE natural_sort, secrets.name, secrets.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;

    let rows = stmt.query_map([id_list(ids)], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Returns one secret.
pub fn get(conn: &Connection, id: i64) -> Result<Option<SecretRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM secrets WHERE secrets.id = ?1");

    let mut select = conn.prepare_cached(&sql)?;
    Ok(select.query_row([id], from_row).optional()?)
}

/// Counts all secrets.
pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM secrets", [], |row| row.get(0))?)
}

/// Returns `<display> (<id>)` for every secret whose role is one of `role_ids`, in id order.
pub fn list_display_by_roles(
    conn: &Connection,
    role_ids: &[i64],
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name FROM secrets WHERE role_id IN (SELECT value FROM json_each(?1)) ORDER BY id",
    )?;

    let rows = stmt.query_map([id_list(role_ids)], |row| {
        let id: i64 = row.get(0)?;
        let name: String = row.get(1)?;
        Ok(format!("{} ({id})", display_name(&name, id)))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a secret with both timestamps set to now. A second secret with the same object,
/// role and name fails with `Conflict`, an unknown role with `MissingReference`.
pub fn insert(conn: &Connection, secret: &NewSecret) -> Result<SecretRow, StoreError> {
    conn.execute(
        "INSERT INTO secrets (assigned_object_type, assigned_object_id, object_repr, role_id, name, \
                              ciphertext, hash, description, comments, custom_fields, \
                              created, last_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        params![
            secret.assigned_object_type,
            secret.assigned_object_id,
            secret.object_repr,
            secret.role_id,
            secret.name,
            secret.ciphertext,
            secret.hash,
            secret.description,
            secret.comments,
            json_text(&secret.custom_fields),
            time::now(),
        ],
    )?;

    get(conn, conn.last_insert_rowid())?.ok_or(StoreError::NotFound)
}

/// Applies a partial update and bumps `last_updated`.
pub fn update(
    conn: &Connection,
    id: i64,
    changes: &SecretChanges,
) -> Result<SecretRow, StoreError> {
    let current = get(conn, id)?.ok_or(StoreError::NotFound)?;
    let merged = merge(current, changes);

    conn.execute(
        "UPDATE secrets SET assigned_object_type = ?2, assigned_object_id = ?3, object_repr = ?4, \
                            role_id = ?5, name = ?6, ciphertext = ?7, hash = ?8, \
                            description = ?9, comments = ?10, custom_fields = ?11, \
                            last_updated = ?12 \
         WHERE id = ?1",
        params![
            id,
            merged.assigned_object_type,
            merged.assigned_object_id,
            merged.object_repr,
            merged.role_id,
            merged.name,
            merged.ciphertext,
            merged.hash,
            merged.description,
            merged.comments,
            json_text(&merged.custom_fields),
            time::now(),
        ],
    )?;

    get(conn, id)?.ok_or(StoreError::NotFound)
}

fn merge(mut row: SecretRow, changes: &SecretChanges) -> SecretRow {
    fn set<T: Clone>(field: &mut T, value: &Option<T>) {
        if let Some(value) = value {
            *field = value.clone();
        }
    }

    set(&mut row.assigned_object_type, &changes.assigned_object_type);
    set(&mut row.assigned_object_id, &changes.assigned_object_id);
    set(&mut row.object_repr, &changes.object_repr);
    set(&mut row.role_id, &changes.role_id);
    set(&mut row.name, &changes.name);
    set(&mut row.description, &changes.description);
    set(&mut row.comments, &changes.comments);
    set(&mut row.custom_fields, &changes.custom_fields);

    if let Some(encrypted) = &changes.encrypted {
        row.ciphertext = encrypted.ciphertext.clone();
        row.hash = encrypted.hash.clone();
    }
    row
}

/// Deletes a secret and its tags.
pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    match conn.execute("DELETE FROM secrets WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::secret_roles::{self, tests::new_role};
    use crate::store::tags::{self, ObjectKind, TagRow};
    use crate::store::testing;
    use serde_json::json;

    pub(crate) fn new_secret(device_id: i64, role_id: i64, name: &str) -> NewSecret {
        NewSecret {
            assigned_object_type: "dcim.device".to_owned(),
            assigned_object_id: device_id,
            object_repr: Some(format!("device{device_id}")),
            role_id,
            name: name.to_owned(),
            ciphertext: vec![0x10, 0x11, 0x00, 0xff],
            hash: "pbkdf2_sha256$1000$salt$hash".to_owned(),
            description: String::new(),
            comments: String::new(),
            custom_fields: json!({}),
        }
    }

    fn role(conn: &Connection, name: &str) -> i64 {
        secret_roles::insert(conn, &new_role(name, None))
            .unwrap()
            .id
    }

    #[test]
    fn insert_reads_back_bytes() {
        let (_dir, conn) = testing::connection();
        let role_id = role(&conn, "Login");

        let row = insert(&conn, &new_secret(12, role_id, "admin")).unwrap();

        assert_eq!(row.ciphertext, [0x10, 0x11, 0x00, 0xff]);
        assert_eq!(row.hash, "pbkdf2_sha256$1000$salt$hash");
        assert_eq!(row.object_repr.as_deref(), Some("device12"));
        assert_eq!(row.display(), "admin");
        assert_eq!(get(&conn, row.id).unwrap(), Some(row));
    }

    #[test]
    fn duplicate_secret_conflicts() {
        let (_dir, conn) = testing::connection();
        let role_id = role(&conn, "Login");
        insert(&conn, &new_secret(12, role_id, "")).unwrap();

        let error = insert(&conn, &new_secret(12, role_id, "")).unwrap_err();

        let expected = "secrets.assigned_object_type, secrets.assigned_object_id, \
                        secrets.role_id, secrets.name";
        assert!(
            matches!(error, StoreError::Conflict(ref c) if c == expected),
            "{error:?}"
        );
        assert!(insert(&conn, &new_secret(13, role_id, "")).is_ok());
    }

    #[test]
    fn negative_object_id_is_rejected() {
        let (_dir, conn) = testing::connection();
        let role_id = role(&conn, "Login");

        let error = insert(&conn, &new_secret(-1, role_id, "x")).unwrap_err();

        assert!(matches!(error, StoreError::Sqlite(_)));
    }

    #[test]
    fn unknown_role_is_missing_reference() {
        let (_dir, conn) = testing::connection();

        let error = insert(&conn, &new_secret(1, 77, "x")).unwrap_err();

        assert!(matches!(error, StoreError::MissingReference));
    }

    #[test]
    fn list_orders_by_role_name_then_name() {
        let (_dir, conn) = testing::connection();
        let zeta = role(&conn, "Zeta");
        let alpha = role(&conn, "alpha");
        let c = insert(&conn, &new_secret(1, zeta, "a")).unwrap().id;
        let b = insert(&conn, &new_secret(1, alpha, "b")).unwrap().id;
        let a = insert(&conn, &new_secret(2, alpha, "a")).unwrap().id;

        let ids: Vec<_> = list(&conn).unwrap().into_iter().map(|s| s.id).collect();
        let some: Vec<_> = list_by_ids(&conn, &[c, a])
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();

        assert_eq!(ids, [a, b, c]);
        assert_eq!(some, [a, c]);
        assert_eq!(count(&conn).unwrap(), 3);
    }

    #[test]
    fn update_without_value_keeps_ciphertext() {
        let (_dir, conn) = testing::connection();
        let role_id = role(&conn, "Login");
        let row = insert(&conn, &new_secret(1, role_id, "admin")).unwrap();
        let changes = SecretChanges {
            name: Some("root".to_owned()),
            object_repr: Some(None),
            ..Default::default()
        };

        let updated = update(&conn, row.id, &changes).unwrap();

        assert_eq!(updated.name, "root");
        assert_eq!(updated.object_repr, None);
        assert_eq!(updated.ciphertext, row.ciphertext);
        assert_eq!(updated.hash, row.hash);
        assert_eq!(updated.created, row.created);
    }

    #[test]
    fn update_with_value_replaces_ciphertext() {
        let (_dir, conn) = testing::connection();
        let role_id = role(&conn, "Login");
        let row = insert(&conn, &new_secret(1, role_id, "admin")).unwrap();
        let changes = SecretChanges {
            encrypted: Some(EncryptedValue {
                ciphertext: vec![1, 2, 3],
                hash: "new".to_owned(),
            }),
            ..Default::default()
        };

        let updated = update(&conn, row.id, &changes).unwrap();

        assert_eq!(updated.ciphertext, [1, 2, 3]);
        assert_eq!(updated.hash, "new");
        assert_eq!(updated.name, "admin");
        assert!(matches!(
            update(&conn, 999, &changes),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn delete_removes_tags() {
        let (_dir, conn) = testing::connection();
        let role_id = role(&conn, "Login");
        let row = insert(&conn, &new_secret(1, role_id, "admin")).unwrap();
        let tag = TagRow {
            id: 4,
            name: "Prod".to_owned(),
            slug: "prod".to_owned(),
            color: "ff0000".to_owned(),
        };
        tags::set(&conn, ObjectKind::Secret, row.id, &[tag]).unwrap();

        delete(&conn, row.id).unwrap();

        assert_eq!(get(&conn, row.id).unwrap(), None);
        assert!(tags::get(&conn, ObjectKind::Secret, row.id)
            .unwrap()
            .is_empty());
        assert!(matches!(delete(&conn, row.id), Err(StoreError::NotFound)));
    }

    #[test]
    fn deleted_id_is_not_reused() {
        let (_dir, conn) = testing::connection();
        let role_id = role(&conn, "Login");
        let first = insert(&conn, &new_secret(1, role_id, "a")).unwrap();

        delete(&conn, first.id).unwrap();
        let second = insert(&conn, &new_secret(1, role_id, "a")).unwrap();

        assert!(second.id > first.id);
    }
}
