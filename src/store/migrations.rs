//! Versioned schema migrations, compiled into the binary and tracked with
//! `PRAGMA user_version`. Version N means the first N migrations have been applied.

use rusqlite::Connection;

use super::StoreError;

/// The schema, one entry per version. Append new migrations and never edit a released one.
const MIGRATIONS: &[&str] = &[SCHEMA_V1];

/// The initial schema. Stored formats match the netbox-secrets plugin's tables so that its
/// rows import unchanged: byte columns are BLOB, JSON is TEXT, timestamps are UTC TEXT.
/// AUTOINCREMENT keeps ids of deleted rows from being handed out again, as PostgreSQL
/// sequences do, so an old API URL never names a different object.
const SCHEMA_V1: &str = r#"
CREATE TABLE user_keys (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL UNIQUE,
    username          TEXT NOT NULL,
    user_display      TEXT NOT NULL,
    public_key        TEXT NOT NULL,
    master_key_cipher BLOB NULL,
    custom_fields     TEXT NOT NULL DEFAULT '{}',
    created           TEXT NULL,
    last_updated      TEXT NULL
);

CREATE TABLE session_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    userkey_id INTEGER NOT NULL UNIQUE REFERENCES user_keys(id) ON DELETE CASCADE,
    cipher     BLOB NOT NULL,
    hash       TEXT NOT NULL,
    created    TEXT NOT NULL
);

CREATE TABLE secret_roles (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    slug          TEXT NOT NULL UNIQUE,
    parent_id     INTEGER NULL REFERENCES secret_roles(id) ON DELETE CASCADE,
    description   TEXT NOT NULL DEFAULT '',
    comments      TEXT NOT NULL DEFAULT '',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    created       TEXT NULL,
    last_updated  TEXT NULL
);

CREATE INDEX secret_roles_parent ON secret_roles(parent_id);

CREATE TABLE secrets (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    assigned_object_type TEXT NOT NULL,
    assigned_object_id   INTEGER NOT NULL CHECK (assigned_object_id >= 0),
    object_repr          TEXT NULL,
    role_id              INTEGER NOT NULL REFERENCES secret_roles(id) ON DELETE RESTRICT,
    name                 TEXT NOT NULL DEFAULT '',
    ciphertext           BLOB NOT NULL,
    hash                 TEXT NOT NULL,
    description          TEXT NOT NULL DEFAULT '',
    comments             TEXT NOT NULL DEFAULT '',
    custom_fields        TEXT NOT NULL DEFAULT '{}',
    created              TEXT NULL,
    last_updated         TEXT NULL,
    UNIQUE (assigned_object_type, assigned_object_id, role_id, name)
);

CREATE INDEX secrets_assigned_object ON secrets(assigned_object_type, assigned_object_id);
CREATE INDEX secrets_role ON secrets(role_id);

CREATE TABLE object_tags (
    object_kind TEXT NOT NULL CHECK (object_kind IN ('secret', 'secretrole', 'userkey')),
    object_id   INTEGER NOT NULL,
    tag_id      INTEGER NOT NULL,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    color       TEXT NOT NULL,
    PRIMARY KEY (object_kind, object_id, tag_id)
) WITHOUT ROWID;

CREATE TRIGGER secrets_delete_tags AFTER DELETE ON secrets BEGIN
    DELETE FROM object_tags WHERE object_kind = 'secret' AND object_id = OLD.id;
END;

CREATE TRIGGER secret_roles_delete_tags AFTER DELETE ON secret_roles BEGIN
    DELETE FROM object_tags WHERE object_kind = 'secretrole' AND object_id = OLD.id;
END;

CREATE TRIGGER user_keys_delete_tags AFTER DELETE ON user_keys BEGIN
    DELETE FROM object_tags WHERE object_kind = 'userkey' AND object_id = OLD.id;
END;
"#;

/// The schema version this binary writes.
pub fn latest_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).expect("the migration list is far shorter than u32::MAX")
}

/// Brings the database up to [`latest_version`], one transaction per migration. Rejects a
/// database whose version is newer than this binary supports.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = current_version(conn)?;
    let supported = latest_version();
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }

    for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
        apply(conn, version, sql).map_err(|source| StoreError::Migration { version, source })?;
        tracing::info!(version, "applied store schema migration");
    }

    Ok(())
}

/// Reads `PRAGMA user_version`.
pub fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;

    Ok(u32::try_from(version).unwrap_or(u32::MAX))
}

fn apply(conn: &mut Connection, version: u32, sql: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;

    tx.execute_batch(sql)?;
    tx.pragma_update(None, "user_version", version)?;

    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_names(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_schema \
                 WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        let rows = stmt.query_map([], |row| row.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn migrate_from_zero_creates_tables() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db.sqlite3")).unwrap();

        migrate(&mut conn).unwrap();

        assert_eq!(current_version(&conn).unwrap(), latest_version());
        assert_eq!(
            table_names(&conn),
            [
                "object_tags",
                "secret_roles",
                "secrets",
                "session_keys",
                "user_keys"
            ]
        );
    }

    #[test]
    fn migrate_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO secret_roles (name, slug) VALUES ('a', 'a')",
            [],
        )
        .unwrap();
        drop(conn);

        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();

        let roles: i64 = conn
            .query_row("SELECT COUNT(*) FROM secret_roles", [], |row| row.get(0))
            .unwrap();
        assert_eq!(roles, 1);
        assert_eq!(current_version(&conn).unwrap(), latest_version());
    }

    #[test]
    fn migrate_rejects_newer_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db.sqlite3")).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();

        let error = migrate(&mut conn).unwrap_err();

        assert!(matches!(
            error,
            StoreError::SchemaTooNew { found, supported }
                if found == latest_version() + 1 && supported == latest_version()
        ));
        assert!(table_names(&conn).is_empty());
    }
}
