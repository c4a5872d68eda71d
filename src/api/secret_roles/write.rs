//! Role creates and updates, single and bulk, each request in one transaction.

use super::*;

/// One write of a batch: a create without `id`, else an update. `tags` were resolved
/// against NetBox before the transaction.
pub(super) struct Write {
    id: Option<i64>,
    input: RoleInput,
    tags: Option<Vec<TagRow>>,
}

/// The result of a batch: every written role, or the failures by position with nothing kept.
type BatchOutcome = Result<Vec<RoleEntry>, Vec<(usize, ItemFailure)>>;

pub(super) async fn create(call: &Call, scope: &Scope) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;

    let (writes, is_list) = match &payload.data {
        Value::Array(items) => {
            let inputs = parse_batch(items, false).map_err(|errors| {
                let failures = errors
                    .into_iter()
                    .map(|(index, fields)| (index, ItemFailure::Fields(fields)))
                    .collect();
                bulk::failures_by_index(failures, items.len())
            })?;
            (
                inputs.into_iter().map(|input| (None, input)).collect(),
                true,
            )
        }
        single => {
            let input = parse_role(single, false).map_err(ApiError::Fields)?;
            (vec![(None, input)], false)
        }
    };

    let total = writes.len();
    let outcome = match prepare(call, writes).await? {
        Ok(writes) => run_batch(call, scope, writes).await?,
        Err(failures) => Err(failures),
    };
    reply_batch(call, StatusCode::CREATED, outcome, is_list, total)
}

pub(super) async fn update_one(
    call: &Call,
    scope: &Scope,
    id: i64,
    partial: bool,
) -> Result<Response<BoxBody>, ApiError> {
    // As DRF looks the object up before it validates the body, a missing role is a 404.
    let found = call
        .state
        .store
        .read(move |connection| secret_roles::get(connection, id))
        .await?;
    if !found.is_some_and(|row| in_scope(scope, &row)) {
        return Err(ApiError::not_found(MODEL_NAME));
    }

    let payload = call.payload(FormBodies::Rejected).await?;
    let input = parse_role(&payload.data, partial).map_err(ApiError::Fields)?;

    let outcome = match prepare(call, vec![(Some(id), input)]).await? {
        Ok(writes) => run_batch(call, scope, writes).await?,
        Err(failures) => Err(failures),
    };
    reply_batch(call, StatusCode::OK, outcome, false, 1)
}

pub(super) async fn bulk_update(
    call: &Call,
    scope: &Scope,
    partial: bool,
) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk::items(&payload.data)?;
    let ids = bulk::ids(items)?;
    check_roles_exist(call, scope, &ids).await?;

    let inputs = parse_batch(items, partial).map_err(|errors| {
        let failures = errors
            .into_iter()
            .map(|(index, fields)| (ids[index], ItemFailure::Fields(fields)))
            .collect();
        bulk::failures_by_id(failures, items.len(), "updated")
    })?;
    let writes = ids.iter().map(|id| Some(*id)).zip(inputs).collect();

    let outcome = match prepare(call, writes).await? {
        Ok(writes) => run_batch(call, scope, writes).await?,
        Err(failures) => Err(failures),
    };
    match outcome {
        Ok(entries) => Ok(reply_entries(call, StatusCode::OK, &entries, true)),
        Err(failures) => {
            let failures = failures
                .into_iter()
                .map(|(position, failure)| (ids[position], failure))
                .collect();
            Err(bulk::failures_by_id(failures, items.len(), "updated"))
        }
    }
}

/// Rejects a bulk update when any id names no role the caller can see, before any entry is
/// validated.
async fn check_roles_exist(call: &Call, scope: &Scope, ids: &[i64]) -> Result<(), ApiError> {
    let scope = scope.clone();
    let visible: Vec<i64> = call
        .state
        .store
        .read(move |connection| {
            let roles = secret_roles::list(connection)?;
            let visible = roles
                .iter()
                .filter(|row| in_scope(&scope, row))
                .map(|row| row.id)
                .collect();
            Ok(visible)
        })
        .await?;

    bulk::check_found(ids, |id| visible.contains(&id))
}

/// Resolves the tags of every input against NetBox. A reference NetBox does not know fails
/// that input; NetBox being unreachable fails the request.
pub(super) async fn prepare(
    call: &Call,
    inputs: Vec<(Option<i64>, RoleInput)>,
) -> Result<Result<Vec<Write>, Vec<(usize, ItemFailure)>>, ApiError> {
    let mut writes = Vec::with_capacity(inputs.len());
    let mut failures = Vec::new();

    for (position, (id, input)) in inputs.into_iter().enumerate() {
        let tags = match &input.tags {
            None => None,
            Some(value) => match resolve_tags(call, value).await {
                Ok(tags) => Some(tags),
                Err(ApiError::Fields(fields)) => {
                    failures.push((position, ItemFailure::Fields(fields)));
                    continue;
                }
                Err(other) => return Err(other),
            },
        };
        writes.push(Write { id, input, tags });
    }

    if failures.is_empty() {
        Ok(Ok(writes))
    } else {
        Ok(Err(failures))
    }
}

/// Runs writes in one store transaction; when any fails, none is kept.
pub(super) async fn run_batch(
    call: &Call,
    scope: &Scope,
    writes: Vec<Write>,
) -> Result<BatchOutcome, ApiError> {
    let scope = scope.clone();

    let outcome = call
        .state
        .store
        .write(move |transaction| {
            bulk::in_savepoint(transaction, |connection| {
                apply_writes(connection, &scope, writes)
            })
        })
        .await?;
    Ok(outcome)
}

pub(super) fn apply_writes(
    connection: &rusqlite::Connection,
    scope: &Scope,
    writes: Vec<Write>,
) -> Result<BatchOutcome, StoreError> {
    let mut written = Vec::new();
    let mut failures = Vec::new();

    for (position, write) in writes.into_iter().enumerate() {
        match apply_write(connection, scope, write)? {
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
pub(super) fn apply_write(
    connection: &rusqlite::Connection,
    scope: &Scope,
    write: Write,
) -> Result<Result<i64, ItemFailure>, StoreError> {
    let roles = secret_roles::list(connection)?;
    let Write { id, input, tags } = write;
    let current = match id {
        None => None,
        Some(id) => match roles.iter().find(|row| row.id == id) {
            Some(row) if in_scope(scope, row) => Some(row.clone()),
            _ => return Ok(Err(ItemFailure::NotFound)),
        },
    };

    let resolved = match resolve_input(&input, current.as_ref(), &roles, tags) {
        Ok(resolved) => resolved,
        Err(fields) => return Ok(Err(ItemFailure::Fields(fields))),
    };
    let slug = input
        .slug
        .clone()
        .or_else(|| current.as_ref().map(|row| row.slug.clone()))
        .unwrap_or_default();
    if !scope.allows_role(&slug) {
        return Ok(Err(ItemFailure::Forbidden));
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
pub(super) struct Resolved {
    /// `Some(None)`: make the role a root.
    parent_id: Option<Option<i64>>,
    tags: Option<Vec<TagRow>>,
}

/// Resolves `parent` and checks that name and slug are free.
pub(super) fn resolve_input(
    input: &RoleInput,
    current: Option<&SecretRoleRow>,
    roles: &[SecretRoleRow],
    tags: Option<Vec<TagRow>>,
) -> Result<Resolved, Map<String, Value>> {
    let mut errors = Map::new();
    let own_id = current.map(|row| row.id);

    if let Some(name) = &input.name {
        if roles
            .iter()
            .any(|row| row.name == *name && Some(row.id) != own_id)
        {
            errors.insert(
                "name".into(),
                json!(["Secret Role with this name already exists."]),
            );
        }
    }
    if let Some(slug) = &input.slug {
        if roles
            .iter()
            .any(|row| row.slug == *slug && Some(row.id) != own_id)
        {
            errors.insert(
                "slug".into(),
                json!(["Secret Role with this slug already exists."]),
            );
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

    if errors.is_empty() {
        Ok(Resolved { parent_id, tags })
    } else {
        Err(errors)
    }
}

/// Finds the parent a reference names and rejects the role itself or one of its descendants.
pub(super) fn resolve_parent(
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
pub(super) const INVALID_PARENT: &str = "Cannot assign self or child secret role as parent.";

pub(super) fn role_attribute(row: &SecretRoleRow, name: &str) -> Option<Value> {
    match name {
        "id" => Some(Value::from(row.id)),
        "name" => Some(Value::from(row.name.as_str())),
        "slug" => Some(Value::from(row.slug.as_str())),
        "description" => Some(Value::from(row.description.as_str())),
        "comments" => Some(Value::from(row.comments.as_str())),
        _ => None,
    }
}

pub(super) fn new_role(input: &RoleInput, resolved: &Resolved) -> NewSecretRole {
    NewSecretRole {
        name: input.name.clone().unwrap_or_default(),
        slug: input.slug.clone().unwrap_or_default(),
        parent_id: resolved.parent_id.flatten(),
        description: input.description.clone().unwrap_or_default(),
        comments: input.comments.clone().unwrap_or_default(),
        custom_fields: Value::Object(input.custom_fields.clone().unwrap_or_default()),
    }
}

/// Builds the update of a stored role. Given custom fields are merged into the stored ones.
pub(super) fn changes(
    input: &RoleInput,
    resolved: &Resolved,
    current: &SecretRoleRow,
) -> SecretRoleChanges {
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
pub(super) fn store_failure(err: StoreError) -> Result<ItemFailure, StoreError> {
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
        StoreError::NotFound => return Ok(ItemFailure::NotFound),
        other => return Err(other),
    };

    match fields {
        Value::Object(fields) => Ok(ItemFailure::Fields(fields)),
        _ => Ok(ItemFailure::NotFound),
    }
}

/// Replies to a create or single update: one object, or a list for a list request. `total`
/// is the number of objects in the request.
pub(super) fn reply_batch(
    call: &Call,
    status: StatusCode,
    outcome: BatchOutcome,
    is_list: bool,
    total: usize,
) -> Result<Response<BoxBody>, ApiError> {
    let failures = match outcome {
        Ok(entries) => return Ok(reply_entries(call, status, &entries, is_list)),
        Err(failures) => failures,
    };

    if is_list {
        return Err(bulk::failures_by_index(failures, total));
    }
    let failure = failures.into_iter().next().map(|(_, failure)| failure);
    Err(match failure {
        Some(ItemFailure::Fields(fields)) => ApiError::Fields(fields),
        Some(ItemFailure::Forbidden) => ApiError::forbidden(),
        Some(ItemFailure::NotFound) | None => ApiError::not_found(MODEL_NAME),
        Some(ItemFailure::Protected(_)) => {
            ApiError::Internal("a role write failed as a blocked delete".into())
        }
    })
}

pub(super) fn reply_entries(
    call: &Call,
    status: StatusCode,
    entries: &[RoleEntry],
    is_list: bool,
) -> Response<BoxBody> {
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
