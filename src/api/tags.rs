//! Tag references in request bodies, resolved against NetBox's tags with the caller's
//! credentials and stored as a snapshot next to the object.

use std::collections::HashMap;
use std::sync::MutexGuard;

use serde_json::Value;

use super::call::Call;
use super::error::ApiError;
use super::related::python_repr;
use super::request::as_integer;
#[cfg(test)]
use super::request::Query;
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

/// NetBox's tag filters on a list: every tag named by `tag` and `tag_id` must be present, and
/// none named by `tag__n` and `tag_id__n`.
#[derive(Debug, Default)]
pub struct TagFilter {
    required: Vec<TagRef>,
    excluded: Vec<TagRef>,
}

/// One tag a filter names: by id, or by slug when NetBox could not be asked for the id.
#[derive(Debug, PartialEq, Eq)]
enum TagRef {
    Id(i64),
    Slug(String),
}

impl TagFilter {
    /// Reads the tag filters and checks each value against NetBox's tags with the caller's
    /// credentials, giving NetBox's 400 for a value that names no tag. Slugs become tag ids, so
    /// a tag renamed in NetBox is found by its new slug. When NetBox rejects the tag lookup, for
    /// example because the caller may not view tags, values are not checked and slugs are
    /// compared with the tags stored with each object.
    pub async fn read(call: &Call) -> Result<TagFilter, ApiError> {
        let mut filter = TagFilter::default();

        for (parameter, required) in [("tag", true), ("tag__n", false)] {
            let slugs = call.query.all(parameter);
            if slugs.is_empty() {
                continue;
            }
            if slugs.iter().any(|slug| slug.contains('\0')) {
                return Err(ApiError::field(
                    parameter,
                    "Null characters are not allowed.",
                ));
            }

            let lookup = slugs.iter().filter(|slug| !slug.is_empty());
            let found = fetch_tags(call, &lookup_filter("slug", lookup.map(|s| encode(s)))).await?;
            for slug in slugs {
                let tag = match &found {
                    None => TagRef::Slug(slug.to_string()),
                    Some(tags) => match tags.iter().find(|tag| tag.slug == slug) {
                        Some(tag) => TagRef::Id(tag.id),
                        None => return Err(invalid_choice(parameter, slug)),
                    },
                };
                filter.push(tag, required);
            }
        }

        for (parameter, required) in [("tag_id", true), ("tag_id__n", false)] {
            let values = call.query.all(parameter);
            if values.is_empty() {
                continue;
            }

            let mut ids = Vec::with_capacity(values.len());
            for value in values {
                let id: i64 = value.trim().parse().map_err(|_| {
                    ApiError::field(
                        parameter,
                        format!("\u{201c}{value}\u{201d} is not a valid value."),
                    )
                })?;
                ids.push(id);
            }
            let found =
                fetch_tags(call, &lookup_filter("id", ids.iter().map(i64::to_string))).await?;
            if let Some(tags) = &found {
                if let Some(unknown) = ids.iter().find(|id| !tags.iter().any(|tag| tag.id == **id))
                {
                    return Err(invalid_choice(parameter, &unknown.to_string()));
                }
            }
            for id in ids {
                filter.push(TagRef::Id(id), required);
            }
        }

        Ok(filter)
    }

    /// Builds the filter from the query without asking NetBox: slugs stay slugs, and `tag_id`
    /// values that are not integers are ignored. Unit tests use it in place of [`TagFilter::read`].
    #[cfg(test)]
    pub fn from_query(query: &Query) -> TagFilter {
        let mut filter = TagFilter::default();
        for (parameter, required) in [("tag", true), ("tag__n", false)] {
            for slug in query.all(parameter) {
                filter.push(TagRef::Slug(slug.to_string()), required);
            }
        }
        for (parameter, required) in [("tag_id", true), ("tag_id__n", false)] {
            for value in query.all(parameter) {
                if let Ok(id) = value.trim().parse() {
                    filter.push(TagRef::Id(id), required);
                }
            }
        }
        filter
    }

    /// Returns whether an object with these stored tags passes the filter.
    pub fn matches(&self, tags: &[TagRow]) -> bool {
        let has = |wanted: &TagRef| {
            tags.iter().any(|tag| match wanted {
                TagRef::Id(id) => tag.id == *id,
                TagRef::Slug(slug) => tag.slug == *slug,
            })
        };
        self.required.iter().all(has) && !self.excluded.iter().any(has)
    }

    fn push(&mut self, tag: TagRef, required: bool) {
        match required {
            true => self.required.push(tag),
            false => self.excluded.push(tag),
        }
    }
}

fn lookup_filter<'a>(name: &str, values: impl Iterator<Item = String> + 'a) -> String {
    values
        .map(|value| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Builds the 400 NetBox's choice filters give for a value that names no object.
pub fn invalid_choice(parameter: &str, value: &str) -> ApiError {
    ApiError::field(
        parameter,
        format!("Select a valid choice. {value} is not one of the available choices."),
    )
}

/// Lists the NetBox tags matching `filter` with the caller's credentials. Returns `None` when
/// NetBox rejects the request, for example because the caller may not view tags.
async fn fetch_tags(call: &Call, filter: &str) -> Result<Option<Vec<TagRow>>, ApiError> {
    if let Some(known) = lock_lookups(call).get(filter) {
        return Ok(known.clone());
    }

    let found = fetch_tags_from_netbox(call, filter).await?;
    lock_lookups(call).insert(filter.to_string(), found.clone());
    Ok(found)
}

fn lock_lookups(call: &Call) -> MutexGuard<'_, HashMap<String, Option<Vec<TagRow>>>> {
    // A panic while the map was locked leaves it consistent: entries are inserted whole.
    call.tag_lookups
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn fetch_tags_from_netbox(
    call: &Call,
    filter: &str,
) -> Result<Option<Vec<TagRow>>, ApiError> {
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
