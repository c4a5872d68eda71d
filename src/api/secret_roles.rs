//! `/secret-roles/`: the tree of secret roles, with NetBox's list filters, single and bulk
//! writes, and the protected delete of roles that secrets still use.

use std::collections::{HashMap, HashSet};

use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::call::Call;
use super::error::ApiError;
use super::filters::{order_by, FilterSet, SortKey, SortKeyFn};
use super::pagination::{envelope, paginate};
use super::policy::{Action, Model, Scope};
use super::related::{known_tags, resolve_tags, RelatedRef};
use super::render::nested_tags;
use super::request::{as_integer, FormBodies, Query};
use super::role_input::{parse_batch, parse_role, python_type, RoleInput};
use super::urls::Urls;
use crate::body::BoxBody;
use crate::store::secret_roles::{self, NewSecretRole, SecretRoleChanges, SecretRoleRow};
use crate::store::tags::{self, ObjectKind, TagRow};
use crate::store::StoreError;

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

/// Reads every role with its tags, in tree order.
async fn load_entries(call: &Call) -> Result<Vec<RoleEntry>, ApiError> {
    let entries = call
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
    Ok(entries)
}

async fn list(call: &Call, scope: &Scope) -> Result<Response<BoxBody>, ApiError> {
    let page = call.page()?;
    let field_filters = field_filters();
    let filter = field_filters.compile(&call.query)?;

    let mut entries = load_entries(call).await?;
    entries.retain(|entry| in_scope(scope, &entry.row));
    let relations = RelationFilters::compile(&call.query, &entries)?;
    entries.retain(|entry| filter.matches(entry) && relations.matches(entry));
    order_by(&mut entries, call.query.get("ordering"), SORT_KEYS);

    let selection = call.selection();
    let items = entries.into_iter().map(|entry| (entry.row.id, entry)).collect();
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

/// The stored custom-field data, or an empty object when it is not one.
fn custom_fields(stored: &Value) -> Value {
    match stored {
        Value::Object(_) => stored.clone(),
        _ => json!({}),
    }
}

/// The full representation, in the plugin's field order.
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

fn field_filters() -> FilterSet<RoleEntry> {
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
const RELATION_NEGATED: &[&str] = &[
    "parent_id__n",
    "parent__n",
    "ancestor_id__n",
    "ancestor__n",
    "tag__n",
    "tag_id__n",
];

const SORT_KEYS: &[(&str, SortKeyFn<RoleEntry>)] = &[
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
    ("created", |entry| timestamp_key(entry.row.created.as_deref())),
    ("last_updated", |entry| {
        timestamp_key(entry.row.last_updated.as_deref())
    }),
    ("secret_count", |entry| SortKey::Integer(entry.row.secret_count)),
    ("_depth", |entry| SortKey::Integer(entry.row.depth)),
];

/// Sorts stored UTC timestamps as text; whole seconds are written without a fraction, so one
/// is added to keep `…:00Z` before `…:00.5Z`.
fn timestamp_key(value: Option<&str>) -> SortKey {
    match value {
        None => SortKey::Null,
        Some(text) if !text.contains('.') && text.ends_with('Z') => {
            SortKey::Text(format!("{}.000000Z", &text[..text.len() - 1]))
        }
        Some(text) => SortKey::Text(text.to_string()),
    }
}

/// The filters on the tree and on tags, and `q`.
struct RelationFilters {
    tests: Vec<RelationTest>,
    search: Option<String>,
}

enum RelationTest {
    /// The role's parent is one of these roles.
    Parent { ids: HashSet<i64>, negate: bool },
    /// The role carries every one of these tags (NetBox's tag filters are conjoined).
    Tags { ids: Vec<i64>, negate: bool },
}

impl RelationFilters {
    fn compile(query: &Query, entries: &[RoleEntry]) -> Result<RelationFilters, ApiError> {
        let mut tests = Vec::new();
        let mut errors = Map::new();

        for name in RELATION_FILTERS.iter().chain(RELATION_NEGATED) {
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
        Ok(RelationFilters { tests, search })
    }

    fn matches(&self, entry: &RoleEntry) -> bool {
        let searched = self.search.as_ref().map_or(true, |text| {
            let row = &entry.row;
            [&row.name, &row.slug, &row.description, &row.comments]
                .iter()
                .any(|field| field.to_lowercase().contains(text.as_str()))
        });
        searched && self.tests.iter().all(|test| test.matches(entry))
    }
}

impl RelationTest {
    fn matches(&self, entry: &RoleEntry) -> bool {
        match self {
            RelationTest::Parent { ids, negate } => {
                let hit = entry
                    .row
                    .parent
                    .as_ref()
                    .is_some_and(|parent| ids.contains(&parent.id));
                hit != *negate
            }
            RelationTest::Tags { ids, negate } => {
                let has = |id: &i64| entry.tags.iter().any(|tag| tag.id == *id);
                if *negate {
                    !ids.iter().any(has)
                } else {
                    ids.iter().all(has)
                }
            }
        }
    }
}

/// Builds the test of one relation filter; `Err` is the message for that parameter.
fn relation_test(
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
        "ancestor_id" | "ancestor" => {
            let ids = role_ids(base == "ancestor_id", values, entries)?;
            RelationTest::Parent {
                ids: subtree_ids(&ids, entries),
                negate,
            }
        }
        _ => RelationTest::Tags {
            ids: tag_ids(base == "tag_id", values, entries)?,
            negate,
        },
    };
    Ok(test)
}

/// Maps role ids or slugs from a filter to ids, with NetBox's choice-filter messages.
fn role_ids(by_id: bool, values: &[&str], entries: &[RoleEntry]) -> Result<Vec<i64>, String> {
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

/// Tag ids named by a `tag` (slug) or `tag_id` filter. Tags are known only from the store's
/// snapshot, so an unknown tag matches nothing instead of failing.
fn tag_ids(by_id: bool, values: &[&str], entries: &[RoleEntry]) -> Result<Vec<i64>, String> {
    let known: HashMap<&str, i64> = entries
        .iter()
        .flat_map(|entry| &entry.tags)
        .map(|tag| (tag.slug.as_str(), tag.id))
        .collect();

    values
        .iter()
        .map(|value| {
            if by_id {
                value
                    .trim()
                    .parse()
                    .map_err(|_| format!("\u{201c}{value}\u{201d} is not a valid value."))
            } else {
                Ok(known.get(value).copied().unwrap_or(-1))
            }
        })
        .collect()
}

/// The given roles and all their descendants.
fn subtree_ids(roots: &[i64], entries: &[RoleEntry]) -> HashSet<i64> {
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

/// One write of a batch.
enum Write {
    Create(RoleInput),
    Update { id: i64, input: RoleInput },
}

/// Why one write of a batch failed.
enum WriteFailure {
    Fields(Map<String, Value>),
    NotFound,
    Forbidden,
}

/// What a batch did: every write succeeded, or the failures by position and nothing was kept.
type BatchOutcome = Result<Vec<RoleEntry>, Vec<(usize, WriteFailure)>>;

/// Savepoint that lets a failed batch roll back while the store's transaction commits.
const SAVEPOINT: &str = "role_batch";

async fn create(call: &Call, scope: &Scope) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;

    let (writes, is_list) = match &payload.data {
        Value::Array(items) => {
            let inputs = parse_batch(items, false).map_err(|errors| {
                let errors = errors
                    .into_iter()
                    .map(|(index, fields)| (index as i64, fields))
                    .collect();
                bulk_input_error(errors, items.len(), "created", "index")
            })?;
            (inputs.into_iter().map(Write::Create).collect(), true)
        }
        single => {
            let input = parse_role(single, false).map_err(ApiError::Fields)?;
            (vec![Write::Create(input)], false)
        }
    };

    let outcome = run_batch(call, scope, writes).await?;
    reply_batch(call, StatusCode::CREATED, outcome, is_list, "created")
}

async fn update_one(
    call: &Call,
    scope: &Scope,
    id: i64,
    partial: bool,
) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;
    let input = parse_role(&payload.data, partial).map_err(ApiError::Fields)?;

    let outcome = run_batch(call, scope, vec![Write::Update { id, input }]).await?;
    reply_batch(call, StatusCode::OK, outcome, false, "updated")
}

async fn bulk_update(call: &Call, scope: &Scope, partial: bool) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk_items(&payload.data)?;

    let ids = bulk_ids(items)?;
    let inputs = parse_batch(items, partial).map_err(|errors| {
        let errors = errors.into_iter().map(|(index, fields)| (ids[index], fields)).collect();
        bulk_input_error(errors, items.len(), "updated", "id")
    })?;
    let writes = ids
        .iter()
        .zip(inputs)
        .map(|(id, input)| Write::Update { id: *id, input })
        .collect();

    let outcome = run_batch(call, scope, writes).await?;
    match outcome {
        Ok(entries) => Ok(reply_entries(call, StatusCode::OK, &entries, true)),
        Err(failures) => Err(bulk_failure(failures, items.len(), &ids, "updated")),
    }
}

/// The objects of a bulk request body, which must be a JSON list.
fn bulk_items(data: &Value) -> Result<&Vec<Value>, ApiError> {
    match data {
        Value::Array(items) => Ok(items),
        other => Err(ApiError::field(
            "non_field_errors",
            format!("Expected a list of items but got type \"{}\".", python_type(other)),
        )),
    }
}

/// Reads the `id` of every object of a bulk request.
fn bulk_ids(items: &[Value]) -> Result<Vec<i64>, ApiError> {
    let mut ids = Vec::with_capacity(items.len());
    let mut errors = Vec::new();

    for (index, item) in items.iter().enumerate() {
        match item.get("id").and_then(as_integer) {
            Some(id) => ids.push(id),
            None => {
                let fields = json!({"id": ["This field is required."]});
                errors.push(json!({"index": index, "errors": fields}));
            }
        }
    }
    if errors.is_empty() {
        return Ok(ids);
    }

    let detail = format!(
        "{} of {} objects could not be found.",
        errors.len(),
        items.len()
    );
    Err(ApiError::Json(
        StatusCode::BAD_REQUEST,
        json!({"detail": detail, "errors": errors}),
    ))
}

/// Runs writes in one store transaction; when any fails, none is kept.
async fn run_batch(call: &Call, scope: &Scope, writes: Vec<Write>) -> Result<BatchOutcome, ApiError> {
    let scope = scope.clone();

    let outcome = call
        .state
        .store
        .write(move |transaction| {
            transaction.execute_batch(&format!("SAVEPOINT {SAVEPOINT}"))?;
            let outcome = apply_writes(transaction, &scope, writes);

            let end = match &outcome {
                Ok(Ok(_)) => format!("RELEASE {SAVEPOINT}"),
                _ => format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"),
            };
            transaction.execute_batch(&end)?;
            outcome
        })
        .await?;
    Ok(outcome)
}

fn apply_writes(
    connection: &rusqlite::Connection,
    scope: &Scope,
    writes: Vec<Write>,
) -> Result<BatchOutcome, StoreError> {
    let tags_known = known_tags(connection)?;
    let mut written = Vec::new();
    let mut failures = Vec::new();

    for (position, write) in writes.into_iter().enumerate() {
        match apply_write(connection, scope, &tags_known, write)? {
            Ok(id) => written.push(id),
            Err(failure) => failures.push((position, failure)),
        }
    }
    if !failures.is_empty() {
        return Ok(Err(failures));
    }

    // Read back after all writes, so parents and secret counts reflect the whole batch.
    let mut entries = Vec::with_capacity(written.len());
    for id in written {
        let row = secret_roles::get(connection, id)?.ok_or(StoreError::NotFound)?;
        let tags = tags::get(connection, ObjectKind::SecretRole, id)?;
        entries.push(RoleEntry { row, tags });
    }
    Ok(Ok(entries))
}

/// Applies one write and returns the role's id, or why it failed.
fn apply_write(
    connection: &rusqlite::Connection,
    scope: &Scope,
    tags_known: &[TagRow],
    write: Write,
) -> Result<Result<i64, WriteFailure>, StoreError> {
    let roles = secret_roles::list(connection)?;
    let (current, input) = match write {
        Write::Create(input) => (None, input),
        Write::Update { id, input } => match roles.iter().find(|row| row.id == id) {
            Some(row) if in_scope(scope, row) => (Some(row.clone()), input),
            _ => return Ok(Err(WriteFailure::NotFound)),
        },
    };

    let resolved = match resolve_input(&input, current.as_ref(), &roles, tags_known) {
        Ok(resolved) => resolved,
        Err(fields) => return Ok(Err(WriteFailure::Fields(fields))),
    };
    let slug = input
        .slug
        .clone()
        .or_else(|| current.as_ref().map(|row| row.slug.clone()))
        .unwrap_or_default();
    if !scope.allows_role(&slug) {
        return Ok(Err(WriteFailure::Forbidden));
    }

    let stored = match &current {
        None => secret_roles::insert(connection, &new_role(&input, &resolved)),
        Some(row) => secret_roles::update(connection, row.id, &changes(&input, &resolved, row)),
    };
    let row = match stored {
        Ok(row) => row,
        Err(err) => return store_failure(err).map(Err),
    };

    if let Some(tags) = &resolved.tags {
        tags::set(connection, ObjectKind::SecretRole, row.id, tags)?;
    }
    Ok(Ok(row.id))
}

/// Related objects of an input, looked up in the store.
struct Resolved {
    /// `Some(None)`: make the role a root.
    parent_id: Option<Option<i64>>,
    tags: Option<Vec<TagRow>>,
}

/// Resolves `parent` and `tags` and checks that name and slug are free.
fn resolve_input(
    input: &RoleInput,
    current: Option<&SecretRoleRow>,
    roles: &[SecretRoleRow],
    tags_known: &[TagRow],
) -> Result<Resolved, Map<String, Value>> {
    let mut errors = Map::new();
    let own_id = current.map(|row| row.id);

    if let Some(name) = &input.name {
        if roles.iter().any(|row| row.name == *name && Some(row.id) != own_id) {
            errors.insert("name".into(), json!(["Secret Role with this name already exists."]));
        }
    }
    if let Some(slug) = &input.slug {
        if roles.iter().any(|row| row.slug == *slug && Some(row.id) != own_id) {
            errors.insert("slug".into(), json!(["Secret Role with this slug already exists."]));
        }
    }

    let parent_id = match &input.parent {
        None => None,
        Some(None) => Some(None),
        Some(Some(reference)) => match resolve_parent(reference, own_id, roles) {
            Ok(id) => Some(Some(id)),
            Err(message) => {
                errors.insert("parent".into(), json!([message]));
                None
            }
        },
    };

    let tags = match &input.tags {
        None => None,
        Some(references) => match resolve_tags(references, tags_known) {
            Ok(tags) => Some(tags),
            Err(message) => {
                errors.insert("tags".into(), json!([message]));
                None
            }
        },
    };

    if errors.is_empty() {
        Ok(Resolved { parent_id, tags })
    } else {
        Err(errors)
    }
}

/// Finds the parent a reference names and rejects the role itself or one of its descendants.
fn resolve_parent(
    reference: &RelatedRef,
    own_id: Option<i64>,
    roles: &[SecretRoleRow],
) -> Result<i64, String> {
    let parent = reference.resolve(roles, |row| row.id, role_attribute)?;

    if let Some(own_id) = own_id {
        let mut ancestor = Some(parent);
        while let Some(role) = ancestor {
            if role.id == own_id {
                return Err(INVALID_PARENT.to_string());
            }
            let parent_id = role.parent.as_ref().map(|parent| parent.id);
            ancestor = parent_id.and_then(|id| roles.iter().find(|row| row.id == id));
        }
    }
    Ok(parent.id)
}

/// NetBox's message for a parent that would make a cycle in a nested-group tree.
const INVALID_PARENT: &str = "Cannot assign self or child secret role as parent.";

fn role_attribute(row: &SecretRoleRow, name: &str) -> Option<Value> {
    match name {
        "id" => Some(Value::from(row.id)),
        "name" => Some(Value::from(row.name.as_str())),
        "slug" => Some(Value::from(row.slug.as_str())),
        "description" => Some(Value::from(row.description.as_str())),
        "comments" => Some(Value::from(row.comments.as_str())),
        _ => None,
    }
}

fn new_role(input: &RoleInput, resolved: &Resolved) -> NewSecretRole {
    NewSecretRole {
        name: input.name.clone().unwrap_or_default(),
        slug: input.slug.clone().unwrap_or_default(),
        parent_id: resolved.parent_id.flatten(),
        description: input.description.clone().unwrap_or_default(),
        comments: input.comments.clone().unwrap_or_default(),
        custom_fields: Value::Object(input.custom_fields.clone().unwrap_or_default()),
    }
}

/// The update of a stored role; given custom fields are merged into the stored ones.
fn changes(input: &RoleInput, resolved: &Resolved, current: &SecretRoleRow) -> SecretRoleChanges {
    let custom_fields = input.custom_fields.as_ref().map(|given| {
        let mut merged = match &current.custom_fields {
            Value::Object(stored) => stored.clone(),
            _ => Map::new(),
        };
        merged.extend(given.clone());
        Value::Object(merged)
    });

    SecretRoleChanges {
        name: input.name.clone(),
        slug: input.slug.clone(),
        parent_id: resolved.parent_id,
        description: input.description.clone(),
        comments: input.comments.clone(),
        custom_fields,
    }
}

/// Maps a store failure of one write to its field errors; other failures end the request.
fn store_failure(err: StoreError) -> Result<WriteFailure, StoreError> {
    let fields = match err {
        StoreError::Conflict(columns) if columns.contains("slug") => {
            json!({"slug": ["Secret Role with this slug already exists."]})
        }
        StoreError::Conflict(columns) if columns.contains("name") => {
            json!({"name": ["Secret Role with this name already exists."]})
        }
        StoreError::InvalidParent => json!({"parent": [INVALID_PARENT]}),
        StoreError::MissingReference => {
            json!({"parent": ["Related object not found using the provided attributes."]})
        }
        StoreError::NotFound => return Ok(WriteFailure::NotFound),
        other => return Err(other),
    };

    match fields {
        Value::Object(fields) => Ok(WriteFailure::Fields(fields)),
        _ => Ok(WriteFailure::NotFound),
    }
}

/// Replies to a create or single update: one object, or a list for a list request.
fn reply_batch(
    call: &Call,
    status: StatusCode,
    outcome: BatchOutcome,
    is_list: bool,
    verb: &str,
) -> Result<Response<BoxBody>, ApiError> {
    let failures = match outcome {
        Ok(entries) => return Ok(reply_entries(call, status, &entries, is_list)),
        Err(failures) => failures,
    };

    if is_list {
        return Err(bulk_failure_by_index(failures, verb));
    }
    let failure = failures.into_iter().next().map(|(_, failure)| failure);
    Err(match failure {
        Some(WriteFailure::Fields(fields)) => ApiError::Fields(fields),
        Some(WriteFailure::Forbidden) => ApiError::forbidden(),
        Some(WriteFailure::NotFound) | None => ApiError::not_found(MODEL_NAME),
    })
}

fn reply_entries(call: &Call, status: StatusCode, entries: &[RoleEntry], is_list: bool) -> Response<BoxBody> {
    let selection = call.selection();
    let mut bodies: Vec<Value> = entries
        .iter()
        .map(|entry| selection.apply(represent(&call.urls, entry), BRIEF_FIELDS))
        .collect();

    if is_list {
        call.json(status, &Value::Array(bodies))
    } else {
        let body = bodies.pop().unwrap_or(Value::Null);
        call.json(status, &body)
    }
}

/// NetBox 4.7's bulk envelope for failed creates, keyed by position in the request.
fn bulk_failure_by_index(failures: Vec<(usize, WriteFailure)>, verb: &str) -> ApiError {
    let total = failures.len();
    let errors: Vec<Value> = failures
        .into_iter()
        .map(|(index, failure)| json!({"index": index, "errors": failure_body(failure)}))
        .collect();
    bulk_envelope(errors, total, verb)
}

/// NetBox 4.7's bulk envelope for failed updates, keyed by object id. Missing objects are
/// reported as a failed lookup.
fn bulk_failure(failures: Vec<(usize, WriteFailure)>, total: usize, ids: &[i64], verb: &str) -> ApiError {
    let verb = if failures.iter().any(|(_, failure)| matches!(failure, WriteFailure::NotFound)) {
        "found"
    } else {
        verb
    };
    let errors: Vec<Value> = failures
        .into_iter()
        .map(|(position, failure)| json!({"id": ids[position], "errors": failure_body(failure)}))
        .collect();
    let count = errors.len();

    let detail = format!("{count} of {total} objects could not be {verb}.");
    ApiError::Json(StatusCode::BAD_REQUEST, json!({"detail": detail, "errors": errors}))
}

fn bulk_envelope(errors: Vec<Value>, total: usize, verb: &str) -> ApiError {
    let detail = format!("{} of {total} objects could not be {verb}.", errors.len());
    ApiError::Json(StatusCode::BAD_REQUEST, json!({"detail": detail, "errors": errors}))
}

/// Input errors found before touching the store, as a bulk envelope.
fn bulk_input_error(
    errors: Vec<(i64, Map<String, Value>)>,
    total: usize,
    verb: &str,
    key: &str,
) -> ApiError {
    let errors = errors
        .into_iter()
        .map(|(position, fields)| json!({key: position, "errors": fields}))
        .collect();
    bulk_envelope(errors, total, verb)
}

fn failure_body(failure: WriteFailure) -> Value {
    match failure {
        WriteFailure::Fields(fields) => Value::Object(fields),
        WriteFailure::NotFound => json!({"detail": format!("No {MODEL_NAME} matches the given query.")}),
        WriteFailure::Forbidden => json!({"detail": super::error::NO_PERMISSION}),
    }
}

async fn delete_one(call: &Call, scope: &Scope, id: i64) -> Result<Response<BoxBody>, ApiError> {
    delete_roles(call, scope, vec![id], false).await?;
    Ok(call.no_content())
}

async fn bulk_delete(call: &Call, scope: &Scope) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk_items(&payload.data)?;
    let ids = bulk_ids(items)?;

    delete_roles(call, scope, ids, true).await?;
    Ok(call.no_content())
}

/// Deletes roles (and by cascade their descendants) in one transaction. A role that a secret
/// uses, directly or through a descendant, blocks the whole request with 409.
async fn delete_roles(call: &Call, scope: &Scope, ids: Vec<i64>, bulk: bool) -> Result<(), ApiError> {
    let scope = scope.clone();
    let total = ids.len();

    let outcome = call
        .state
        .store
        .write(move |transaction| {
            let roles = secret_roles::list(transaction)?;
            let missing: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| !roles.iter().any(|row| row.id == *id && in_scope(&scope, row)))
                .collect();
            if !missing.is_empty() {
                return Ok(Err(DeleteFailure::Missing(missing)));
            }

            transaction.execute_batch(&format!("SAVEPOINT {SAVEPOINT}"))?;
            for id in &ids {
                match secret_roles::delete(transaction, *id) {
                    // An earlier delete in this request already removed it with its ancestor.
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(StoreError::InUse(dependents)) => {
                        transaction.execute_batch(&format!(
                            "ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"
                        ))?;
                        return Ok(Err(DeleteFailure::InUse(dependents)));
                    }
                    Err(other) => return Err(other),
                }
            }
            transaction.execute_batch(&format!("RELEASE {SAVEPOINT}"))?;
            Ok(Ok(()))
        })
        .await?;

    match outcome {
        Ok(()) => Ok(()),
        Err(DeleteFailure::InUse(dependents)) => Err(protected_error(&dependents)),
        Err(DeleteFailure::Missing(_)) if !bulk => Err(ApiError::not_found(MODEL_NAME)),
        Err(DeleteFailure::Missing(missing)) => {
            let errors = missing
                .iter()
                .map(|id| json!({"id": id, "errors": failure_body(WriteFailure::NotFound)}))
                .collect();
            Err(bulk_envelope(errors, total, "found"))
        }
    }
}

enum DeleteFailure {
    Missing(Vec<i64>),
    InUse(Vec<String>),
}

/// NetBox's 409 for a delete blocked by protected references.
fn protected_error(dependents: &[String]) -> ApiError {
    let detail = format!(
        "Unable to delete object. {} dependent objects were found: {}",
        dependents.len(),
        dependents.join(", ")
    );
    ApiError::Detail(StatusCode::CONFLICT, detail)
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
        let relations = RelationFilters::compile(&query, &entries)?;
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
            ("created__gte=2026-01-01&last_updated__empty=true", &[1, 2, 3, 4]),
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
            ("tag_id=abc", "tag_id"),
            ("owner_id=1", "owner_id"),
        ] {
            match matching(raw) {
                Err(ApiError::Fields(fields)) => {
                    assert!(fields.contains_key(parameter), "query {raw}: {fields:?}")
                }
                other => panic!("query {raw}: expected field errors, got {:?}", other.is_ok()),
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
