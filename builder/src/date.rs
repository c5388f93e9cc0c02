//! Calendar dates from seconds since the epoch, as the files a build writes spell them (apt's
//! `Release`, the SPDX document), with no time-zone database: always UTC.

/// A UTC date and time from seconds since the epoch: (year, month, day, hour, minute,
/// second, weekday with 0 = Sunday). Howard Hinnant's civil-from-days.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = ((days + 4) % 7) as u32;
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

/// Seconds since the epoch as an RFC 2822 date in UTC, as apt's `Release` wants it.
pub fn rfc2822(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss, wd) = civil(secs);
    format!(
        "{}, {d:02} {} {y} {hh:02}:{mm:02}:{ss:02} UTC",
        DAYS[wd as usize],
        MONTHS[(m - 1) as usize]
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` from seconds since the epoch.
pub fn iso8601(secs: u64) -> String {
    let (y, m, d, hh, mm, ss, _) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}
