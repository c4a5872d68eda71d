//! OpenSSH one-line public keys: `ssh-rsa <base64 wire blob> [comment]`.
//!
//! The blob is SSH wire format (RFC 4253, section 6.6): the string `ssh-rsa`, then the public
//! exponent and the modulus as mpints, each prefixed by a 4-byte big-endian length.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::BigUint;

use super::error::PublicKeyError;

const SSH_RSA: &str = "ssh-rsa";

/// Exponent and modulus of an RSA public key.
pub(crate) struct RsaComponents {
    pub e: BigUint,
    pub n: BigUint,
}

/// Parses an `ssh-rsa` line into its exponent and modulus.
pub(crate) fn parse_ssh_rsa(line: &str) -> Result<RsaComponents, PublicKeyError> {
    let mut fields = line.split_whitespace();
    let key_type = fields.next().ok_or(PublicKeyError::Empty)?;
    if key_type != SSH_RSA {
        return Err(PublicKeyError::UnsupportedSshType(key_type.to_owned()));
    }

    let blob = fields
        .next()
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .ok_or_else(|| invalid("ssh-rsa key data is missing or not valid base64"))?;

    parse_wire_blob(&blob)
}

fn parse_wire_blob(blob: &[u8]) -> Result<RsaComponents, PublicKeyError> {
    let mut reader = WireReader { rest: blob };

    let embedded_type = reader.read_string()?;
    if embedded_type != SSH_RSA.as_bytes() {
        return Err(invalid("ssh-rsa key data holds a different key type"));
    }

    let e = reader.read_mpint()?;
    let n = reader.read_mpint()?;
    if !reader.rest.is_empty() {
        return Err(invalid("ssh-rsa key data has trailing bytes"));
    }

    Ok(RsaComponents { e, n })
}

struct WireReader<'a> {
    rest: &'a [u8],
}

impl<'a> WireReader<'a> {
    fn read_string(&mut self) -> Result<&'a [u8], PublicKeyError> {
        let truncated = || invalid("ssh-rsa key data is truncated");

        let (length, rest) = self.rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let length = usize::try_from(u32::from_be_bytes(*length)).map_err(|_| truncated())?;
        if rest.len() < length {
            return Err(truncated());
        }

        let (value, rest) = rest.split_at(length);
        self.rest = rest;
        Ok(value)
    }

    /// Reads an mpint and rejects negative values, which no RSA key component can be.
    fn read_mpint(&mut self) -> Result<BigUint, PublicKeyError> {
        let bytes = self.read_string()?;
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(invalid("ssh-rsa key data holds a negative number"));
        }

        Ok(BigUint::from_bytes_be(bytes))
    }
}

fn invalid(message: &str) -> PublicKeyError {
    PublicKeyError::Invalid(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_string(out: &mut Vec<u8>, value: &[u8]) {
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }

    fn blob(key_type: &str, e: &[u8], n: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        wire_string(&mut out, key_type.as_bytes());
        wire_string(&mut out, e);
        wire_string(&mut out, n);
        out
    }

    #[test]
    fn built_blob_parses() {
        let line = format!(
            "ssh-rsa {} user@host",
            STANDARD.encode(blob("ssh-rsa", &[1, 0, 1], &[0, 0xc1, 0x02]))
        );
        let components = parse_ssh_rsa(&line).unwrap();

        assert_eq!(components.e, BigUint::from(65537u32));
        assert_eq!(components.n, BigUint::from(0xc102u32));
    }

    #[test]
    fn other_key_types_rejected() {
        let result = parse_ssh_rsa("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA user@host");
        assert_eq!(
            result.err(),
            Some(PublicKeyError::UnsupportedSshType("ssh-ed25519".into()))
        );
    }

    #[test]
    fn malformed_blobs_rejected() {
        let mut trailing = blob("ssh-rsa", &[3], &[0x7f]);
        trailing.push(0);
        let mut truncated = blob("ssh-rsa", &[3], &[0x7f]);
        truncated.pop();

        let blobs = [
            blob("ssh-dss", &[3], &[0x7f]),
            blob("ssh-rsa", &[0x83], &[0x7f]),
            trailing,
            truncated,
            vec![0xff, 0xff, 0xff, 0xff],
        ];

        for bytes in blobs {
            let line = format!("ssh-rsa {}", STANDARD.encode(&bytes));
            assert!(
                matches!(parse_ssh_rsa(&line), Err(PublicKeyError::Invalid(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn missing_or_bad_base64_rejected() {
        assert!(matches!(
            parse_ssh_rsa("ssh-rsa"),
            Err(PublicKeyError::Invalid(_))
        ));
        assert!(matches!(
            parse_ssh_rsa("ssh-rsa !!!"),
            Err(PublicKeyError::Invalid(_))
        ));
    }
}
