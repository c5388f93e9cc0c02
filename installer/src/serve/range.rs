//! The `Range` header (RFC 9110 §14.2), parsed by the `http-range-header` crate: one byte
//! range is served (`206`); several, or a header that does not parse, get the whole file, as
//! RFC 9110 allows (apt, dnf and curl ask for one range, to resume); a range that starts past
//! the end is `416`.

use http_range_header::RangeUnsatisfiableError;

/// A byte range asked for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Range {
    /// No range, or one to ignore: the whole file.
    Whole,
    /// Bytes `start..=end` (within the file).
    Part(u64, u64),
    /// A range starting at or past the end: 416.
    Unsatisfiable,
}

/// Reads a `Range` header for a file of `len` bytes.
pub(super) fn parse_range(value: &str, len: u64) -> Range {
    // Whitespace around a field value is not part of it (RFC 9110 §5.5).
    let ranges = match http_range_header::parse_range_header(value.trim()) {
        Ok(r) if r.len() == 1 => r,
        // Several ranges (the crate accepts up to 100), or malformed: ignored.
        Ok(_) | Err(_) => return Range::Whole,
    };
    match ranges.validate(len) {
        Ok(r) => match r.first() {
            Some(r) => Range::Part(*r.start(), *r.end()),
            // A suffix of an empty file: "satisfiable" (RFC 9110 §14.1.2), and no bytes to
            // send; a 206 cannot say so (`bytes 0--1/0`): the whole (empty) file.
            None => Range::Whole,
        },
        Err(RangeUnsatisfiableError::Unsatisfiable) => Range::Unsatisfiable,
        Err(_) => Range::Whole,
    }
}

/// See [`super::fuzz_request`]: a range served lies within the file, for files of many sizes.
pub(super) fn fuzz_range(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let sized = data
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes);
    for len in [0, 1, 10, 65_536, u64::MAX].into_iter().chain(sized) {
        match parse_range(&value, len) {
            Range::Part(start, end) => {
                assert!(
                    start <= end && end < len,
                    "{value:?} of {len}: {start}-{end}"
                )
            }
            Range::Whole | Range::Unsatisfiable => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use Range::*;
        for (h, len, want) in [
            ("bytes=0-0", 10, Part(0, 0)),
            ("bytes=2-5", 10, Part(2, 5)),
            ("bytes=2-100", 10, Part(2, 9)),
            ("bytes=9-", 10, Part(9, 9)),
            ("bytes=-3", 10, Part(7, 9)),
            ("bytes=-30", 10, Part(0, 9)),
            ("Bytes=1-2", 10, Part(1, 2)),
            (" bytes=1-2 ", 10, Part(1, 2)),
            ("bytes=007-8", 10, Part(7, 8)),
            ("bytes=0-99999999999999999999", 10, Part(0, 9)),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-1", 0, Whole),
            ("bytes=5-2", 10, Whole),
            ("bytes=0-1,3-4", 10, Whole),
            ("bytes=20-30,40-50", 10, Whole),
            ("bytes=a-b", 10, Whole),
            ("bytes=-", 10, Whole),
            ("items=0-1", 10, Whole),
            ("bytes=+1-2", 10, Whole),
            ("Bytes = 1 - 2", 10, Whole),
            ("bytes=1-2-3", 10, Whole),
            ("", 10, Whole),
        ] {
            assert_eq!(parse_range(h, len), want, "{h} of {len}");
        }
    }
}
