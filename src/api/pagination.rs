//! NetBox's list pagination: `limit`/`offset` pages and `start` cursors, with links on the
//! public origin.

use serde_json::{Map, Value};

use super::error::ApiError;
use super::request::Query;
use super::urls::{python_urlencode, Urls};

/// Page-size settings, NetBox's `PAGINATE_COUNT` and `MAX_PAGE_SIZE`.
#[derive(Clone, Copy, Debug)]
pub struct PageSettings {
    pub default_limit: usize,
    pub max_limit: usize,
}

/// Slice of a list to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRequest {
    Offset { limit: usize, offset: usize },
    Cursor { limit: usize, start: i64 },
}

impl PageRequest {
    /// Reads `limit`, `offset` and `start` as NetBox does: an invalid limit falls back to the
    /// default, `limit=0` and limits above the cap mean the cap.
    pub fn from_query(query: &Query, settings: PageSettings) -> Result<PageRequest, ApiError> {
        let limit = match query.get("limit").map(str::parse::<i64>) {
            Some(Ok(0)) => settings.max_limit,
            Some(Ok(limit)) if limit > 0 => (limit as usize).min(settings.max_limit),
            _ => settings.default_limit,
        };

        let Some(start) = query.get("start") else {
            let offset = query
                .get("offset")
                .and_then(|offset| offset.parse::<usize>().ok())
                .unwrap_or(0);
            return Ok(PageRequest::Offset { limit, offset });
        };

        if query.get("offset").is_some() {
            return Err(list_error("'start' and 'offset' are mutually exclusive."));
        }
        if query.get("ordering").is_some() {
            return Err(list_error(
                "Ordering cannot be specified in conjunction with cursor-based pagination.",
            ));
        }
        match start.parse::<i64>() {
            Ok(start) if start >= 0 => Ok(PageRequest::Cursor { limit, start }),
            _ => Err(list_error(
                "Invalid 'start' parameter: must be a non-negative integer.",
            )),
        }
    }
}

fn list_error(message: &str) -> ApiError {
    ApiError::Messages(vec![message.to_string()])
}

/// Target of page links: the public path of the list and its query.
pub struct PageLinks<'a> {
    pub urls: &'a Urls,
    /// Public path of the list, base path included.
    pub path: &'a str,
    pub query: &'a Query,
}

/// Cuts one page out of items sorted in list order; each item carries its id for cursors.
pub fn paginate<T>(items: Vec<(i64, T)>, page: PageRequest) -> (Vec<T>, PageInfo) {
    match page {
        PageRequest::Offset { limit, offset } => {
            let count = items.len();
            let results = items
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|(_, item)| item)
                .collect();
            (
                results,
                PageInfo::Offset {
                    count,
                    limit,
                    offset,
                },
            )
        }
        PageRequest::Cursor { limit, start } => {
            let mut items: Vec<(i64, T)> =
                items.into_iter().filter(|(id, _)| *id >= start).collect();
            items.sort_by_key(|(id, _)| *id);
            let more = items.len() > limit;
            items.truncate(limit);
            let next_start = more.then(|| items.last().map(|(id, _)| id + 1)).flatten();
            let results = items.into_iter().map(|(_, item)| item).collect();
            (results, PageInfo::Cursor { limit, next_start })
        }
    }
}

/// Facts about the page that was cut, for the envelope.
#[derive(Clone, Copy, Debug)]
pub enum PageInfo {
    Offset {
        count: usize,
        limit: usize,
        offset: usize,
    },
    Cursor {
        limit: usize,
        next_start: Option<i64>,
    },
}

/// Wraps results in NetBox's `count`/`next`/`previous`/`results` envelope.
pub fn envelope(results: Vec<Value>, info: PageInfo, links: &PageLinks<'_>) -> Value {
    match info {
        PageInfo::Offset {
            count,
            limit,
            offset,
        } => {
            let next = (offset + limit < count).then(|| {
                link(
                    links,
                    &[
                        ("limit", limit.to_string()),
                        ("offset", (offset + limit).to_string()),
                    ],
                    &[],
                )
            });
            let previous = (offset > 0).then(|| {
                if offset <= limit {
                    link(links, &[("limit", limit.to_string())], &["offset"])
                } else {
                    link(
                        links,
                        &[
                            ("limit", limit.to_string()),
                            ("offset", (offset - limit).to_string()),
                        ],
                        &[],
                    )
                }
            });
            page_object(count.into(), next, previous, results)
        }
        PageInfo::Cursor { limit, next_start } => {
            let next = next_start.map(|start| {
                link(
                    links,
                    &[("limit", limit.to_string()), ("start", start.to_string())],
                    &[],
                )
            });
            page_object(Value::Null, next, None, results)
        }
    }
}

/// Builds the envelope by moving the results in; `json!` would copy every result first.
fn page_object(
    count: Value,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<Value>,
) -> Value {
    let mut page = Map::new();
    page.insert("count".into(), count);
    page.insert("next".into(), next.into());
    page.insert("previous".into(), previous.into());
    page.insert("results".into(), Value::Array(results));
    Value::Object(page)
}

/// Rebuilds the request URL with some parameters replaced or removed; like DRF's
/// `replace_query_param`, the parameters come out sorted by name.
fn link(links: &PageLinks<'_>, replace: &[(&str, String)], remove: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = links
        .query
        .pairs()
        .iter()
        .filter(|(name, _)| {
            !remove.contains(&name.as_str()) && !replace.iter().any(|(key, _)| key == name)
        })
        .cloned()
        .collect();
    pairs.extend(
        replace
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    pairs.sort_by(|a, b| a.0.cmp(&b.0));

    format!(
        "{}?{}",
        links.urls.absolute(links.path),
        python_urlencode(&pairs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SETTINGS: PageSettings = PageSettings {
        default_limit: 50,
        max_limit: 1000,
    };

    fn page(raw: &str) -> Result<PageRequest, ApiError> {
        PageRequest::from_query(&Query::parse(Some(raw)), SETTINGS)
    }

    #[test]
    fn limits_follow_netbox_rules() {
        let cases = [
            ("", 50),
            ("limit=3", 3),
            ("limit=0", 1000),
            ("limit=5000", 1000),
            ("limit=abc", 50),
            ("limit=-1", 50),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                page(raw).unwrap(),
                PageRequest::Offset {
                    limit: expected,
                    offset: 0
                },
                "query {raw}"
            );
        }
    }

    #[test]
    fn cursor_errors_are_lists() {
        for raw in ["start=1&offset=2", "start=-1", "start=1&ordering=name"] {
            assert!(
                matches!(page(raw), Err(ApiError::Messages(_))),
                "query {raw}"
            );
        }
    }

    #[test]
    fn links_replace_limit_and_offset_in_sorted_order() {
        let urls = Urls::new("https", "proxy.example.com", "/");
        let query = Query::parse(Some("limit=1&brief=1&offset=1"));
        let links = PageLinks {
            urls: &urls,
            path: "/api/plugins/secrets/secrets/",
            query: &query,
        };
        let items: Vec<(i64, Value)> = (1..=3).map(|id| (id, json!(id))).collect();
        let (results, info) = paginate(items, page("limit=1&offset=1").unwrap());
        let body = envelope(results, info, &links);

        assert_eq!(body["count"], 3);
        assert_eq!(body["results"], json!([2]));
        assert_eq!(
            body["next"],
            "https://proxy.example.com/api/plugins/secrets/secrets/?brief=1&limit=1&offset=2"
        );
        assert_eq!(
            body["previous"],
            "https://proxy.example.com/api/plugins/secrets/secrets/?brief=1&limit=1"
        );
    }

    #[test]
    fn cursor_pages_by_id() {
        let items: Vec<(i64, Value)> = vec![(5, json!(5)), (2, json!(2)), (9, json!(9))];
        let (results, info) = paginate(items, page("start=3&limit=1").unwrap());
        assert_eq!(results, vec![json!(5)]);
        assert!(matches!(
            info,
            PageInfo::Cursor {
                next_start: Some(6),
                ..
            }
        ));
    }
}
