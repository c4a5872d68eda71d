//! The RSA key-pair generator: a convenience for clients; nothing is stored.

use http::{Method, Response, StatusCode};
use serde_json::json;

use super::call::Call;
use super::error::ApiError;
use crate::body::BoxBody;
use crate::crypto::generate_key_pair;

/// Largest key size the plugin generates.
const MAX_KEY_SIZE: usize = 8192;

pub async fn handle(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    if call.method != Method::GET && call.method != Method::HEAD {
        return Err(ApiError::method_not_allowed(&call.method));
    }

    let minimum = call.state.settings.public_key_size;
    let key_size = match call.query.get("key_size") {
        None => minimum,
        Some(text) => parse_key_size(text, minimum)?,
    };

    let pair = tokio::task::spawn_blocking(move || generate_key_pair(key_size))
        .await
        .map_err(|err| ApiError::Internal(format!("key generation task: {err}")))?
        .map_err(|err| {
            ApiError::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": err.to_string() }),
            )
        })?;

    let body = json!({
        "public_key": pair.public_pem,
        "private_key": pair.private_pem.as_str(),
        "key_size": key_size,
    });
    Ok(call.json_wiped(StatusCode::OK, body))
}

fn parse_key_size(text: &str, minimum: usize) -> Result<usize, ApiError> {
    let invalid =
        |message: String| ApiError::Json(StatusCode::BAD_REQUEST, json!({ "error": message }));

    let size: i64 = text
        .trim()
        .trim_start_matches('+')
        .parse()
        .map_err(|_| invalid(format!("key_size must be an integer, not {text:?}.")))?;
    let size = usize::try_from(size).unwrap_or(0);
    if size < minimum || size > MAX_KEY_SIZE {
        return Err(invalid(format!(
            "key_size must be between {minimum} and {MAX_KEY_SIZE} bits."
        )));
    }
    if size % 256 != 0 {
        return Err(invalid("key_size must be a multiple of 256.".to_string()));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sizes_are_checked() {
        assert_eq!(parse_key_size("2048", 2048).ok(), Some(2048));
        assert_eq!(parse_key_size(" +4096", 2048).ok(), Some(4096));
        assert_eq!(parse_key_size("02304", 2048).ok(), Some(2304));
        for bad in ["bad", "1024", "2050", "8448", "", "-2048"] {
            assert!(
                parse_key_size(bad, 2048).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
