//! Error types of the crypto module: one for key and cipher operations, one per RSA key parser.

use thiserror::Error;

/// Failure of a key, cipher or encoding operation.
#[derive(Debug, Error)]
pub enum CryptoError {
    #[error("invalid key length: expected {expected} bytes, got {actual}")]
    InvalidKeyLength { expected: usize, actual: usize },

    #[error("value is not valid base64")]
    NotBase64,

    #[error("plaintext is {len} bytes, the maximum is 65535")]
    PlaintextTooLong { len: usize },

    #[error("ciphertext is {len} bytes, the minimum is 18")]
    CiphertextTooShort { len: usize },

    #[error("plaintext is not valid UTF-8")]
    NotUtf8,

    #[error("RSA-OAEP decryption of the master key failed")]
    MasterKeyDecryption,

    #[error("RSA-OAEP encryption of the master key failed; the key is too small")]
    MasterKeyEncryption,

    #[error("RSA key size {bits} is outside the supported range of 2048 to 8192 bits")]
    KeySize { bits: usize },

    #[error("RSA key generation failed")]
    KeyGeneration(#[source] rsa::Error),

    #[error("PKCS#1 PEM encoding failed")]
    Pkcs1Encoding(#[from] rsa::pkcs1::Error),

    #[error("SubjectPublicKeyInfo PEM encoding failed")]
    SpkiEncoding(#[from] rsa::pkcs8::spki::Error),
}

/// Rejection of the text given as an RSA private key.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PrivateKeyError {
    #[error(
        "private key is encrypted with a passphrase; provide an unencrypted PKCS#1 \
         (RSA PRIVATE KEY) or PKCS#8 (PRIVATE KEY) PEM"
    )]
    Encrypted,

    #[error(
        "OpenSSH private key format (OPENSSH PRIVATE KEY) is not supported; convert the key \
         to PEM with `ssh-keygen -p -m PEM -f <file>`"
    )]
    OpenSsh,

    #[error("invalid private key: {0}")]
    Invalid(String),

    #[error("a public key was given, but the RSA PRIVATE key is required")]
    Public,
}

/// Rejection of the text given as an RSA public key.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PublicKeyError {
    #[error("public key is empty")]
    Empty,

    #[error(
        "a private key was given; provide the PUBLIC key \
         (-----BEGIN PUBLIC KEY----- or an ssh-rsa line) instead"
    )]
    PrivateKey,

    #[error(
        "unrecognized public key format; expected a PEM block \
         (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----) or an ssh-rsa line"
    )]
    UnrecognizedFormat,

    #[error("unsupported PEM type \"{0}\"; expected PUBLIC KEY or RSA PUBLIC KEY")]
    UnsupportedPemType(String),

    #[error("unsupported SSH key type \"{0}\"; only ssh-rsa keys are accepted")]
    UnsupportedSshType(String),

    #[error("public key is not an RSA key")]
    NotRsa,

    #[error("invalid public key: {0}")]
    Invalid(String),
}
