//! Deterministic identifiers, tags and timestamps derived from numbers.
//!
//! Nothing here is stored per item: ids, eTags and cTags are recomputed from an
//! item's arena index and version counters when they are serialised.

/// One round of SplitMix64: a fast, well-mixing bijection on `u64`.
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Mixes two numbers into one pseudo-random number.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    splitmix(a ^ splitmix(b))
}

/// A number derived from a string (FNV-1a, then mixed).
pub(crate) fn hash_str(s: &str) -> u64 {
    splitmix(s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    }))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// `n` base32 characters of `v`, most significant first.
pub(crate) fn base32(v: u64, n: usize) -> String {
    (0..n)
        .rev()
        .map(|i| BASE32[((v >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// Decodes fixed-width base32 produced by [`base32`].
pub(crate) fn parse_base32(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let d = BASE32.iter().position(|&c| c == b)? as u64;
        Some(acc << 5 | d)
    })
}

/// A drive id like Graph's: `b!` followed by 40 URL-safe characters.
pub(crate) fn drive_id(seed: u64, n: u64) -> String {
    let mut s = String::from("b!");
    let mut h = mix(seed, 0xD41E ^ n << 16);
    for i in 0..40 {
        if i % 10 == 0 {
            h = splitmix(h);
        }
        s.push(BASE64URL[(h & 63) as usize] as char);
        h >>= 6;
    }
    s
}

/// Writes a GUID (`8-4-4-4-12`, upper-case hex) derived from `h` into `out`.
pub(crate) fn write_guid(out: &mut Vec<u8>, h: u64) {
    let hi = splitmix(h);
    let lo = splitmix(hi ^ h);
    let mut digits = [0u8; 32];
    for (i, d) in digits.iter_mut().enumerate() {
        let word = if i < 16 { hi } else { lo };
        let nibble = (word >> ((15 - (i % 16)) * 4)) & 15;
        *d = HEX_UPPER[nibble as usize];
    }
    out.extend_from_slice(&digits[0..8]);
    out.push(b'-');
    out.extend_from_slice(&digits[8..12]);
    out.push(b'-');
    out.extend_from_slice(&digits[12..16]);
    out.push(b'-');
    out.extend_from_slice(&digits[16..20]);
    out.push(b'-');
    out.extend_from_slice(&digits[20..32]);
}

/// A GUID string derived from `h`.
pub(crate) fn guid(h: u64) -> String {
    let mut v = Vec::with_capacity(36);
    write_guid(&mut v, h);
    String::from_utf8(v).unwrap_or_default()
}

/// Writes base64 (standard alphabet, padded) of `bytes` into `out`.
pub(crate) fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        out.push(STD[(n >> 18) as usize & 63]);
        out.push(STD[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            STD[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            STD[n as usize & 63]
        } else {
            b'='
        });
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `secs` (Unix time, UTC) as ISO-8601 `YYYY-MM-DDThh:mm:ssZ` into `out`.
pub(crate) fn write_iso8601(out: &mut Vec<u8>, secs: u64) {
    use std::io::Write as _;
    let ts = i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}", ts.strftime("%Y-%m-%dT%H:%M:%SZ"));
}

/// `secs` (Unix time, UTC) as an ISO-8601 string.
pub(crate) fn iso8601(secs: u64) -> String {
    let mut v = Vec::with_capacity(20);
    write_iso8601(&mut v, secs);
    String::from_utf8(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_known_values() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn base32_round_trips() {
        for v in [0u64, 1, 31, 32, 123_456_789, (1 << 35) - 1] {
            assert_eq!(parse_base32(&base32(v, 7)), Some(v));
        }
        assert_eq!(parse_base32("a!"), None);
    }

    #[test]
    fn guids_and_drive_ids_are_well_formed() {
        let g = guid(42);
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
        let d = drive_id(1, 2);
        assert!(d.starts_with("b!") && d.len() == 42);
        assert_ne!(drive_id(1, 2), drive_id(1, 3));
        let mut b = Vec::new();
        write_base64(&mut b, b"hello");
        assert_eq!(b, b"aGVsbG8=");
    }
}
