//! Percent-decoding of paths, query strings and form bodies (shared by the simulator
//! and the webhook listener): the `percent-encoding` crate decodes; what is added here
//! is strictness (a `%` not followed by two hex digits is an error, where the crate
//! would keep it as it is) and form decoding's `+` for a space.

use percent_encoding::percent_decode_str;

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); `None` when the
/// escapes are malformed or the result is not UTF-8.
pub fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let well_formed = s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    let spaced;
    let s = if plus_is_space && s.contains('+') {
        spaced = s.replace('+', " ");
        &spaced
    } else {
        s
    };
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
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
        assert_eq!(decode("a+b%2B", false).as_deref(), Some("a+b+"));
        assert_eq!(decode("%2B+", true).as_deref(), Some("+ "));
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

        #[test]
        fn encoded_text_decodes_to_itself(text in "\\PC*") {
            let encoded = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string();
            proptest::prop_assert_eq!(decode(&encoded, true), Some(text));
        }
    }
}
