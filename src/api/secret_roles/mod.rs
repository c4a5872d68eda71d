//! `/secret-roles/`: the tree of secret roles, with NetBox's list filters, single and bulk
//! writes, and the protected delete of roles that secrets still use.

use std::collections::{HashMap, HashSet};

use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::bulk::{self, ItemFailure};
use super::call::Call;
use super::error::ApiError;
use super::filters::{order_by, FilterSet, SortKey, SortKeyFn};
use super::pagination::{envelope, paginate};
use super::policy::{Action, Model, Scope};
use super::related::RelatedRef;
use super::render::nested_tags;
use super::request::{FormBodies, Query};
use super::role_input::{parse_batch, parse_role, RoleInput};
use super::tags::{resolve_tags, TagFilter};
use super::urls::Urls;
use crate::body::BoxBody;
use crate::store::secret_roles::{self, NewSecretRole, SecretRoleChanges, SecretRoleRow};
use crate::store::tags::{self, ObjectKind, TagRow};
use crate::store::StoreError;

mod delete;
mod list_filters;
mod write;

use delete::*;
use list_filters::*;
use write::*;

/// Collection name in URLs.
const COLLECTION: &str = "secret-roles";

/// Model class name in NetBox's 404 message.
const MODEL_NAME: &str = "SecretRole";

/// Fields of `?brief` and of a role nested in a secret.
const BRIEF_FIELDS: &[&str] = &[
    "id",
    "url",
    "display",
    "name",
    "slug",
    "description",
    "secret_count",
    "_depth",
];

/// Filters the handler evaluates itself, besides the declared fields.
const RELATION_FILTERS: &[&str] = &[
    "parent_id",
    "parent",
    "ancestor_id",
    "ancestor",
    "tag",
    "tag_id",
];

/// A stored role with its tags, as lists and writes return it.
#[derive(Clone, Debug)]
pub struct RoleEntry {
    pub row: SecretRoleRow,
    pub tags: Vec<TagRow>,
}

/// Serves the list URL: GET, POST (one object or a list), bulk PUT, PATCH and DELETE.
pub async fn handle_list(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let scope = authorize(call).await?;

    match call.method {
        Method::GET | Method::HEAD => list(call, &scope).await,
        Method::POST => create(call, &scope).await,
        Method::PUT => bulk_update(call, &scope, false).await,
        Method::PATCH => bulk_update(call, &scope, true).await,
        Method::DELETE => bulk_delete(call, &scope).await,
        _ => Err(ApiError::method_not_allowed(&call.method)),
    }
}

/// Serves one role: GET, PUT, PATCH and DELETE.
pub async fn handle_detail(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    let scope = authorize(call).await?;

    match call.method {
        Method::GET | Method::HEAD => retrieve(call, &scope, id).await,
        Method::PUT => update_one(call, &scope, id, false).await,
        Method::PATCH => update_one(call, &scope, id, true).await,
        Method::DELETE => delete_one(call, &scope, id).await,
        _ => Err(ApiError::method_not_allowed(&call.method)),
    }
}

async fn authorize(call: &Call) -> Result<Scope, ApiError> {
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    if !methods.contains(&call.method) {
        return Err(ApiError::method_not_allowed(&call.method));
    }

    call.authorize(Model::SecretRole, Action::for_method(&call.method))
        .await
}

/// Returns whether a role is inside the caller's scope. A grant limited to some roles reaches
/// only the roles with those slugs.
fn in_scope(scope: &Scope, row: &SecretRoleRow) -> bool {
    scope.allows_role(&row.slug)
}

/// Reads every role with its tags, in tree order, with `secret_count` counting only the
/// secrets the caller can see.
async fn load_entries(call: &Call) -> Result<Vec<RoleEntry>, ApiError> {
    let mut entries: Vec<RoleEntry> = call
        .state
        .store
        .read(|connection| {
            let rows = secret_roles::list(connection)?;
            let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
            let mut tags = tags::get_many(connection, ObjectKind::SecretRole, &ids)?;

            let entries = rows
                .into_iter()
                .map(|row| RoleEntry {
                    tags: tags.remove(&row.id).unwrap_or_default(),
                    row,
                })
                .collect();
            Ok(entries)
        })
        .await?;

    let direct = super::secrets::visible_counts_by_role(call).await?;
    set_cumulative_counts(&mut entries, &direct);
    Ok(entries)
}

/// Sets each role's `secret_count` to its own secrets plus those of its descendants.
fn set_cumulative_counts(entries: &mut [RoleEntry], direct: &HashMap<i64, i64>) {
    let parents: HashMap<i64, Option<i64>> = entries
        .iter()
        .map(|entry| {
            (
                entry.row.id,
                entry.row.parent.as_ref().map(|parent| parent.id),
            )
        })
        .collect();

    let mut totals: HashMap<i64, i64> = HashMap::new();
    for (&role_id, &count) in direct {
        let mut current = Some(role_id);
        // The store rejects parent cycles; the bound only guards against a corrupt file.
        for _ in 0..=parents.len() {
            let Some(id) = current else { break };
            *totals.entry(id).or_insert(0) += count;
            current = parents.get(&id).copied().flatten();
        }
    }

    for entry in entries {
        entry.row.secret_count = totals.get(&entry.row.id).copied().unwrap_or(0);
    }
}

async fn list(call: &Call, scope: &Scope) -> Result<Response<BoxBody>, ApiError> {
    let page = call.page()?;
    let field_filters = field_filters();
    let filter = field_filters.compile(&call.query)?;

    let mut entries = load_entries(call).await?;
    entries.retain(|entry| in_scope(scope, &entry.row));
    let relations = RelationFilters::compile(&call.query, &entries, TagFilter::read(call).await?)?;
    entries.retain(|entry| filter.matches(entry) && relations.matches(entry));
    order_by(&mut entries, call.query.get("ordering"), SORT_KEYS);

    let selection = call.selection();
    let items = entries
        .into_iter()
        .map(|entry| (entry.row.id, entry))
        .collect();
    let (page_entries, info) = paginate(items, page);
    let results = page_entries
        .iter()
        .map(|entry| selection.apply(represent(&call.urls, entry), BRIEF_FIELDS))
        .collect();

    let body = envelope(results, info, &call.page_links());
    Ok(call.json(StatusCode::OK, &body))
}

async fn retrieve(call: &Call, scope: &Scope, id: i64) -> Result<Response<BoxBody>, ApiError> {
    let entry = load_entries(call)
        .await?
        .into_iter()
        .find(|entry| entry.row.id == id && in_scope(scope, &entry.row))
        .ok_or_else(|| ApiError::not_found(MODEL_NAME))?;

    let body = call
        .selection()
        .apply(represent(&call.urls, &entry), BRIEF_FIELDS);
    Ok(call.json(StatusCode::OK, &body))
}

/// Returns the stored custom-field data, or an empty object when it is not one.
fn custom_fields(stored: &Value) -> Value {
    match stored {
        Value::Object(_) => stored.clone(),
        _ => json!({}),
    }
}

/// Builds the full representation, in the plugin's field order.
pub fn represent(urls: &Urls, entry: &RoleEntry) -> Map<String, Value> {
    let row = &entry.row;
    let parent = row.parent.as_ref().map(|parent| {
        json!({
            "id": parent.id,
            "url": urls.api(COLLECTION, Some(parent.id)),
            "display_url": urls.ui(COLLECTION, parent.id),
            "display": parent.name,
            "name": parent.name,
            "slug": parent.slug,
            "_depth": parent.depth,
        })
    });

    let value = json!({
        "id": row.id,
        "url": urls.api(COLLECTION, Some(row.id)),
        "display_url": urls.ui(COLLECTION, row.id),
        "display": row.name,
        "name": row.name,
        "slug": row.slug,
        "parent": parent,
        "description": row.description,
        "tags": nested_tags(urls, &entry.tags),
        "custom_fields": custom_fields(&row.custom_fields),
        "created": row.created,
        "last_updated": row.last_updated,
        "secret_count": row.secret_count,
        "owner": null,
        "comments": row.comments,
        "_depth": row.depth,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::secret_roles::RoleParent;

    fn entry(id: i64, name: &str, parent: Option<i64>, tags: &[(i64, &str)]) -> RoleEntry {
        RoleEntry {
            row: SecretRoleRow {
                id,
                name: name.to_string(),
                slug: name.to_lowercase(),
                parent: parent.map(|parent_id| RoleParent {
                    id: parent_id,
                    name: format!("Role {parent_id}"),
                    slug: format!("role-{parent_id}"),
                    depth: 0,
                }),
                description: String::new(),
                comments: format!("about {name}"),
                custom_fields: json!({}),
                created: Some("2026-01-01T00:00:00Z".to_string()),
                last_updated: None,
                depth: i64::from(parent.is_some()),
                secret_count: 0,
            },
            tags: tags
                .iter()
                .map(|(id, slug)| TagRow {
                    id: *id,
                    name: slug.to_string(),
                    slug: slug.to_string(),
                    color: "ffffff".to_string(),
                })
                .collect(),
        }
    }

    /// Credentials (1) > Login (2) > Ssh (3); Snmp (4) is a root.
    fn entries() -> Vec<RoleEntry> {
        vec![
            entry(1, "Credentials", None, &[(7, "red")]),
            entry(2, "Login", Some(1), &[(7, "red"), (8, "blue")]),
            entry(3, "Ssh", Some(2), &[]),
            entry(4, "Snmp", None, &[(8, "blue")]),
        ]
    }

    fn matching(raw: &str) -> Result<Vec<i64>, ApiError> {
        let query = Query::parse(Some(raw));
        let entries = entries();
        let set = field_filters();
        let filter = set.compile(&query)?;
        let relations = RelationFilters::compile(&query, &entries, TagFilter::from_query(&query))?;
        Ok(entries
            .iter()
            .filter(|entry| filter.matches(entry) && relations.matches(entry))
            .map(|entry| entry.row.id)
            .collect())
    }

    #[test]
    fn role_filters_match() {
        let cases: &[(&str, &[i64])] = &[
            ("parent_id=1", &[2]),
            ("parent=login", &[3]),
            ("parent_id__n=1", &[1, 3, 4]),
            ("ancestor_id=1", &[2, 3]),
            ("ancestor=login", &[3]),
            ("ancestor__n=credentials", &[1, 4]),
            ("tag=red", &[1, 2]),
            ("tag=red&tag=blue", &[2]),
            ("tag__n=blue", &[1, 3]),
            ("tag_id=8", &[2, 4]),
            ("tag=unknown", &[]),
            ("q=SS", &[3]),
            ("q=about+snmp", &[4]),
            ("q=+", &[1, 2, 3, 4]),
            ("name__ic=s&parent_id=2", &[3]),
            (
                "created__gte=2026-01-01&last_updated__empty=true",
                &[1, 2, 3, 4],
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(matching(raw).unwrap(), *expected, "query {raw}");
        }
    }

    #[test]
    fn unknown_roles_in_filters_are_rejected() {
        for (raw, parameter) in [
            ("parent_id=99", "parent_id"),
            ("ancestor=nope", "ancestor"),
            ("parent_id=abc", "parent_id"),
            ("owner_id=1", "owner_id"),
        ] {
            match matching(raw) {
                Err(ApiError::Fields(fields)) => {
                    assert!(fields.contains_key(parameter), "query {raw}: {fields:?}")
                }
                other => panic!(
                    "query {raw}: expected field errors, got {:?}",
                    other.is_ok()
                ),
            }
        }
    }

    #[test]
    fn ordering_by_depth_and_name() {
        let mut list = entries();
        order_by(&mut list, Some("-_depth,name"), SORT_KEYS);
        let ids: Vec<i64> = list.iter().map(|entry| entry.row.id).collect();
        assert_eq!(ids, [2, 3, 1, 4]);
    }

    #[test]
    fn timestamps_sort_with_fractions() {
        let whole = timestamp_key(Some("2026-01-01T00:00:00Z"));
        let fraction = timestamp_key(Some("2026-01-01T00:00:00.500000Z"));
        assert!(whole < fraction);
        assert!(fraction < SortKey::Null);
    }

    #[test]
    fn representation_has_plugin_fields_in_order() {
        let urls = Urls::new("https", "nb.example", "/");
        let body = represent(&urls, &entries()[1]);
        let names: Vec<&str> = body.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "id",
                "url",
                "display_url",
                "display",
                "name",
                "slug",
                "parent",
                "description",
                "tags",
                "custom_fields",
                "created",
                "last_updated",
                "secret_count",
                "owner",
                "comments",
                "_depth",
            ]
        );
        assert_eq!(
            body["url"],
            "https://nb.example/api/plugins/secrets/secret-roles/2/"
        );
        assert_eq!(body["parent"]["_depth"], 0);
        assert_eq!(
            body["parent"]["display_url"],
            "https://nb.example/plugins/secrets/secret-roles/1/"
        );
        assert!(body["parent"].get("secret_count").is_none());
    }

    #[test]
    fn protected_delete_lists_dependents() {
        let error = protected_error(&["admin (3)".to_string(), "Secret #4 (4)".to_string()]);
        match error {
            ApiError::Detail(status, detail) => {
                assert_eq!(status, StatusCode::CONFLICT);
                assert_eq!(
                    detail,
                    "Unable to delete object. 2 dependent objects were found: admin (3), \
                     Secret #4 (4)"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
