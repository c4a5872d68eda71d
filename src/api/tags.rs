//! Tag references in request bodies, resolved against NetBox's tags with the caller's
//! credentials and stored as a snapshot next to the object.

use serde_json::Value;

use super::call::Call;
use super::error::ApiError;
use super::related::python_repr;
use super::request::as_integer;
use crate::store::tags::TagRow;

/// Resolves a `tags` list of ids, numeric strings or `{"id"|"slug"|"name": …}` objects.
pub async fn resolve_tags(call: &Call, value: &Value) -> Result<Vec<TagRow>, ApiError> {
    let references = match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };

    let mut tags: Vec<TagRow> = Vec::new();
    for reference in &references {
        let (filter, described) = tag_filter(reference)?;
        let found = fetch_tags(call, &filter).await?.unwrap_or_default();

        match found.as_slice() {
            [tag] => {
                if !tags.iter().any(|known| known.id == tag.id) {
                    tags.push(tag.clone());
                }
            }
            [] => {
                return Err(ApiError::field(
                    "tags",
                    format!("Related object not found using the provided {described}"),
                ))
            }
            _ => {
                return Err(ApiError::field(
                    "tags",
                    format!("Multiple objects match the provided {described}"),
                ))
            }
        }
    }

    Ok(tags)
}

/// Returns the NetBox filter for one reference and how an error message names it.
fn tag_filter(reference: &Value) -> Result<(String, String), ApiError> {
    if let Some(id) = as_integer(reference) {
        return Ok((format!("id={id}"), format!("numeric ID: {id}")));
    }

    let Value::Object(attributes) = reference else {
        return Err(ApiError::field(
            "tags",
            "Related objects must be referenced by numeric ID or by dictionary of attributes.",
        ));
    };

    let mut filters = Vec::new();
    for (name, value) in attributes {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if !matches!(name.as_str(), "id" | "slug" | "name" | "color") {
            return Err(ApiError::field(
                "tags",
                format!("Unknown tag attribute: {name}"),
            ));
        }
        filters.push(format!("{name}={}", encode(&text)));
    }

    Ok((
        filters.join("&"),
        format!(
            "attributes: {}",
            python_repr(&Value::Object(attributes.clone()))
        ),
    ))
}

/// Rejects `tag` and `tag__n` slugs and `tag_id` ids that name no NetBox tag, with the 400
/// that NetBox's choice filters return. When NetBox does not let the caller list tags, the
/// values are not checked and filter by the tags stored with each object as usual.
pub async fn check_tag_filters(call: &Call) -> Result<(), ApiError> {
    for parameter in ["tag", "tag__n"] {
        let slugs = call.query.non_empty(parameter);
        if slugs.is_empty() {
            continue;
        }

        let filter = lookup_filter("slug", slugs.iter().map(|slug| encode(slug)));
        let Some(found) = fetch_tags(call, &filter).await? else {
            return Ok(());
        };
        if let Some(unknown) = slugs
            .iter()
            .find(|slug| !found.iter().any(|tag| &tag.slug == *slug))
        {
            return Err(invalid_choice(parameter, unknown));
        }
    }

    let ids = call.query.integers("tag_id")?;
    if ids.is_empty() {
        return Ok(());
    }
    let filter = lookup_filter("id", ids.iter().map(i64::to_string));
    let Some(found) = fetch_tags(call, &filter).await? else {
        return Ok(());
    };
    match ids
        .iter()
        .find(|id| !found.iter().any(|tag| tag.id == **id))
    {
        Some(unknown) => Err(invalid_choice("tag_id", &unknown.to_string())),
        None => Ok(()),
    }
}

fn lookup_filter(name: &str, values: impl Iterator<Item = String>) -> String {
    values
        .map(|value| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn invalid_choice(parameter: &str, value: &str) -> ApiError {
    ApiError::field(
        parameter,
        format!("Select a valid choice. {value} is not one of the available choices."),
    )
}

/// Lists the NetBox tags matching `filter` with the caller's credentials. Returns `None` when
/// NetBox rejects the request, for example because the caller may not view tags.
async fn fetch_tags(call: &Call, filter: &str) -> Result<Option<Vec<TagRow>>, ApiError> {
    let path = format!(
        "{}extras/tags/?brief=1&limit=0&{filter}",
        call.state.settings.api_root
    );
    let reply = call
        .state
        .netbox
        .get(&path, call.caller.credential(), &call.caller.origin)
        .await?;
    if !reply.status.is_success() {
        return Ok(None);
    }

    let body = reply.json()?;
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();

    Ok(Some(results.iter().filter_map(tag_row).collect()))
}

fn tag_row(tag: &Value) -> Option<TagRow> {
    Some(TagRow {
        id: tag.get("id")?.as_i64()?,
        name: tag.get("name")?.as_str()?.to_string(),
        slug: tag.get("slug")?.as_str()?.to_string(),
        color: tag.get("color")?.as_str().unwrap_or("").to_string(),
    })
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
