//! Session-key hashes: the fast keyed form we issue and the Django forms the plugin wrote.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::compare::ct_eq;
use super::django_hash::{generate_salt, verify_django_hash};
use super::secrets::SessionKey;

/// Algorithm tag of the hash form we issue.
const HMAC_TAG: &str = "hmac_sha256";

/// Hashes a session key as `hmac_sha256$<salt>$<base64 HMAC-SHA256(key = salt, message = SK)>`.
///
/// A session key is 256 random bits, so a single keyed hash resists guessing as well as any
/// stretched one, and checking it costs microseconds instead of a million PBKDF2 rounds.
pub fn hash_session_key(session_key: &SessionKey) -> String {
    let salt = generate_salt();
    encode_hmac(session_key, &salt)
}

/// Checks a session key against a stored hash in any of the forms found in a session-key row.
///
/// Accepted forms are our `hmac_sha256$…` form, a Django hash of the 64-character lowercase hex
/// text of the key (plugin 3.1 and later) and a Django hash of the raw 32 bytes (plugin 3.0 and
/// older). The hex form is tried first, so timing shows only which convention the row uses.
pub fn verify_session_key(session_key: &SessionKey, stored: &str) -> bool {
    if let Some(rest) = stored.strip_prefix(HMAC_TAG) {
        return verify_hmac(session_key, rest, stored);
    }

    let hex_text = Zeroizing::new(hex::encode(session_key.as_bytes()));
    verify_django_hash(hex_text.as_bytes(), stored)
        || verify_django_hash(session_key.as_bytes(), stored)
}

fn verify_hmac(session_key: &SessionKey, after_tag: &str, stored: &str) -> bool {
    let Some(salt_and_hash) = after_tag.strip_prefix('$') else {
        return false;
    };
    let Some((salt, _hash)) = salt_and_hash.split_once('$') else {
        return false;
    };

    let recomputed = encode_hmac(session_key, salt);
    ct_eq(recomputed.as_bytes(), stored.as_bytes())
}

fn encode_hmac(session_key: &SessionKey, salt: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(session_key.as_bytes());
    let tag = mac.finalize().into_bytes();

    format!("{HMAC_TAG}${salt}${}", STANDARD.encode(tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rsa_keys::UserPrivateKey;
    use serde_json::Value;

    const FORMATS: &str = include_str!("../../tests/fixtures/vectors/formats.json");
    const PLUGIN_ROWS: &str = include_str!("../../tests/fixtures/vectors/plugin-3.1.2-rows.json");

    fn formats_session_key() -> (SessionKey, Value) {
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let vector = formats["session_key"].clone();
        let raw = hex::decode(vector["session_key_hex"].as_str().unwrap()).unwrap();

        (SessionKey::from_slice(&raw).unwrap(), vector)
    }

    fn flip_first_bit(session_key: &SessionKey) -> SessionKey {
        let mut raw = *session_key.as_bytes();
        raw[0] ^= 1;
        SessionKey::from_slice(&raw).unwrap()
    }

    #[test]
    fn hex_text_convention_verifies() {
        let (session_key, vector) = formats_session_key();
        let stored = vector["hash_over_hex_text"].as_str().unwrap();

        assert!(verify_session_key(&session_key, stored));
        assert!(!verify_session_key(&flip_first_bit(&session_key), stored));
    }

    #[test]
    fn raw_bytes_convention_verifies() {
        let (session_key, vector) = formats_session_key();
        let stored = vector["hash_over_raw_bytes"].as_str().unwrap();

        assert!(verify_session_key(&session_key, stored));
        assert!(!verify_session_key(&flip_first_bit(&session_key), stored));
    }

    #[test]
    fn plugin_row_verifies_and_unlocks() {
        let rows: Value = serde_json::from_str(PLUGIN_ROWS).unwrap();
        let row = &rows["session_key"];
        let wire = row["session_key_base64"].as_str().unwrap();
        let session_key = SessionKey::from_slice(&STANDARD.decode(wire).unwrap()).unwrap();

        assert!(verify_session_key(
            &session_key,
            row["hash"].as_str().unwrap()
        ));

        let private_key = UserPrivateKey::parse(rows["rsa_private_key_pem"].as_str().unwrap());
        let cipher = hex::decode(rows["master_key_cipher_hex"].as_str().unwrap()).unwrap();
        let master_key = private_key.unwrap().decrypt_master_key(&cipher).unwrap();
        let session_cipher = hex::decode(row["cipher_hex"].as_str().unwrap()).unwrap();

        let unlocked = session_key.unlock(&session_cipher).unwrap();
        assert_eq!(unlocked.as_bytes(), master_key.as_bytes());
    }

    #[test]
    fn issued_hash_verifies() {
        let session_key = SessionKey::generate();
        let stored = hash_session_key(&session_key);

        assert!(verify_session_key(&session_key, &stored));
        assert!(!verify_session_key(&flip_first_bit(&session_key), &stored));
    }

    #[test]
    fn issued_hash_layout() {
        let stored = hash_session_key(&SessionKey::generate());
        let parts: Vec<&str> = stored.split('$').collect();

        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "hmac_sha256");
        assert_eq!(parts[1].len(), 22);
        assert_eq!(parts[2].len(), 44);
    }

    #[test]
    fn issued_hash_matches_reference_hmac() {
        // HMAC-SHA256(key = "SaltSaltSaltSaltSalt22", message = bytes 0x00..0x1f), computed
        // with Python's `hmac.new(salt, key, "sha256")`.
        let session_key = SessionKey::from_slice(&(0u8..32).collect::<Vec<_>>()).unwrap();
        let salt = "SaltSaltSaltSaltSalt22";
        let tag = "ustFRP60NqtL55Bn9we0GKSRzxlDYSuB6hoX0lpKev8=";

        assert_eq!(
            encode_hmac(&session_key, salt),
            format!("hmac_sha256${salt}${tag}")
        );
    }

    #[test]
    fn malformed_hmac_strings_rejected() {
        let session_key = SessionKey::generate();
        let cases = [
            "hmac_sha256",
            "hmac_sha256$",
            "hmac_sha256$salt",
            "hmac_sha256x$a$b",
        ];

        for stored in cases {
            assert!(
                !verify_session_key(&session_key, stored),
                "accepted {stored:?}"
            );
        }
    }
}
