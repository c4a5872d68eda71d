//! Queries on `user_keys`: one RSA public key per NetBox user, plus that user's RSA-encrypted
//! copy of the master key while the key is active.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::columns::{id_list, json, json_text};
use super::{time, StoreError};

/// One stored user key. `username` and `user_display` are copies of the NetBox user as seen
/// at the last authenticated write, because users themselves live in NetBox.
#[derive(Debug, Clone, PartialEq)]
pub struct UserKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub user_display: String,
    pub public_key: String,
    /// RSA-OAEP copy of the master key, `None` while the key is inactive.
    pub master_key_cipher: Option<Vec<u8>>,
    pub custom_fields: Value,
    pub created: Option<String>,
    pub last_updated: Option<String>,
}

impl UserKeyRow {
    /// Returns true when the key has a master-key copy.
    pub fn is_active(&self) -> bool {
        self.master_key_cipher.is_some()
    }
}

/// Values for a new user key.
#[derive(Debug, Clone)]
pub struct NewUserKey {
    pub user_id: i64,
    pub username: String,
    pub user_display: String,
    pub public_key: String,
    pub master_key_cipher: Option<Vec<u8>>,
    pub custom_fields: Value,
}

/// Returns NetBox's display string for a user: `username`, or `username (First Last)` when
/// the user has a first or last name.
pub fn display_for_user(username: &str, first_name: &str, last_name: &str) -> String {
    let full_name = format!("{first_name} {last_name}");
    let full_name = full_name.trim();

    if full_name.is_empty() {
        username.to_owned()
    } else {
        format!("{username} ({full_name})")
    }
}

const COLUMNS: &str = "id, user_id, username, user_display, public_key, master_key_cipher, \
                       custom_fields, created, last_updated";

fn from_row(row: &Row<'_>) -> rusqlite::Result<UserKeyRow> {
    Ok(UserKeyRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        username: row.get(2)?,
        user_display: row.get(3)?,
        public_key: row.get(4)?,
        master_key_cipher: row.get(5)?,
        custom_fields: json(row, 6)?,
        created: row.get(7)?,
        last_updated: row.get(8)?,
    })
}

/// Lists every user key, ordered by username as the plugin does.
pub fn list(conn: &Connection) -> Result<Vec<UserKeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM user_keys ORDER BY username, id");
    let mut stmt = conn.prepare_cached(&sql)?;

    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Lists the user keys with the given ids, ordered by username. Unknown ids are skipped.
pub fn list_by_ids(conn: &Connection, ids: &[i64]) -> Result<Vec<UserKeyRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM user_keys \
         WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY username, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;

    let rows = stmt.query_map([id_list(ids)], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Returns the user key with this id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<UserKeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM user_keys WHERE id = ?1");

    let mut select = conn.prepare_cached(&sql)?;
    Ok(select.query_row([id], from_row).optional()?)
}

/// Returns the key of the NetBox user with this id.
pub fn get_by_user_id(conn: &Connection, user_id: i64) -> Result<Option<UserKeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM user_keys WHERE user_id = ?1");

    let mut select = conn.prepare_cached(&sql)?;
    Ok(select.query_row([user_id], from_row).optional()?)
}

/// Inserts a user key with both timestamps set to now. A second key for the same user fails
/// with `Conflict("user_keys.user_id")`.
pub fn insert(conn: &Connection, key: &NewUserKey) -> Result<UserKeyRow, StoreError> {
    let now = time::now();

    conn.execute(
        "INSERT INTO user_keys (user_id, username, user_display, public_key, master_key_cipher, \
                                custom_fields, created, last_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            key.user_id,
            key.username,
            key.user_display,
            key.public_key,
            key.master_key_cipher,
            json_text(&key.custom_fields),
            now,
        ],
    )?;

    get(conn, conn.last_insert_rowid())?.ok_or(StoreError::NotFound)
}

/// Replaces the public key. The old master-key copy was encrypted to the old key, so it is
/// dropped and the key becomes inactive. The user's session key is left in place.
pub fn update_public_key(conn: &Connection, id: i64, public_key: &str) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE user_keys SET public_key = ?2, master_key_cipher = NULL, last_updated = ?3 \
         WHERE id = ?1",
        params![id, public_key, time::now()],
    )?;

    expect_one(changed)
}

/// Replaces the custom-field data and bumps `last_updated`.
pub fn update_custom_fields(
    conn: &Connection,
    id: i64,
    custom_fields: &Value,
) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE user_keys SET custom_fields = ?2, last_updated = ?3 WHERE id = ?1",
        params![id, json_text(custom_fields), time::now()],
    )?;

    expect_one(changed)
}

/// Stores (or with `None` clears) the master-key copy and bumps `last_updated`.
pub fn set_master_key_cipher(
    conn: &Connection,
    id: i64,
    cipher: Option<&[u8]>,
) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE user_keys SET master_key_cipher = ?2, last_updated = ?3 WHERE id = ?1",
        params![id, cipher, time::now()],
    )?;

    expect_one(changed)
}

/// Refreshes the copy of the NetBox username and display string of a user's key, if the user
/// has one. Does not bump `last_updated`: the key itself did not change.
pub fn refresh_user(
    conn: &Connection,
    user_id: i64,
    username: &str,
    display: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE user_keys SET username = ?2, user_display = ?3 \
         WHERE user_id = ?1 AND (username <> ?2 OR user_display <> ?3)",
        params![user_id, username, display],
    )?;

    Ok(())
}

/// Deletes a user key; its session key and tags go with it.
pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    let changed = conn.execute("DELETE FROM user_keys WHERE id = ?1", [id])?;

    expect_one(changed)
}

/// Counts the keys that hold a master-key copy.
pub fn count_active(conn: &Connection) -> Result<i64, StoreError> {
    let sql = "SELECT COUNT(*) FROM user_keys WHERE master_key_cipher IS NOT NULL";

    Ok(conn.query_row(sql, [], |row| row.get(0))?)
}

fn expect_one(changed: usize) -> Result<(), StoreError> {
    match changed {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{session_keys, testing};
    use serde_json::json;

    pub(crate) fn new_key(user_id: i64, username: &str) -> NewUserKey {
        NewUserKey {
            user_id,
            username: username.to_owned(),
            user_display: username.to_owned(),
            public_key: format!("public key of {username}"),
            master_key_cipher: None,
            custom_fields: json!({}),
        }
    }

    #[test]
    fn insert_sets_timestamps_and_reads_back() {
        let (_dir, conn) = testing::connection();
        let mut key = new_key(7, "alice");
        key.master_key_cipher = Some(vec![0, 1, 2, 255]);
        key.custom_fields = json!({"team": "ops"});

        let row = insert(&conn, &key).unwrap();

        assert_eq!(row.user_id, 7);
        assert_eq!(row.master_key_cipher.as_deref(), Some(&[0, 1, 2, 255][..]));
        assert_eq!(row.custom_fields, json!({"team": "ops"}));
        assert!(row.created.is_some());
        assert_eq!(row.created, row.last_updated);
        assert_eq!(get_by_user_id(&conn, 7).unwrap(), Some(row));
    }

    #[test]
    fn display_includes_full_name() {
        assert_eq!(display_for_user("admin", "", ""), "admin");
        assert_eq!(
            display_for_user("alice", "Alice", "Liddell"),
            "alice (Alice Liddell)"
        );
        assert_eq!(display_for_user("bob", "", "Builder"), "bob (Builder)");
    }

    #[test]
    fn second_key_for_user_conflicts() {
        let (_dir, conn) = testing::connection();
        insert(&conn, &new_key(7, "alice")).unwrap();

        let error = insert(&conn, &new_key(7, "alice")).unwrap_err();

        assert!(matches!(error, StoreError::Conflict(ref c) if c == "user_keys.user_id"));
    }

    #[test]
    fn list_orders_by_username() {
        let (_dir, conn) = testing::connection();
        let carol = insert(&conn, &new_key(3, "carol")).unwrap();
        let alice = insert(&conn, &new_key(1, "alice")).unwrap();
        let bob = insert(&conn, &new_key(2, "bob")).unwrap();

        let names: Vec<_> = list(&conn)
            .unwrap()
            .into_iter()
            .map(|k| k.username)
            .collect();
        let picked: Vec<_> = list_by_ids(&conn, &[carol.id, alice.id, 999])
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();

        assert_eq!(names, ["alice", "bob", "carol"]);
        assert_eq!(picked, [alice.id, carol.id]);
        assert_ne!(bob.id, alice.id);
    }

    #[test]
    fn public_key_change_deactivates() {
        let (_dir, conn) = testing::connection();
        let key = insert(&conn, &new_key(1, "alice")).unwrap();
        set_master_key_cipher(&conn, key.id, Some(b"copy")).unwrap();
        assert_eq!(count_active(&conn).unwrap(), 1);

        update_public_key(&conn, key.id, "new key").unwrap();

        let row = get(&conn, key.id).unwrap().unwrap();
        assert_eq!(row.public_key, "new key");
        assert!(!row.is_active());
        assert_eq!(count_active(&conn).unwrap(), 0);
    }

    #[test]
    fn update_missing_key_is_not_found() {
        let (_dir, conn) = testing::connection();

        assert!(matches!(
            update_public_key(&conn, 5, "k"),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            set_master_key_cipher(&conn, 5, None),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(delete(&conn, 5), Err(StoreError::NotFound)));
    }

    #[test]
    fn refresh_user_updates_identity() {
        let (_dir, conn) = testing::connection();
        let key = insert(&conn, &new_key(1, "alice")).unwrap();

        refresh_user(&conn, 1, "alice2", "alice2 (Alice Liddell)").unwrap();

        let row = get(&conn, key.id).unwrap().unwrap();
        assert_eq!(row.username, "alice2");
        assert_eq!(row.user_display, "alice2 (Alice Liddell)");
        assert_eq!(row.last_updated, key.last_updated);
    }

    #[test]
    fn delete_cascades_to_session_key() {
        let (_dir, conn) = testing::connection();
        let key = insert(&conn, &new_key(1, "alice")).unwrap();
        session_keys::replace(&conn, key.id, &[9; 32], "hash").unwrap();

        delete(&conn, key.id).unwrap();

        assert_eq!(session_keys::get_by_userkey(&conn, key.id).unwrap(), None);
        let sessions: i64 = conn
            .query_row("SELECT COUNT(*) FROM session_keys", [], |row| row.get(0))
            .unwrap();
        assert_eq!(sessions, 0);
    }
}
