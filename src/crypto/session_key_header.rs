//! Decoding of the session key sent in the `X-Session-Key` header or the session cookie.
//!
//! The plugin decodes with Python's lenient `base64.b64decode` (`binascii.a2b_base64` without
//! strict mode), and clients rely on its quirks, so this decoder follows the same rules:
//!
//! - characters outside `A-Za-z0-9+/=` are dropped;
//! - a `=` before the second character of a quantum is ignored;
//! - decoding stops at the first complete padded quantum, and anything after it is ignored;
//! - a partial final quantum without padding is an error.

use zeroize::Zeroizing;

use super::error::CryptoError;

/// Decodes a session-key header or cookie value into raw bytes of any length.
///
/// `Err(NotBase64)` means the padding was wrong, and the caller treats the key as absent.
/// Unlike Python, non-ASCII characters are dropped like any other non-alphabet character
/// instead of raising an error.
pub fn decode_session_key_header(value: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut decoder = QuantumDecoder::default();

    for byte in value.bytes() {
        if byte == b'=' {
            if decoder.push_pad() {
                return Ok(decoder.finish_padded());
            }
            continue;
        }

        if let Some(sextet) = sextet_of(byte) {
            decoder.push_sextet(sextet);
        }
    }

    decoder.finish_unpadded()
}

/// State of a base64 decoder that reads one 6-bit group at a time.
#[derive(Default)]
struct QuantumDecoder {
    output: Zeroizing<Vec<u8>>,
    /// Number of data characters read in the current 4-character quantum.
    position: u8,
    /// Bits of the current quantum not yet written to `output`.
    left_bits: u8,
    /// Number of `=` seen since the last data character.
    pads: u8,
}

impl QuantumDecoder {
    fn push_sextet(&mut self, sextet: u8) {
        self.pads = 0;

        match self.position {
            0 => {
                self.left_bits = sextet;
                self.position = 1;
            }
            1 => {
                self.output.push((self.left_bits << 2) | (sextet >> 4));
                self.left_bits = sextet & 0x0f;
                self.position = 2;
            }
            2 => {
                self.output.push((self.left_bits << 4) | (sextet >> 2));
                self.left_bits = sextet & 0x03;
                self.position = 3;
            }
            _ => {
                self.output.push((self.left_bits << 6) | sextet);
                self.left_bits = 0;
                self.position = 0;
            }
        }
    }

    /// Records a `=` and returns whether it completes the quantum, which ends decoding.
    fn push_pad(&mut self) -> bool {
        if self.position < 2 {
            return false;
        }

        self.pads += 1;
        self.position + self.pads >= 4
    }

    /// Returns the output after a complete padded quantum. Leftover bits are discarded.
    fn finish_padded(self) -> Zeroizing<Vec<u8>> {
        self.output
    }

    fn finish_unpadded(self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if self.position != 0 {
            return Err(CryptoError::NotBase64);
        }

        Ok(self.output)
    }
}

fn sextet_of(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FORMATS: &str = include_str!("../../tests/fixtures/vectors/formats.json");
    const PLUGIN_ROWS: &str = include_str!("../../tests/fixtures/vectors/plugin-3.1.2-rows.json");

    fn decode(value: &str) -> Result<Vec<u8>, CryptoError> {
        decode_session_key_header(value).map(|bytes| bytes.to_vec())
    }

    #[test]
    fn formats_vector_decodes() {
        let formats: Value = serde_json::from_str(FORMATS).unwrap();
        let vector = &formats["session_key"];
        let wire = vector["session_key_base64"].as_str().unwrap();
        let expected = hex::decode(vector["session_key_hex"].as_str().unwrap()).unwrap();

        assert_eq!(decode(wire).unwrap(), expected);
    }

    #[test]
    fn plugin_vector_decodes_to_32_bytes() {
        let rows: Value = serde_json::from_str(PLUGIN_ROWS).unwrap();
        let wire = rows["session_key"]["session_key_base64"].as_str().unwrap();

        assert_eq!(decode(wire).unwrap().len(), 32);
    }

    // Expected values were produced with CPython 3.11 `base64.b64decode`.
    #[test]
    fn matches_python_b64decode() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("QUJD", Some(b"ABC")),
            ("QUI=", Some(b"AB")),
            ("QQ==", Some(b"A")),
            ("QQ===", Some(b"A")),
            ("QUI==", Some(b"AB")),
            ("QQ==QUJD", Some(b"A")),
            ("Q U\tJ\nD", Some(b"ABC")),
            ("QU-_JD", Some(b"ABC")),
            ("=QUJD", Some(b"ABC")),
            ("Q=UJD", Some(b"ABC")),
            ("QU=I=", Some(b"AB")),
            ("QUJDRA", None),
            ("QUI", None),
            ("Q", None),
            ("QQ=", None),
            ("QUJDR", None),
            ("----", Some(b"")),
            ("====", Some(b"")),
            ("QUJD\u{e9}", Some(b"ABC")),
        ];

        for (input, expected) in cases {
            let result = decode(input);
            match expected {
                Some(bytes) => assert_eq!(result.unwrap(), bytes.to_vec(), "input {input:?}"),
                None => assert!(
                    matches!(result, Err(CryptoError::NotBase64)),
                    "input {input:?}"
                ),
            }
        }
    }

    #[test]
    fn trailing_padding_still_decodes() {
        let wire = "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8===";
        assert_eq!(decode(wire).unwrap().len(), 32);
    }
}
