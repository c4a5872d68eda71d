//! Cryptography of the netbox-secrets storage formats: RSA-OAEP master-key copies, session keys, AES-256-CFB8 secrets and Django password hashes.

mod compare;
mod django_hash;
mod error;
mod pem;
mod rsa_keys;
mod secret_cipher;
mod secrets;
mod session_hash;
mod session_key_header;
mod ssh_key;

pub use compare::ct_eq;
pub use django_hash::{make_pbkdf2_sha256, verify_django_hash, SECRET_HASH_ITERATIONS};
pub use error::{CryptoError, PrivateKeyError, PublicKeyError};
pub use rsa_keys::{
    generate_key_pair, GeneratedKeyPair, UserPrivateKey, UserPublicKey, MAX_KEY_BITS, MIN_KEY_BITS,
};
pub use secret_cipher::{
    decrypt_secret, encrypt_secret, hash_secret, verify_secret, MAX_PLAINTEXT_BYTES,
};
pub use secrets::{MasterKey, Plaintext, SessionKey, KEY_BYTES};
pub use session_hash::{hash_session_key, verify_session_key};
pub use session_key_header::decode_session_key_header;
