//! PEM armor (RFC 7468, with RFC 1421 headers) around DER key material.
//!
//! The reader accepts LF or CRLF line endings, any base64 line width and a missing final
//! newline, because keys pasted into a web form arrive in all of these shapes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

/// A decoded PEM block.
pub(crate) struct PemBlock {
    /// The DER bytes, wiped on drop because they may hold a private key.
    pub der: Zeroizing<Vec<u8>>,
    /// Whether an RFC 1421 header marks the body as encrypted (`Proc-Type: 4,ENCRYPTED`).
    pub encrypted: bool,
}

/// Failure to read a PEM block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PemError {
    MissingEnd,
    InvalidBase64,
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingEnd => f.write_str("PEM block has no matching -----END line"),
            Self::InvalidBase64 => f.write_str("PEM body is not valid base64"),
        }
    }
}

/// Returns the label of the `-----BEGIN <label>-----` line that opens `text`, if any.
pub(crate) fn begin_label(text: &str) -> Option<&str> {
    let first_line = text.trim_start().lines().next()?.trim();
    first_line
        .strip_prefix("-----BEGIN ")?
        .strip_suffix("-----")
}

/// Decodes the PEM block that opens `text` and whose label is `label`.
pub(crate) fn decode(text: &str, label: &str) -> Result<PemBlock, PemError> {
    let end_line = format!("-----END {label}-----");
    let mut body = Zeroizing::new(String::with_capacity(text.len()));
    let mut encrypted = false;
    let mut found_end = false;

    for line in text.trim_start().lines().skip(1).map(str::trim) {
        if line == end_line {
            found_end = true;
            break;
        }

        if let Some((name, value)) = line.split_once(':') {
            encrypted |= is_encryption_header(name.trim(), value.trim());
            continue;
        }

        body.push_str(line);
    }

    if !found_end {
        return Err(PemError::MissingEnd);
    }

    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| PemError::InvalidBase64)?;
    Ok(PemBlock {
        der: Zeroizing::new(der),
        encrypted,
    })
}

fn is_encryption_header(name: &str, value: &str) -> bool {
    let encrypted_proc_type = name.eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED");
    encrypted_proc_type || name.eq_ignore_ascii_case("DEK-Info")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_label_found() {
        assert_eq!(
            begin_label("-----BEGIN PUBLIC KEY-----\nAA==\n"),
            Some("PUBLIC KEY")
        );
        assert_eq!(begin_label("\r\n  -----BEGIN X-----\r\n"), Some("X"));
        assert_eq!(begin_label("ssh-rsa AAAA"), None);
        assert_eq!(begin_label(""), None);
    }

    #[test]
    fn decode_lf_crlf_and_no_final_newline() {
        let texts = [
            "-----BEGIN T-----\nAAEC\nAw==\n-----END T-----\n",
            "-----BEGIN T-----\r\nAAEC\r\nAw==\r\n-----END T-----\r\n",
            "-----BEGIN T-----\nAAECAw==\n-----END T-----",
        ];

        for text in texts {
            let block = decode(text, "T").unwrap();
            assert_eq!(block.der.as_slice(), &[0, 1, 2, 3], "{text:?}");
            assert!(!block.encrypted);
        }
    }

    #[test]
    fn decode_detects_encryption_headers() {
        let text = "-----BEGIN T-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAA==\n\
                    -----END T-----";

        assert!(decode(text, "T").unwrap().encrypted);
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            decode("-----BEGIN T-----\nAA==\n", "T").err(),
            Some(PemError::MissingEnd)
        );
        assert_eq!(
            decode("-----BEGIN T-----\nA!==\n-----END T-----", "T").err(),
            Some(PemError::InvalidBase64)
        );
        assert_eq!(
            decode("-----BEGIN T-----\nAA==\n-----END U-----", "T").err(),
            Some(PemError::MissingEnd)
        );
    }
}
