//! `created_at` in serde, the same text chrono writes (RFC 3339 in UTC, `Z`, the fraction in
//! 0, 3, 6 or 9 digits), written and read without the formatting machinery: every message is
//! encoded and decoded several times on its way, and chrono's `Display`-based path was the
//! largest single cost of that. Anything outside the common shape goes through chrono.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the longest the fast path writes.
const MAX_LEN: usize = 30;

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(at, &mut buf) {
        // Only ASCII digits and separators are written.
        Some(len) => serializer.serialize_str(std::str::from_utf8(&buf[..len]).expect("ASCII")),
        None => serde::Serialize::serialize(at, serializer),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(TimestampVisitor)
}

/// The same, for a time that may be absent (`None` is left out by the field's
/// `skip_serializing_if`, or written as nil).
pub mod optional {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] DateTime<Utc>);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(at)| at))
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
        match parse(text.as_bytes()) {
            Some(at) => Ok(at),
            None => DateTime::<Utc>::deserialize(de::value::StrDeserializer::<E>::new(text)),
        }
    }
}

/// Writes `at` as chrono would, and returns the length; `None` for what only chrono writes
/// (years outside 0–9999, leap seconds).
fn write(at: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let naive = at.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let year = u32::try_from(chrono::Datelike::year(&date)).ok().filter(|y| *y <= 9999)?;
    let nanos = time.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    digits(&mut buf[0..4], year);
    buf[4] = b'-';
    digits(&mut buf[5..7], chrono::Datelike::month(&date));
    buf[7] = b'-';
    digits(&mut buf[8..10], chrono::Datelike::day(&date));
    buf[10] = b'T';
    digits(&mut buf[11..13], time.hour());
    buf[13] = b':';
    digits(&mut buf[14..16], time.minute());
    buf[16] = b':';
    digits(&mut buf[17..19], time.second());
    let mut len = 19;
    let fraction = match nanos {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, width)) = fraction {
        buf[len] = b'.';
        digits(&mut buf[len + 1..len + 1 + width], value);
        len += 1 + width;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// `value` in decimal, zero-padded to fill `out`.
fn digits(out: &mut [u8], mut value: u32) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`; `None` for anything else (another offset, a
/// lower-case `t` or `z`, a space), which chrono then reads.
fn parse(text: &[u8]) -> Option<DateTime<Utc>> {
    let (head, rest) = (text.get(..19)?, text.get(19..)?);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| head[at] != byte) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| parse_digits(&head[range]);
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let (fraction, zone) = match rest.split_first()? {
        (b'.', after) => after.split_at(after.iter().position(|b| !b.is_ascii_digit())?),
        _ => (&[][..], rest),
    };
    if zone != b"Z" || fraction.len() > 9 || (rest[0] == b'.' && fraction.is_empty()) {
        return None;
    }
    let nanos = parse_digits(fraction).unwrap_or(0) * 10u32.pow(9 - fraction.len() as u32);
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

fn parse_digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0, |value, b| value * 10 + u32::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ours(#[serde(with = "super")] DateTime<Utc>);

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Chronos(DateTime<Utc>);

    /// Instants spread over 1970–2200 with fractions of every width: a fixed sequence, so a
    /// failure repeats.
    fn instants() -> impl Iterator<Item = DateTime<Utc>> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        std::iter::repeat_with(move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let secs = (state >> 20) as i64 % 7_258_118_400;
            let nanos = match state % 5 {
                0 => 0,
                1 => (state >> 8) as u32 % 1000 * 1_000_000,
                2 => (state >> 8) as u32 % 1_000_000 * 1000,
                3 => (state >> 8) as u32 % 1_000_000_000,
                _ => 1,
            };
            Utc.timestamp_opt(secs, nanos).unwrap()
        })
        .take(100_000)
    }

    #[test]
    fn timestamps_are_written_exactly_as_chrono_writes_them() {
        for at in instants() {
            assert_eq!(
                serde_json::to_string(&Ours(at)).unwrap(),
                serde_json::to_string(&Chronos(at)).unwrap()
            );
        }
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        for at in instants() {
            let json = serde_json::to_string(&Ours(at)).unwrap();
            assert_eq!(serde_json::from_str::<Ours>(&json).unwrap(), Ours(at), "{json}");
            let packed = rmp_serde::to_vec_named(&Ours(at)).unwrap();
            assert_eq!(rmp_serde::from_slice::<Ours>(&packed).unwrap(), Ours(at));
        }
    }

    #[test]
    fn other_rfc3339_forms_are_read_as_chrono_reads_them() {
        for text in [
            "2026-12-05T23:36:21+01:00",
            "2026-12-05T23:36:21.5-00:30",
            "2026-12-05t23:36:21z",
            "2026-12-05 23:36:21Z",
            "2026-12-05T23:36:21.1234567891Z",
            "2026-12-05T23:36:21.12Z",
            "2026-12-05T23:36:60Z",
            "+2026-12-05T23:36:21Z",
        ] {
            let json = format!("\"{text}\"");
            let ours = serde_json::from_str::<Ours>(&json).map(|o| o.0).ok();
            let chronos = serde_json::from_str::<Chronos>(&json).map(|c| c.0).ok();
            assert_eq!(ours, chronos, "{text}");
        }
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for text in [
            "",
            "2026-12-05",
            "2026-13-05T23:36:21Z",
            "2026-02-30T23:36:21Z",
            "2026-12-05T24:00:00Z",
            "2026-12-05T23:36:21.Z",
            "2026-12-05T23:36:21",
            "2026-12-05T23:36:21ZZ",
            "２０２６-12-05T23:36:21Z",
        ] {
            assert!(serde_json::from_str::<Ours>(&format!("\"{text}\"")).is_err(), "{text}");
        }
        assert!(serde_json::from_str::<Ours>("20261205").is_err());
    }

    #[test]
    fn years_past_9999_and_leap_seconds_are_left_to_chrono() {
        let far = Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(serde_json::to_string(&Ours(far)).unwrap(), serde_json::to_string(&Chronos(far)).unwrap());
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let json = serde_json::to_string(&Ours(leap)).unwrap();
        assert_eq!(json, serde_json::to_string(&Chronos(leap)).unwrap());
        assert_eq!(serde_json::from_str::<Ours>(&json).unwrap(), Ours(leap));
    }

    /// Any instant chrono can hold, leap seconds included, with fractions of every width.
    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        let (min, max) = (DateTime::<Utc>::MIN_UTC.timestamp(), DateTime::<Utc>::MAX_UTC.timestamp());
        let secs = prop_oneof![min..=max, 0i64..7_258_118_400, Just(min), Just(max)];
        let nanos = prop_oneof![
            Just(0u32),
            (0u32..1000).prop_map(|ms| ms * 1_000_000),
            (0u32..1_000_000).prop_map(|us| us * 1000),
            0u32..1_000_000_000,
            1_000_000_000u32..2_000_000_000,
        ];
        // A leap second's nanoseconds (1e9 and up) are only valid in a minute's last second.
        (secs, nanos).prop_filter_map("no such instant", |(secs, nanos)| {
            let secs = if nanos >= 1_000_000_000 { secs - secs.rem_euclid(60) + 59 } else { secs };
            DateTime::from_timestamp(secs, nanos)
        })
    }

    /// Text in or near the shape of an RFC 3339 timestamp: out-of-range fields, other
    /// separators, offsets and case, fractions from none to too many digits.
    fn near_rfc3339() -> impl Strategy<Value = String> {
        let date = (
            prop_oneof![Just(String::new()), Just("+".to_owned()), Just("-".to_owned())],
            prop_oneof![0u32..=10_000, 1969u32..2200].prop_map(|y| format!("{y:04}")),
            0u32..=13,
            0u32..=32,
        )
            .prop_map(|(sign, year, month, day)| format!("{sign}{year}-{month:02}-{day:02}"));
        let time = (0u32..=25, 0u32..=61, 0u32..=61).prop_map(|(h, m, s)| format!("{h:02}:{m:02}:{s:02}"));
        let fraction = prop_oneof![Just(String::new()), "\\.[0-9]{0,11}"];
        let zone = prop_oneof![
            4 => Just("Z".to_owned()),
            1 => Just("z".to_owned()),
            1 => Just(String::new()),
            1 => "[+-][0-2][0-9]:[0-5][0-9]",
            1 => "[+-][0-9]{4}",
        ];
        (date, prop_oneof![4 => Just('T'), 1 => Just('t'), 1 => Just(' ')], time, fraction, zone)
            .prop_map(|(date, t, time, fraction, zone)| format!("{date}{t}{time}{fraction}{zone}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_instant_is_written_as_chrono_writes_it_and_read_back(at in any_instant()) {
            let json = serde_json::to_string(&Ours(at)).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&Chronos(at)).unwrap());
            prop_assert_eq!(serde_json::from_str::<Ours>(&json).unwrap(), Ours(at));
            let packed = rmp_serde::to_vec_named(&Ours(at)).unwrap();
            prop_assert_eq!(rmp_serde::from_slice::<Ours>(&packed).unwrap(), Ours(at));
        }

        #[test]
        fn any_text_is_read_as_chrono_reads_it(text in near_rfc3339()) {
            let json = serde_json::to_string(&text).unwrap();
            let ours = serde_json::from_str::<Ours>(&json).map(|o| o.0).ok();
            let chronos = serde_json::from_str::<Chronos>(&json).map(|c| c.0).ok();
            prop_assert_eq!(ours, chronos, "{}", text);
        }

        #[test]
        fn a_written_timestamp_with_one_byte_changed_is_read_as_chrono_reads_it(
            at in any_instant(),
            position in any::<prop::sample::Index>(),
            byte in prop_oneof![prop::sample::select(b"09.ZT-:+z ".to_vec()), 0x20u8..0x7f],
        ) {
            let mut text = serde_json::to_value(Ours(at)).unwrap().as_str().unwrap().as_bytes().to_vec();
            let at_index = position.index(text.len());
            text[at_index] = byte;
            let text = String::from_utf8(text).unwrap();
            let json = serde_json::to_string(&text).unwrap();
            let ours = serde_json::from_str::<Ours>(&json).map(|o| o.0).ok();
            let chronos = serde_json::from_str::<Chronos>(&json).map(|c| c.0).ok();
            prop_assert_eq!(ours, chronos, "{}", text);
        }
    }
}
