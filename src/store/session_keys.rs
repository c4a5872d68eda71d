//! Queries on `session_keys`: at most one per user key, holding the session key XOR the
//! master key and a hash to check a presented session key against.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{time, StoreError};

/// One stored session key.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionKeyRow {
    pub id: i64,
    pub userkey_id: i64,
    /// Session key XOR master key (32 bytes for rows this proxy writes).
    pub cipher: Vec<u8>,
    pub hash: String,
    pub created: String,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<SessionKeyRow> {
    Ok(SessionKeyRow {
        id: row.get(0)?,
        userkey_id: row.get(1)?,
        cipher: row.get(2)?,
        hash: row.get(3)?,
        created: row.get(4)?,
    })
}

/// Returns the session key of a user key.
pub fn get_by_userkey(
    conn: &Connection,
    userkey_id: i64,
) -> Result<Option<SessionKeyRow>, StoreError> {
    let sql =
        "SELECT id, userkey_id, cipher, hash, created FROM session_keys WHERE userkey_id = ?1";

    let mut select = conn.prepare_cached(sql)?;
    Ok(select.query_row([userkey_id], from_row).optional()?)
}

/// Deletes any session key of the user key and inserts a new one. Run it inside a write
/// transaction so the swap is atomic. A missing user key fails with `MissingReference`.
pub fn replace(
    conn: &Connection,
    userkey_id: i64,
    cipher: &[u8],
    hash: &str,
) -> Result<SessionKeyRow, StoreError> {
    delete_by_userkey(conn, userkey_id)?;

    let mut insert = conn.prepare_cached(
        "INSERT INTO session_keys (userkey_id, cipher, hash, created) VALUES (?1, ?2, ?3, ?4) \
         RETURNING id, userkey_id, cipher, hash, created",
    )?;
    Ok(insert.query_row(params![userkey_id, cipher, hash, time::now()], from_row)?)
}

/// Deletes the session key of a user key. Returns whether there was one.
pub fn delete_by_userkey(conn: &Connection, userkey_id: i64) -> Result<bool, StoreError> {
    let mut delete = conn.prepare_cached("DELETE FROM session_keys WHERE userkey_id = ?1")?;
    let deleted = delete.execute([userkey_id])?;

    Ok(deleted > 0)
}

/// Replaces the stored hash of a session key, keeping its cipher. Used to swap an imported
/// Django hash for the fast form once it has verified.
pub fn set_hash(conn: &Connection, id: i64, hash: &str) -> Result<(), StoreError> {
    match conn.execute(
        "UPDATE session_keys SET hash = ?2 WHERE id = ?1",
        params![id, hash],
    )? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;
    use crate::store::user_keys::{self, tests::new_key};

    #[test]
    fn set_hash_keeps_the_cipher() {
        let (_dir, conn) = testing::connection();
        let key = user_keys::insert(&conn, &new_key(1, "alice")).unwrap();
        let row = replace(&conn, key.id, &[7; 32], "old").unwrap();

        set_hash(&conn, row.id, "new").unwrap();
        let stored = get_by_userkey(&conn, key.id).unwrap().unwrap();

        assert_eq!(stored.hash, "new");
        assert_eq!(stored.cipher, vec![7; 32]);
        assert!(matches!(
            set_hash(&conn, row.id + 1, "x"),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn replace_swaps_the_row() {
        let (_dir, conn) = testing::connection();
        let key = user_keys::insert(&conn, &new_key(1, "alice")).unwrap();

        let first = replace(&conn, key.id, &[1; 32], "first").unwrap();
        let second = replace(&conn, key.id, &[2; 32], "second").unwrap();

        assert_ne!(first.id, second.id);
        assert_eq!(second.cipher, vec![2; 32]);
        assert_eq!(second.hash, "second");
        assert_eq!(get_by_userkey(&conn, key.id).unwrap(), Some(second));
    }

    #[test]
    fn delete_reports_whether_a_row_existed() {
        let (_dir, conn) = testing::connection();
        let key = user_keys::insert(&conn, &new_key(1, "alice")).unwrap();
        replace(&conn, key.id, &[1; 32], "h").unwrap();

        assert!(delete_by_userkey(&conn, key.id).unwrap());
        assert!(!delete_by_userkey(&conn, key.id).unwrap());
    }

    #[test]
    fn replace_for_missing_user_key_fails() {
        let (_dir, conn) = testing::connection();

        let error = replace(&conn, 42, &[1; 32], "h").unwrap_err();

        assert!(matches!(error, StoreError::MissingReference));
    }
}
