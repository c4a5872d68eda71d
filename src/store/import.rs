//! Import of a netbox-secrets plugin database (3.x schema) into an empty store.
//!
//! Ids, ciphertexts, master-key copies, session-key rows and hashes are copied byte for byte,
//! so existing private keys, session keys and secrets keep working. Timestamps are rewritten
//! in the store's UTC format. The input is the one-line JSON document that [`EXPORT_QUERY`],
//! saved as `export.sql`, prints when run against the NetBox PostgreSQL database:
//!
//! ```text
//! psql -At -d netbox -f export.sql > netbox-secrets-export.json
//! ```
//!
//! Run [`import`] inside one `Store::write` so the whole import commits or nothing does:
//!
//! ```no_run
//! # async fn run(store: netbox_secrets_proxy::store::Store, text: &str)
//! # -> Result<(), netbox_secrets_proxy::store::StoreError> {
//! use netbox_secrets_proxy::store::import;
//!
//! let export = import::PluginExport::from_json(text)?;
//! let summary = store.write(move |tx| import::import(tx, &export)).await?;
//! # Ok(()) }
//! ```

use rusqlite::{params, Connection};

use super::columns::json_text;
use super::secrets::SecretRow;
use super::session_keys::SessionKeyRow;
use super::user_keys::UserKeyRow;
use super::{secret_roles, StoreError};

pub use super::plugin_export::{ImportedRole, ImportedTag, PluginExport, EXPORT_QUERY};

/// Row counts of a finished import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub user_keys: usize,
    pub session_keys: usize,
    pub secret_roles: usize,
    pub secrets: usize,
    pub tags: usize,
}

/// Inserts an export into an empty store, keeping every id. Fails with `NotEmpty` when any
/// table already has rows, and with `InvalidExport` when a row references a missing row.
/// Run it inside a write transaction: on error nothing is kept.
pub fn import(conn: &Connection, export: &PluginExport) -> Result<ImportSummary, StoreError> {
    ensure_empty(conn)?;

    // Roles may reference parents that come later in the export, so the reference checks
    // wait for the explicit check below (the pragma ends with the transaction).
    conn.pragma_update(None, "defer_foreign_keys", true)?;

    insert_user_keys(conn, &export.user_keys)?;
    insert_session_keys(conn, &export.session_keys)?;
    insert_roles(conn, &export.secret_roles)?;
    insert_secrets(conn, &export.secrets)?;
    insert_tags(conn, &export.tags)?;

    check_references(conn)?;
    check_role_tree(conn, export.secret_roles.len())?;

    Ok(ImportSummary {
        user_keys: export.user_keys.len(),
        session_keys: export.session_keys.len(),
        secret_roles: export.secret_roles.len(),
        secrets: export.secrets.len(),
        tags: export.tags.len(),
    })
}

fn ensure_empty(conn: &Connection) -> Result<(), StoreError> {
    let rows: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM user_keys) + (SELECT COUNT(*) FROM session_keys) \
              + (SELECT COUNT(*) FROM secret_roles) + (SELECT COUNT(*) FROM secrets) \
              + (SELECT COUNT(*) FROM object_tags)",
        [],
        |row| row.get(0),
    )?;

    match rows {
        0 => Ok(()),
        _ => Err(StoreError::NotEmpty),
    }
}

fn insert_user_keys(conn: &Connection, keys: &[UserKeyRow]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "INSERT INTO user_keys (id, user_id, username, user_display, public_key, \
                                master_key_cipher, custom_fields, created, last_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;

    for k in keys {
        stmt.execute(params![
            k.id,
            k.user_id,
            k.username,
            k.user_display,
            k.public_key,
            k.master_key_cipher,
            json_text(&k.custom_fields),
            k.created,
            k.last_updated,
        ])?;
    }
    Ok(())
}

fn insert_session_keys(conn: &Connection, keys: &[SessionKeyRow]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "INSERT INTO session_keys (id, userkey_id, cipher, hash, created) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;

    for k in keys {
        stmt.execute(params![k.id, k.userkey_id, k.cipher, k.hash, k.created])?;
    }
    Ok(())
}

fn insert_roles(conn: &Connection, roles: &[ImportedRole]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "INSERT INTO secret_roles (id, name, slug, parent_id, description, comments, \
                                   custom_fields, created, last_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;

    for r in roles {
        stmt.execute(params![
            r.id,
            r.name,
            r.slug,
            r.parent_id,
            r.description,
            r.comments,
            json_text(&r.custom_fields),
            r.created,
            r.last_updated,
        ])?;
    }
    Ok(())
}

fn insert_secrets(conn: &Connection, secrets: &[SecretRow]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "INSERT INTO secrets (id, assigned_object_type, assigned_object_id, object_repr, role_id, \
                              name, ciphertext, hash, description, comments, custom_fields, \
                              created, last_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;

    for s in secrets {
        stmt.execute(params![
            s.id,
            s.assigned_object_type,
            s.assigned_object_id,
            s.object_repr,
            s.role_id,
            s.name,
            s.ciphertext,
            s.hash,
            s.description,
            s.comments,
            json_text(&s.custom_fields),
            s.created,
            s.last_updated,
        ])?;
    }
    Ok(())
}

fn insert_tags(conn: &Connection, tags: &[ImportedTag]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "INSERT INTO object_tags (object_kind, object_id, tag_id, name, slug, color) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;

    for t in tags {
        let tag = &t.tag;
        stmt.execute(params![
            t.kind.as_str(),
            t.object_id,
            tag.id,
            tag.name,
            tag.slug,
            tag.color
        ])?;
    }
    Ok(())
}

/// Reports the first row that references a missing row, as `PRAGMA foreign_key_check` finds.
fn check_references(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;

    match rows.next()? {
        Some(row) => {
            let table: String = row.get(0)?;
            let id: Option<i64> = row.get(1)?;
            let parent: String = row.get(2)?;
            let id = id.map_or_else(|| "?".to_owned(), |id| id.to_string());
            Err(StoreError::InvalidExport(format!(
                "{table} row {id} references a missing {parent} row"
            )))
        }
        None => Ok(()),
    }
}

/// Rejects role parents that form a cycle: such roles are unreachable from any root.
fn check_role_tree(conn: &Connection, role_count: usize) -> Result<(), StoreError> {
    if secret_roles::list(conn)?.len() != role_count {
        return Err(StoreError::InvalidExport(
            "secret-role parents form a cycle".to_owned(),
        ));
    }

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{secrets, session_keys, tags, testing, user_keys};
    use serde_json::{json, Value};

    const VECTORS: &str = include_str!("../../tests/fixtures/vectors/plugin-3.1.2-rows.json");

    /// Builds an export as `EXPORT_QUERY` prints it, from the rows the plugin wrote.
    fn export_document() -> Value {
        let vectors: Value = serde_json::from_str(VECTORS).unwrap();
        let session = &vectors["session_key"];

        let secrets: Vec<Value> = vectors["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({
                    "id": 100 + i, "assigned_object_type": "dcim.device",
                    "assigned_object_id": 1 + i, "object_repr": format!("router{}", 1 + i),
                    "role_id": if i % 2 == 0 { 5 } else { 3 }, "name": format!("secret {i}"),
                    "ciphertext": s["ciphertext_hex"], "hash": s["hash"],
                    "description": "", "comments": "", "custom_field_data": {},
                    "created": "2026-07-23T17:47:00.123456+02:00",
                    "last_updated": "2026-07-23T15:47:00+00:00"
                })
            })
            .collect();

        json!({
            "user_keys": [{
                "id": 4, "user_id": 1, "username": "admin", "first_name": "Ada",
                "last_name": "Admin", "public_key": vectors["user_key_public_key"],
                "master_key_cipher": vectors["master_key_cipher_hex"],
                "created": "2026-07-23T15:47:00.5+00:00", "last_updated": null,
                "custom_field_data": {"team": "ops"}
            }, {
                "id": 6, "user_id": 2, "username": "bob", "first_name": "", "last_name": "",
                "public_key": vectors["user_key_public_key"], "master_key_cipher": null,
                "created": null, "last_updated": null, "custom_field_data": {}
            }],
            "session_keys": [{
                "id": 9, "userkey_id": 4, "cipher": session["cipher_hex"],
                "hash": session["hash"], "created": "2026-07-23T15:50:01.000001+00:00"
            }],
            "secret_roles": [{
                "id": 5, "name": "Login", "slug": "login", "parent_id": 3,
                "description": "", "comments": "", "custom_field_data": {},
                "created": null, "last_updated": null
            }, {
                "id": 3, "name": "Credentials", "slug": "credentials", "parent_id": null,
                "description": "top", "comments": "", "custom_field_data": null,
                "created": "2026-07-23T15:47:00+00:00", "last_updated": "2026-07-23T15:47:00+00:00"
            }],
            "secrets": secrets,
            "tags": [{
                "object_kind": "secret", "object_id": 100, "tag_id": 2,
                "name": "Prod", "slug": "prod", "color": "f44336"
            }]
        })
    }

    fn parse(document: &Value) -> PluginExport {
        PluginExport::from_json(&document.to_string()).unwrap()
    }

    /// Runs the import in one transaction, as `Store::write` does, and commits on success.
    fn import_committed(
        conn: &Connection,
        export: &PluginExport,
    ) -> Result<ImportSummary, StoreError> {
        let tx = conn.unchecked_transaction()?;
        let summary = import(&tx, export)?;
        tx.commit()?;
        Ok(summary)
    }

    #[test]
    fn import_keeps_bytes_identical() {
        let (_dir, conn) = testing::connection();
        let vectors: Value = serde_json::from_str(VECTORS).unwrap();

        let summary = import_committed(&conn, &parse(&export_document())).unwrap();

        assert_eq!(summary.user_keys, 2);
        assert_eq!(
            summary.secrets,
            vectors["secrets"].as_array().unwrap().len()
        );

        let key = user_keys::get(&conn, 4).unwrap().unwrap();
        let expected_cipher = hex::decode(vectors["master_key_cipher_hex"].as_str().unwrap());
        assert_eq!(key.master_key_cipher, Some(expected_cipher.unwrap()));
        assert_eq!(
            key.public_key,
            vectors["user_key_public_key"].as_str().unwrap()
        );
        assert_eq!(key.user_display, "admin (Ada Admin)");
        assert_eq!(key.custom_fields, json!({"team": "ops"}));

        let session = session_keys::get_by_userkey(&conn, 4).unwrap().unwrap();
        let expected_session = hex::decode(vectors["session_key"]["cipher_hex"].as_str().unwrap());
        assert_eq!(session.id, 9);
        assert_eq!(session.cipher, expected_session.unwrap());
        assert_eq!(
            session.hash,
            vectors["session_key"]["hash"].as_str().unwrap()
        );

        for (i, vector) in vectors["secrets"].as_array().unwrap().iter().enumerate() {
            let row = secrets::get(&conn, 100 + i as i64).unwrap().unwrap();
            let expected = hex::decode(vector["ciphertext_hex"].as_str().unwrap()).unwrap();
            assert_eq!(row.ciphertext, expected, "secret {i}");
            assert_eq!(row.hash, vector["hash"].as_str().unwrap(), "secret {i}");
        }
    }

    #[test]
    fn import_normalizes_timestamps_and_tree() {
        let (_dir, conn) = testing::connection();

        import_committed(&conn, &parse(&export_document())).unwrap();

        let secret = secrets::get(&conn, 100).unwrap().unwrap();
        assert_eq!(
            secret.created.as_deref(),
            Some("2026-07-23T15:47:00.123456Z")
        );
        assert_eq!(secret.last_updated.as_deref(), Some("2026-07-23T15:47:00Z"));

        let session = session_keys::get_by_userkey(&conn, 4).unwrap().unwrap();
        assert_eq!(session.created, "2026-07-23T15:50:01.000001Z");

        let roles = secret_roles::list(&conn).unwrap();
        let order: Vec<_> = roles
            .iter()
            .map(|r| (r.id, r.depth, r.secret_count))
            .collect();
        assert_eq!(order, [(3, 0, 11), (5, 1, 6)]);
        assert_eq!(roles[0].custom_fields, json!({}));

        let tagged = tags::get(&conn, tags::ObjectKind::Secret, 100).unwrap();
        assert_eq!(tagged[0].slug, "prod");
    }

    #[test]
    fn new_rows_follow_imported_ids() {
        let (_dir, conn) = testing::connection();
        import_committed(&conn, &parse(&export_document())).unwrap();

        let secret = secrets::insert(&conn, &secrets::tests::new_secret(500, 3, "new")).unwrap();
        let key = user_keys::insert(&conn, &user_keys::tests::new_key(50, "carol")).unwrap();

        assert_eq!(secret.id, 111);
        assert_eq!(key.id, 7);
    }

    #[test]
    fn import_rejects_non_empty_store() {
        let (_dir, conn) = testing::connection();
        let role = secret_roles::tests::new_role("Existing", None);
        secret_roles::insert(&conn, &role).unwrap();

        let error = import_committed(&conn, &parse(&export_document())).unwrap_err();

        assert!(matches!(error, StoreError::NotEmpty));
        assert!(user_keys::list(&conn).unwrap().is_empty());
    }

    #[test]
    fn import_rejects_missing_reference() {
        let (_dir, conn) = testing::connection();
        let mut document = export_document();
        document["secrets"][0]["role_id"] = json!(77);

        let error = import_committed(&conn, &parse(&document)).unwrap_err();

        assert!(
            matches!(error, StoreError::InvalidExport(ref m) if m.contains("secrets row 100")),
            "{error:?}"
        );
        assert!(user_keys::list(&conn).unwrap().is_empty());
        assert!(secrets::list(&conn).unwrap().is_empty());
    }

    #[test]
    fn import_rejects_role_cycle() {
        let (_dir, conn) = testing::connection();
        let mut document = export_document();
        document["secret_roles"][1]["parent_id"] = json!(5);

        let error = import_committed(&conn, &parse(&document)).unwrap_err();

        assert!(matches!(error, StoreError::InvalidExport(ref m) if m.contains("cycle")));
    }

    #[test]
    fn parse_reports_bad_fields() {
        let mut bad_hex = export_document();
        bad_hex["secrets"][2]["ciphertext"] = json!("zz");
        let mut bad_time = export_document();
        bad_time["user_keys"][0]["created"] = json!("yesterday");
        let mut bad_kind = export_document();
        bad_kind["tags"][0]["object_kind"] = json!("device");

        let cases = [
            (bad_hex, "secret 102"),
            (bad_time, "user key 4"),
            (bad_kind, "unknown object kind"),
            (json!({"user_keys": []}), "missing field"),
        ];

        for (document, expected) in cases {
            let error = PluginExport::from_json(&document.to_string()).unwrap_err();
            assert!(
                matches!(error, StoreError::InvalidExport(ref m) if m.contains(expected)),
                "expected {expected:?}, got {error:?}"
            );
        }
    }

    #[test]
    fn export_query_names_every_table() {
        for table in [
            "netbox_secrets_userkey",
            "netbox_secrets_sessionkey",
            "netbox_secrets_secretrole",
            "netbox_secrets_secret",
            "extras_taggeditem",
        ] {
            assert!(EXPORT_QUERY.contains(table), "{table}");
        }
    }
}
