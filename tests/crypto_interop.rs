//! Cross-checks the crypto module against Python's `cryptography` package and `hashlib`.
//!
//! The test runs `tests/interop/check_crypto.py` with the Python named by `NBSP_PYTHON`
//! (default `python3`). That Python needs `pip install cryptography`, and the test fails with
//! that advice when the package is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use netbox_secrets_proxy::crypto::{
    decrypt_secret, encrypt_secret, generate_key_pair, hash_secret, hash_session_key,
    make_pbkdf2_sha256, verify_django_hash, verify_secret, GeneratedKeyPair, MasterKey, SessionKey,
    UserPrivateKey, UserPublicKey,
};
use serde_json::{json, Value};

const MISSING_PACKAGE_EXIT: i32 = 3;

fn plaintexts() -> Vec<(&'static str, String)> {
    vec![
        ("ascii", "supersecret".to_owned()),
        ("utf8", "pässwörd ✓ 日本語 🔑".to_owned()),
        ("62 bytes", "x".repeat(62)),
        ("63 bytes", "y".repeat(63)),
        ("1000 bytes", "z".repeat(1000)),
    ]
}

fn rust_cases(pair: &GeneratedKeyPair, master_key: &MasterKey) -> Value {
    let public_key = UserPublicKey::parse(&pair.public_pem).unwrap();
    let session_key = SessionKey::generate();

    let secrets: Vec<Value> = plaintexts()
        .into_iter()
        .map(|(name, plaintext)| {
            let stored = encrypt_secret(master_key, plaintext.as_bytes()).unwrap();
            json!({
                "name": name,
                "plaintext": plaintext,
                "ciphertext_hex": hex::encode(stored),
                "hash": hash_secret(plaintext.as_bytes()),
            })
        })
        .collect();

    let django_hashes: Vec<Value> = [("password", 1), ("pässwörd", 20_000)]
        .into_iter()
        .map(|(password, iterations)| {
            json!({
                "password": password,
                "hash": make_pbkdf2_sha256(password.as_bytes(), iterations),
            })
        })
        .collect();

    json!({
        "private_key_pem": pair.private_pem.as_str(),
        "master_key_hex": hex::encode(master_key.as_bytes()),
        "master_key_cipher_hex": hex::encode(public_key.encrypt_master_key(master_key).unwrap()),
        "secrets": secrets,
        "django_hashes": django_hashes,
        "session_key_hex": hex::encode(session_key.as_bytes()),
        "session_key_base64": session_key.to_base64().as_str(),
        "session_cipher_hex": hex::encode(session_key.cipher_with(master_key)),
        "session_hash": hash_session_key(&session_key),
    })
}

fn run_python_check(case_path: &Path, output_path: &Path) {
    let python = std::env::var("NBSP_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "interop",
        "check_crypto.py",
    ]
    .iter()
    .collect();

    let output = Command::new(&python)
        .arg(&script)
        .arg(case_path)
        .arg(output_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{python}` (set NBSP_PYTHON): {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_ne!(
        output.status.code(),
        Some(MISSING_PACKAGE_EXIT),
        "the interop check needs the `cryptography` package: run `{python} -m pip install \
         cryptography`, or set NBSP_PYTHON to a Python that has it\n{stderr}"
    );
    assert!(
        output.status.success(),
        "Python rejected the Rust output ({}):\n{stderr}",
        output.status
    );
}

fn check_python_output(output: &Value, private_key: &UserPrivateKey, master_key: &MasterKey) {
    let cipher = hex::decode(output["master_key_cipher_hex"].as_str().unwrap()).unwrap();
    let decrypted = private_key.decrypt_master_key(&cipher).unwrap();
    assert_eq!(decrypted.as_bytes(), master_key.as_bytes());

    for secret in output["secrets"].as_array().unwrap() {
        let expected = secret["plaintext"].as_str().unwrap();
        let stored = hex::decode(secret["ciphertext_hex"].as_str().unwrap()).unwrap();
        let plaintext = decrypt_secret(master_key, &stored).unwrap();
        assert_eq!(plaintext.as_str().unwrap(), expected);
    }

    let django_hash = output["django_hash"].as_str().unwrap();
    assert!(verify_django_hash(b"from python", django_hash));
    assert!(verify_secret(b"from python", django_hash));
    assert!(!verify_django_hash(b"from rust", django_hash));
}

#[test]
fn python_cryptography_agrees() {
    let pair = generate_key_pair(2048).unwrap();
    let private_key = UserPrivateKey::parse(&pair.private_pem).unwrap();
    let master_key = MasterKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let case_path = dir.path().join("rust-cases.json");
    let output_path = dir.path().join("python-output.json");

    let cases = rust_cases(&pair, &master_key);
    std::fs::write(&case_path, serde_json::to_vec_pretty(&cases).unwrap()).unwrap();
    run_python_check(&case_path, &output_path);

    let output: Value = serde_json::from_slice(&std::fs::read(&output_path).unwrap()).unwrap();
    check_python_output(&output, &private_key, &master_key);
}
