//! Secret encryption: `IV || AES-256-CFB8(MK, IV, length header || plaintext || padding)`.
//!
//! The layout before encryption is a 2-byte big-endian plaintext length, the plaintext and
//! random padding up to 64 bytes when the plaintext has at most 62 bytes, or otherwise up to
//! the next multiple of 16. CFB runs with 8-bit segments; CFB-128 output does not interoperate.

use aes::Aes256;
use cfb8::cipher::{AsyncStreamCipher, KeyIvInit};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use super::django_hash::{make_pbkdf2_sha256, verify_django_hash, SECRET_HASH_ITERATIONS};
use super::error::CryptoError;
use super::secrets::{MasterKey, Plaintext};

/// Largest plaintext in bytes, the limit of the 2-byte length header.
pub const MAX_PLAINTEXT_BYTES: usize = 65535;

const IV_BYTES: usize = 16;
const HEADER_BYTES: usize = 2;
const MIN_PADDED_BYTES: usize = 64;

/// Encrypts a plaintext with the master key, with a random IV and random padding.
pub fn encrypt_secret(master_key: &MasterKey, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    encrypt_with(master_key, plaintext, random_iv(), |padding| {
        OsRng.fill_bytes(padding)
    })
}

/// Decrypts a stored ciphertext into the plaintext bytes named by its length header.
///
/// A length header larger than the decrypted data yields the shorter available bytes, as the
/// plugin does. A wrong master key is not detected here but by [`verify_secret`].
pub fn decrypt_secret(master_key: &MasterKey, stored: &[u8]) -> Result<Plaintext, CryptoError> {
    if stored.len() < IV_BYTES + HEADER_BYTES {
        return Err(CryptoError::CiphertextTooShort { len: stored.len() });
    }

    let (iv, ciphertext) = stored.split_at(IV_BYTES);
    let mut padded = Zeroizing::new(ciphertext.to_vec());
    cfb8::Decryptor::<Aes256>::new(master_key.as_bytes().into(), iv.into()).decrypt(&mut padded);

    let length = usize::from(u16::from_be_bytes([padded[0], padded[1]]));
    let end = (HEADER_BYTES + length).min(padded.len());

    Ok(Plaintext::from_vec(padded[HEADER_BYTES..end].to_vec()))
}

/// Hashes a plaintext as the plugin's secret-validation hasher: `pbkdf2_sha256`, 1000 rounds.
pub fn hash_secret(plaintext: &[u8]) -> String {
    make_pbkdf2_sha256(plaintext, SECRET_HASH_ITERATIONS)
}

/// Checks a decrypted plaintext against the secret's stored hash; false for unparseable hashes.
pub fn verify_secret(plaintext: &[u8], stored_hash: &str) -> bool {
    verify_django_hash(plaintext, stored_hash)
}

/// Returns the length of header, plaintext and padding for a plaintext of `plaintext_len` bytes.
fn padded_len(plaintext_len: usize) -> usize {
    let unpadded = HEADER_BYTES + plaintext_len;

    if unpadded <= MIN_PADDED_BYTES {
        MIN_PADDED_BYTES
    } else {
        unpadded.next_multiple_of(16)
    }
}

fn random_iv() -> [u8; IV_BYTES] {
    let mut iv = [0u8; IV_BYTES];
    OsRng.fill_bytes(&mut iv);
    iv
}

/// Encrypts with a given IV and padding source, so tests can reproduce fixed vectors.
fn encrypt_with(
    master_key: &MasterKey,
    plaintext: &[u8],
    iv: [u8; IV_BYTES],
    fill_padding: impl FnOnce(&mut [u8]),
) -> Result<Vec<u8>, CryptoError> {
    let length = u16::try_from(plaintext.len()).map_err(|_| CryptoError::PlaintextTooLong {
        len: plaintext.len(),
    })?;

    // The buffer never reallocates, so no copy of the plaintext is left behind in freed memory.
    let padded_len = padded_len(plaintext.len());
    let mut stored = Vec::with_capacity(IV_BYTES + padded_len);
    stored.extend_from_slice(&iv);
    stored.extend_from_slice(&length.to_be_bytes());
    stored.extend_from_slice(plaintext);
    stored.resize(IV_BYTES + padded_len, 0);

    let padding_start = IV_BYTES + HEADER_BYTES + plaintext.len();
    fill_padding(&mut stored[padding_start..]);

    let encryptor = cfb8::Encryptor::<Aes256>::new(master_key.as_bytes().into(), &iv.into());
    encryptor.encrypt(&mut stored[IV_BYTES..]);

    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rsa_keys::UserPrivateKey;
    use aes::cipher::{BlockEncrypt, KeyInit};
    use serde_json::Value;
    use std::collections::HashSet;

    const FORMATS: &str = include_str!("../../tests/fixtures/vectors/formats.json");
    const PLUGIN_ROWS: &str = include_str!("../../tests/fixtures/vectors/plugin-3.1.2-rows.json");

    const VECTOR_IV: [u8; 16] = [
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e,
        0x1f,
    ];

    fn hex_field(v: &Value, key: &str) -> Vec<u8> {
        hex::decode(v[key].as_str().expect("field is a string")).expect("field is hex")
    }

    fn formats_master_key(formats: &Value) -> MasterKey {
        MasterKey::from_slice(&hex_field(formats, "master_key_hex")).unwrap()
    }

    fn plugin_master_key(rows: &Value) -> MasterKey {
        let private_key = UserPrivateKey::parse(rows["rsa_private_key_pem"].as_str().unwrap());
        let cipher = hex_field(rows, "master_key_cipher_hex");
        private_key.unwrap().decrypt_master_key(&cipher).unwrap()
    }

    fn assert_secret_vectors(master_key: &MasterKey, secrets: &[Value]) {
        for secret in secrets {
            let expected = secret["plaintext"].as_str().unwrap();
            let stored = hex_field(secret, "ciphertext_hex");
            let hash = secret["hash"].as_str().unwrap();

            let plaintext = decrypt_secret(master_key, &stored).unwrap();
            assert_eq!(plaintext.as_str().unwrap(), expected);
            assert!(
                verify_secret(plaintext.as_bytes(), hash),
                "hash of {expected:?}"
            );
        }
    }

    #[test]
    fn formats_vectors_decrypt_and_verify() {
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let secrets = formats["secrets"].as_array().unwrap();

        assert_eq!(secrets.len(), 3);
        assert_secret_vectors(&formats_master_key(&formats), secrets);
    }

    #[test]
    fn plugin_rows_decrypt_and_verify() {
        let rows: Value = serde_json::from_str(PLUGIN_ROWS).unwrap();
        let secrets = rows["secrets"].as_array().unwrap();

        assert_eq!(secrets.len(), 11);
        assert_secret_vectors(&plugin_master_key(&rows), secrets);
    }

    #[test]
    fn formats_vectors_encrypt_byte_for_byte() {
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let master_key = formats_master_key(&formats);

        for secret in formats["secrets"].as_array().unwrap() {
            let plaintext = secret["plaintext"].as_str().unwrap();
            let stored = encrypt_with(&master_key, plaintext.as_bytes(), VECTOR_IV, |padding| {
                padding.fill(0xaa)
            })
            .unwrap();

            assert_eq!(stored, hex_field(secret, "ciphertext_hex"), "{plaintext:?}");
        }
    }

    #[test]
    fn cfb128_output_differs() {
        // With 128-bit segments the first block is `AES(MK, IV) XOR X[0..16]`.
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let master_key = formats_master_key(&formats);
        let mut keystream = aes::Block::from(VECTOR_IV);
        Aes256::new(master_key.as_bytes().into()).encrypt_block(&mut keystream);

        let mut padded = b"\x00\x0bsupersecret".to_vec();
        padded.resize(16, 0xaa);
        let cfb128: Vec<u8> = padded
            .iter()
            .zip(keystream.iter())
            .map(|(p, k)| p ^ k)
            .collect();

        let stored = hex_field(&formats["secrets"][0], "ciphertext_hex");
        assert_eq!(hex::encode(&cfb128), "e9c89cffc25121959517eeb3424d0224");
        assert_eq!(
            hex::encode(&stored[16..32]),
            "e9dc94c844a31265f3ea451772383c2d"
        );
    }

    #[test]
    fn stored_size_table() {
        let master_key = MasterKey::generate();
        let cases = [
            (0, 80),
            (1, 80),
            (62, 80),
            (63, 96),
            (78, 96),
            (79, 112),
            (65535, 65568),
        ];

        for (plaintext_len, stored_len) in cases {
            let stored = encrypt_secret(&master_key, &vec![b'a'; plaintext_len]).unwrap();
            assert_eq!(
                stored.len(),
                stored_len,
                "plaintext of {plaintext_len} bytes"
            );
        }
    }

    #[test]
    fn oversized_plaintext_rejected() {
        let result = encrypt_secret(&MasterKey::generate(), &vec![b'a'; 65536]);
        assert!(matches!(
            result,
            Err(CryptoError::PlaintextTooLong { len: 65536 })
        ));
    }

    #[test]
    fn round_trip_at_boundaries() {
        let master_key = MasterKey::generate();

        for len in [0, 1, 61, 62, 63, 64, 77, 78, 79, 1000, 65535] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let stored = encrypt_secret(&master_key, &plaintext).unwrap();
            let decrypted = decrypt_secret(&master_key, &stored).unwrap();
            assert_eq!(decrypted.as_bytes(), plaintext.as_slice(), "length {len}");
        }
    }

    #[test]
    fn ivs_are_distinct() {
        let master_key = MasterKey::generate();
        let ivs: HashSet<Vec<u8>> = (0..50)
            .map(|_| encrypt_secret(&master_key, b"same plaintext").unwrap()[..16].to_vec())
            .collect();

        assert_eq!(ivs.len(), 50);
    }

    #[test]
    fn padding_is_random() {
        let master_key = MasterKey::from_slice(&[7u8; 32]).unwrap();
        let first = encrypt_with(&master_key, b"x", VECTOR_IV, |p| OsRng.fill_bytes(p)).unwrap();
        let second = encrypt_with(&master_key, b"x", VECTOR_IV, |p| OsRng.fill_bytes(p)).unwrap();

        assert_eq!(first[..19], second[..19]);
        assert_ne!(first[19..], second[19..]);
    }

    #[test]
    fn wrong_master_key_fails_hash_check() {
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let secret = &formats["secrets"][0];
        let stored = hex_field(secret, "ciphertext_hex");
        let other_key = MasterKey::from_slice(&[0x5a; 32]).unwrap();

        let verified = decrypt_secret(&other_key, &stored)
            .map(|plaintext| verify_secret(plaintext.as_bytes(), secret["hash"].as_str().unwrap()));
        assert!(!verified.unwrap_or(false));
    }

    #[test]
    fn short_ciphertext_rejected() {
        let master_key = MasterKey::generate();

        assert!(matches!(
            decrypt_secret(&master_key, &[]),
            Err(CryptoError::CiphertextTooShort { len: 0 })
        ));
        assert!(decrypt_secret(&master_key, &[0u8; 17]).is_err());
        assert!(decrypt_secret(&master_key, &[0u8; 18]).is_ok());
    }

    #[test]
    fn oversized_length_header_truncates() {
        // In CFB-8, flipping a ciphertext byte flips the same plaintext byte, so the header
        // below claims 0xff03 bytes while only 62 follow it.
        let master_key = MasterKey::generate();
        let mut stored = encrypt_secret(&master_key, b"abc").unwrap();
        stored[16] ^= 0xff;

        let plaintext = decrypt_secret(&master_key, &stored).unwrap();
        assert_eq!(plaintext.as_bytes().len(), 62);
    }

    #[test]
    fn hash_secret_verifies() {
        let hash = hash_secret("pässwörd ✓".as_bytes());

        assert!(hash.starts_with("pbkdf2_sha256$1000$"));
        assert!(verify_secret("pässwörd ✓".as_bytes(), &hash));
        assert!(!verify_secret(b"password", &hash));
        assert!(!verify_secret(b"anything", "dummy"));
    }
}
