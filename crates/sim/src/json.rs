//! A minimal, fast JSON writer for the hot paths (delta pages).

use std::io::Write;

/// Appends JSON text to a byte buffer.
pub(crate) struct JsonOut {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl JsonOut {
    /// An empty writer with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> JsonOut {
        JsonOut {
            buf: Vec::with_capacity(cap),
        }
    }

    /// Appends raw, already valid JSON text.
    pub fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Appends a JSON string literal, escaping as required.
    pub fn string(&mut self, s: &str) {
        self.buf.push(b'"');
        self.escaped(s);
        self.buf.push(b'"');
    }

    /// Appends the escaped body of a string literal (no quotes).
    pub fn escaped(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            if esc.is_empty() {
                let _ = write!(self.buf, "\\u{:04x}", b);
            } else {
                self.buf.extend_from_slice(esc);
            }
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
    }

    /// Appends an unsigned number.
    pub fn number(&mut self, n: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut v = n;
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&tmp[i..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_strings_parse_back() {
        for s in [
            "plain",
            "quo\"te",
            "back\\slash",
            "nl\n\tx\u{1}",
            "ünï €",
            "",
        ] {
            let mut o = JsonOut::with_capacity(8);
            o.string(s);
            let back: String = serde_json::from_slice(&o.buf).unwrap();
            assert_eq!(back, s);
        }
        let mut o = JsonOut::with_capacity(8);
        o.number(0);
        o.raw(",");
        o.number(18_446_744_073_709_551_615);
        assert_eq!(o.buf, b"0,18446744073709551615");
    }
}
