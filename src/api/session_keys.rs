//! The caller's own session key at `/session-key/`: issued from the RSA private key, shown
//! without its value, and deleted. The older session-key endpoints reuse these steps.

use http::header::SET_COOKIE;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::call::Call;
use super::error::ApiError;
use super::request::{FormBodies, Query};
use super::session::SESSION_KEY_COOKIE;
use super::user_keys;
use crate::body::BoxBody;
use crate::crypto::{
    hash_session_key, verify_session_key, MasterKey, PrivateKeyError, SessionKey, UserPrivateKey,
};
use crate::netbox::CallerAuth;
use crate::store::session_keys::SessionKeyRow;
use crate::store::user_keys::UserKeyRow;
use crate::store::{self, Store, StoreError};

/// The plugin's 404 detail for a caller without a session key (it has no final period).
pub const NO_SESSION_KEY: &str = "No active session key found";

/// `Set-Cookie` value that removes the session-key cookie, as Django's `delete_cookie` writes it.
const CLEARED_COOKIE: &str =
    "netbox_secrets_sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; \
                              Max-Age=0; Path=/";

/// Failure to open the caller's own copy of the master key. The messages are the plugin's,
/// sent as plain text by the session-key endpoints and as `{"error": ...}` by
/// activation.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error("Private key was not provided.")]
    MissingPrivateKey,
    #[error("No UserKey found for the current user.")]
    NoUserKey,
    #[error("UserKey has not been activated for decryption.")]
    Inactive,
    #[error("Invalid private key.")]
    InvalidPrivateKey,
    /// A passphrase-protected or OpenSSH private key: the message names the format to send instead.
    #[error("Invalid private key: {0}")]
    UnsupportedFormat(PrivateKeyError),
    /// A failure on our side, passed through unchanged.
    #[error("internal failure")]
    Failed(ApiError),
}

impl UnlockError {
    /// Converts to the plain-text 400 of the session-key endpoints.
    pub fn into_text(self) -> ApiError {
        match self {
            UnlockError::Failed(err) => err,
            other => ApiError::Text(StatusCode::BAD_REQUEST, other.to_string()),
        }
    }

    /// Converts to the JSON 400 `{"error": ...}` of the activation endpoint.
    pub fn into_json(self) -> ApiError {
        match self {
            UnlockError::Failed(err) => err,
            other => ApiError::Json(
                StatusCode::BAD_REQUEST,
                json!({ "error": other.to_string() }),
            ),
        }
    }
}

impl From<StoreError> for UnlockError {
    fn from(err: StoreError) -> UnlockError {
        UnlockError::Failed(err.into())
    }
}

/// The caller's user key and the master key it opened.
pub struct Unlocked {
    pub user_key: UserKeyRow,
    pub master_key: MasterKey,
}

/// A session key handed to the caller, with the stored row it belongs to.
pub struct Issued {
    pub user_key: UserKeyRow,
    pub row: SessionKeyRow,
    pub session_key: SessionKey,
    /// True when the existing session key was kept instead of replaced.
    pub preserved: bool,
}

pub async fn handle(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    match call.method {
        Method::GET | Method::HEAD => show(call).await,
        Method::POST => create(call).await,
        Method::DELETE => delete(call).await,
        ref other => Err(ApiError::method_not_allowed(other)),
    }
}

async fn show(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let Some((user_key, row)) = own_session_key(call).await? else {
        return Err(no_session_key());
    };

    let body = representation(call, &user_key, &row, None);
    Ok(call.json(StatusCode::OK, &body))
}

async fn create(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let payload = call.payload(FormBodies::Rejected).await?;
    let private_key = text_field(&payload.data, "private_key");
    let preserve = preserve_requested(&payload.data, &call.query);

    let issued = issue(
        call,
        private_key.as_deref().map(|key| key.as_str()),
        preserve,
    )
    .await
    .map_err(UnlockError::into_text)?;

    let status = match issued.preserved {
        true => StatusCode::OK,
        false => StatusCode::CREATED,
    };
    let encoded = issued.session_key.to_base64();
    let body = representation(call, &issued.user_key, &issued.row, Some(&encoded));
    let mut response = call.json_wiped(status, body);
    set_session_cookie(call, &mut response, &encoded, true);
    Ok(response)
}

async fn delete(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    let mut response = match delete_own(call).await? {
        true => call.no_content(),
        false => no_session_key().into_response(call.indent),
    };

    clear_session_cookie(&mut response);
    Ok(response)
}

/// Renders the 3.x representation: `{"id", "userkey", "session_key", "created"}`.
fn representation(
    call: &Call,
    user_key: &UserKeyRow,
    row: &SessionKeyRow,
    session_key: Option<&str>,
) -> Value {
    json!({
        "id": row.id,
        "userkey": user_keys::brief(&call.urls, user_key),
        "session_key": session_key,
        "created": row.created,
    })
}

pub fn no_session_key() -> ApiError {
    ApiError::Detail(StatusCode::NOT_FOUND, NO_SESSION_KEY.into())
}

/// Returns the caller's user key and session key, when both exist.
pub async fn own_session_key(call: &Call) -> Result<Option<(UserKeyRow, SessionKeyRow)>, ApiError> {
    let user_id = call.caller.user().id;

    let found = call
        .state
        .store
        .read(move |connection| {
            let Some(user_key) = store::user_keys::get_by_user_id(connection, user_id)? else {
                return Ok(None);
            };
            let row = store::session_keys::get_by_userkey(connection, user_key.id)?;
            Ok(row.map(|row| (user_key, row)))
        })
        .await?;
    Ok(found)
}

/// Deletes the caller's session key; returns whether there was one.
pub async fn delete_own(call: &Call) -> Result<bool, ApiError> {
    let user_id = call.caller.user().id;

    let deleted = call
        .state
        .store
        .write(
            move |transaction| match store::user_keys::get_by_user_id(transaction, user_id)? {
                Some(user_key) => store::session_keys::delete_by_userkey(transaction, user_key.id),
                None => Ok(false),
            },
        )
        .await?;
    Ok(deleted)
}

/// Issues a session key for the caller: keeps the existing one when `preserve` is set and it
/// can be recovered, otherwise replaces it with a new one.
///
/// Reading the user key, the RSA decryption and the write run as one blocking task, so the
/// request waits for one thread hand-off instead of three.
pub async fn issue(
    call: &Call,
    private_key: Option<&str>,
    preserve: bool,
) -> Result<Issued, UnlockError> {
    let private_key = private_key
        .filter(|key| !key.is_empty())
        .ok_or(UnlockError::MissingPrivateKey)?;
    let private_key = Zeroizing::new(private_key.to_string());
    let store = call.state.store.clone();
    let user_id = call.caller.user().id;

    run_blocking(move || {
        let Unlocked {
            user_key,
            master_key,
        } = unlock(&store, user_id, &private_key)?;

        if preserve {
            if let Some(issued) = recover_existing(&store, &user_key, &master_key)? {
                return Ok(issued);
            }
        }
        replace_session_key(&store, user_key, &master_key)
    })
    .await
}

/// Opens the caller's copy of the master key with their RSA private key.
pub async fn unlock_own_master_key(
    call: &Call,
    private_key: &str,
) -> Result<Unlocked, UnlockError> {
    let private_key = Zeroizing::new(private_key.to_string());
    let store = call.state.store.clone();
    let user_id = call.caller.user().id;

    run_blocking(move || unlock(&store, user_id, &private_key)).await
}

async fn run_blocking<T, F>(job: F) -> Result<T, UnlockError>
where
    F: FnOnce() -> Result<T, UnlockError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(job).await.map_err(|err| {
        UnlockError::Failed(ApiError::Internal(format!(
            "session-key task failed: {err}"
        )))
    })?
}

/// Reads the user's key and decrypts its master-key copy. Runs on a blocking thread.
fn unlock(store: &Store, user_id: i64, private_key: &str) -> Result<Unlocked, UnlockError> {
    let user_key = store
        .blocking_read(|connection| store::user_keys::get_by_user_id(connection, user_id))?
        .ok_or(UnlockError::NoUserKey)?;
    let cipher = user_key
        .master_key_cipher
        .as_deref()
        .ok_or(UnlockError::Inactive)?;

    let master_key = open_master_key(private_key, cipher)?;
    Ok(Unlocked {
        user_key,
        master_key,
    })
}

/// Decrypts a master-key copy. Every failure reads "Invalid private key." except the two
/// formats a user can fix by converting the key.
pub fn open_master_key(pem: &str, cipher: &[u8]) -> Result<MasterKey, UnlockError> {
    let private_key = UserPrivateKey::parse(pem).map_err(|err| match err {
        PrivateKeyError::Encrypted | PrivateKeyError::OpenSsh => {
            UnlockError::UnsupportedFormat(err)
        }
        PrivateKeyError::Invalid(_) | PrivateKeyError::Public => UnlockError::InvalidPrivateKey,
    })?;

    private_key
        .decrypt_master_key(cipher)
        .map_err(|_| UnlockError::InvalidPrivateKey)
}

/// Recovers the existing session key as `master key XOR cipher` and checks it against the
/// stored hash, which for an imported Django hash costs a full PBKDF2 run. `Ok(None)` when the
/// caller has no session key yet. Runs on a blocking thread.
fn recover_existing(
    store: &Store,
    user_key: &UserKeyRow,
    master_key: &MasterKey,
) -> Result<Option<Issued>, UnlockError> {
    let userkey_id = user_key.id;
    let Some(row) = store
        .blocking_read(|connection| store::session_keys::get_by_userkey(connection, userkey_id))?
    else {
        return Ok(None);
    };

    let session_key = master_key
        .recover_session_key(&row.cipher)
        .ok()
        .filter(|session_key| verify_session_key(session_key, &row.hash))
        .ok_or(UnlockError::InvalidPrivateKey)?;
    Ok(Some(Issued {
        user_key: user_key.clone(),
        row,
        session_key,
        preserved: true,
    }))
}

/// Generates a new session key and stores `session key XOR master key` with a fast keyed hash,
/// replacing any previous one of the caller. Runs on a blocking thread.
fn replace_session_key(
    store: &Store,
    user_key: UserKeyRow,
    master_key: &MasterKey,
) -> Result<Issued, UnlockError> {
    let session_key = SessionKey::generate();
    let cipher = Zeroizing::new(session_key.cipher_with(master_key));
    let hash = hash_session_key(&session_key);

    let row = store
        .blocking_write(|transaction| {
            store::session_keys::replace(transaction, user_key.id, cipher.as_slice(), &hash)
        })
        .map_err(|err| match err {
            // The user key was deleted since it was read.
            StoreError::MissingReference => UnlockError::NoUserKey,
            other => other.into(),
        })?;

    Ok(Issued {
        user_key,
        row,
        session_key,
        preserved: false,
    })
}

/// Reads a text field of a body; numbers and booleans count as their text. A repeated form
/// field gives its last value, as Django's `QueryDict.get` does.
pub fn text_field(data: &Value, name: &str) -> Option<Zeroizing<String>> {
    let value = match data.get(name)? {
        Value::Array(values) if !values.iter().any(Value::is_object) => values.last()?,
        value => value,
    };

    match value {
        Value::String(text) => Some(Zeroizing::new(text.clone())),
        Value::Number(number) => Some(Zeroizing::new(number.to_string())),
        Value::Bool(flag) => Some(Zeroizing::new(python_bool(*flag).to_string())),
        _ => None,
    }
}

/// Reads `preserve_key` from the body, else from the query string. It is true when Python's
/// `str(value).lower()` is `true`, `yes` or `1`, so JSON `true` and `1` count and `on` does not.
pub fn preserve_requested(data: &Value, query: &Query) -> bool {
    match data.get("preserve_key") {
        Some(value) => python_text(value).is_some_and(|text| is_true_text(&text)),
        None => query.get("preserve_key").is_some_and(is_true_text),
    }
}

fn python_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(python_bool(*flag).to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Array(values) => values.last().and_then(python_text),
        _ => None,
    }
}

fn python_bool(flag: bool) -> &'static str {
    match flag {
        true => "True",
        false => "False",
    }
}

fn is_true_text(text: &str) -> bool {
    matches!(text.to_lowercase().as_str(), "true" | "yes" | "1")
}

/// Sets the session-key cookie for session-authenticated callers; token callers get none.
/// `Secure` is added when the client reached us over https.
pub fn set_session_cookie(
    call: &Call,
    response: &mut Response<BoxBody>,
    encoded_key: &str,
    http_only: bool,
) {
    if call.caller.auth != CallerAuth::Session {
        return;
    }

    let secure = call.caller.origin.scheme.eq_ignore_ascii_case("https");
    let cookie = Zeroizing::new(session_cookie(encoded_key, http_only, secure));
    if let Ok(mut value) = HeaderValue::from_str(&cookie) {
        value.set_sensitive(true);
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// Formats the cookie the way Django does for a value containing `=` and `/`: double-quoted.
fn session_cookie(encoded_key: &str, http_only: bool, secure: bool) -> String {
    let mut cookie = format!("{SESSION_KEY_COOKIE}=\"{encoded_key}\";");
    if http_only {
        cookie.push_str(" HttpOnly;");
    }
    cookie.push_str(" Path=/; SameSite=Strict");
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Adds the `Set-Cookie` header that removes the session-key cookie.
pub fn clear_session_cookie(response: &mut Response<BoxBody>) {
    response
        .headers_mut()
        .append(SET_COOKIE, HeaderValue::from_static(CLEARED_COOKIE));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preserve(body: Value, query: &str) -> bool {
        preserve_requested(&body, &Query::parse(Some(query)))
    }

    #[test]
    fn preserve_key_follows_python_text() {
        let cases = [
            (json!({"preserve_key": true}), true),
            (json!({"preserve_key": "True"}), true),
            (json!({"preserve_key": "yes"}), true),
            (json!({"preserve_key": 1}), true),
            (json!({"preserve_key": "1"}), true),
            (json!({"preserve_key": false}), false),
            (json!({"preserve_key": "on"}), false),
            (json!({"preserve_key": "false"}), false),
            (json!({"preserve_key": 2}), false),
            (json!({"preserve_key": null}), false),
            (json!({}), false),
        ];
        for (body, expected) in cases {
            assert_eq!(preserve(body.clone(), ""), expected, "body {body}");
        }
    }

    #[test]
    fn preserve_key_falls_back_to_query() {
        assert!(preserve(json!({}), "preserve_key=true"));
        assert!(preserve(json!({}), "preserve_key=YES"));
        assert!(!preserve(json!({}), "preserve_key=0"));
    }

    #[test]
    fn preserve_key_in_body_beats_query() {
        assert!(!preserve(
            json!({"preserve_key": false}),
            "preserve_key=true"
        ));
    }

    #[test]
    fn repeated_form_field_uses_last_value() {
        assert!(preserve(json!({"preserve_key": ["no", "true"]}), ""));
        let key = text_field(&json!({"private_key": ["a", "b"]}), "private_key").unwrap();
        assert_eq!(key.as_str(), "b");
    }

    #[test]
    fn private_key_text_is_not_trimmed() {
        let key = text_field(&json!({"private_key": " pem\n"}), "private_key").unwrap();
        assert_eq!(key.as_str(), " pem\n");
        assert!(text_field(&json!({"private_key": null}), "private_key").is_none());
        assert!(text_field(&json!({"private_key": {"a": 1}}), "private_key").is_none());
    }

    #[test]
    fn cookie_is_quoted_and_strict() {
        assert_eq!(
            session_cookie("oKGi/o=", true, false),
            "netbox_secrets_sessionid=\"oKGi/o=\"; HttpOnly; Path=/; SameSite=Strict"
        );
        assert_eq!(
            session_cookie("k=", true, true),
            "netbox_secrets_sessionid=\"k=\"; HttpOnly; Path=/; SameSite=Strict; Secure"
        );
        assert_eq!(
            session_cookie("k=", false, false),
            "netbox_secrets_sessionid=\"k=\"; Path=/; SameSite=Strict"
        );
    }

    #[test]
    fn unlock_errors_use_plugin_texts() {
        let cases = [
            (
                UnlockError::MissingPrivateKey,
                "Private key was not provided.",
            ),
            (
                UnlockError::NoUserKey,
                "No UserKey found for the current user.",
            ),
            (
                UnlockError::Inactive,
                "UserKey has not been activated for decryption.",
            ),
            (UnlockError::InvalidPrivateKey, "Invalid private key."),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn unsupported_formats_name_the_format() {
        let encrypted = open_master_key(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
            &[0; 256],
        );
        assert!(matches!(
            encrypted,
            Err(UnlockError::UnsupportedFormat(PrivateKeyError::Encrypted))
        ));

        let openssh = open_master_key(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
            &[0; 256],
        );
        assert!(matches!(
            openssh,
            Err(UnlockError::UnsupportedFormat(PrivateKeyError::OpenSsh))
        ));
        assert!(matches!(
            open_master_key("invalid", &[0; 256]),
            Err(UnlockError::InvalidPrivateKey)
        ));
    }
}
