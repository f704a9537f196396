//! Wall-clock helpers: milliseconds since the Unix epoch and the ISO-8601 UTC
//! timestamps Graph uses (`2026-11-23T18:00:00.0000000Z`), e.g. for subscription
//! expiry. The calendar work is jiff's.

use jiff::Timestamp;

/// The current time in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond().max(0)
}

/// Formats milliseconds since the epoch the way Graph does, with seven fraction digits.
/// Instants outside jiff's range (years -9999..=9999) are clamped to it.
pub fn format_iso(ms: i64) -> String {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    ts.strftime("%Y-%m-%dT%H:%M:%S%.7fZ").to_string()
}

/// Parses an RFC 3339 / ISO-8601 timestamp with a zone (`Z` or `±HH:MM`) to
/// milliseconds since the epoch. A timestamp without a zone is rejected: Graph
/// expects UTC and so do we.
pub fn parse_iso(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_iso("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(format_iso(0), "1970-01-01T00:00:00.0000000Z");
        let ms = parse_iso("2026-11-23T18:00:00.0000000Z").unwrap();
        assert_eq!(ms, 1_795_456_800_000);
        assert_eq!(format_iso(ms), "2026-11-23T18:00:00.0000000Z");
        assert_eq!(format_iso(ms + 123), "2026-11-23T18:00:00.1230000Z");
        assert_eq!(parse_iso("2024-02-29T23:59:59.5Z"), Some(1_709_251_199_500));
        assert_eq!(
            parse_iso("2026-11-23T20:00:00+02:00"),
            parse_iso("2026-11-23T18:00:00Z")
        );
        assert_eq!(
            parse_iso("2026-11-23T17:30:00.123456789-00:30"),
            Some(1_795_456_800_123)
        );
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T18:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T18:00:00.Z",
            "2026-11-23T18:00:00ZZ",
            "2026-11-23T18:00:00+2:00",
            "２026-11-23T18:00:00Z",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0i64..253_402_300_799_999) {
            prop_assert_eq!(parse_iso(&format_iso(ms)), Some(ms));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse_iso(&s);
        }

        #[test]
        fn parse_never_panics_on_near_misses(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})?.?") {
            let _ = parse_iso(&s);
        }
    }
}
