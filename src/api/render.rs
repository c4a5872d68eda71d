//! JSON pieces shared by several representations: nested users and tags.

use serde_json::{json, Value};

use super::urls::Urls;
use crate::store::tags::TagRow;

/// NetBox's nested user: `{"id", "url", "display", "username"}`.
pub fn nested_user(urls: &Urls, id: i64, username: &str, display: &str) -> Value {
    json!({
        "id": id,
        "url": urls.netbox(&format!("api/users/users/{id}/")),
        "display": display,
        "username": username,
    })
}

/// NetBox's nested tag list.
pub fn nested_tags(urls: &Urls, tags: &[TagRow]) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .map(|tag| {
            json!({
                "id": tag.id,
                "url": urls.netbox(&format!("api/extras/tags/{}/", tag.id)),
                "display_url": urls.netbox(&format!("extras/tags/{}/", tag.id)),
                "display": tag.name,
                "name": tag.name,
                "slug": tag.slug,
                "color": tag.color,
            })
        })
        .collect();
    Value::Array(tags)
}
