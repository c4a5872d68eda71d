//! Django password-hash strings: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
//!
//! Secrets are hashed with these, and so are session keys written by the plugin.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::compare::ct_eq;

/// PBKDF2 iterations of the plugin's secret-validation hasher.
pub const SECRET_HASH_ITERATIONS: u32 = 1000;

/// Length of the salts we generate, as Django does: 22 characters of `[A-Za-z0-9]`.
pub(crate) const SALT_CHARS: usize = 22;

/// Highest iteration count that verification runs.
///
/// Django 6.0 defaults to 1,200,000 iterations. The limit keeps a corrupted or hostile hash
/// string with billions of iterations from holding a worker thread for hours.
const MAX_VERIFY_ITERATIONS: u32 = 20_000_000;

/// Hash functions that Django's PBKDF2 hashers use, named by their algorithm tag.
#[derive(Clone, Copy)]
enum Algorithm {
    Pbkdf2Sha256,
    Pbkdf2Sha1,
}

impl Algorithm {
    fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "pbkdf2_sha256" => Some(Self::Pbkdf2Sha256),
            "pbkdf2_sha1" => Some(Self::Pbkdf2Sha1),
            _ => None,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Pbkdf2Sha256 => "pbkdf2_sha256",
            Self::Pbkdf2Sha1 => "pbkdf2_sha1",
        }
    }

    /// Derives a key as long as the hash output (Django passes no `dklen`).
    fn derive(self, password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
        match self {
            Self::Pbkdf2Sha256 => {
                let mut key = Zeroizing::new(vec![0u8; 32]);
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut key);
                key
            }
            Self::Pbkdf2Sha1 => {
                let mut key = Zeroizing::new(vec![0u8; 20]);
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut key);
                key
            }
        }
    }
}

/// Hashes `password` as Django's `PBKDF2PasswordHasher` does, with a random 22-character salt.
pub fn make_pbkdf2_sha256(password: &[u8], iterations: u32) -> String {
    let salt = generate_salt();
    encode(Algorithm::Pbkdf2Sha256, password, &salt, iterations)
}

/// Checks `password` against a Django `pbkdf2_sha256` or `pbkdf2_sha1` hash string.
///
/// Any salt length and iteration count up to 20,000,000 is accepted. The recomputed string is
/// compared with the stored one as a whole and in constant time, as Django does, so a
/// non-canonical iteration count such as `01000` never matches. Unparseable strings return false.
pub fn verify_django_hash(password: &[u8], encoded: &str) -> bool {
    let Some((algorithm, iterations, salt)) = parse(encoded) else {
        return false;
    };

    let recomputed = encode(algorithm, password, salt, iterations);
    ct_eq(recomputed.as_bytes(), encoded.as_bytes())
}

/// Draws a salt of 22 characters from `[A-Za-z0-9]` with the OS CSPRNG.
pub(crate) fn generate_salt() -> String {
    Alphanumeric.sample_string(&mut OsRng, SALT_CHARS)
}

fn encode(algorithm: Algorithm, password: &[u8], salt: &str, iterations: u32) -> String {
    let key = algorithm.derive(password, salt.as_bytes(), iterations);
    let hash = STANDARD.encode(key.as_slice());

    format!("{}${iterations}${salt}${hash}", algorithm.tag())
}

fn parse(encoded: &str) -> Option<(Algorithm, u32, &str)> {
    let mut parts = encoded.splitn(4, '$');
    let algorithm = Algorithm::from_tag(parts.next()?)?;
    let iterations: u32 = parts.next()?.parse().ok()?;
    let salt = parts.next()?;
    parts.next()?;

    let iterations_in_range = (1..=MAX_VERIFY_ITERATIONS).contains(&iterations);
    (iterations_in_range && !salt.is_empty()).then_some((algorithm, iterations, salt))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings were produced with Python's `hashlib.pbkdf2_hmac`, laid out as Django's
    // `PBKDF2PasswordHasher` and `PBKDF2SHA1PasswordHasher` lay them out.
    const TWELVE_CHAR_SALT: &str =
        "pbkdf2_sha256$36000$abcdefghijkl$+IYddJ6VbJngIIC+UR1s7fwWjGPWo9jX4xu+x+u6Aqg=";
    const TWENTY_THOUSAND: &str =
        "pbkdf2_sha256$20000$SaltSaltSaltSaltSalt22$FzD+Y0JHL75EgKd+CgCO4Mg5cpi8O2fZuaR9SAn00xo=";
    const SHA1_HASH: &str = "pbkdf2_sha1$10000$abcdefghijkl$9yArwzT6fGJ1UmoO3mKAjZoWHJ0=";

    #[test]
    fn verifies_twelve_char_salt() {
        assert!(verify_django_hash(b"password", TWELVE_CHAR_SALT));
        assert!(!verify_django_hash(b"Password", TWELVE_CHAR_SALT));
    }

    #[test]
    fn verifies_other_iteration_count() {
        assert!(verify_django_hash(b"password", TWENTY_THOUSAND));
        assert!(!verify_django_hash(b"passwore", TWENTY_THOUSAND));
    }

    #[test]
    fn verifies_pbkdf2_sha1() {
        assert!(verify_django_hash(b"password", SHA1_HASH));
        assert!(!verify_django_hash(b"passw0rd", SHA1_HASH));
    }

    #[test]
    fn make_then_verify_round_trip() {
        let encoded = make_pbkdf2_sha256("pässwörd".as_bytes(), SECRET_HASH_ITERATIONS);

        assert!(verify_django_hash("pässwörd".as_bytes(), &encoded));
        assert!(!verify_django_hash(b"passwoerd", &encoded));
    }

    #[test]
    fn made_hash_has_django_layout() {
        let encoded = make_pbkdf2_sha256(b"x", 1000);
        let parts: Vec<&str> = encoded.split('$').collect();

        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], "pbkdf2_sha256");
        assert_eq!(parts[1], "1000");
        assert_eq!(parts[2].len(), 22);
        assert!(parts[2].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(parts[3].len(), 44);
    }

    #[test]
    fn salts_differ() {
        assert_ne!(make_pbkdf2_sha256(b"x", 1), make_pbkdf2_sha256(b"x", 1));
    }

    #[test]
    fn malformed_strings_rejected() {
        let cases = [
            "",
            "dummy",
            "pbkdf2_sha256",
            "pbkdf2_sha256$1000$salt",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2_sha256$abc$salt$AAAA",
            "pbkdf2_sha256$1000$$AAAA",
            "argon2$1000$salt$AAAA",
            "!unusable",
            "pbkdf2_sha256$4294967295$salt$AAAA",
        ];

        for encoded in cases {
            assert!(!verify_django_hash(b"x", encoded), "accepted {encoded:?}");
        }
    }

    #[test]
    fn non_canonical_iterations_rejected() {
        let padded = TWENTY_THOUSAND.replacen("$20000$", "$020000$", 1);
        assert!(!verify_django_hash(b"password", &padded));
    }
}
