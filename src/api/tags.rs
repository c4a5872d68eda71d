//! Tag references in request bodies, resolved against NetBox's tags with the caller's
//! credentials and stored as a snapshot next to the object.

use serde_json::Value;

use super::call::Call;
use super::error::ApiError;
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
        let found = fetch_tags(call, &filter).await?;

        match found.as_slice() {
            [tag] => {
                if !tags.iter().any(|known| known.id == tag.id) {
                    tags.push(tag.clone());
                }
            }
            [] => {
                return Err(ApiError::field(
                    "tags",
                    format!("Related object not found using the provided {described}."),
                ))
            }
            _ => {
                return Err(ApiError::field(
                    "tags",
                    format!("Multiple objects match the provided {described}."),
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
        format!("attributes: {}", Value::Object(attributes.clone())),
    ))
}

async fn fetch_tags(call: &Call, filter: &str) -> Result<Vec<TagRow>, ApiError> {
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
        return Ok(Vec::new());
    }

    let body = reply.json()?;
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();

    Ok(results.iter().filter_map(tag_row).collect())
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
