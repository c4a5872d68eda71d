//! RSA user keys: parsing, RSA-OAEP copies of the master key and key-pair generation.
//!
//! OAEP uses SHA-1 for both the hash and MGF1, with an empty label, as PyCryptodome's
//! `PKCS1_OAEP` does by default.

use std::fmt;

use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1};
use rand::rngs::OsRng;
use rsa::pkcs1::der::Decode;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{
    DecodePrivateKey, EncodePublicKey, LineEnding, PrivateKeyInfo, SecretDocument,
    SubjectPublicKeyInfoRef,
};
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
/// Both forms wipe their private components on drop. AWS-LC's `OPENSSL_free` clears each
/// allocation before freeing it (no custom allocator is installed), and the `rsa` crate
/// zeroizes its key.
pub struct UserPrivateKey(LoadedKey);

enum LoadedKey {
    /// Loaded into AWS-LC, which decrypts in constant time: every key of 2048 to 8192 bits.
    AwsLc(PrivateDecryptingKey),
    /// Keys AWS-LC refuses to load, for example below 2048 bits.
    Portable(Box<RsaPrivateKey>),
}

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
    /// errors, so the message tells the user what to change.
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
        match &self.0 {
            LoadedKey::AwsLc(key) => key.key_size_bits(),
            LoadedKey::Portable(key) => key.n().bits(),
        }
    }

    /// Decrypts an RSA-OAEP copy of the master key. Every failure gives the same error.
    pub fn decrypt_master_key(&self, cipher: &[u8]) -> Result<MasterKey, CryptoError> {
        match &self.0 {
            LoadedKey::AwsLc(key) => decrypt_with_aws_lc(key, cipher),
            LoadedKey::Portable(key) => decrypt_with_rsa_crate(key, cipher),
        }
    }

    /// Loads PKCS#8 DER into AWS-LC, or into the `rsa` crate when AWS-LC refuses the key.
    fn load(pkcs8: &[u8], format_name: &str) -> Result<UserPrivateKey, PrivateKeyError> {
        if let Some(key) = load_into_aws_lc(pkcs8) {
            return Ok(UserPrivateKey(LoadedKey::AwsLc(key)));
        }

        RsaPrivateKey::from_pkcs8_der(pkcs8)
            .map(|key| UserPrivateKey(LoadedKey::Portable(Box::new(key))))
            .map_err(|e| invalid_private(&format!("malformed {format_name}: {e}")))
    }
}

fn load_into_aws_lc(pkcs8: &[u8]) -> Option<PrivateDecryptingKey> {
    PrivateDecryptingKey::from_pkcs8(pkcs8).ok()
}

fn decrypt_with_aws_lc(
    key: &PrivateDecryptingKey,
    cipher: &[u8],
) -> Result<MasterKey, CryptoError> {
    // The clone shares AWS-LC's key object; OAEP needs its own handle.
    let oaep =
        OaepPrivateDecryptingKey::new(key.clone()).map_err(|_| CryptoError::MasterKeyDecryption)?;
    let mut output = Zeroizing::new(vec![0u8; key.key_size_bytes()]);
    let plain = oaep
        .decrypt(&OAEP_SHA1_MGF1SHA1, cipher, &mut output, None)
        .map_err(|_| CryptoError::MasterKeyDecryption)?;

    MasterKey::from_slice(plain).map_err(|_| CryptoError::MasterKeyDecryption)
}

fn decrypt_with_rsa_crate(key: &RsaPrivateKey, cipher: &[u8]) -> Result<MasterKey, CryptoError> {
    // NOTE: the `rsa` crate's decryption is not constant-time (RUSTSEC-2023-0071, the Marvin
    // attack). It runs only for keys AWS-LC does not load, with blinding.
    let plain = key
        .decrypt_blinded(&mut OsRng, Oaep::new::<Sha1>(), cipher)
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::MasterKeyDecryption)?;

    MasterKey::from_slice(&plain).map_err(|_| CryptoError::MasterKeyDecryption)
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

    // AWS-LC reads PKCS#8, so the PKCS#1 key is wrapped in a PrivateKeyInfo first.
    let info = PrivateKeyInfo::new(rsa::pkcs1::ALGORITHM_ID, &block.der);
    let pkcs8 = SecretDocument::encode_msg(&info)
        .map_err(|e| invalid_private(&format!("malformed PKCS#1 RSA private key: {e}")))?;
    UserPrivateKey::load(pkcs8.as_bytes(), "PKCS#1 RSA private key")
}

fn parse_pkcs8_private(text: &str, label: &str) -> Result<UserPrivateKey, PrivateKeyError> {
    let block = decode_private_pem(text, label)?;

    UserPrivateKey::load(&block.der, "or non-RSA PKCS#8 private key")
}

fn invalid_private(message: &str) -> PrivateKeyError {
    PrivateKeyError::Invalid(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePublicKey;
    use serde_json::Value;

    const FORMATS: &str = include_str!("../../tests/fixtures/vectors/formats.json");
    const PLUGIN_ROWS: &str = include_str!("../../tests/fixtures/vectors/plugin-3.1.2-rows.json");
    const VECTOR_PKCS8: &str = include_str!("../../tests/fixtures/keys/vector-pkcs8.pem");
    const VECTOR_RSA_PUBLIC: &str = include_str!("../../tests/fixtures/keys/vector-rsa-public.pem");
    const VECTOR_SSH_RSA: &str = include_str!("../../tests/fixtures/keys/vector-ssh-rsa.pub");
    const ENCRYPTED_PKCS1: &str = include_str!("../../tests/fixtures/keys/encrypted-pkcs1.pem");
    const ENCRYPTED_PKCS8: &str = include_str!("../../tests/fixtures/keys/encrypted-pkcs8.pem");
    const OPENSSH_PRIVATE: &str = include_str!("../../tests/fixtures/keys/openssh-private.pem");
    const RSA8192_PUBLIC: &str = include_str!("../../tests/fixtures/keys/rsa8192-public.pem");

    fn formats() -> Value {
        serde_json::from_str(FORMATS).unwrap()
    }

    fn field<'a>(value: &'a Value, key: &str) -> &'a str {
        value[key].as_str().expect("field is a string")
    }

    fn vector_private_pem() -> String {
        field(&formats(), "rsa_private_key_pkcs1_pem").to_owned()
    }

    /// Returns the public half of a parsed private key, exported by AWS-LC when AWS-LC loaded it.
    fn public_of(private_key: &UserPrivateKey) -> UserPublicKey {
        match &private_key.0 {
            LoadedKey::AwsLc(key) => {
                let spki = key.public_key().as_der().unwrap();
                UserPublicKey(RsaPublicKey::from_public_key_der(spki.as_ref()).unwrap())
            }
            LoadedKey::Portable(key) => UserPublicKey(key.to_public_key()),
        }
    }

    fn vector_public() -> UserPublicKey {
        UserPublicKey::parse(field(&formats(), "rsa_public_key_spki_pem")).unwrap()
    }

    #[test]
    fn formats_master_key_cipher_decrypts() {
        let formats = formats();
        let private_key = UserPrivateKey::parse(field(&formats, "rsa_private_key_pkcs1_pem"));
        let cipher = hex::decode(field(&formats, "master_key_cipher_hex")).unwrap();

        let master_key = private_key.unwrap().decrypt_master_key(&cipher).unwrap();
        assert_eq!(
            hex::encode(master_key.as_bytes()),
            field(&formats, "master_key_hex")
        );
    }

    #[test]
    fn both_decryption_paths_agree() {
        let formats = formats();
        let pem = field(&formats, "rsa_private_key_pkcs1_pem");
        let private_key = UserPrivateKey::parse(pem).unwrap();
        let LoadedKey::AwsLc(fast_key) = &private_key.0 else {
            panic!("AWS-LC loads 2048-bit keys");
        };
        let portable_key = RsaPrivateKey::from_pkcs1_pem(pem).unwrap();
        let cipher = hex::decode(field(&formats, "master_key_cipher_hex")).unwrap();
        let mut damaged = cipher.clone();
        damaged[10] ^= 1;

        let expected = field(&formats, "master_key_hex");
        let fast = decrypt_with_aws_lc(fast_key, &cipher).unwrap();
        let portable = decrypt_with_rsa_crate(&portable_key, &cipher).unwrap();
        assert_eq!(hex::encode(fast.as_bytes()), expected);
        assert_eq!(hex::encode(portable.as_bytes()), expected);

        assert!(matches!(
            decrypt_with_aws_lc(fast_key, &damaged),
            Err(CryptoError::MasterKeyDecryption)
        ));
        assert!(decrypt_with_rsa_crate(&portable_key, &damaged).is_err());
    }

    #[test]
    fn small_keys_fall_back_to_the_rsa_crate() {
        let small = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let pem = small.to_pkcs1_pem(LineEnding::LF).unwrap();
        let public_key = UserPublicKey(small.to_public_key());
        let master_key = MasterKey::generate();
        let cipher = public_key.encrypt_master_key(&master_key).unwrap();

        let private_key = UserPrivateKey::parse(&pem).unwrap();

        assert!(matches!(private_key.0, LoadedKey::Portable(_)));
        assert_eq!(private_key.bits(), 1024);
        assert_eq!(public_of(&private_key), public_key);
        let decrypted = private_key.decrypt_master_key(&cipher).unwrap();
        assert_eq!(decrypted.as_bytes(), master_key.as_bytes());
    }

    #[test]
    fn plugin_master_key_cipher_decrypts() {
        let rows: Value = serde_json::from_str(PLUGIN_ROWS).unwrap();
        let private_key = UserPrivateKey::parse(field(&rows, "rsa_private_key_pem")).unwrap();
        let public_key = UserPublicKey::parse(field(&rows, "user_key_public_key")).unwrap();
        let cipher = hex::decode(field(&rows, "master_key_cipher_hex")).unwrap();

        assert_eq!(public_of(&private_key), public_key);
        assert!(private_key.decrypt_master_key(&cipher).is_ok());
    }

    #[test]
    fn oaep_round_trip_and_length() {
        let private_key = UserPrivateKey::parse(&vector_private_pem()).unwrap();
        let master_key = MasterKey::generate();

        let cipher = vector_public().encrypt_master_key(&master_key).unwrap();
        assert_eq!(cipher.len(), 256);

        let decrypted = private_key.decrypt_master_key(&cipher).unwrap();
        assert_eq!(decrypted.as_bytes(), master_key.as_bytes());
    }

    #[test]
    fn tampered_cipher_fails() {
        let formats = formats();
        let private_key = UserPrivateKey::parse(&vector_private_pem()).unwrap();
        let mut cipher = hex::decode(field(&formats, "master_key_cipher_hex")).unwrap();
        cipher[100] ^= 1;

        assert!(matches!(
            private_key.decrypt_master_key(&cipher),
            Err(CryptoError::MasterKeyDecryption)
        ));
        assert!(private_key.decrypt_master_key(&cipher[..255]).is_err());
    }

    #[test]
    fn private_key_encodings_parse() {
        let pkcs1 = vector_private_pem();
        let crlf = pkcs1.replace('\n', "\r\n");
        let texts = [
            pkcs1.clone(),
            format!("{pkcs1}\n"),
            format!("{crlf}\r\n"),
            crlf,
            VECTOR_PKCS8.to_owned(),
            VECTOR_PKCS8.trim_end().replace('\n', "\r\n"),
        ];

        for text in texts {
            let private_key = UserPrivateKey::parse(&text).unwrap();
            assert_eq!(
                public_of(&private_key),
                vector_public(),
                "{:?}",
                &text[..40]
            );
            assert_eq!(private_key.bits(), 2048);
        }
    }

    #[test]
    fn encrypted_private_keys_rejected() {
        for text in [ENCRYPTED_PKCS1, ENCRYPTED_PKCS8] {
            let error = UserPrivateKey::parse(text).unwrap_err();
            assert_eq!(error, PrivateKeyError::Encrypted);
            assert!(error.to_string().contains("passphrase"));
        }
    }

    #[test]
    fn openssh_private_key_rejected() {
        let error = UserPrivateKey::parse(OPENSSH_PRIVATE).unwrap_err();

        assert_eq!(error, PrivateKeyError::OpenSsh);
        assert!(error.to_string().contains("OPENSSH PRIVATE KEY"));
    }

    #[test]
    fn public_key_as_private_rejected() {
        let formats = formats();
        let texts = [
            field(&formats, "rsa_public_key_spki_pem"),
            VECTOR_RSA_PUBLIC,
            VECTOR_SSH_RSA,
        ];

        for text in texts {
            assert_eq!(
                UserPrivateKey::parse(text).unwrap_err(),
                PrivateKeyError::Public
            );
        }
    }

    #[test]
    fn garbage_private_key_invalid() {
        let texts = [
            "",
            "not a key",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        ];

        for text in texts {
            assert!(
                matches!(
                    UserPrivateKey::parse(text),
                    Err(PrivateKeyError::Invalid(_))
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn public_key_encodings_share_modulus() {
        let expected = vector_public();
        let texts = [
            VECTOR_RSA_PUBLIC,
            VECTOR_SSH_RSA,
            &format!("  {VECTOR_SSH_RSA}\r\n"),
        ];

        for text in texts {
            assert_eq!(UserPublicKey::parse(text).unwrap(), expected, "{text:?}");
        }
        assert_eq!(expected.bits(), 2048);
    }

    #[test]
    fn ssh_rsa_without_comment_parses() {
        let without_comment = VECTOR_SSH_RSA.rsplit_once(' ').unwrap().0;
        assert_eq!(
            UserPublicKey::parse(without_comment).unwrap(),
            vector_public()
        );
    }

    #[test]
    fn built_ssh_rsa_wire_format_parses() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;

        let public_key = vector_public();
        let mut modulus = public_key.as_rsa().n().to_bytes_be();
        modulus.insert(0, 0);

        let mut blob = Vec::new();
        for part in [&b"ssh-rsa"[..], &[1, 0, 1], &modulus] {
            blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
            blob.extend_from_slice(part);
        }
        let line = format!("ssh-rsa {} built", STANDARD.encode(blob));

        assert_eq!(UserPublicKey::parse(&line).unwrap(), public_key);
    }

    #[test]
    fn private_key_as_public_rejected() {
        let texts = [
            vector_private_pem(),
            VECTOR_PKCS8.to_owned(),
            ENCRYPTED_PKCS8.to_owned(),
            OPENSSH_PRIVATE.to_owned(),
        ];

        for text in texts {
            let error = UserPublicKey::parse(&text).unwrap_err();
            assert_eq!(error, PublicKeyError::PrivateKey);
            assert!(error.to_string().contains("PUBLIC key"));
        }
    }

    #[test]
    fn unsupported_public_keys_rejected() {
        let certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let cases = [
            ("", PublicKeyError::Empty),
            ("   \n", PublicKeyError::Empty),
            ("hello", PublicKeyError::UnrecognizedFormat),
            (
                certificate,
                PublicKeyError::UnsupportedPemType("CERTIFICATE".into()),
            ),
            (
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA x",
                PublicKeyError::UnsupportedSshType("ssh-ed25519".into()),
            ),
        ];

        for (text, expected) in cases {
            assert_eq!(
                UserPublicKey::parse(text).unwrap_err(),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn malformed_public_pem_invalid() {
        let texts = [
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "-----BEGIN PUBLIC KEY-----\nMIIB",
            "-----BEGIN RSA PUBLIC KEY-----\n!!\n-----END RSA PUBLIC KEY-----",
        ];

        for text in texts {
            assert!(
                matches!(UserPublicKey::parse(text), Err(PublicKeyError::Invalid(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn key_over_4096_bits_parses() {
        let public_key = UserPublicKey::parse(RSA8192_PUBLIC).unwrap();

        assert_eq!(public_key.bits(), 8192);
        assert_eq!(
            public_key
                .encrypt_master_key(&MasterKey::generate())
                .unwrap()
                .len(),
            1024
        );
    }

    #[test]
    fn generated_pair_round_trips() {
        let pair = generate_key_pair(2048).unwrap();
        let public_key = UserPublicKey::parse(&pair.public_pem).unwrap();
        let private_key = UserPrivateKey::parse(&pair.private_pem).unwrap();
        let master_key = MasterKey::generate();

        let cipher = public_key.encrypt_master_key(&master_key).unwrap();
        let decrypted = private_key.decrypt_master_key(&cipher).unwrap();

        assert_eq!(public_key.bits(), 2048);
        assert_eq!(decrypted.as_bytes(), master_key.as_bytes());
    }

    #[test]
    fn generated_pair_pem_layout() {
        let pair = generate_key_pair(2048).unwrap();

        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pair.public_pem.ends_with("\n-----END PUBLIC KEY-----"));
        assert!(pair
            .private_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(pair
            .private_pem
            .ends_with("\n-----END RSA PRIVATE KEY-----"));

        for pem in [pair.public_pem.as_str(), pair.private_pem.as_str()] {
            assert!(!pem.contains('\r'));
            assert!(pem.lines().all(|line| line.len() <= 64));
        }
        assert!(!format!("{pair:?}").contains("PRIVATE KEY-----"));
    }

    #[test]
    fn generation_size_limits() {
        for bits in [0, 1024, 2047, 8193, 16384] {
            assert!(
                matches!(generate_key_pair(bits), Err(CryptoError::KeySize { .. })),
                "{bits} bits"
            );
        }
    }

    #[test]
    fn private_key_debug_hides_material() {
        let private_key = UserPrivateKey::parse(&vector_private_pem()).unwrap();
        assert_eq!(format!("{private_key:?}"), "UserPrivateKey(2048 bits, ..)");
    }
}
