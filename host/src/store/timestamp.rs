//! The one timestamp type of the store: UTC, whole microseconds.
//!
//! Microseconds are what the database keeps (an `INTEGER` of microseconds
//! since the Unix epoch) and what the wire shows (RFC 3339 with six fraction
//! digits and a `Z`), so a value read back compares equal to the value
//! written and hashes the same.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A point in time in UTC, truncated to whole microseconds.
///
/// Serializes as `2026-05-01T12:00:00.123456Z`; deserializes from any RFC 3339
/// time (any offset, any fraction), normalising it to UTC and truncating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(OffsetDateTime::now_utc())
    }

    /// `at` in UTC with its sub-microsecond part dropped.
    pub fn from_datetime(at: OffsetDateTime) -> Timestamp {
        let at = at.to_offset(UtcOffset::UTC);
        Timestamp(at - Duration::nanoseconds(i64::from(at.nanosecond() % 1_000)))
    }

    /// The time `micros` microseconds after the Unix epoch; `None` when it
    /// falls outside the years the `time` crate represents (±9999), which only
    /// a hand-edited database row can produce.
    pub fn from_micros(micros: i64) -> Option<Timestamp> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok().map(Timestamp)
    }

    /// Microseconds since the Unix epoch: the stored form.
    pub fn as_micros(self) -> i64 {
        // ±9999 years is about ±3.2e17 µs, far inside i64, so this never saturates.
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
    }

    /// The same instant as an `OffsetDateTime` (UTC).
    pub fn to_datetime(self) -> OffsetDateTime {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
        let text = self.0.format(&format).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339).map(Timestamp::from_datetime).map_err(|e| {
            serde::de::Error::custom(format_args!("`{text}` is not an RFC 3339 time such as 2026-05-01T12:00:00Z: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_utc_microseconds_and_parse_any_offset() {
        let at: Timestamp = serde_json::from_str("\"2026-05-01T14:00:00.123456789+02:00\"").unwrap();
        assert_eq!(at.to_string(), "2026-05-01T12:00:00.123456Z");
        assert_eq!(Timestamp::from_micros(at.as_micros()), Some(at));
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert_eq!(Timestamp::from_micros(i64::MAX), None);
    }
}
