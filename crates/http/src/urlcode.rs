//! Percent-decoding of paths, query strings and form bodies (shared by the simulator
//! and the webhook listener).

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); `None` when the
/// escapes are malformed or the result is not UTF-8.
pub fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `a=1&b=2` (query or form body) into decoded pairs; `None` when malformed.
pub fn parse_pairs(s: &str) -> Option<Vec<(String, String)>> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k, true)?, decode(v, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects_malformed_escapes() {
        assert_eq!(decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(decode("%zz", false), None);
        assert_eq!(decode("%4", false), None);
        assert_eq!(decode("%ff", false), None);
        let pairs = parse_pairs("$top=5&$select=id,name&&x").unwrap();
        assert_eq!(pairs[1], ("$select".to_string(), "id,name".to_string()));
        assert_eq!(pairs[2], ("x".to_string(), String::new()));
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics_and_round_trips_plain_text(s in ".*", plain in "[A-Za-z0-9_.~-]*") {
            let _ = decode(&s, true);
            let _ = parse_pairs(&s);
            proptest::prop_assert_eq!(decode(&plain, false), Some(plain.clone()));
        }
    }
}
