//! RSA user keys: parsing, RSA-OAEP copies of the master key and key-pair generation.
//!
//! OAEP uses SHA-1 for both the hash and MGF1, with an empty label, as PyCryptodome's
//! `PKCS1_OAEP` does by default.

use std::fmt;

use rand::rngs::OsRng;
use rsa::pkcs1::der::Decode;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding, SubjectPublicKeyInfoRef};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use zeroize::Zeroizing;

use super::error::{CryptoError, PrivateKeyError, PublicKeyError};
use super::pem;
use super::secrets::MasterKey;
use super::ssh_key;

/// Smallest RSA modulus in bits that key generation accepts.
pub const MIN_KEY_BITS: usize = 2048;

/// Largest RSA modulus in bits that key generation accepts, and the plugin's upper size rule.
pub const MAX_KEY_BITS: usize = 8192;

/// Largest modulus the parsers accept, above [`MAX_KEY_BITS`] so that callers can report an
/// oversized key with their own size message.
const MAX_PARSED_MODULUS_BITS: usize = 16384;

/// A user's RSA public key, which receives an OAEP copy of the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPublicKey(RsaPublicKey);

/// A user's RSA private key, which opens that user's copy of the master key.
///
/// The wrapped `rsa` key wipes its private components on drop.
pub struct UserPrivateKey(RsaPrivateKey);

/// A freshly generated key pair in the PEM forms the key-pair endpoint returns.
pub struct GeneratedKeyPair {
    /// SubjectPublicKeyInfo PEM (`PUBLIC KEY`), `\n` line endings, no trailing newline.
    pub public_pem: String,
    /// PKCS#1 PEM (`RSA PRIVATE KEY`), `\n` line endings, no trailing newline.
    pub private_pem: Zeroizing<String>,
}

impl UserPublicKey {
    /// Parses a public key given as SubjectPublicKeyInfo PEM, PKCS#1 `RSA PUBLIC KEY` PEM or
    /// an OpenSSH `ssh-rsa` line.
    ///
    /// Leading and trailing whitespace is ignored. Private keys are rejected, and so are
    /// X.509 certificates, which the plugin's API would accept. The size rule is left to the
    /// caller, see [`UserPublicKey::bits`].
    pub fn parse(text: &str) -> Result<Self, PublicKeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PublicKeyError::Empty);
        }

        if text.starts_with("ssh-") {
            let components = ssh_key::parse_ssh_rsa(text)?;
            return public_key_from_components(components.n, components.e);
        }

        let label = pem::begin_label(text).ok_or(PublicKeyError::UnrecognizedFormat)?;
        match label {
            "PUBLIC KEY" => parse_spki(&decode_public_pem(text, label)?),
            "RSA PUBLIC KEY" => parse_pkcs1_public(&decode_public_pem(text, label)?),
            "RSA PRIVATE KEY" | "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "OPENSSH PRIVATE KEY" => {
                Err(PublicKeyError::PrivateKey)
            }
            other => Err(PublicKeyError::UnsupportedPemType(other.to_owned())),
        }
    }

    /// Returns the modulus size in bits.
    pub fn bits(&self) -> usize {
        self.0.n().bits()
    }

    /// Encrypts the master key with RSA-OAEP (SHA-1, MGF1-SHA-1, empty label).
    ///
    /// The result is as long as the modulus in bytes. Keys under 592 bits are too small for a
    /// 32-byte OAEP-SHA-1 message and fail.
    pub fn encrypt_master_key(&self, master_key: &MasterKey) -> Result<Vec<u8>, CryptoError> {
        self.0
            .encrypt(&mut OsRng, Oaep::new::<Sha1>(), master_key.as_bytes())
            .map_err(|_| CryptoError::MasterKeyEncryption)
    }

    pub fn as_rsa(&self) -> &RsaPublicKey {
        &self.0
    }
}

impl UserPrivateKey {
    /// Parses an unencrypted PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM.
    ///
    /// LF and CRLF line endings, surrounding whitespace and a missing final newline are
    /// accepted. Passphrase-protected PEM, OpenSSH private keys and public keys get their own
    /// errors, so the message can say what to change.
    pub fn parse(text: &str) -> Result<Self, PrivateKeyError> {
        let text = text.trim();
        if text.starts_with("ssh-") {
            return Err(PrivateKeyError::Public);
        }

        let label = pem::begin_label(text).ok_or_else(|| {
            invalid_private("expected a PEM block (-----BEGIN RSA PRIVATE KEY-----)")
        })?;

        match label {
            "RSA PRIVATE KEY" => parse_pkcs1_private(text, label),
            "PRIVATE KEY" => parse_pkcs8_private(text, label),
            "ENCRYPTED PRIVATE KEY" => Err(PrivateKeyError::Encrypted),
            "OPENSSH PRIVATE KEY" => Err(PrivateKeyError::OpenSsh),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(PrivateKeyError::Public),
            other => Err(invalid_private(&format!(
                "unsupported PEM type \"{other}\"; expected RSA PRIVATE KEY or PRIVATE KEY"
            ))),
        }
    }

    /// Returns the modulus size in bits.
    pub fn bits(&self) -> usize {
        self.0.n().bits()
    }

    pub fn public_key(&self) -> UserPublicKey {
        UserPublicKey(self.0.to_public_key())
    }

    /// Decrypts an RSA-OAEP copy of the master key, with blinding.
    ///
    /// Every failure gives the same error, whatever the cause.
    pub fn decrypt_master_key(&self, cipher: &[u8]) -> Result<MasterKey, CryptoError> {
        // NOTE: the `rsa` crate's decryption is not constant-time (RUSTSEC-2023-0071, the
        // Marvin attack), and no fixed release exists yet. Blinding reduces but does not
        // remove the leak.
        let plain = self
            .0
            .decrypt_blinded(&mut OsRng, Oaep::new::<Sha1>(), cipher)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::MasterKeyDecryption)?;

        MasterKey::from_slice(&plain).map_err(|_| CryptoError::MasterKeyDecryption)
    }
}

impl fmt::Debug for UserPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserPrivateKey({} bits, ..)", self.bits())
    }
}

impl fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("public_pem", &self.public_pem)
            .field("private_pem", &"..")
            .finish()
    }
}

/// Generates an RSA key pair of `bits` bits (2048 to 8192) from the OS CSPRNG.
///
/// This takes from under a second for 2048 bits to minutes for 8192 bits of CPU time, so async
/// callers should run it on a blocking thread.
pub fn generate_key_pair(bits: usize) -> Result<GeneratedKeyPair, CryptoError> {
    if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        return Err(CryptoError::KeySize { bits });
    }

    let private_key = RsaPrivateKey::new(&mut OsRng, bits).map_err(CryptoError::KeyGeneration)?;
    let private_pem = private_key.to_pkcs1_pem(LineEnding::LF)?;
    let public_pem = private_key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)?;

    Ok(GeneratedKeyPair {
        public_pem: public_pem.trim_end().to_owned(),
        private_pem: Zeroizing::new(private_pem.trim_end().to_owned()),
    })
}

fn decode_public_pem(text: &str, label: &str) -> Result<Zeroizing<Vec<u8>>, PublicKeyError> {
    let block = pem::decode(text, label).map_err(|e| PublicKeyError::Invalid(e.to_string()))?;
    Ok(block.der)
}

fn parse_spki(der: &[u8]) -> Result<UserPublicKey, PublicKeyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| PublicKeyError::Invalid(format!("malformed SubjectPublicKeyInfo: {e}")))?;
    if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return Err(PublicKeyError::NotRsa);
    }

    let key_der = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| PublicKeyError::Invalid("malformed public key bit string".to_owned()))?;
    parse_pkcs1_public(key_der)
}

fn parse_pkcs1_public(der: &[u8]) -> Result<UserPublicKey, PublicKeyError> {
    let key = rsa::pkcs1::RsaPublicKey::from_der(der)
        .map_err(|e| PublicKeyError::Invalid(format!("malformed RSA public key: {e}")))?;

    public_key_from_components(
        BigUint::from_bytes_be(key.modulus.as_bytes()),
        BigUint::from_bytes_be(key.public_exponent.as_bytes()),
    )
}

fn public_key_from_components(n: BigUint, e: BigUint) -> Result<UserPublicKey, PublicKeyError> {
    RsaPublicKey::new_with_max_size(n, e, MAX_PARSED_MODULUS_BITS)
        .map(UserPublicKey)
        .map_err(|e| PublicKeyError::Invalid(e.to_string()))
}

fn decode_private_pem(text: &str, label: &str) -> Result<pem::PemBlock, PrivateKeyError> {
    let block = pem::decode(text, label).map_err(|e| invalid_private(&e.to_string()))?;
    if block.encrypted {
        return Err(PrivateKeyError::Encrypted);
    }

    Ok(block)
}

fn parse_pkcs1_private(text: &str, label: &str) -> Result<UserPrivateKey, PrivateKeyError> {
    let block = decode_private_pem(text, label)?;

    RsaPrivateKey::from_pkcs1_der(&block.der)
        .map(UserPrivateKey)
        .map_err(|e| invalid_private(&format!("malformed PKCS#1 RSA private key: {e}")))
}

fn parse_pkcs8_private(text: &str, label: &str) -> Result<UserPrivateKey, PrivateKeyError> {
    let block = decode_private_pem(text, label)?;

    RsaPrivateKey::from_pkcs8_der(&block.der)
        .map(UserPrivateKey)
        .map_err(|e| invalid_private(&format!("malformed or non-RSA PKCS#8 private key: {e}")))
}

fn invalid_private(message: &str) -> PrivateKeyError {
    PrivateKeyError::Invalid(message.to_owned())
}
