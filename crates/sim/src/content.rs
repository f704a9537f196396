//! File downloads: pre-authenticated URLs and byte ranges.

use crate::drive::Content;
use crate::ids;
use crate::response::SimResponse;

fn signature(key: u64, drive_id: &str, item_id: &str) -> u64 {
    let h = drive_id
        .bytes()
        .chain([0])
        .chain(item_id.bytes())
        .fold(key, |h, b| ids::mix(h, u64::from(b)));
    ids::splitmix(h)
}

/// The pre-authenticated URL `/content` redirects to.
pub(crate) fn download_url(key: u64, base: &str, drive_id: &str, item_id: &str) -> String {
    format!(
        "{base}/_sim/download/{drive_id}/{item_id}?sig={:x}",
        signature(key, drive_id, item_id)
    )
}

/// Whether `sig` is the signature of that item's download URL.
pub(crate) fn verify(key: u64, drive_id: &str, item_id: &str, sig: &str) -> bool {
    u64::from_str_radix(sig, 16).is_ok_and(|s| s == signature(key, drive_id, item_id))
}

/// A single `bytes=` range resolved against `len`: `Ok(None)` means "send it all".
fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
        };
        if !b.is_empty() && b.parse::<u64>().map_err(|_| ())? < start {
            return Err(());
        }
        (start, end)
    };
    if len == 0 || range.0 >= len {
        return Err(());
    }
    Ok(Some(range))
}

/// The response for a download, honouring a `Range` header.
pub(crate) fn respond(content: &Content, range: Option<&str>) -> SimResponse {
    let len = content.len();
    let resp = |status: u16, body: Vec<u8>| SimResponse {
        status,
        headers: vec![
            ("Content-Type".into(), "application/octet-stream".into()),
            ("Accept-Ranges".into(), "bytes".into()),
        ],
        body,
        stream: None,
    };
    match range.map(|r| parse_range(r, len)).unwrap_or(Ok(None)) {
        Ok(None) => resp(200, content.slice(0, len)),
        Ok(Some((a, b))) => resp(206, content.slice(a, b + 1))
            .with_header("Content-Range", format!("bytes {a}-{b}/{len}")),
        Err(()) => SimResponse::graph_error(
            416,
            "invalidRange",
            "The requested range is not satisfiable",
        )
        .with_header("Content-Range", format!("bytes */{len}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=95-200", 100), Ok(Some((95, 99))));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=1-2", 100), Ok(None));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=5-2", 100), Err(()));
        assert_eq!(parse_range("bytes=x-", 100), Err(()));
        assert_eq!(parse_range("bytes=0-0", 0), Err(()));
    }

    #[test]
    fn signatures_bind_drive_and_item() {
        let url = download_url(5, "http://h", "b!d", "01X");
        let sig = url.rsplit('=').next().unwrap();
        assert!(verify(5, "b!d", "01X", sig));
        assert!(!verify(5, "b!d", "01Y", sig));
        assert!(!verify(6, "b!d", "01X", sig));
    }

    proptest::proptest! {
        #[test]
        fn ranges_never_panic_and_stay_inside_the_file(h in "bytes=[-0-9,]{0,12}", len in 0u64..10_000) {
            if let Ok(Some((a, b))) = parse_range(&h, len) {
                proptest::prop_assert!(a <= b && b < len);
            }
        }
    }
}
