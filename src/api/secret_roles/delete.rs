//! Role deletes, single and bulk, refused while secrets use the role or a descendant.

use super::*;

pub(super) async fn delete_one(
    call: &Call,
    scope: &Scope,
    id: i64,
) -> Result<Response<BoxBody>, ApiError> {
    delete_roles(call, scope, vec![id], false).await?;
    Ok(call.no_content())
}

pub(super) async fn bulk_delete(call: &Call, scope: &Scope) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;
    let items = bulk::items(&payload.data)?;
    let ids = bulk::ids(items)?;

    delete_roles(call, scope, ids, true).await?;
    Ok(call.no_content())
}

/// Deletes roles (and by cascade their descendants) in one transaction. A role that a secret
/// uses, directly or through a descendant, blocks the whole request with 409: a single delete
/// names the dependent secrets, and a bulk delete reports each blocked role with their count,
/// as NetBox's bulk delete does.
pub(super) async fn delete_roles(
    call: &Call,
    scope: &Scope,
    ids: Vec<i64>,
    bulk: bool,
) -> Result<(), ApiError> {
    let scope = scope.clone();
    let requested = ids.clone();

    let outcome = call
        .state
        .store
        .write(move |transaction| {
            let roles = secret_roles::list(transaction)?;
            let missing: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| {
                    !roles
                        .iter()
                        .any(|row| row.id == *id && in_scope(&scope, row))
                })
                .collect();
            if !missing.is_empty() {
                return Ok(Err(DeleteFailure::Missing(missing)));
            }

            bulk::in_savepoint(transaction, |connection| delete_all(connection, &ids))
        })
        .await?;

    match outcome {
        Ok(()) => Ok(()),
        Err(DeleteFailure::InUse(blocked)) if bulk => {
            let failures = blocked
                .into_iter()
                .map(|(id, dependents)| (id, ItemFailure::Protected(dependents.len())))
                .collect();
            Err(bulk::failures_by_id(failures, requested.len(), "deleted"))
        }
        Err(DeleteFailure::InUse(blocked)) => {
            let dependents = blocked.into_iter().flat_map(|(_, names)| names).collect();
            let shown = hide_invisible_dependents(call, dependents).await?;
            Err(protected_error(&shown))
        }
        Err(DeleteFailure::Missing(_)) if !bulk => Err(ApiError::not_found(MODEL_NAME)),
        Err(DeleteFailure::Missing(missing)) => {
            bulk::check_found(&requested, |id| !missing.contains(&id))
        }
    }
}

/// Deletes the roles one by one. A role that a secret still uses is skipped and reported with
/// its dependents, and the roles after it are still tried, so that every blocked role is
/// reported.
fn delete_all(
    connection: &rusqlite::Connection,
    ids: &[i64],
) -> Result<Result<(), DeleteFailure>, StoreError> {
    let mut blocked = Vec::new();

    for id in ids {
        match secret_roles::delete(connection, *id) {
            // An earlier delete in this request already removed it with its ancestor.
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(StoreError::InUse(dependents)) => blocked.push((*id, dependents)),
            Err(other) => return Err(other),
        }
    }

    match blocked.is_empty() {
        true => Ok(Ok(())),
        false => Ok(Err(DeleteFailure::InUse(blocked))),
    }
}

/// Replaces the names of dependent secrets the caller cannot see, so a blocked delete does not
/// reveal them. The store writes each dependent as `<name> (<id>)`.
async fn hide_invisible_dependents(
    call: &Call,
    dependents: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    let visible: HashSet<i64> = super::super::secrets::visible_secret_roles(call)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();

    Ok(dependents
        .into_iter()
        .map(|dependent| match dependent_id(&dependent) {
            Some(id) if visible.contains(&id) => dependent,
            _ => "a secret you cannot view".to_string(),
        })
        .collect())
}

fn dependent_id(dependent: &str) -> Option<i64> {
    let (_, tail) = dependent.rsplit_once(" (")?;
    tail.strip_suffix(')')?.parse().ok()
}

pub(super) enum DeleteFailure {
    Missing(Vec<i64>),
    /// Each blocked role with its dependent secrets, written `<name> (<id>)`.
    InUse(Vec<(i64, Vec<String>)>),
}

/// NetBox's 409 for a delete blocked by protected references.
pub(super) fn protected_error(dependents: &[String]) -> ApiError {
    let detail = format!(
        "Unable to delete object. {} dependent objects were found: {}",
        dependents.len(),
        dependents.join(", ")
    );
    ApiError::Detail(StatusCode::CONFLICT, detail)
}
