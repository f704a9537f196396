//! `Range: bytes=...` headers (RFC 9110 §14), resolved against a file's length.

/// What a `Range` header asks of a file of some length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// The whole file: no header, another unit, or several ranges (which may be
    /// answered whole).
    All,
    /// Bytes `first..=last`, inside the file.
    Part { first: u64, last: u64 },
    /// Nothing of the file (416).
    Unsatisfiable,
}

/// Resolves a `Range` header (`None` when there is none) against `len`.
pub(crate) fn asked(header: Option<&str>, len: u64) -> Asked {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Asked::All;
    };
    if spec.contains(',') {
        return Asked::All;
    }
    part(spec, len).unwrap_or(Asked::Unsatisfiable)
}

fn part(spec: &str, len: u64) -> Option<Asked> {
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let last_byte = len.checked_sub(1)?;
    let (first, last) = if a.is_empty() {
        let n: u64 = b.parse().ok().filter(|&n| n > 0)?;
        (len.saturating_sub(n), last_byte)
    } else {
        let first: u64 = a.parse().ok()?;
        let last = if b.is_empty() {
            last_byte
        } else {
            let last: u64 = b.parse().ok()?;
            if last < first {
                return None;
            }
            last.min(last_byte)
        };
        (first, last)
    };
    (first < len).then_some(Asked::Part { first, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(first: u64, last: u64) -> Asked {
        Asked::Part { first, last }
    }

    #[test]
    fn ranges_resolve_like_rfc_9110() {
        assert_eq!(asked(Some("bytes=0-9"), 100), p(0, 9));
        assert_eq!(asked(Some("bytes=90-"), 100), p(90, 99));
        assert_eq!(asked(Some("bytes=-10"), 100), p(90, 99));
        assert_eq!(asked(Some("bytes=-500"), 100), p(0, 99));
        assert_eq!(asked(Some("bytes=95-200"), 100), p(95, 99));
        assert_eq!(asked(Some("bytes=0-1,5-6"), 100), Asked::All);
        assert_eq!(asked(Some("items=1-2"), 100), Asked::All);
        assert_eq!(asked(None, 100), Asked::All);
        assert_eq!(asked(Some("bytes=100-"), 100), Asked::Unsatisfiable);
        assert_eq!(asked(Some("bytes=5-2"), 100), Asked::Unsatisfiable);
        assert_eq!(asked(Some("bytes=x-"), 100), Asked::Unsatisfiable);
        assert_eq!(asked(Some("bytes=-0"), 100), Asked::Unsatisfiable);
        assert_eq!(asked(Some("bytes=0-0"), 0), Asked::Unsatisfiable);
    }

    proptest::proptest! {
        #[test]
        fn ranges_never_panic_and_stay_inside_the_file(h in "bytes=[-0-9,]{0,12}", len in 0u64..10_000) {
            if let Asked::Part { first, last } = asked(Some(&h), len) {
                proptest::prop_assert!(first <= last && last < len);
            }
        }
    }
}
