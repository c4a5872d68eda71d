//! Request parsing: query parameters and bodies in JSON, multipart and form encodings.

use bytes::Bytes;
use futures_util::stream;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::wipe::{wipe_strings, WipedBuffer};

/// Decoded query parameters in request order.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string with form-urlencoded rules (`+` is a space).
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|raw| {
                form_urlencoded::parse(raw.as_bytes())
                    .map(|(name, value)| (name.into_owned(), value.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// Returns the last value of a parameter, as Django's `QueryDict.get` does.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Returns every value of a parameter.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Returns every non-empty value of a parameter.
    pub fn non_empty(&self, name: &str) -> Vec<String> {
        self.all(name)
            .into_iter()
            .filter(|value| !value.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Returns every non-empty value of a parameter as an integer, or NetBox's 400 naming
    /// the parameter and the value that is not one.
    pub fn integers(&self, name: &str) -> Result<Vec<i64>, ApiError> {
        self.all(name)
            .into_iter()
            .filter(|value| !value.is_empty())
            .map(|value| {
                value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::field(name, format!("“{value}” is not a valid value.")))
            })
            .collect()
    }

    /// Returns whether the parameter is present with a non-empty value.
    pub fn has_value(&self, name: &str) -> bool {
        self.get(name).is_some_and(|value| !value.is_empty())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Reads the whole body, refusing one larger than `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let mut limited = Limited::new(body, limit);
    let mut buffer = WipedBuffer::default();

    while let Some(frame) = limited.frame().await {
        let frame = frame.map_err(|err| match err.is::<http_body_util::LengthLimitError>() {
            true => ApiError::Detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than {limit} bytes; send a smaller request."),
            ),
            false => ApiError::Detail(
                StatusCode::BAD_REQUEST,
                format!("Request body could not be read: {err}"),
            ),
        })?;
        if let Some(data) = frame.data_ref() {
            buffer.extend_from_slice(data);
        }
    }

    Ok(buffer.into_bytes())
}

/// Body encodings an endpoint accepts besides JSON and multipart.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FormBodies {
    /// `application/x-www-form-urlencoded` gets 415, as on the plugin's 3.x endpoints.
    Rejected,
    /// Accepted, as on the older endpoints that clients of plugin 2.x call.
    Accepted,
}

/// A parsed body. Form encodings give strings, so handlers accept numbers and booleans as text.
///
/// Its strings are wiped on drop, because bodies carry private keys and plaintexts.
pub struct Payload {
    pub data: Value,
    /// Whether the body was multipart or form-encoded, where a list field may arrive as one
    /// plain value.
    pub form_encoded: bool,
}

impl Drop for Payload {
    fn drop(&mut self) {
        wipe_strings(&mut self.data);
    }
}

/// Parses a body by its content type into JSON-like data.
///
/// Multipart and form fields become strings; a repeated field becomes a list, and a dotted name
/// such as `role.id` becomes a nested object.
pub async fn parse_body(
    headers: &HeaderMap,
    bytes: Bytes,
    forms: FormBodies,
) -> Result<Payload, ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();

    if bytes.is_empty() && media_type.is_empty() {
        return Ok(Payload {
            data: Value::Object(Map::new()),
            form_encoded: false,
        });
    }

    let data = match media_type.as_str() {
        "application/json" => parse_json(&bytes)?,
        "multipart/form-data" => parse_multipart(content_type, bytes).await?,
        "application/x-www-form-urlencoded" if forms == FormBodies::Accepted => {
            let pairs = form_urlencoded::parse(&bytes)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
            fields_to_object(pairs)
        }
        _ => return Err(unsupported_media_type(content_type)),
    };

    Ok(Payload {
        data,
        form_encoded: media_type != "application/json",
    })
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }

    serde_json::from_slice(bytes).map_err(|err| {
        ApiError::Detail(StatusCode::BAD_REQUEST, format!("JSON parse error - {err}"))
    })
}

async fn parse_multipart(content_type: &str, bytes: Bytes) -> Result<Value, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|err| {
        ApiError::Detail(
            StatusCode::BAD_REQUEST,
            format!("Multipart form parse error - {err}"),
        )
    })?;

    let chunks = stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
    let mut multipart = multer::Multipart::new(chunks, boundary);
    let mut pairs = Vec::new();

    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        let value = field.text().await.map_err(multipart_error)?;
        pairs.push((name, value));
    }

    Ok(fields_to_object(pairs))
}

fn multipart_error(err: multer::Error) -> ApiError {
    ApiError::Detail(
        StatusCode::BAD_REQUEST,
        format!("Multipart form parse error - {err}"),
    )
}

fn unsupported_media_type(content_type: &str) -> ApiError {
    ApiError::Detail(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Unsupported media type \"{content_type}\" in request."),
    )
}

/// Turns form fields into an object: repeated names become lists, dotted names nest.
fn fields_to_object(pairs: Vec<(String, String)>) -> Value {
    let mut object = Map::new();

    for (name, value) in pairs {
        let (target, key) = match name.split_once('.') {
            Some((outer, inner)) => {
                let nested = object
                    .entry(outer.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !nested.is_object() {
                    *nested = Value::Object(Map::new());
                }
                let Value::Object(nested) = nested else {
                    continue;
                };
                (nested, inner.to_string())
            }
            None => (&mut object, name),
        };
        insert_repeated(target, key, Value::String(value));
    }

    Value::Object(object)
}

fn insert_repeated(object: &mut Map<String, Value>, key: String, value: Value) {
    match object.get_mut(&key) {
        Some(Value::Array(values)) => values.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            object.insert(key, value);
        }
    }
}

/// Reads an integer given as a JSON number or as decimal text.
pub fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a boolean the way DRF's `BooleanField` does, text included.
pub fn as_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
            "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn headers(content_type: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        map
    }

    #[test]
    fn query_keeps_repeats_and_returns_last() {
        let query = Query::parse(Some("id=1&id=2&q=a+b&brief="));
        assert_eq!(query.all("id"), vec!["1", "2"]);
        assert_eq!(query.get("id"), Some("2"));
        assert_eq!(query.get("q"), Some("a b"));
        assert!(!query.has_value("brief"));
    }

    #[tokio::test]
    async fn json_body_parses() {
        let payload = parse_body(
            &headers("application/json"),
            Bytes::from_static(b"{\"a\": 1}"),
            FormBodies::Rejected,
        )
        .await
        .unwrap();
        assert_eq!(payload.data, json!({"a": 1}));
    }

    #[tokio::test]
    async fn malformed_json_is_a_400() {
        let result = parse_body(
            &headers("application/json"),
            Bytes::from_static(b"{\"a\": "),
            FormBodies::Rejected,
        )
        .await;
        assert!(matches!(
            result,
            Err(ApiError::Detail(StatusCode::BAD_REQUEST, _))
        ));
    }

    #[tokio::test]
    async fn form_body_is_rejected_unless_accepted() {
        let form = headers("application/x-www-form-urlencoded");
        let body = Bytes::from_static(b"private_key=abc&preserve_key=true");

        let rejected = parse_body(&form, body.clone(), FormBodies::Rejected).await;
        assert!(matches!(
            rejected,
            Err(ApiError::Detail(StatusCode::UNSUPPORTED_MEDIA_TYPE, _))
        ));

        let accepted = parse_body(&form, body, FormBodies::Accepted).await.unwrap();
        assert_eq!(
            accepted.data,
            json!({"private_key": "abc", "preserve_key": "true"})
        );
    }

    #[tokio::test]
    async fn multipart_fields_nest_and_repeat() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"role.id\"\r\n\r\n3\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"ids\"\r\n\r\n1\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"ids\"\r\n\r\n2\r\n--XyZ--\r\n";
        let payload = parse_body(
            &headers("multipart/form-data; boundary=XyZ"),
            Bytes::from(body),
            FormBodies::Rejected,
        )
        .await
        .unwrap();
        assert_eq!(
            payload.data,
            json!({"role": {"id": "3"}, "ids": ["1", "2"]})
        );
    }

    #[test]
    fn booleans_and_integers_accept_text() {
        assert_eq!(as_boolean(&json!("True")), Some(true));
        assert_eq!(as_boolean(&json!("on")), Some(true));
        assert_eq!(as_boolean(&json!("nope")), None);
        assert_eq!(as_integer(&json!("42")), Some(42));
        assert_eq!(as_integer(&json!(4.5)), None);
    }
}
