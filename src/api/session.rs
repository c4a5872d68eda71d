//! Session keys presented with a request, unlocking the master key, and decrypting secrets.

use std::collections::HashMap;
use std::sync::Mutex;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::call::Call;
use super::error::ApiError;
use crate::crypto::{
    decode_session_key_header, decrypt_secret, hash_session_key, verify_secret, verify_session_key,
    MasterKey, SessionKey,
};
use crate::netbox::cookie_pairs;
use crate::store::{self, secrets::SecretRow};

/// Cookie the plugin sets for browser sessions.
pub const SESSION_KEY_COOKIE: &str = "netbox_secrets_sessionid";

/// The plugin's message for a session key that does not open the caller's master key.
pub const INVALID_SESSION_KEY: &str = "Invalid session key.";

/// Returns the session keys a request carries, cookie first, that decode as base64.
///
/// The plugin reads only the cookie when one is present, so a stale cookie hides a valid
/// header; here both are tried, cookie first.
fn presented_keys(headers: &HeaderMap) -> Vec<Zeroizing<Vec<u8>>> {
    let cookie = cookie_pairs(headers)
        .into_iter()
        .find(|(name, _)| name == SESSION_KEY_COOKIE)
        .map(|(_, value)| Zeroizing::new(value));
    let header = headers
        .get("x-session-key")
        .map(|value| Zeroizing::new(String::from_utf8_lossy(value.as_bytes()).into_owned()));

    [cookie, header]
        .into_iter()
        .flatten()
        .filter_map(|text| decode_session_key_header(&text).ok())
        .collect()
}

/// Returns whether the request carries anything that decodes as a session key.
pub fn has_session_key(call: &Call) -> bool {
    !presented_keys(&call.headers).is_empty()
}

/// Opens the master key with the session key the request carries.
///
/// `Ok(None)`: no decodable key was sent. A key that does not match the caller's stored session
/// key is the plugin's 400 `["Invalid session key."]`.
pub async fn unlock_master_key(call: &Call) -> Result<Option<MasterKey>, ApiError> {
    let presented = presented_keys(&call.headers);
    if presented.is_empty() {
        return Ok(None);
    }

    let user_id = call.caller.user().id;
    let stored = call
        .state
        .store
        .read(move |connection| {
            let Some(user_key) = store::user_keys::get_by_user_id(connection, user_id)? else {
                return Ok(None);
            };
            store::session_keys::get_by_userkey(connection, user_key.id)
        })
        .await?;
    let Some(stored) = stored else {
        return Err(invalid_session_key());
    };

    for candidate in presented {
        let Ok(session_key) = SessionKey::from_slice(&candidate) else {
            continue;
        };
        if !verify_session_key(&session_key, &stored.hash) {
            continue;
        }

        upgrade_slow_hash(call, &session_key, stored.id, &stored.hash).await;
        let master_key = session_key
            .unlock(&stored.cipher)
            .map_err(|err| ApiError::Internal(format!("stored session key cipher: {err}")))?;
        return Ok(Some(master_key));
    }

    Err(invalid_session_key())
}

/// Replaces an imported Django hash (one slow PBKDF2 run per request) with our fast keyed hash
/// after it verified once. A failure only costs speed, so it is logged and ignored.
async fn upgrade_slow_hash(call: &Call, session_key: &SessionKey, row_id: i64, stored_hash: &str) {
    if !stored_hash.starts_with("pbkdf2_") {
        return;
    }

    let fast_hash = hash_session_key(session_key);
    let result = call
        .state
        .store
        .write(move |transaction| store::session_keys::set_hash(transaction, row_id, &fast_hash))
        .await;
    if let Err(err) = result {
        tracing::warn!(%err, session_key_row = row_id, "could not store the fast session-key hash");
    }
}

pub fn invalid_session_key() -> ApiError {
    ApiError::Messages(vec![INVALID_SESSION_KEY.to_string()])
}

/// Secrets whose stored hash already matched their decrypted plaintext, by id and by a digest
/// of the exact ciphertext and hash, so unchanged secrets skip the PBKDF2 check on later reads.
#[derive(Default)]
pub struct VerifiedSecrets {
    digests: Mutex<HashMap<i64, [u8; 32]>>,
}

impl VerifiedSecrets {
    fn is_verified(&self, id: i64, digest: &[u8; 32]) -> bool {
        self.lock().get(&id) == Some(digest)
    }

    /// Records a secret whose ciphertext and hash belong together.
    pub fn mark(&self, id: i64, ciphertext: &[u8], hash: &str) {
        self.lock().insert(id, digest_of(ciphertext, hash));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, [u8; 32]>> {
        // The map stays consistent if a holder panics, so a poisoned lock is still usable.
        self.digests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn digest_of(ciphertext: &[u8], hash: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((ciphertext.len() as u64).to_be_bytes());
    hasher.update(ciphertext);
    hasher.update(hash.as_bytes());
    hasher.finalize().into()
}

/// Decrypts a secret for a read; any failure gives `None`, as the plugin's `plaintext: null`.
pub fn decrypt_for_read(
    verified: &VerifiedSecrets,
    master_key: &MasterKey,
    secret: &SecretRow,
) -> Option<Zeroizing<String>> {
    if secret.ciphertext.is_empty() {
        return None;
    }

    let plaintext = decrypt_secret(master_key, &secret.ciphertext).ok()?;
    let digest = digest_of(&secret.ciphertext, &secret.hash);
    if !verified.is_verified(secret.id, &digest) {
        if !verify_secret(plaintext.as_bytes(), &secret.hash) {
            return None;
        }
        verified.lock().insert(secret.id, digest);
    }

    plaintext.into_string().ok()
}
