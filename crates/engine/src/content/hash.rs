//! The hashes a download is checked against, and the hasher that computes them as the
//! bytes stream by.

use base64::Engine as _;
use quickxorhash::QuickXorHash;
use ring::digest;

use crate::graph::types::Hashes;

/// The hashes Graph reported for a file; a download must match every one present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Expected {
    /// Base64 QuickXorHash (business drives and SharePoint).
    pub quick_xor: Option<String>,
    /// Hex SHA-256 (personal drives).
    pub sha256: Option<String>,
    /// Hex SHA-1 (personal drives).
    pub sha1: Option<String>,
}

impl Expected {
    /// The hashes of a `file.hashes` facet (empty values count as absent).
    pub fn of(hashes: Option<&Hashes>) -> Expected {
        let keep = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        hashes.map_or_else(Expected::default, |h| Expected {
            quick_xor: keep(&h.quick_xor_hash),
            sha256: keep(&h.sha256_hash),
            sha1: keep(&h.sha1_hash),
        })
    }
}

/// Hashes bytes as they are written: QuickXorHash always, SHA-256 and SHA-1 only when
/// Graph gave them to compare with.
pub(crate) struct Hasher {
    quick_xor: QuickXorHash,
    sha256: Option<digest::Context>,
    sha1: Option<digest::Context>,
}

impl Hasher {
    /// A hasher for the hashes `expected` holds.
    pub fn new(expected: &Expected) -> Hasher {
        Hasher {
            quick_xor: QuickXorHash::new(),
            sha256: expected
                .sha256
                .as_ref()
                .map(|_| digest::Context::new(&digest::SHA256)),
            sha1: expected
                .sha1
                .as_ref()
                .map(|_| digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY)),
        }
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.quick_xor.update(bytes);
        if let Some(c) = &mut self.sha256 {
            c.update(bytes);
        }
        if let Some(c) = &mut self.sha1 {
            c.update(bytes);
        }
    }

    /// The hashes of everything added, in the forms Graph uses.
    pub fn finish(mut self) -> Expected {
        let hex = |d: digest::Digest| {
            d.as_ref()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        };
        Expected {
            quick_xor: Some(
                base64::engine::general_purpose::STANDARD.encode(self.quick_xor.finalize()),
            ),
            sha256: self.sha256.map(|c| hex(c.finish())),
            sha1: self.sha1.map(|c| hex(c.finish())),
        }
    }
}

/// The first hash of `expected` that `actual` contradicts, as (expected, actual).
/// Hex digests compare without regard to case.
pub(crate) fn mismatch(expected: &Expected, actual: &Expected) -> Option<(String, String)> {
    let pairs = [
        (&expected.quick_xor, &actual.quick_xor, false),
        (&expected.sha256, &actual.sha256, true),
        (&expected.sha1, &actual.sha1, true),
    ];
    pairs.into_iter().find_map(|(want, got, hex)| {
        let (want, got) = (want.as_deref()?, got.as_deref().unwrap_or_default());
        let same = if hex {
            want.trim().eq_ignore_ascii_case(got)
        } else {
            want.trim() == got
        };
        (!same).then(|| (want.to_string(), got.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(bytes: &[u8], expected: &Expected) -> Expected {
        let mut h = Hasher::new(expected);
        for chunk in bytes.chunks(7) {
            h.update(chunk);
        }
        h.finish()
    }

    #[test]
    fn quick_xor_matches_microsofts_algorithm() {
        // The crate's own vector: "hello world" (11 bytes).
        let got = of(b"hello world", &Expected::default());
        let raw = [
            104u8, 40, 3, 27, 216, 240, 6, 16, 220, 225, 13, 114, 107, 3, 25, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            got.quick_xor.unwrap(),
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        // The empty file: all zeros.
        assert_eq!(
            of(b"", &Expected::default()).quick_xor.unwrap(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
    }

    #[test]
    fn sha_digests_are_computed_only_when_expected_and_compare_without_case() {
        let want = Expected {
            quick_xor: None,
            sha256: Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9".into()),
            sha1: Some("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed".into()),
        };
        let got = of(b"hello world", &want);
        assert_eq!(mismatch(&want, &got), None);
        assert!(of(b"hello world", &Expected::default()).sha256.is_none());
        let (expected, actual) = mismatch(&want, &of(b"hello world!", &want)).unwrap();
        assert_eq!(expected, want.sha256.unwrap());
        assert_ne!(actual.to_lowercase(), expected);
    }

    #[test]
    fn empty_hash_values_are_not_expected() {
        let h = Hashes {
            quick_xor_hash: Some(" ".into()),
            sha1_hash: Some("ab".into()),
            ..Hashes::default()
        };
        let e = Expected::of(Some(&h));
        assert_eq!((e.quick_xor, e.sha1.as_deref()), (None, Some("ab")));
        assert_eq!(Expected::of(None), Expected::default());
    }
}
