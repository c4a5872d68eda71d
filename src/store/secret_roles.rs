//! Queries on `secret_roles`: a tree of roles with depth, tree order and cumulative secret
//! counts computed by recursive CTEs.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::columns::{json, json_text};
use super::error::restrict_to_in_use;
use super::{secrets, time, StoreError};

/// One role with its place in the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRoleRow {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub parent: Option<RoleParent>,
    pub description: String,
    pub comments: String,
    pub custom_fields: Value,
    pub created: Option<String>,
    pub last_updated: Option<String>,
    /// Tree level, 0 for a root.
    pub depth: i64,
    /// Secrets whose role is this role or any of its descendants.
    pub secret_count: i64,
}

/// The fields of a role's parent that its nested representation shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleParent {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub depth: i64,
}

/// Values for a new role.
#[derive(Debug, Clone)]
pub struct NewSecretRole {
    pub name: String,
    pub slug: String,
    pub parent_id: Option<i64>,
    pub description: String,
    pub comments: String,
    pub custom_fields: Value,
}

/// A partial update: `None` keeps the stored value. `parent_id: Some(None)` makes a root.
#[derive(Debug, Clone, Default)]
pub struct SecretRoleChanges {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub parent_id: Option<Option<i64>>,
    pub description: Option<String>,
    pub comments: Option<String>,
    pub custom_fields: Option<Value>,
}

/// All roles in tree order (depth first, siblings in natural name order), each with its
/// depth and cumulative secret count. `?1` selects one role, or all when NULL.
const TREE_QUERY: &str = "
WITH RECURSIVE
ranked AS (
    SELECT id, parent_id,
           row_number() OVER (PARTITION BY parent_id ORDER BY name COLLATE natural_sort, id) AS position
    FROM secret_roles
),
tree (id, depth, sort_key) AS (
    SELECT id, 0, printf('%010d', position) FROM ranked WHERE parent_id IS NULL
    UNION ALL
    SELECT ranked.id, tree.depth + 1, tree.sort_key || '.' || printf('%010d', ranked.position)
    FROM ranked JOIN tree ON ranked.parent_id = tree.id
),
closure (ancestor_id, id) AS (
    SELECT id, id FROM secret_roles
    UNION
    SELECT closure.ancestor_id, child.id
    FROM secret_roles child JOIN closure ON child.parent_id = closure.id
),
counts (role_id, secret_count) AS (
    SELECT closure.ancestor_id, COUNT(secrets.id)
    FROM closure LEFT JOIN secrets ON secrets.role_id = closure.id
    GROUP BY closure.ancestor_id
)
SELECT role.id, role.name, role.slug, role.description, role.comments, role.custom_fields,
       role.created, role.last_updated, tree.depth, counts.secret_count,
       parent.id, parent.name, parent.slug, parent_tree.depth
FROM tree
JOIN secret_roles role ON role.id = tree.id
JOIN counts ON counts.role_id = role.id
LEFT JOIN secret_roles parent ON parent.id = role.parent_id
LEFT JOIN tree parent_tree ON parent_tree.id = role.parent_id
WHERE ?1 IS NULL OR role.id = ?1
ORDER BY tree.sort_key";

fn from_row(row: &Row<'_>) -> rusqlite::Result<SecretRoleRow> {
    let parent_id: Option<i64> = row.get(10)?;
    let parent = match parent_id {
        Some(id) => Some(RoleParent {
            id,
            name: row.get(11)?,
            slug: row.get(12)?,
            depth: row.get(13)?,
        }),
        None => None,
    };

    Ok(SecretRoleRow {
        id: row.get(0)?,
        name: row.get(1)?,
        slug: row.get(2)?,
        parent,
        description: row.get(3)?,
        comments: row.get(4)?,
        custom_fields: json(row, 5)?,
        created: row.get(6)?,
        last_updated: row.get(7)?,
        depth: row.get(8)?,
        secret_count: row.get(9)?,
    })
}

/// Lists every role in tree order.
pub fn list(conn: &Connection) -> Result<Vec<SecretRoleRow>, StoreError> {
    let mut stmt = conn.prepare_cached(TREE_QUERY)?;

    let rows = stmt.query_map([None::<i64>], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Returns one role with its depth and cumulative secret count.
pub fn get(conn: &Connection, id: i64) -> Result<Option<SecretRoleRow>, StoreError> {
    let mut stmt = conn.prepare_cached(TREE_QUERY)?;

    Ok(stmt.query_row([Some(id)], from_row).optional()?)
}

/// Returns the ids of all descendants of a role (children, grandchildren, …), not the role
/// itself, in id order.
pub fn descendants(conn: &Connection, id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE below (id) AS (
             SELECT id FROM secret_roles WHERE parent_id = ?1
             UNION
             SELECT child.id FROM secret_roles child JOIN below ON child.parent_id = below.id
         )
         SELECT id FROM below ORDER BY id",
    )?;

    let rows = stmt.query_map([id], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a role with both timestamps set to now. A taken name or slug fails with
/// `Conflict("secret_roles.name")` or `Conflict("secret_roles.slug")`, an unknown parent
/// with `MissingReference`.
pub fn insert(conn: &Connection, role: &NewSecretRole) -> Result<SecretRoleRow, StoreError> {
    conn.execute(
        "INSERT INTO secret_roles (name, slug, parent_id, description, comments, custom_fields, \
                                   created, last_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            role.name,
            role.slug,
            role.parent_id,
            role.description,
            role.comments,
            json_text(&role.custom_fields),
            time::now(),
        ],
    )?;

    get(conn, conn.last_insert_rowid())?.ok_or(StoreError::NotFound)
}

/// Applies a partial update and bumps `last_updated`. A new parent that is the role itself
/// or one of its descendants fails with `InvalidParent`.
pub fn update(
    conn: &Connection,
    id: i64,
    changes: &SecretRoleChanges,
) -> Result<SecretRoleRow, StoreError> {
    let current = get(conn, id)?.ok_or(StoreError::NotFound)?;

    if let Some(Some(parent_id)) = changes.parent_id {
        check_parent(conn, id, parent_id)?;
    }

    let parent_id = match changes.parent_id {
        Some(parent_id) => parent_id,
        None => current.parent.as_ref().map(|p| p.id),
    };
    let custom_fields = changes
        .custom_fields
        .as_ref()
        .unwrap_or(&current.custom_fields);

    conn.execute(
        "UPDATE secret_roles SET name = ?2, slug = ?3, parent_id = ?4, description = ?5, \
                                 comments = ?6, custom_fields = ?7, last_updated = ?8 \
         WHERE id = ?1",
        params![
            id,
            changes.name.as_ref().unwrap_or(&current.name),
            changes.slug.as_ref().unwrap_or(&current.slug),
            parent_id,
            changes.description.as_ref().unwrap_or(&current.description),
            changes.comments.as_ref().unwrap_or(&current.comments),
            json_text(custom_fields),
            time::now(),
        ],
    )?;

    get(conn, id)?.ok_or(StoreError::NotFound)
}

fn check_parent(conn: &Connection, id: i64, parent_id: i64) -> Result<(), StoreError> {
    if parent_id == id || descendants(conn, id)?.contains(&parent_id) {
        return Err(StoreError::InvalidParent);
    }

    Ok(())
}

/// Deletes a role and, by cascade, all its descendants. Fails with `InUse` listing the
/// secrets (`<display> (<id>)`) when the role or any descendant is still assigned to one.
pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    let mut subtree = descendants(conn, id)?;
    subtree.push(id);

    let dependents = secrets::list_display_by_roles(conn, &subtree)?;
    if !dependents.is_empty() {
        return Err(StoreError::InUse(dependents));
    }

    let deleted = conn
        .execute("DELETE FROM secret_roles WHERE id = ?1", [id])
        .map_err(|e| restrict_to_in_use(e.into()))?;

    match deleted {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::secrets::tests::new_secret;
    use crate::store::tags::{self, ObjectKind, TagRow};
    use crate::store::testing;
    use serde_json::json;

    pub(crate) fn new_role(name: &str, parent_id: Option<i64>) -> NewSecretRole {
        NewSecretRole {
            name: name.to_owned(),
            slug: name.to_lowercase().replace(' ', "-"),
            parent_id,
            description: String::new(),
            comments: String::new(),
            custom_fields: json!({}),
        }
    }

    fn add(conn: &Connection, name: &str, parent_id: Option<i64>) -> i64 {
        insert(conn, &new_role(name, parent_id)).unwrap().id
    }

    #[test]
    fn list_is_in_tree_order_with_depth() {
        let (_dir, conn) = testing::connection();
        let servers = add(&conn, "Servers", None);
        let creds = add(&conn, "Credentials", None);
        add(&conn, "Role 10", Some(creds));
        let role2 = add(&conn, "role 2", Some(creds));
        add(&conn, "Deep", Some(role2));
        add(&conn, "Linux", Some(servers));

        let rows = list(&conn).unwrap();
        let order: Vec<_> = rows.iter().map(|r| (r.name.as_str(), r.depth)).collect();

        assert_eq!(
            order,
            [
                ("Credentials", 0),
                ("role 2", 1),
                ("Deep", 2),
                ("Role 10", 1),
                ("Servers", 0),
                ("Linux", 1),
            ]
        );
    }

    #[test]
    fn parent_is_nested_with_its_depth() {
        let (_dir, conn) = testing::connection();
        let root = add(&conn, "Root", None);
        let child = add(&conn, "Child", Some(root));
        let grandchild = add(&conn, "Grandchild", Some(child));

        let row = get(&conn, grandchild).unwrap().unwrap();
        let parent = row.parent.unwrap();

        assert_eq!(row.depth, 2);
        assert_eq!(parent.id, child);
        assert_eq!(parent.slug, "child");
        assert_eq!(parent.depth, 1);
        assert_eq!(get(&conn, root).unwrap().unwrap().parent, None);
    }

    #[test]
    fn secret_count_is_cumulative() {
        let (_dir, conn) = testing::connection();
        let root = add(&conn, "Root", None);
        let child = add(&conn, "Child", Some(root));
        let other = add(&conn, "Other", None);
        secrets::insert(&conn, &new_secret(1, root, "a")).unwrap();
        secrets::insert(&conn, &new_secret(1, child, "b")).unwrap();
        secrets::insert(&conn, &new_secret(2, child, "c")).unwrap();

        let count = |id| get(&conn, id).unwrap().unwrap().secret_count;

        assert_eq!(count(root), 3);
        assert_eq!(count(child), 2);
        assert_eq!(count(other), 0);
    }

    #[test]
    fn duplicate_name_or_slug_conflicts() {
        let (_dir, conn) = testing::connection();
        add(&conn, "Root", None);
        let mut same_name = new_role("Root", None);
        same_name.slug = "other".to_owned();
        let mut same_slug = new_role("Other", None);
        same_slug.slug = "root".to_owned();

        let by_name = insert(&conn, &same_name).unwrap_err();
        let by_slug = insert(&conn, &same_slug).unwrap_err();

        assert!(matches!(by_name, StoreError::Conflict(ref c) if c == "secret_roles.name"));
        assert!(matches!(by_slug, StoreError::Conflict(ref c) if c == "secret_roles.slug"));
    }

    #[test]
    fn unknown_parent_is_missing_reference() {
        let (_dir, conn) = testing::connection();

        let error = insert(&conn, &new_role("Orphan", Some(99))).unwrap_err();

        assert!(matches!(error, StoreError::MissingReference));
    }

    #[test]
    fn update_rejects_self_and_descendant_parent() {
        let (_dir, conn) = testing::connection();
        let root = add(&conn, "Root", None);
        let child = add(&conn, "Child", Some(root));
        let grandchild = add(&conn, "Grandchild", Some(child));

        for parent in [root, child, grandchild] {
            let changes = SecretRoleChanges {
                parent_id: Some(Some(parent)),
                ..Default::default()
            };
            let error = update(&conn, root, &changes).unwrap_err();
            assert!(
                matches!(error, StoreError::InvalidParent),
                "parent {parent}"
            );
        }
    }

    #[test]
    fn update_moves_role_and_keeps_other_fields() {
        let (_dir, conn) = testing::connection();
        let root = add(&conn, "Root", None);
        let child = add(&conn, "Child", Some(root));
        let changes = SecretRoleChanges {
            parent_id: Some(None),
            description: Some("now a root".to_owned()),
            ..Default::default()
        };

        let row = update(&conn, child, &changes).unwrap();

        assert_eq!(row.parent, None);
        assert_eq!(row.depth, 0);
        assert_eq!(row.name, "Child");
        assert_eq!(row.description, "now a root");
        assert!(matches!(
            update(&conn, 99, &changes),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn delete_cascades_to_descendants_and_tags() {
        let (_dir, conn) = testing::connection();
        let root = add(&conn, "Root", None);
        let child = add(&conn, "Child", Some(root));
        add(&conn, "Grandchild", Some(child));
        let unrelated = add(&conn, "Unrelated", None);
        let tag = TagRow {
            id: 1,
            name: "Blue".to_owned(),
            slug: "blue".to_owned(),
            color: "0000ff".to_owned(),
        };
        tags::set(&conn, ObjectKind::SecretRole, child, &[tag]).unwrap();

        delete(&conn, root).unwrap();

        let remaining: Vec<_> = list(&conn).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(remaining, [unrelated]);
        assert!(tags::get(&conn, ObjectKind::SecretRole, child)
            .unwrap()
            .is_empty());
        assert!(matches!(delete(&conn, root), Err(StoreError::NotFound)));
    }

    #[test]
    fn delete_blocked_by_secret_in_descendant() {
        let (_dir, conn) = testing::connection();
        let root = add(&conn, "Root", None);
        let child = add(&conn, "Child", Some(root));
        let grandchild = add(&conn, "Grandchild", Some(child));
        let named = secrets::insert(&conn, &new_secret(1, grandchild, "admin")).unwrap();
        let unnamed = secrets::insert(&conn, &new_secret(2, child, "")).unwrap();

        let error = delete(&conn, root).unwrap_err();

        let expected = vec![
            format!("admin ({})", named.id),
            format!("Secret #{0} ({0})", unnamed.id),
        ];
        assert!(
            matches!(error, StoreError::InUse(ref d) if *d == expected),
            "{error:?}"
        );
        assert_eq!(list(&conn).unwrap().len(), 3);
    }

    #[test]
    fn descendants_excludes_the_role() {
        let (_dir, conn) = testing::connection();
        let root = add(&conn, "Root", None);
        let child = add(&conn, "Child", Some(root));
        let grandchild = add(&conn, "Grandchild", Some(child));
        add(&conn, "Other", None);

        assert_eq!(descendants(&conn, root).unwrap(), [child, grandchild]);
        assert!(descendants(&conn, grandchild).unwrap().is_empty());
    }
}
