//! Filters and ordering of the role list: declared fields, the tree and tag relations, and `q`.

use super::*;

pub(super) fn field_filters() -> FilterSet<RoleEntry> {
    let mut set = FilterSet::<RoleEntry>::new()
        .integer("id", |entry| Some(entry.row.id))
        .text("name", |entry| Some(entry.row.name.as_str()))
        .text("slug", |entry| Some(entry.row.slug.as_str()))
        .text("description", |entry| Some(entry.row.description.as_str()))
        .timestamp("created", |entry| entry.row.created.as_deref())
        .timestamp("last_updated", |entry| entry.row.last_updated.as_deref())
        .custom("q");
    for name in RELATION_FILTERS {
        set = set.custom(name);
    }
    for name in RELATION_NEGATED {
        set = set.custom(name);
    }
    set
}

/// The `__n` forms of [`RELATION_FILTERS`].
pub(super) const RELATION_NEGATED: &[&str] = &[
    "parent_id__n",
    "parent__n",
    "ancestor_id__n",
    "ancestor__n",
    "tag__n",
    "tag_id__n",
];

pub(super) const SORT_KEYS: &[(&str, SortKeyFn<RoleEntry>)] = &[
    ("id", |entry| SortKey::Integer(entry.row.id)),
    ("name", |entry| SortKey::Text(entry.row.name.clone())),
    ("slug", |entry| SortKey::Text(entry.row.slug.clone())),
    ("description", |entry| {
        SortKey::Text(entry.row.description.clone())
    }),
    ("parent", |entry| {
        entry
            .row
            .parent
            .as_ref()
            .map_or(SortKey::Null, |parent| SortKey::Integer(parent.id))
    }),
    ("created", |entry| {
        timestamp_key(entry.row.created.as_deref())
    }),
    ("last_updated", |entry| {
        timestamp_key(entry.row.last_updated.as_deref())
    }),
    ("secret_count", |entry| {
        SortKey::Integer(entry.row.secret_count)
    }),
    ("_depth", |entry| SortKey::Integer(entry.row.depth)),
];

/// Sorts stored UTC timestamps as text; whole seconds are written without a fraction, so one
/// is added to keep `…:00Z` before `…:00.5Z`.
pub(super) fn timestamp_key(value: Option<&str>) -> SortKey {
    match value {
        None => SortKey::Null,
        Some(text) if !text.contains('.') && text.ends_with('Z') => {
            SortKey::Text(format!("{}.000000Z", &text[..text.len() - 1]))
        }
        Some(text) => SortKey::Text(text.to_string()),
    }
}

/// The filters on the tree and on tags, and `q`.
pub(super) struct RelationFilters {
    tests: Vec<RelationTest>,
    tags: TagFilter,
    search: Option<String>,
}

pub(super) enum RelationTest {
    /// The role's parent is one of these roles.
    Parent { ids: HashSet<i64>, negate: bool },
}

impl RelationFilters {
    /// Compiles the tree filters and `q`, and takes the tag filters, which
    /// [`TagFilter::read`] checked against NetBox.
    pub(super) fn compile(
        query: &Query,
        entries: &[RoleEntry],
        tags: TagFilter,
    ) -> Result<RelationFilters, ApiError> {
        let mut tests = Vec::new();
        let mut errors = Map::new();

        let tree_filters = RELATION_FILTERS.iter().chain(RELATION_NEGATED);
        for name in tree_filters.filter(|name| !name.starts_with("tag")) {
            let values: Vec<&str> = query
                .all(name)
                .into_iter()
                .filter(|value| !value.is_empty())
                .collect();
            if values.is_empty() {
                continue;
            }

            match relation_test(name, &values, entries) {
                Ok(test) => tests.push(test),
                Err(message) => {
                    errors.insert(name.to_string(), json!([message]));
                }
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Fields(errors));
        }

        let search = query
            .get("q")
            .map(|text| text.trim().to_lowercase())
            .filter(|text| !text.is_empty());
        Ok(RelationFilters {
            tests,
            tags,
            search,
        })
    }

    pub(super) fn matches(&self, entry: &RoleEntry) -> bool {
        let searched = self.search.as_ref().map_or(true, |text| {
            let row = &entry.row;
            [&row.name, &row.slug, &row.description, &row.comments]
                .iter()
                .any(|field| field.to_lowercase().contains(text.as_str()))
        });
        searched
            && self.tags.matches(&entry.tags)
            && self.tests.iter().all(|test| test.matches(entry))
    }
}

impl RelationTest {
    pub(super) fn matches(&self, entry: &RoleEntry) -> bool {
        match self {
            RelationTest::Parent { ids, negate } => {
                let hit = entry
                    .row
                    .parent
                    .as_ref()
                    .is_some_and(|parent| ids.contains(&parent.id));
                hit != *negate
            }
        }
    }
}

/// Builds the test of one relation filter; `Err` is the message for that parameter.
pub(super) fn relation_test(
    name: &str,
    values: &[&str],
    entries: &[RoleEntry],
) -> Result<RelationTest, String> {
    let (base, negate) = match name.strip_suffix("__n") {
        Some(base) => (base, true),
        None => (name, false),
    };

    let test = match base {
        "parent_id" | "parent" => {
            let ids = role_ids(base == "parent_id", values, entries)?;
            RelationTest::Parent {
                ids: ids.into_iter().collect(),
                negate,
            }
        }
        _ => {
            let ids = role_ids(base == "ancestor_id", values, entries)?;
            RelationTest::Parent {
                ids: subtree_ids(&ids, entries),
                negate,
            }
        }
    };
    Ok(test)
}

/// Maps role ids or slugs from a filter to ids, with NetBox's choice-filter messages.
pub(super) fn role_ids(
    by_id: bool,
    values: &[&str],
    entries: &[RoleEntry],
) -> Result<Vec<i64>, String> {
    values
        .iter()
        .map(|value| {
            let found = if by_id {
                let id: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("\u{201c}{value}\u{201d} is not a valid value."))?;
                entries.iter().find(|entry| entry.row.id == id)
            } else {
                entries.iter().find(|entry| entry.row.slug == *value)
            };
            found.map(|entry| entry.row.id).ok_or_else(|| {
                format!("Select a valid choice. {value} is not one of the available choices.")
            })
        })
        .collect()
}

/// Returns the given roles and all their descendants.
pub(super) fn subtree_ids(roots: &[i64], entries: &[RoleEntry]) -> HashSet<i64> {
    let mut ids: HashSet<i64> = roots.iter().copied().collect();

    loop {
        let before = ids.len();
        for entry in entries {
            if let Some(parent) = &entry.row.parent {
                if ids.contains(&parent.id) {
                    ids.insert(entry.row.id);
                }
            }
        }
        if ids.len() == before {
            return ids;
        }
    }
}
