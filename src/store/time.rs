//! Timestamps as stored and served: UTC text `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, the way
//! Django REST Framework renders them (microseconds only when they are not zero).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// A timestamp text that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid timestamp {value:?}: expected RFC 3339, for example 2026-07-23T15:47:00.123456Z")]
pub struct TimestampError {
    value: String,
}

/// Returns the current time in the stored format.
pub fn now() -> String {
    format_timestamp(OffsetDateTime::now_utc())
}

/// Formats a moment in the stored format: converted to UTC and truncated to microseconds.
pub fn format_timestamp(moment: OffsetDateTime) -> String {
    let utc = moment.to_offset(UtcOffset::UTC);
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let mut text = utc
        .format(&seconds)
        .expect("a UTC date with a four-digit year always formats");

    let micros = utc.microsecond();
    if micros != 0 {
        text.push_str(&format!(".{micros:06}"));
    }

    text.push('Z');
    text
}

/// Parses an RFC 3339 timestamp with any offset and any number of fraction digits, as
/// PostgreSQL's JSON output writes them (`2026-07-23T15:47:00.1234+02:00`). A space in
/// place of the `T` and an hour-only offset (`+02`) are accepted too.
pub fn parse_timestamp(value: &str) -> Result<OffsetDateTime, TimestampError> {
    let mut text = value.trim().replacen(' ', "T", 1);

    if has_hour_only_offset(&text) {
        text.push_str(":00");
    }

    OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| TimestampError {
        value: value.to_owned(),
    })
}

/// Rewrites any accepted timestamp text in the stored format.
pub fn normalize_timestamp(value: &str) -> Result<String, TimestampError> {
    parse_timestamp(value).map(format_timestamp)
}

/// True for text that ends in `+HH` or `-HH` right after the time of day.
fn has_hour_only_offset(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 3 {
        return false;
    }

    let sign = bytes[bytes.len() - 3];
    let hours = &bytes[bytes.len() - 2..];
    let time_part = text.split_once('T').map_or("", |(_, t)| t);

    (sign == b'+' || sign == b'-')
        && hours.iter().all(u8::is_ascii_digit)
        && time_part.len() > 3
        && !time_part[..time_part.len() - 3].contains(['+', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn format_keeps_nonzero_microseconds() {
        let moment = datetime!(2026-07-23 15:47:00.123456 UTC);

        assert_eq!(format_timestamp(moment), "2026-07-23T15:47:00.123456Z");
    }

    #[test]
    fn format_omits_zero_microseconds() {
        let moment = datetime!(2026-07-23 15:47:00.000000999 UTC);

        assert_eq!(format_timestamp(moment), "2026-07-23T15:47:00Z");
    }

    #[test]
    fn format_converts_offset_to_utc() {
        let moment = datetime!(2026-07-23 17:47:00.5 +02:00);

        assert_eq!(format_timestamp(moment), "2026-07-23T15:47:00.500000Z");
    }

    #[test]
    fn now_parses_back() {
        let text = now();

        assert!(text.ends_with('Z'));
        assert!(parse_timestamp(&text).is_ok());
    }

    #[test]
    fn normalize_accepts_postgres_forms() {
        let cases = [
            (
                "2026-07-23T15:47:00.123456+00:00",
                "2026-07-23T15:47:00.123456Z",
            ),
            ("2026-07-23T17:47:00+02:00", "2026-07-23T15:47:00Z"),
            ("2026-07-23 15:47:00.1+00", "2026-07-23T15:47:00.100000Z"),
            (
                "2026-07-23T10:17:00.000001-05:30",
                "2026-07-23T15:47:00.000001Z",
            ),
            ("2026-07-23T15:47:00Z", "2026-07-23T15:47:00Z"),
        ];

        for (input, expected) in cases {
            assert_eq!(
                normalize_timestamp(input).unwrap(),
                expected,
                "input {input}"
            );
        }
    }

    #[test]
    fn normalize_rejects_garbage() {
        for input in ["", "yesterday", "2026-07-23", "2026-13-01T00:00:00Z"] {
            assert!(normalize_timestamp(input).is_err(), "input {input:?}");
        }
    }
}
