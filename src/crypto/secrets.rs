//! Secret values held in memory: the master key, session keys and decrypted plaintexts.
//!
//! Each type wipes its bytes on drop, prints a placeholder for `Debug` and has no `Serialize`.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::CryptoError;

/// Length in bytes of the master key and of a session key.
pub const KEY_BYTES: usize = 32;

/// The installation's AES-256 key for all secrets; stored only as RSA-OAEP copies.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; KEY_BYTES]);

/// A per-session key that the client holds; the store keeps only `SK XOR MK` and a hash.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SessionKey([u8; KEY_BYTES]);

/// Decrypted secret bytes, as stored after the length header.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Plaintext(Vec<u8>);

impl MasterKey {
    /// Draws a new master key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(random_key())
    }

    /// Copies a master key from a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self(key_from_slice(bytes)?))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// Recovers the session key from its stored cipher (`SK = MK XOR cipher`).
    pub fn recover_session_key(&self, cipher: &[u8]) -> Result<SessionKey, CryptoError> {
        Ok(SessionKey(xor_keys(&self.0, cipher)?))
    }
}

impl SessionKey {
    /// Draws a new session key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(random_key())
    }

    /// Copies a session key from a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self(key_from_slice(bytes)?))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// Encodes the key for the wire: standard base64 with padding, always 44 characters.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0))
    }

    /// Computes the stored session-key cipher, `SK XOR MK`.
    pub fn cipher_with(&self, master_key: &MasterKey) -> [u8; KEY_BYTES] {
        let mut cipher = [0u8; KEY_BYTES];
        for (out, (s, m)) in cipher
            .iter_mut()
            .zip(self.0.iter().zip(master_key.0.iter()))
        {
            *out = s ^ m;
        }
        cipher
    }

    /// Recovers the master key from the stored cipher (`MK = SK XOR cipher`).
    ///
    /// The result is only right when the session key was verified against its hash first.
    pub fn unlock(&self, cipher: &[u8]) -> Result<MasterKey, CryptoError> {
        Ok(MasterKey(xor_keys(&self.0, cipher)?))
    }
}

impl Plaintext {
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Borrows the plaintext as UTF-8 text.
    pub fn as_str(&self) -> Result<&str, CryptoError> {
        std::str::from_utf8(&self.0).map_err(|_| CryptoError::NotUtf8)
    }

    /// Converts the plaintext into UTF-8 text without copying it.
    pub fn into_string(mut self) -> Result<Zeroizing<String>, CryptoError> {
        let bytes = std::mem::take(&mut self.0);

        match String::from_utf8(bytes) {
            Ok(text) => Ok(Zeroizing::new(text)),
            Err(error) => {
                error.into_bytes().zeroize();
                Err(CryptoError::NotUtf8)
            }
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext({} bytes)", self.0.len())
    }
}

fn random_key() -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    OsRng.fill_bytes(&mut key);
    key
}

fn key_from_slice(bytes: &[u8]) -> Result<[u8; KEY_BYTES], CryptoError> {
    bytes.try_into().map_err(|_| CryptoError::InvalidKeyLength {
        expected: KEY_BYTES,
        actual: bytes.len(),
    })
}

fn xor_keys(key: &[u8; KEY_BYTES], cipher: &[u8]) -> Result<[u8; KEY_BYTES], CryptoError> {
    let mut out = key_from_slice(cipher)?;
    for (o, k) in out.iter_mut().zip(key.iter()) {
        *o ^= k;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FORMATS: &str = include_str!("../../tests/fixtures/vectors/formats.json");
    const PLUGIN_ROWS: &str = include_str!("../../tests/fixtures/vectors/plugin-3.1.2-rows.json");

    fn hex_field(v: &Value, key: &str) -> Vec<u8> {
        hex::decode(v[key].as_str().expect("field is a string")).expect("field is hex")
    }

    #[test]
    fn session_key_vector_base64_and_cipher() {
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let vector = &formats["session_key"];
        let master_key = MasterKey::from_slice(&hex_field(&formats, "master_key_hex")).unwrap();
        let session_key = SessionKey::from_slice(&hex_field(vector, "session_key_hex")).unwrap();

        assert_eq!(
            session_key.to_base64().as_str(),
            vector["session_key_base64"].as_str().unwrap()
        );
        assert_eq!(
            session_key.cipher_with(&master_key).to_vec(),
            hex_field(vector, "cipher_hex")
        );
    }

    #[test]
    fn session_key_vector_unlocks_master_key() {
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let vector = &formats["session_key"];
        let session_key = SessionKey::from_slice(&hex_field(vector, "session_key_hex")).unwrap();
        let cipher = hex_field(vector, "cipher_hex");

        let master_key = session_key.unlock(&cipher).unwrap();
        assert_eq!(
            master_key.as_bytes().to_vec(),
            hex_field(&formats, "master_key_hex")
        );

        let recovered = master_key.recover_session_key(&cipher).unwrap();
        assert_eq!(recovered.as_bytes(), session_key.as_bytes());
    }

    #[test]
    fn plugin_session_key_base64_round_trips() {
        let rows: Value = serde_json::from_str(PLUGIN_ROWS).unwrap();
        let wire = rows["session_key"]["session_key_base64"].as_str().unwrap();
        let raw = STANDARD.decode(wire).unwrap();

        let session_key = SessionKey::from_slice(&raw).unwrap();
        assert_eq!(session_key.to_base64().as_str(), wire);
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            MasterKey::generate().as_bytes(),
            MasterKey::generate().as_bytes()
        );
        assert_ne!(
            SessionKey::generate().as_bytes(),
            SessionKey::generate().as_bytes()
        );
    }

    #[test]
    fn base64_is_44_chars_padded() {
        let encoded = SessionKey::generate().to_base64();
        assert_eq!(encoded.len(), 44);
        assert!(encoded.ends_with('='));
    }

    #[test]
    fn wrong_key_length_rejected() {
        assert!(matches!(
            MasterKey::from_slice(&[0u8; 31]),
            Err(CryptoError::InvalidKeyLength {
                expected: 32,
                actual: 31
            })
        ));
        assert!(SessionKey::from_slice(&[0u8; 33]).is_err());
        assert!(SessionKey::generate().unlock(&[0u8; 16]).is_err());
        assert!(MasterKey::generate().recover_session_key(&[]).is_err());
    }

    #[test]
    fn debug_hides_key_bytes() {
        let key = MasterKey::from_slice(&[0xab; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey(..)");

        let session_key = SessionKey::from_slice(&[0xab; 32]).unwrap();
        assert_eq!(format!("{session_key:?}"), "SessionKey(..)");

        let plaintext = Plaintext::from_vec(b"hunter2".to_vec());
        assert_eq!(format!("{plaintext:?}"), "Plaintext(7 bytes)");
    }

    #[test]
    fn plaintext_into_string_utf8() {
        let text = Plaintext::from_vec("pässwörd".as_bytes().to_vec()).into_string();
        assert_eq!(text.unwrap().as_str(), "pässwörd");
    }

    #[test]
    fn plaintext_into_string_rejects_invalid_utf8() {
        let result = Plaintext::from_vec(vec![0x66, 0xff, 0x66]).into_string();
        assert!(matches!(result, Err(CryptoError::NotUtf8)));
        assert!(Plaintext::from_vec(vec![0xc3]).as_str().is_err());
    }
}
