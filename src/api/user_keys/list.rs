//! Filters and ordering of the user-key list: `id`, `user_id`, `user` (username), `q`,
//! `created`, `last_updated` and the tag filters.

use std::collections::HashMap;

use super::super::filters::{order_by, FilterSet, SortKey};
use super::super::request::Query;
use super::super::tags::TagFilter;
use crate::store::tags::TagRow;
use crate::store::user_keys::UserKeyRow;

/// Declares the filters. Parameters not listed here are rejected as unknown.
pub fn filter_set() -> FilterSet<UserKeyRow> {
    FilterSet::<UserKeyRow>::new()
        .integer("id", |key| Some(key.id))
        .integer("user_id", |key| Some(key.user_id))
        .text("user", |key| Some(key.username.as_str()))
        .timestamp("created", |key| key.created.as_deref())
        .timestamp("last_updated", |key| key.last_updated.as_deref())
        .custom("q")
        .custom("tag")
        .custom("tag__n")
        .custom("tag_id")
        .custom("tag_id__n")
}

/// The filters the set leaves to the handler.
pub struct CustomFilters {
    /// Lowercased `q`; a blank `q` filters nothing.
    q: Option<String>,
    tags: TagFilter,
}

impl CustomFilters {
    /// Reads `q` and takes the tag filters, which [`TagFilter::read`] checked against NetBox.
    pub fn read(query: &Query, tags: TagFilter) -> CustomFilters {
        let q = query
            .get("q")
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);

        CustomFilters { q, tags }
    }

    pub fn matches(&self, key: &UserKeyRow, tags: &HashMap<i64, Vec<TagRow>>) -> bool {
        if let Some(q) = &self.q {
            if !key.username.to_lowercase().contains(q.as_str()) {
                return false;
            }
        }

        let tags = tags.get(&key.id).map(Vec::as_slice).unwrap_or(&[]);
        self.tags.matches(tags)
    }
}

/// Reads the value one `?ordering=` name sorts by.
type SortColumn = (&'static str, fn(&UserKeyRow) -> SortKey);

/// Sorts by `?ordering=`; the rows arrive in the default order, by username.
pub fn sort(keys: &mut [UserKeyRow], ordering: Option<&str>) {
    let columns: [SortColumn; 5] = [
        ("id", |key| SortKey::Integer(key.id)),
        ("user", |key| SortKey::Text(key.username.clone())),
        ("public_key", |key| SortKey::Text(key.public_key.clone())),
        ("created", |key| text_or_null(key.created.as_deref())),
        ("last_updated", |key| {
            text_or_null(key.last_updated.as_deref())
        }),
    ];
    order_by(keys, ordering, &columns);
}

fn text_or_null(value: Option<&str>) -> SortKey {
    value.map_or(SortKey::Null, |text| SortKey::Text(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(id: i64, username: &str) -> UserKeyRow {
        UserKeyRow {
            id,
            user_id: id + 10,
            username: username.into(),
            user_display: username.into(),
            public_key: String::new(),
            master_key_cipher: None,
            custom_fields: json!({}),
            created: Some("2026-07-23T15:47:00Z".into()),
            last_updated: None,
        }
    }

    fn matching(raw: &str) -> Vec<i64> {
        let query = Query::parse(Some(raw));
        let set = filter_set();
        let filter = set.compile(&query).unwrap();
        let custom = CustomFilters::read(&query, TagFilter::from_query(&query));
        let mut tags = HashMap::new();
        tags.insert(
            2,
            vec![TagRow {
                id: 5,
                name: "Ops".into(),
                slug: "ops".into(),
                color: "ff0000".into(),
            }],
        );

        [key(1, "alice"), key(2, "bob"), key(3, "Malice")]
            .iter()
            .filter(|row| filter.matches(row) && custom.matches(row, &tags))
            .map(|row| row.id)
            .collect()
    }

    #[test]
    fn filters_select_keys() {
        let cases: [(&str, Vec<i64>); 9] = [
            ("", vec![1, 2, 3]),
            ("q=ALI", vec![1, 3]),
            ("q=+", vec![1, 2, 3]),
            ("user=bob", vec![2]),
            ("user_id=11&user_id=13", vec![1, 3]),
            ("id=2", vec![2]),
            ("tag=ops", vec![2]),
            ("tag__n=ops", vec![1, 3]),
            ("tag_id=5", vec![2]),
        ];
        for (raw, expected) in cases {
            assert_eq!(matching(raw), expected, "query {raw}");
        }
    }

    #[test]
    fn unknown_filter_is_rejected() {
        let query = Query::parse(Some("colour=red"));
        assert!(filter_set().compile(&query).is_err());
    }

    #[test]
    fn ordering_by_id_descending() {
        let mut rows = [key(1, "alice"), key(2, "bob")];
        sort(&mut rows, Some("-id"));
        assert_eq!(
            rows.iter().map(|row| row.id).collect::<Vec<_>>(),
            vec![2, 1]
        );
    }
}
