//! Wiping of request and response data that may carry plaintexts, private keys or session
//! keys, so that freed memory does not keep them.
//!
//! Some copies are outside the proxy's reach and stay as they are. They are hyper's own read
//! and write buffers, the scratch buffer `serde_json` uses while it unescapes a string, the
//! copies rustls makes when it encrypts a response, and header values such as the session-key
//! cookie.

use std::io;

use bytes::Bytes;
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

/// Overwrites every string inside a JSON value with zeros and empties it.
pub fn wipe_strings(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe_strings),
        Value::Object(fields) => fields.values_mut().for_each(wipe_strings),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A growable byte buffer that wipes every allocation it lets go of: the old one when it
/// grows, and the last one when the [`Bytes`] made from it are dropped.
pub struct WipedBuffer {
    bytes: Zeroizing<Vec<u8>>,
}

/// First allocation of a [`WipedBuffer`]: most request and response bodies fit, and larger ones
/// grow from there without many small copies.
const INITIAL_CAPACITY: usize = 16 * 1024;

impl Default for WipedBuffer {
    fn default() -> WipedBuffer {
        WipedBuffer {
            bytes: Zeroizing::new(Vec::with_capacity(INITIAL_CAPACITY)),
        }
    }
}

impl WipedBuffer {
    #[inline]
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        if data.len() > self.bytes.capacity() - self.bytes.len() {
            self.grow(data.len());
        }
        self.bytes.extend_from_slice(data);
    }

    /// Moves the bytes to an allocation with room for `additional` more and wipes the old one,
    /// which `Vec` would free as it is.
    #[cold]
    fn grow(&mut self, additional: usize) {
        let needed = self.bytes.len() + additional;
        let capacity = needed.max(self.bytes.capacity() * 2);
        let mut larger = Zeroizing::new(Vec::with_capacity(capacity));
        larger.extend_from_slice(&self.bytes);
        self.bytes = larger;
    }

    /// Hands the buffer over as [`Bytes`] without copying; the bytes are wiped when the last
    /// clone is dropped.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self.bytes)
    }
}

impl io::Write for WipedBuffer {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_wiped_at_every_depth() {
        let mut value = json!({
            "plaintext": "hunter2",
            "results": [{"session_key": "c2VjcmV0"}, 7, null],
            "nested": {"private_key": "-----BEGIN"},
        });

        wipe_strings(&mut value);

        assert_eq!(
            value,
            json!({
                "plaintext": "",
                "results": [{"session_key": ""}, 7, null],
                "nested": {"private_key": ""},
            })
        );
    }

    #[test]
    fn buffer_keeps_bytes_across_growth() {
        let mut buffer = WipedBuffer::default();

        for chunk in [&b"ab"[..], b"cde", b"", b"fghijklmnop"] {
            buffer.extend_from_slice(chunk);
        }

        assert_eq!(&buffer.into_bytes()[..], b"abcdefghijklmnop");
    }
}
