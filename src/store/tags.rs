//! Queries on `object_tags`: a snapshot of the NetBox tags assigned to each stored object.
//! Triggers delete an object's tags together with the object.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use super::columns::id_list;
use super::StoreError;

/// The kind of object a tag is attached to, stored as the plugin's model name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Secret,
    SecretRole,
    UserKey,
}

impl ObjectKind {
    /// Returns the model name stored in `object_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Secret => "secret",
            ObjectKind::SecretRole => "secretrole",
            ObjectKind::UserKey => "userkey",
        }
    }

    /// Parses a plugin model name (`secret`, `secretrole`, `userkey`).
    pub fn from_model(model: &str) -> Option<ObjectKind> {
        match model {
            "secret" => Some(ObjectKind::Secret),
            "secretrole" => Some(ObjectKind::SecretRole),
            "userkey" => Some(ObjectKind::UserKey),
            _ => None,
        }
    }
}

/// A NetBox tag as it was when assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// The tag's NetBox id.
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub color: String,
}

/// Replaces the tags of one object.
pub fn set(
    conn: &Connection,
    kind: ObjectKind,
    object_id: i64,
    tags: &[TagRow],
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM object_tags WHERE object_kind = ?1 AND object_id = ?2",
        params![kind.as_str(), object_id],
    )?;

    let mut insert = conn.prepare_cached(
        "INSERT INTO object_tags (object_kind, object_id, tag_id, name, slug, color) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for tag in tags {
        insert.execute(params![
            kind.as_str(),
            object_id,
            tag.id,
            tag.name,
            tag.slug,
            tag.color
        ])?;
    }

    Ok(())
}

/// Returns the tags of one object, ordered by name.
pub fn get(conn: &Connection, kind: ObjectKind, object_id: i64) -> Result<Vec<TagRow>, StoreError> {
    let mut by_object = get_many(conn, kind, &[object_id])?;

    Ok(by_object.remove(&object_id).unwrap_or_default())
}

/// Returns the tags of many objects in one query, keyed by object id and ordered by name.
/// Objects without tags are absent from the map.
pub fn get_many(
    conn: &Connection,
    kind: ObjectKind,
    object_ids: &[i64],
) -> Result<HashMap<i64, Vec<TagRow>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT object_id, tag_id, name, slug, color FROM object_tags \
         WHERE object_kind = ?1 AND object_id IN (SELECT value FROM json_each(?2)) \
         ORDER BY object_id, name COLLATE natural_sort, tag_id",
    )?;

    let rows = stmt.query_map(params![kind.as_str(), id_list(object_ids)], |row| {
        let tag = TagRow {
            id: row.get(1)?,
            name: row.get(2)?,
            slug: row.get(3)?,
            color: row.get(4)?,
        };
        Ok((row.get::<_, i64>(0)?, tag))
    })?;

    let mut by_object: HashMap<i64, Vec<TagRow>> = HashMap::new();
    for row in rows {
        let (object_id, tag) = row?;
        by_object.entry(object_id).or_default().push(tag);
    }
    Ok(by_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;
    use crate::store::user_keys::{self, tests::new_key};

    fn tag(id: i64, name: &str) -> TagRow {
        TagRow {
            id,
            name: name.to_owned(),
            slug: name.to_lowercase(),
            color: "aa1409".to_owned(),
        }
    }

    #[test]
    fn set_replaces_previous_tags() {
        let (_dir, conn) = testing::connection();

        set(&conn, ObjectKind::Secret, 1, &[tag(1, "Old")]).unwrap();
        set(
            &conn,
            ObjectKind::Secret,
            1,
            &[tag(3, "Zulu"), tag(2, "Alpha")],
        )
        .unwrap();

        assert_eq!(
            get(&conn, ObjectKind::Secret, 1).unwrap(),
            [tag(2, "Alpha"), tag(3, "Zulu")]
        );
    }

    #[test]
    fn get_many_groups_by_object_and_kind() {
        let (_dir, conn) = testing::connection();
        set(&conn, ObjectKind::Secret, 1, &[tag(1, "One")]).unwrap();
        set(
            &conn,
            ObjectKind::Secret,
            2,
            &[tag(1, "One"), tag(2, "Two")],
        )
        .unwrap();
        set(&conn, ObjectKind::SecretRole, 1, &[tag(9, "Role")]).unwrap();

        let map = get_many(&conn, ObjectKind::Secret, &[1, 2, 3]).unwrap();

        assert_eq!(map.len(), 2);
        assert_eq!(map[&1], [tag(1, "One")]);
        assert_eq!(map[&2], [tag(1, "One"), tag(2, "Two")]);
    }

    #[test]
    fn deleting_user_key_removes_its_tags() {
        let (_dir, conn) = testing::connection();
        let key = user_keys::insert(&conn, &new_key(1, "alice")).unwrap();
        set(&conn, ObjectKind::UserKey, key.id, &[tag(1, "One")]).unwrap();

        user_keys::delete(&conn, key.id).unwrap();

        assert!(get(&conn, ObjectKind::UserKey, key.id).unwrap().is_empty());
    }

    #[test]
    fn kind_round_trips_through_model_name() {
        for kind in [
            ObjectKind::Secret,
            ObjectKind::SecretRole,
            ObjectKind::UserKey,
        ] {
            assert_eq!(ObjectKind::from_model(kind.as_str()), Some(kind));
        }
        assert_eq!(ObjectKind::from_model("device"), None);
    }
}
