//! Deadline schedules: the pure core of "what did not happen" checks (a pipeline that must have
//! succeeded, or an S3 object that must have arrived, by a time of day). No I/O, no clock, no
//! AWS: the caller passes `now` and the times of the events it saw.
//!
//! # Schedules
//! A [`Schedule`] is a time of day (`by`, "HH:MM", 24-hour) in an IANA time zone, on some days
//! of the week ([`Days`]: "mon".."sun", "daily", "weekdays"), with a [`Window`] (default 24 h,
//! at most 7 days): how long before a deadline an event still counts for it.
//!
//! - The deadline of a local date is the instant the zone's clocks show `by` on that date
//!   ([`Schedule::deadline_on`]). When `by` falls in a DST gap (the clocks skip it) the deadline
//!   is the first instant after it that exists: the moment the clocks jump (Europe/Berlin,
//!   2026-03-29, `by` 02:30: the clocks go from 02:00 CET to 03:00 CEST, so the deadline is
//!   03:00 CEST = 01:00Z). When `by` occurs twice (a DST fold) the deadline is the earlier one
//!   (Europe/Berlin, 2026-10-25, `by` 02:30: 02:30 CEST = 00:30Z, not 02:30 CET = 01:30Z; a run
//!   ending at 02:15 CET, in the repeated hour, is after the deadline).
//! - Only scheduled days have deadlines. Deadlines strictly increase with their dates.
//! - An event counts for a deadline `d` when it lies in the window `(d − window, d]`: an event at
//!   exactly the deadline is in time, one at exactly `d − window` is not. Windows of different
//!   deadlines overlap when the window is longer than the gap between them, and then one event
//!   can meet two deadlines (daily by 06:00 with a 36 h window: a run at 05:00 counts for that
//!   day's deadline and the next day's).
//!
//! # Evaluation
//! [`evaluate`] splits time at `now` into the last deadline strictly before `now` (`previous`,
//! settled) and the first deadline at or after `now` (`next`, still open: an event at exactly
//! `now == next` still counts), with no scheduled deadline in between:
//!
//! - `next`: [`DayStatus::Met`] at the first event in its window, else [`DayStatus::Pending`]
//!   (never `Missed`: its deadline has not passed).
//! - `previous`: `Met` at the first event in its window, else [`DayStatus::Missed`] (never
//!   `Pending`).
//! - `late_at`: when `previous` was missed, the first event after its deadline and before the
//!   window of `next` opens, i.e. in `(previous, next − window]`. An event after that counts for
//!   `next` instead. With the default 24 h window on a daily schedule the next window opens the
//!   moment the previous deadline passes, so there is never a late event: a run that ends an
//!   hour after its deadline is early for the next day.
//! - `last_event`: the latest event of all.
//!
//! Events are taken at face value, in any order, duplicates allowed; one stamped after `now`
//! (clock skew) counts like any other. Adding events never turns a `Met` into anything else.
//!
//! ```text
//! daily, by 06:00 UTC, window 6h, now = Tue 03:00 (the test `the_module_doc_timeline`)
//!
//!    Mon 00:00    Mon 06:00   Mon 09:00   Tue 00:00    now   Tue 06:00
//! ──────(────────────]────────────●───────────(──────────|──────]──────▶ time
//!        window of    previous    run          window of         next
//!        previous                              next
//!
//! no event in (Mon 00:00, Mon 06:00]            → previous: Missed
//! the run, in (Mon 06:00, Tue 00:00]            → late_at: Mon 09:00
//! no event in (Tue 00:00, Tue 06:00] so far     → next: Pending
//! had the run been at Mon 05:00                 → previous: Met { at: Mon 05:00 }, late_at: None
//! had it been at Tue 01:00                      → previous: Missed, late_at: None,
//!                                                 next: Met { at: Tue 01:00 }
//! ```
//!
//! # S3 prefixes
//! [`expand_prefix`] fills a prefix template's placeholders `{yyyy}`, `{yy}`, `{mm}`, `{dd}`
//! and `{date}` (= `{yyyy}-{mm}-{dd}`) for a date; [`parse_s3_url`] splits
//! `s3://bucket/prefix/{yyyy}/` into a checked bucket name and template.

use crate::records::Millis;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;
use std::fmt;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How a list of days is written, for error messages.
const DAYS_FORMAT: &str = r#"expected "mon".."sun", "daily" or "weekdays""#;

/// The days of the week a schedule has deadlines on: never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Days(u8);

impl Days {
    /// Every day.
    pub const DAILY: Days = Days(0b111_1111);
    /// Monday to Friday.
    pub const WEEKDAYS: Days = Days(0b001_1111);

    const NAMES: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    fn bit(day: Weekday) -> u8 {
        1 << day.to_monday_zero_offset()
    }

    /// The given days; `None` when there are none.
    pub fn of(days: &[Weekday]) -> Option<Days> {
        let bits = days.iter().fold(0, |bits, &d| bits | Days::bit(d));
        (bits != 0).then_some(Days(bits))
    }

    /// Whether `day` is one of them.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Days::bit(day) != 0
    }
}

impl Default for Days {
    fn default() -> Self {
        Days::DAILY
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Days::DAILY => f.write_str("daily"),
            Days::WEEKDAYS => f.write_str("weekdays"),
            Days(bits) => {
                let names: Vec<&str> = (0..7)
                    .filter(|i| bits & (1 << i) != 0)
                    .map(|i| Days::NAMES[i])
                    .collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// How long before a deadline an event still counts for it: more than 0, at most 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window(i64);

impl Window {
    /// 24 hours.
    pub const DEFAULT: Window = Window(DAY_MS);
    /// 7 days.
    pub const MAX: Window = Window(7 * DAY_MS);

    /// A window of `ms` milliseconds; an error unless `0 < ms <= 7 days`.
    pub fn from_millis(ms: i64) -> Result<Window, String> {
        if ms <= 0 {
            Err(format!("window {ms}ms must be at least 1ms"))
        } else if ms > Window::MAX.0 {
            Err(format!("window {ms}ms must be at most 7 days"))
        } else {
            Ok(Window(ms))
        }
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::DEFAULT
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms % DAY_MS == 0 {
            write!(f, "{}days", ms / DAY_MS)
        } else if ms % HOUR_MS == 0 {
            write!(f, "{}h", ms / HOUR_MS)
        } else if ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Parses a time of day "HH:MM" (24-hour, two digits each, "00:00" to "23:59").
pub fn parse_by(s: &str) -> Result<Time, String> {
    let t = s.trim();
    let b = t.as_bytes();
    let two_digits = |x: &[u8]| x.iter().all(u8::is_ascii_digit);
    if b.len() != 5 || b[2] != b':' || !two_digits(&b[..2]) || !two_digits(&b[3..]) {
        return Err(format!(
            r#"time of day "{s}": expected HH:MM, 24-hour with two digits each (e.g. "06:30")"#
        ));
    }
    let hour: i8 = t[..2].parse().unwrap_or(i8::MAX);
    let minute: i8 = t[3..].parse().unwrap_or(i8::MAX);
    if hour > 23 {
        return Err(format!(
            r#"time of day "{s}": hour {hour} is out of range (00 to 23)"#
        ));
    }
    if minute > 59 {
        return Err(format!(
            r#"time of day "{s}": minute {minute} is out of range (00 to 59)"#
        ));
    }
    Time::new(hour, minute, 0, 0).map_err(|e| format!(r#"time of day "{s}": {e}"#))
}

/// Looks up an IANA time zone ("Europe/Berlin", "UTC") in the database bundled with the binary.
pub fn parse_time_zone(s: &str) -> Result<TimeZone, String> {
    let name = s.trim();
    let unknown = || {
        format!(
            r#"unknown time zone "{s}": expected an IANA time zone name such as "Europe/Berlin" or "UTC""#
        )
    };
    if name.is_empty() {
        return Err(unknown());
    }
    match TimeZone::get(name) {
        Ok(tz) if !tz.is_unknown() && tz.iana_name().is_some() => Ok(tz),
        _ => Err(unknown()),
    }
}

/// Parses a list of days: "mon".."sun" (any case), "daily" or "weekdays" (Mon–Fri); an item may
/// also hold several, separated by commas ("mon,wed,fri"). The result is their union; an empty
/// list is an error (a schedule without days never has a deadline).
pub fn parse_days<S: AsRef<str>>(items: &[S]) -> Result<Days, String> {
    let mut bits = 0u8;
    for item in items {
        for part in item.as_ref().split(',') {
            let word = part.trim().to_ascii_lowercase();
            bits |= match word.as_str() {
                "daily" => Days::DAILY.0,
                "weekdays" => Days::WEEKDAYS.0,
                "" => {
                    return Err(format!(
                        r#"empty day in "{}": {DAYS_FORMAT}"#,
                        item.as_ref()
                    ))
                }
                w => match Days::NAMES.iter().position(|n| *n == w) {
                    Some(i) => 1 << i,
                    None => {
                        let day = part.trim();
                        return Err(format!(r#"unknown day "{day}": {DAYS_FORMAT}"#));
                    }
                },
            };
        }
    }
    if bits == 0 {
        return Err(format!("no days given: {DAYS_FORMAT}"));
    }
    Ok(Days(bits))
}

/// Parses a window such as "6h", "90m" or "2days": more than 0, at most 7 days.
pub fn parse_window(s: &str) -> Result<Window, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!(
            r#"window "{s}": {}; {}"#,
            e.to_string().trim_end(),
            crate::config::DURATION_FORMAT
        )
    })?;
    if d.is_zero() {
        return Err(format!(r#"window "{s}": must be more than 0"#));
    }
    if d > std::time::Duration::from_millis(Window::MAX.0 as u64) {
        return Err(format!(r#"window "{s}": must be at most 7 days"#));
    }
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    if ms == 0 {
        return Err(format!(r#"window "{s}": must be at least 1ms"#));
    }
    Window::from_millis(ms).map_err(|e| format!(r#"window "{s}": {e}"#))
}

/// When something must have happened: `by` (local time of day) in `zone` on `days`, counting
/// events up to `window` before each deadline. See the module docs for the exact rules.
#[derive(Debug, Clone)]
pub struct Schedule {
    by: Time,
    zone: TimeZone,
    days: Days,
    window: Window,
}

impl Schedule {
    /// A schedule from checked parts (zones that are no IANA zone are refused by
    /// [`parse_time_zone`], not here).
    pub fn new(by: Time, zone: TimeZone, days: Days, window: Window) -> Schedule {
        Schedule {
            by: Time::new(by.hour(), by.minute(), 0, 0).unwrap_or(by),
            zone,
            days,
            window,
        }
    }

    /// A daily schedule with the default 24 h window from config strings; narrow it with
    /// [`Schedule::with_days`] and [`Schedule::with_window`]:
    /// `Schedule::parse("06:00", "Europe/Berlin")?.with_days(parse_days(&["weekdays"])?)`.
    pub fn parse(by: &str, time_zone: &str) -> Result<Schedule, String> {
        Ok(Schedule::new(
            parse_by(by)?,
            parse_time_zone(time_zone)?,
            Days::DAILY,
            Window::DEFAULT,
        ))
    }

    pub fn with_days(self, days: Days) -> Schedule {
        Schedule { days, ..self }
    }

    pub fn with_window(self, window: Window) -> Schedule {
        Schedule { window, ..self }
    }

    pub fn by(&self) -> Time {
        self.by
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The zone's IANA name ("Europe/Berlin"); every zone from [`parse_time_zone`] has one.
    pub fn zone_name(&self) -> &str {
        self.zone.iana_name().unwrap_or("(zone without IANA name)")
    }

    pub fn days(&self) -> Days {
        self.days
    }

    pub fn window(&self) -> Window {
        self.window
    }

    /// Whether `date` has a deadline.
    pub fn is_scheduled(&self, date: Date) -> bool {
        self.days.contains(date.weekday())
    }

    /// The instant of `by` on the local `date` in the zone, whether or not `date` is a scheduled
    /// day: in a DST gap the instant the clocks jump over it, in a fold the earlier instant.
    /// `None` only for dates at the ends of the supported range (years −9999 and 9999).
    pub fn deadline_on(&self, date: Date) -> Option<Millis> {
        let dt = DateTime::from_parts(date, self.by);
        let ts = match self.zone.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok()?,
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok()?,
            AmbiguousOffset::Gap { after, .. } => {
                // `dt` read with the offset after the gap is an instant before the jump; the
                // first transition after it is the jump, when the clocks first show a time past
                // `dt`.
                let probe = after.to_timestamp(dt).ok()?;
                self.zone.following(probe).next()?.timestamp()
            }
        };
        Some(Millis(ts.as_millisecond()))
    }

    /// The local date of `at` in the zone.
    fn local_date(&self, at: Millis) -> Option<Date> {
        let ts = Timestamp::from_millisecond(at.0).ok()?;
        Some(self.zone.to_datetime(ts).date())
    }

    /// The scheduled deadlines on the local dates from `from` for `n` days, in order.
    fn deadlines_from(&self, from: Date, n: usize) -> impl Iterator<Item = (Date, Millis)> + '_ {
        std::iter::successors(Some(from), |d| d.tomorrow().ok())
            .take(n)
            .filter(|d| self.is_scheduled(*d))
            .filter_map(|d| Some((d, self.deadline_on(d)?)))
    }

    /// The latest scheduled deadline at or before `now`, with its date.
    pub fn latest_deadline_at_or_before(&self, now: Millis) -> Option<(Date, Millis)> {
        // A deadline lies on its date or (after a gap of a whole day, as Samoa's in 2011) the
        // day after, deadlines increase with their dates, and every 7 days hold a scheduled one:
        // the latest is the last one at or before `now` on the 8 days before `now`'s local date
        // up to the day after it.
        let start = self
            .local_date(now)?
            .checked_sub(jiff::Span::new().days(8))
            .ok()?;
        self.deadlines_from(start, 10)
            .take_while(|&(_, at)| at <= now)
            .last()
    }

    /// The first scheduled deadline strictly after `now`, with its date.
    pub fn next_deadline_after(&self, now: Millis) -> Option<(Date, Millis)> {
        let start = self.local_date(now)?.yesterday().ok()?;
        self.deadlines_from(start, 10).find(|&(_, at)| at > now)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02} {} {}, window {}",
            self.by.hour(),
            self.by.minute(),
            self.zone_name(),
            self.days,
            self.window
        )
    }
}

/// The outcome of one deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayStatus {
    /// An event in the window: `at` is the first one.
    Met { at: Millis },
    /// The deadline passed without an event in its window.
    Missed,
    /// The deadline has not passed and no event is in its window yet.
    Pending,
}

/// One deadline and how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The local date the deadline belongs to.
    pub date: Date,
    pub deadline: Millis,
    pub status: DayStatus,
}

/// What [`evaluate`] found at `now`; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The last deadline before `now`: `Met` or `Missed`. `None` only near the end of the
    /// supported range of dates.
    pub previous: Option<Outcome>,
    /// The first deadline at or after `now`: `Met` or `Pending`.
    pub next: Outcome,
    /// When `previous` was missed: the first event after its deadline and before the window of
    /// `next` opens, in `(previous.deadline, next.deadline − window]`.
    pub late_at: Option<Millis>,
    /// The latest of all events.
    pub last_event: Option<Millis>,
    /// When the window of `next` opens (exclusive): `next.deadline − window`.
    pub next_window_opens: Millis,
}

/// The first event in `(from, to]`.
fn first_in(events: &[Millis], from: i64, to: i64) -> Option<Millis> {
    events
        .iter()
        .copied()
        .filter(|e| from < e.0 && e.0 <= to)
        .min()
}

/// Where `schedule` stands at `now` given the `events` seen (success end times of a pipeline or
/// arrival times of objects; any order). `None` only when `now` is outside the dates the time
/// zone database covers (years −9999 to 9999), which no clock reaches.
pub fn evaluate(schedule: &Schedule, now: Millis, events: &[Millis]) -> Option<Evaluation> {
    let window = schedule.window.0;
    let just_before = Millis(now.0.checked_sub(1)?);
    let (next_date, next_deadline) = schedule.next_deadline_after(just_before)?;
    let next_window_opens = next_deadline.0 - window;
    let next = Outcome {
        date: next_date,
        deadline: next_deadline,
        status: match first_in(events, next_window_opens, next_deadline.0) {
            Some(at) => DayStatus::Met { at },
            None => DayStatus::Pending,
        },
    };
    let previous = schedule
        .latest_deadline_at_or_before(just_before)
        .map(|(date, deadline)| Outcome {
            date,
            deadline,
            status: match first_in(events, deadline.0 - window, deadline.0) {
                Some(at) => DayStatus::Met { at },
                None => DayStatus::Missed,
            },
        });
    let late_at = previous
        .filter(|p| p.status == DayStatus::Missed)
        .and_then(|p| first_in(events, p.deadline.0, next_window_opens));
    Some(Evaluation {
        previous,
        next,
        late_at,
        last_event: events.iter().copied().max(),
        next_window_opens: Millis(next_window_opens),
    })
}

/// The placeholders of a prefix template, for error messages.
const PLACEHOLDERS: &str = "{yyyy}, {yy}, {mm}, {dd}, {date}";

enum Piece<'a> {
    Text(&'a str),
    Year4,
    Year2,
    Month,
    Day,
    Date,
}

fn parse_template(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let open = rest.find('{');
        if let Some(c) = rest.find('}').filter(|&c| open.is_none_or(|o| c < o)) {
            return Err(format!(
                r#"prefix template "{template}": "}}" without "{{" after "{}""#,
                &template[..template.len() - rest.len() + c]
            ));
        }
        let Some(o) = open else {
            pieces.push(Piece::Text(rest));
            break;
        };
        pieces.push(Piece::Text(&rest[..o]));
        let after = &rest[o + 1..];
        let end = match after.find(['{', '}']) {
            Some(i) if after.as_bytes()[i] == b'}' => i,
            _ => {
                let unclosed: String = rest[o..].chars().take(12).collect();
                return Err(format!(
                    r#"prefix template "{template}": "{{" not closed in "{unclosed}""#
                ));
            }
        };
        pieces.push(match &after[..end] {
            "yyyy" => Piece::Year4,
            "yy" => Piece::Year2,
            "mm" => Piece::Month,
            "dd" => Piece::Day,
            "date" => Piece::Date,
            other => {
                return Err(format!(
                    r#"prefix template "{template}": unknown placeholder "{{{other}}}" (known: {PLACEHOLDERS})"#
                ))
            }
        });
        rest = &after[end + 1..];
    }
    Ok(pieces)
}

/// Checks a prefix template's placeholders and braces without expanding it.
pub fn validate_prefix_template(template: &str) -> Result<(), String> {
    parse_template(template).map(|_| ())
}

/// Fills the placeholders of an S3 prefix template for `date`: `{yyyy}` (4-digit year), `{yy}`
/// (its last two digits), `{mm}`, `{dd}` (2 digits each) and `{date}` (`yyyy-mm-dd`). Unknown
/// placeholders and unbalanced braces are errors naming them; so are years before 0.
pub fn expand_prefix(template: &str, date: Date) -> Result<String, String> {
    let pieces = parse_template(template)?;
    let (y, m, d) = (date.year(), date.month(), date.day());
    if y < 0 {
        return Err(format!(
            r#"prefix template "{template}": year {y} cannot be written as a prefix"#
        ));
    }
    use std::fmt::Write;
    let mut out = String::with_capacity(template.len() + 8);
    for piece in pieces {
        // Writing to a String does not fail.
        let _ = match piece {
            Piece::Text(t) => out.write_str(t),
            Piece::Year4 => write!(out, "{y:04}"),
            Piece::Year2 => write!(out, "{:02}", y % 100),
            Piece::Month => write!(out, "{m:02}"),
            Piece::Day => write!(out, "{d:02}"),
            Piece::Date => write!(out, "{y:04}-{m:02}-{d:02}"),
        };
    }
    Ok(out)
}

/// Checks an S3 bucket name: 3 to 63 characters of lowercase letters, digits, dots and
/// hyphens, starting and ending with a letter or digit, no two dots in a row, not an IPv4
/// address.
pub fn validate_bucket(bucket: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!(r#"S3 bucket name "{bucket}": {why}"#));
    let n = bucket.chars().count();
    if !(3..=63).contains(&n) {
        return fail(&format!("{n} characters, must be 3 to 63"));
    }
    if let Some(c) = bucket
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return fail(&format!(
            "character {c:?} is not allowed (lowercase letters, digits, '.' and '-' only)"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(bucket.chars().next()) || !alnum(bucket.chars().last()) {
        return fail("must start and end with a letter or digit");
    }
    if bucket.contains("..") {
        return fail(r#"must not contain "..""#);
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return fail("must not be an IP address");
    }
    Ok(())
}

/// Splits `s3://bucket/prefix/{yyyy}/` into the bucket and the prefix template (everything
/// after the bucket's slash, possibly empty), checking the bucket name and the template.
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url.trim().strip_prefix("s3://").ok_or_else(|| {
        format!(r#"S3 URL "{url}": expected "s3://bucket/prefix" (starting with "s3://")"#)
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!(r#"S3 URL "{url}": no bucket name after "s3://""#));
    }
    validate_bucket(bucket).map_err(|e| format!(r#"S3 URL "{url}": {e}"#))?;
    validate_prefix_template(prefix).map_err(|e| format!(r#"S3 URL "{url}": {e}"#))?;
    Ok((bucket.to_string(), prefix.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    /// Epoch milliseconds of an RFC 3339 instant.
    fn ms(s: &str) -> Millis {
        Millis(s.parse::<Timestamp>().unwrap().as_millisecond())
    }

    fn sched(by: &str, tz: &str, days: &[&str], window: &str) -> Schedule {
        Schedule::parse(by, tz)
            .unwrap()
            .with_days(parse_days(days).unwrap())
            .with_window(parse_window(window).unwrap())
    }

    fn eval(s: &Schedule, now: &str, events: &[&str]) -> Evaluation {
        let events: Vec<Millis> = events.iter().map(|e| ms(e)).collect();
        evaluate(s, ms(now), &events).unwrap()
    }

    fn assert_names(err: Result<impl fmt::Debug, String>, culprit: &str) {
        let e = err.unwrap_err();
        assert!(e.contains(culprit), "{e:?} does not name {culprit:?}");
    }

    #[test]
    fn parse_errors_name_the_culprit() {
        assert_names(parse_by("7:00"), r#""7:00""#);
        assert_names(parse_by("07-00"), r#""07-00""#);
        assert_names(parse_by("24:00"), "hour 24");
        assert_names(parse_by("12:60"), "minute 60");
        assert_names(parse_by("ab:cd"), "HH:MM");
        assert_names(parse_by(""), "HH:MM");
        assert_names(parse_time_zone("Europe/Berln"), r#""Europe/Berln""#);
        assert_names(parse_time_zone(""), "unknown time zone");
        assert_names(parse_time_zone("CEST+2"), r#""CEST+2""#);
        assert_names(parse_days(&["mon", "funday"]), r#""funday""#);
        assert_names(parse_days(&["mon,,wed"]), r#""mon,,wed""#);
        assert_names(parse_days::<&str>(&[]), "no days");
        assert_names(parse_window("0s"), r#"window "0s": must be more than 0"#);
        assert_names(
            parse_window("8days"),
            r#"window "8days": must be at most 7 days"#,
        );
        assert_names(parse_window("soon"), r#"window "soon""#);
        assert_names(parse_window("500us"), "at least 1ms");
        assert_names(Window::from_millis(0), "at least 1ms");
        assert_names(Window::from_millis(7 * DAY_MS + 1), "at most 7 days");
        assert_names(Schedule::parse("06:00", "Mars/Olympus"), "Mars/Olympus");
        assert_names(Schedule::parse("6", "UTC"), r#""6""#);
    }

    #[test]
    fn parses_config_strings() {
        assert_eq!(
            parse_by(" 06:30 ").unwrap(),
            Time::new(6, 30, 0, 0).unwrap()
        );
        assert_eq!(parse_by("00:00").unwrap(), Time::midnight());
        assert_eq!(parse_by("23:59").unwrap(), Time::new(23, 59, 0, 0).unwrap());
        assert_eq!(parse_time_zone("UTC").unwrap().iana_name(), Some("UTC"));
        assert_eq!(
            parse_time_zone("Europe/Berlin").unwrap().iana_name(),
            Some("Europe/Berlin")
        );
        assert_eq!(parse_days(&["daily"]).unwrap(), Days::DAILY);
        assert_eq!(parse_days(&["Weekdays"]).unwrap(), Days::WEEKDAYS);
        assert_eq!(
            parse_days(&["MON", "tue", "Wed", "thu", "fri"]).unwrap(),
            Days::WEEKDAYS
        );
        assert_eq!(parse_days(&["weekdays", "sat,sun"]).unwrap(), Days::DAILY);
        let mwf = parse_days(&["mon, wed", "fri", "mon"]).unwrap();
        assert_eq!(mwf.to_string(), "mon,wed,fri");
        assert!(mwf.contains(Weekday::Wednesday) && !mwf.contains(Weekday::Tuesday));
        assert_eq!(
            Days::of(&[Weekday::Sunday, Weekday::Saturday])
                .unwrap()
                .to_string(),
            "sat,sun"
        );
        assert_eq!(Days::of(&[]), None);
        assert_eq!(parse_window("6h").unwrap().as_millis(), 6 * HOUR_MS);
        assert_eq!(parse_window("7days").unwrap(), Window::MAX);
        assert_eq!(parse_window("1ms").unwrap().as_millis(), 1);
        let s = sched("06:00", "Europe/Berlin", &["weekdays"], "90m");
        assert_eq!(s.to_string(), "06:00 Europe/Berlin weekdays, window 90m");
        assert_eq!(
            Schedule::parse("23:05", "UTC").unwrap().to_string(),
            "23:05 UTC daily, window 1days"
        );
    }

    #[test]
    fn berlin_spring_gap_deadline_is_when_the_clocks_jump() {
        let s = sched("02:30", "Europe/Berlin", &["daily"], "24h");
        // 02:00 CET → 03:00 CEST on 2026-03-29 at 01:00Z: 02:30 does not exist.
        assert_eq!(
            s.deadline_on(date(2026, 3, 28)),
            Some(ms("2026-03-28T01:30:00Z"))
        );
        assert_eq!(
            s.deadline_on(date(2026, 3, 29)),
            Some(ms("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.deadline_on(date(2026, 3, 30)),
            Some(ms("2026-03-30T00:30:00Z"))
        );
        // 02:00 CET is no gap: exactly the jump as well.
        let two = sched("02:00", "Europe/Berlin", &["daily"], "24h");
        assert_eq!(
            two.deadline_on(date(2026, 3, 29)),
            Some(ms("2026-03-29T01:00:00Z"))
        );
        let three = sched("03:00", "Europe/Berlin", &["daily"], "24h");
        assert_eq!(
            three.deadline_on(date(2026, 3, 29)),
            Some(ms("2026-03-29T01:00:00Z"))
        );

        // A day of 23 hours: the window still is 24 hours of real time.
        let e = eval(&s, "2026-03-29T00:59:00Z", &["2026-03-28T01:30:00.001Z"]);
        assert_eq!(e.next.deadline, ms("2026-03-29T01:00:00Z"));
        assert_eq!(e.next.date, date(2026, 3, 29));
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2026-03-28T01:30:00.001Z")
            }
        );
        // 03:15 CEST is after the (moved) deadline: late, not met.
        let e = eval(&s, "2026-03-29T02:00:00Z", &["2026-03-29T01:15:00Z"]);
        let p = e.previous.unwrap();
        assert_eq!(
            (p.deadline, p.status),
            (ms("2026-03-29T01:00:00Z"), DayStatus::Missed)
        );
        assert_eq!(e.next.deadline, ms("2026-03-30T00:30:00Z"));
        let with_window = s.clone().with_window(parse_window("12h").unwrap());
        let e = evaluate(
            &with_window,
            ms("2026-03-29T02:00:00Z"),
            &[ms("2026-03-29T01:15:00Z")],
        )
        .unwrap();
        assert_eq!(e.late_at, Some(ms("2026-03-29T01:15:00Z")));
    }

    #[test]
    fn berlin_autumn_fold_deadline_is_the_earlier_instant() {
        let s = sched("02:30", "Europe/Berlin", &["daily"], "6h");
        // 03:00 CEST → 02:00 CET on 2026-10-25 at 01:00Z: 02:30 happens twice.
        assert_eq!(
            s.deadline_on(date(2026, 10, 24)),
            Some(ms("2026-10-24T00:30:00Z"))
        );
        assert_eq!(
            s.deadline_on(date(2026, 10, 25)),
            Some(ms("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            s.deadline_on(date(2026, 10, 26)),
            Some(ms("2026-10-26T01:30:00Z"))
        );
        // 02:15 CET, the second time round, is after 02:30 CEST.
        let e = eval(&s, "2026-10-25T02:00:00Z", &["2026-10-25T01:15:00Z"]);
        let p = e.previous.unwrap();
        assert_eq!(p.deadline, ms("2026-10-25T00:30:00Z"));
        assert_eq!(p.status, DayStatus::Missed);
        assert_eq!(e.late_at, Some(ms("2026-10-25T01:15:00Z")));
        // 02:15 CEST, the first time round, is in time.
        let e = eval(&s, "2026-10-25T02:00:00Z", &["2026-10-25T00:15:00Z"]);
        assert_eq!(
            e.previous.unwrap().status,
            DayStatus::Met {
                at: ms("2026-10-25T00:15:00Z")
            }
        );
        assert_eq!(e.late_at, None);
        // Between the two 02:30s: the first one has passed.
        let e = eval(&s, "2026-10-25T01:00:00Z", &[]);
        assert_eq!(e.previous.unwrap().deadline, ms("2026-10-25T00:30:00Z"));
        assert_eq!(e.next.deadline, ms("2026-10-26T01:30:00Z"));
    }

    #[test]
    fn a_skipped_day_has_its_deadline_at_the_jump() {
        // Samoa skipped 2011-12-30: 2011-12-29 24:00 (-10) was followed by 2011-12-31 00:00 (+14).
        let s = sched("10:00", "Pacific/Apia", &["daily"], "24h");
        assert_eq!(
            s.deadline_on(date(2011, 12, 29)),
            Some(ms("2011-12-29T20:00:00Z"))
        );
        assert_eq!(
            s.deadline_on(date(2011, 12, 30)),
            Some(ms("2011-12-30T10:00:00Z"))
        );
        assert_eq!(
            s.deadline_on(date(2011, 12, 31)),
            Some(ms("2011-12-30T20:00:00Z"))
        );
        let e = eval(&s, "2011-12-30T12:00:00Z", &["2011-12-30T09:00:00Z"]);
        let p = e.previous.unwrap();
        assert_eq!(p.date, date(2011, 12, 30));
        assert_eq!(
            p.status,
            DayStatus::Met {
                at: ms("2011-12-30T09:00:00Z")
            }
        );
        // 10 hours later, with the 24 h window reaching back over the same run.
        assert_eq!(e.next.date, date(2011, 12, 31));
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2011-12-30T09:00:00Z")
            }
        );
    }

    #[test]
    fn latest_and_next_deadline_around_now() {
        let s = sched("06:00", "UTC", &["daily"], "24h");
        let d = ms("2026-06-10T06:00:00Z");
        assert_eq!(
            s.latest_deadline_at_or_before(d),
            Some((date(2026, 6, 10), d))
        );
        assert_eq!(
            s.latest_deadline_at_or_before(Millis(d.0 - 1)),
            Some((date(2026, 6, 9), ms("2026-06-09T06:00:00Z")))
        );
        assert_eq!(
            s.next_deadline_after(d),
            Some((date(2026, 6, 11), ms("2026-06-11T06:00:00Z")))
        );
        assert_eq!(
            s.next_deadline_after(Millis(d.0 - 1)),
            Some((date(2026, 6, 10), d))
        );
        // Far beyond the supported dates.
        assert_eq!(s.next_deadline_after(Millis(i64::MAX)), None);
        assert_eq!(s.latest_deadline_at_or_before(Millis(i64::MIN)), None);
        assert_eq!(evaluate(&s, Millis(i64::MIN), &[]), None);
    }

    #[test]
    fn weekdays_skip_the_weekend() {
        // 2026-06-12 is a Friday, 2026-06-15 a Monday.
        let s = sched("06:00", "UTC", &["weekdays"], "24h");
        let sat = ms("2026-06-13T12:00:00Z");
        assert_eq!(
            s.latest_deadline_at_or_before(sat),
            Some((date(2026, 6, 12), ms("2026-06-12T06:00:00Z")))
        );
        assert_eq!(
            s.next_deadline_after(sat),
            Some((date(2026, 6, 15), ms("2026-06-15T06:00:00Z")))
        );
        assert!(!s.is_scheduled(date(2026, 6, 14)));
        // A Friday success after Friday's deadline does not count for Monday…
        let e = eval(&s, "2026-06-15T05:00:00Z", &["2026-06-12T07:00:00Z"]);
        assert_eq!(e.next.date, date(2026, 6, 15));
        assert_eq!(e.next.status, DayStatus::Pending);
        assert_eq!(e.next_window_opens, ms("2026-06-14T06:00:00Z"));
        let p = e.previous.unwrap();
        assert_eq!((p.date, p.status), (date(2026, 6, 12), DayStatus::Missed));
        // …it was late for Friday's…
        assert_eq!(e.late_at, Some(ms("2026-06-12T07:00:00Z")));
        // …unless the window reaches back to it.
        let wide = s.clone().with_window(parse_window("72h").unwrap());
        let e = evaluate(
            &wide,
            ms("2026-06-15T05:00:00Z"),
            &[ms("2026-06-12T07:00:00Z")],
        )
        .unwrap();
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2026-06-12T07:00:00Z")
            }
        );
        assert_eq!(e.late_at, None);
        // Exactly at the window's start does not count.
        let e = evaluate(
            &wide,
            ms("2026-06-15T05:00:00Z"),
            &[ms("2026-06-12T06:00:00Z")],
        )
        .unwrap();
        assert_eq!(e.next.status, DayStatus::Pending);
        assert_eq!(
            e.previous.unwrap().status,
            DayStatus::Met {
                at: ms("2026-06-12T06:00:00Z")
            }
        );
    }

    #[test]
    fn the_module_doc_timeline() {
        // 2026-06-08 is a Monday.
        let s = sched("06:00", "UTC", &["daily"], "6h");
        let now = "2026-06-09T03:00:00Z";
        let e = eval(&s, now, &["2026-06-08T09:00:00Z"]);
        let p = e.previous.unwrap();
        assert_eq!(
            (p.deadline, p.status),
            (ms("2026-06-08T06:00:00Z"), DayStatus::Missed)
        );
        assert_eq!(e.late_at, Some(ms("2026-06-08T09:00:00Z")));
        assert_eq!(e.next.deadline, ms("2026-06-09T06:00:00Z"));
        assert_eq!(e.next.status, DayStatus::Pending);
        assert_eq!(e.next_window_opens, ms("2026-06-09T00:00:00Z"));
        let e = eval(&s, now, &["2026-06-08T05:00:00Z"]);
        assert_eq!(
            e.previous.unwrap().status,
            DayStatus::Met {
                at: ms("2026-06-08T05:00:00Z")
            }
        );
        assert_eq!(e.late_at, None);
        let e = eval(&s, now, &["2026-06-09T01:00:00Z"]);
        assert_eq!(e.previous.unwrap().status, DayStatus::Missed);
        assert_eq!(e.late_at, None);
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2026-06-09T01:00:00Z")
            }
        );
        // Overlapping windows: daily with 36 h, one run meets two deadlines.
        let wide = s.clone().with_window(parse_window("36h").unwrap());
        let e = evaluate(
            &wide,
            ms("2026-06-08T07:00:00Z"),
            &[ms("2026-06-08T05:00:00Z")],
        )
        .unwrap();
        let met = DayStatus::Met {
            at: ms("2026-06-08T05:00:00Z"),
        };
        assert_eq!((e.previous.unwrap().status, e.next.status), (met, met));
    }

    #[test]
    fn met_missed_pending_and_late() {
        let s = sched("06:00", "UTC", &["daily"], "2h");
        // Before the window: yesterday missed, today pending.
        let e = eval(&s, "2026-06-10T03:00:00Z", &[]);
        assert_eq!(e.next.deadline, ms("2026-06-10T06:00:00Z"));
        assert_eq!(e.next.status, DayStatus::Pending);
        assert_eq!(e.previous.unwrap().status, DayStatus::Missed);
        assert_eq!((e.late_at, e.last_event), (None, None));
        // In the window: met at the first event.
        let e = eval(
            &s,
            "2026-06-10T05:50:00Z",
            &[
                "2026-06-10T05:40:00Z",
                "2026-06-10T04:30:00Z",
                "2026-06-10T05:40:00Z",
            ],
        );
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2026-06-10T04:30:00Z")
            }
        );
        assert_eq!(e.last_event, Some(ms("2026-06-10T05:40:00Z")));
        // Before the window opens: late for yesterday, not met today.
        let e = eval(&s, "2026-06-10T05:50:00Z", &["2026-06-10T04:00:00Z"]);
        assert_eq!(e.next.status, DayStatus::Pending);
        assert_eq!(e.late_at, Some(ms("2026-06-10T04:00:00Z")));
        // At the deadline, the deadline is still next and an event at it counts.
        let e = eval(&s, "2026-06-10T06:00:00Z", &["2026-06-10T06:00:00Z"]);
        assert_eq!(e.next.deadline, ms("2026-06-10T06:00:00Z"));
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2026-06-10T06:00:00Z")
            }
        );
        let e = eval(&s, "2026-06-10T06:00:00Z", &[]);
        assert_eq!(e.next.status, DayStatus::Pending);
        // A millisecond later it is previous.
        let e = eval(&s, "2026-06-10T06:00:00.001Z", &["2026-06-10T06:00:00Z"]);
        assert_eq!(e.next.deadline, ms("2026-06-11T06:00:00Z"));
        let p = e.previous.unwrap();
        assert_eq!(p.deadline, ms("2026-06-10T06:00:00Z"));
        assert_eq!(
            p.status,
            DayStatus::Met {
                at: ms("2026-06-10T06:00:00Z")
            }
        );
        // After the deadline: missed, and the run a millisecond late is late.
        let e = eval(
            &s,
            "2026-06-10T09:00:00Z",
            &["2026-06-10T06:00:00.001Z", "2026-06-10T08:00:00Z"],
        );
        assert_eq!(e.previous.unwrap().status, DayStatus::Missed);
        assert_eq!(e.late_at, Some(ms("2026-06-10T06:00:00.001Z")));
        assert_eq!(e.next.status, DayStatus::Pending);
        // A late run that is in the next window counts for it, not as late.
        let e = eval(&s, "2026-06-11T09:00:00Z", &["2026-06-11T05:00:00Z"]);
        assert_eq!(
            e.previous.unwrap().status,
            DayStatus::Met {
                at: ms("2026-06-11T05:00:00Z")
            }
        );
        let e = eval(&s, "2026-06-11T05:30:00Z", &["2026-06-11T05:00:00Z"]);
        assert_eq!(e.previous.unwrap().status, DayStatus::Missed);
        assert_eq!(e.late_at, None);
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2026-06-11T05:00:00Z")
            }
        );
        // With the default 24 h daily window nothing is ever late: the next window is open.
        let daily = sched("06:00", "UTC", &["daily"], "24h");
        let e = evaluate(
            &daily,
            ms("2026-06-10T09:00:00Z"),
            &[ms("2026-06-10T07:00:00Z")],
        )
        .unwrap();
        assert_eq!(e.previous.unwrap().status, DayStatus::Missed);
        assert_eq!(e.late_at, None);
        assert_eq!(
            e.next.status,
            DayStatus::Met {
                at: ms("2026-06-10T07:00:00Z")
            }
        );
        // A late event is reported only when the previous deadline was missed.
        let e = eval(
            &s,
            "2026-06-10T09:00:00Z",
            &["2026-06-10T05:00:00Z", "2026-06-10T07:00:00Z"],
        );
        assert_eq!(e.late_at, None);
    }

    #[test]
    fn prefixes_expand_and_reject_bad_templates() {
        let d = date(2026, 3, 9);
        assert_eq!(
            expand_prefix("raw/{yyyy}/{mm}/{dd}/", d).unwrap(),
            "raw/2026/03/09/"
        );
        assert_eq!(
            expand_prefix("x/dt={date}/y{yy}", d).unwrap(),
            "x/dt=2026-03-09/y26"
        );
        assert_eq!(expand_prefix("", d).unwrap(), "");
        assert_eq!(expand_prefix("plain/prefix", d).unwrap(), "plain/prefix");
        assert_eq!(expand_prefix("{yyyy}", date(987, 1, 2)).unwrap(), "0987");
        assert_eq!(expand_prefix("{yy}", date(2005, 1, 2)).unwrap(), "05");
        assert_names(
            expand_prefix("raw/{hh}/", d),
            r#"unknown placeholder "{hh}""#,
        );
        assert_names(expand_prefix("raw/{YYYY}/", d), r#""{YYYY}""#);
        assert_names(expand_prefix("raw/{}/", d), r#""{}""#);
        assert_names(
            expand_prefix("raw/{yyyy/", d),
            r#""{" not closed in "{yyyy/""#,
        );
        assert_names(
            expand_prefix("raw/{yy{mm}/", d),
            r#"not closed in "{yy{mm}/""#,
        );
        assert_names(
            expand_prefix("raw/yyyy}/", d),
            r#""}" without "{" after "raw/yyyy""#,
        );
        assert_names(expand_prefix("{yyyy}}", d), r#"after "{yyyy}""#);
        assert_names(expand_prefix("{yyyy}", date(-5, 1, 1)), "year -5");
        assert!(validate_prefix_template("a/{date}/{yy}{mm}{dd}").is_ok());
    }

    #[test]
    fn s3_urls_split_into_checked_bucket_and_template() {
        assert_eq!(
            parse_s3_url("s3://my-bucket.data/prefix/{yyyy}/").unwrap(),
            ("my-bucket.data".to_string(), "prefix/{yyyy}/".to_string())
        );
        assert_eq!(
            parse_s3_url("s3://abc").unwrap(),
            ("abc".to_string(), String::new())
        );
        assert_eq!(
            parse_s3_url("s3://abc/").unwrap(),
            ("abc".to_string(), String::new())
        );
        assert_names(parse_s3_url("https://abc/x"), r#""https://abc/x""#);
        assert_names(parse_s3_url("s3:///x"), "no bucket name");
        assert_names(parse_s3_url("s3://ab/x"), r#""ab": 2 characters"#);
        assert_names(
            parse_s3_url(&format!("s3://{}/", "a".repeat(64))),
            "64 characters",
        );
        assert!(parse_s3_url(&format!("s3://{}/", "a".repeat(63))).is_ok());
        assert_names(parse_s3_url("s3://My-Bucket/x"), "'M'");
        assert_names(parse_s3_url("s3://my_bucket/x"), "'_'");
        assert_names(parse_s3_url("s3://-bucket/x"), "start and end");
        assert_names(parse_s3_url("s3://bucket./x"), "start and end");
        assert_names(parse_s3_url("s3://my..bucket/x"), r#""..""#);
        assert_names(parse_s3_url("s3://192.168.5.4/x"), "IP address");
        assert_names(parse_s3_url("s3://bucket/x/{hh}/"), r#""{hh}""#);
    }

    // Property tests.

    const ZONES: [&str; 8] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America/Sao_Paulo",   // DST changes at midnight (until 2019)
        "Australia/Lord_Howe", // 30-minute DST
        "Asia/Kolkata",
        "Pacific/Chatham", // +12:45/+13:45
        "Pacific/Apia",    // skipped 2011-12-30 entirely
    ];
    const FROM: i64 = 1_262_304_000_000; // 2010-01-01
    const TO: i64 = 1_924_992_000_000; // 2031-01-01

    fn arb_schedule() -> impl Strategy<Value = Schedule> {
        (
            0..ZONES.len(),
            0i8..24,
            prop_oneof![Just(0i8), Just(30), 0i8..60],
            prop_oneof![Just(0x7fu8), Just(0x1f), 1u8..0x80],
            prop_oneof![
                Just(DAY_MS),
                Just(7 * DAY_MS),
                1i64..=7 * DAY_MS,
                1i64..=6 * HOUR_MS
            ],
        )
            .prop_map(|(z, h, m, days, w)| {
                Schedule::new(
                    Time::new(h, m, 0, 0).unwrap(),
                    parse_time_zone(ZONES[z]).unwrap(),
                    Days(days),
                    Window::from_millis(w).unwrap(),
                )
            })
    }

    /// `now`: anywhere in 2010–2030, or within 3 days of one of the zone's transitions (DST
    /// changes), where mistakes hide.
    fn now_for(s: &Schedule, near_transition: bool, base: i64, delta: i64) -> Millis {
        if near_transition {
            let t = Timestamp::from_millisecond(base).unwrap();
            if let Some(tr) = s.zone().following(t).next() {
                let at = tr.timestamp().as_millisecond();
                if at < TO + 365 * DAY_MS {
                    return Millis(at + delta);
                }
            }
        }
        Millis(base + delta)
    }

    /// Events: some anywhere in the 10 days around `now`, some within a few ms of a deadline's
    /// or window's edge (the k-th scheduled deadline from `now`'s date − 8 days).
    fn events_for(s: &Schedule, now: Millis, raw: &[(bool, u8, i64)]) -> Vec<Millis> {
        let start = s
            .local_date(now)
            .unwrap()
            .checked_sub(jiff::Span::new().days(8))
            .unwrap();
        let deadlines: Vec<Millis> = s.deadlines_from(start, 12).map(|(_, d)| d).collect();
        raw.iter()
            .map(|&(edge, k, r)| {
                if edge && !deadlines.is_empty() {
                    let d = deadlines[k as usize % deadlines.len()].0;
                    let base = if k % 2 == 0 {
                        d
                    } else {
                        d - s.window().as_millis()
                    };
                    Millis(base + r % 3)
                } else {
                    Millis(now.0 - 9 * DAY_MS + r.rem_euclid(11 * DAY_MS))
                }
            })
            .collect()
    }

    fn arb_case() -> impl Strategy<Value = (Schedule, Millis, Vec<Millis>, Vec<Millis>)> {
        (
            arb_schedule(),
            any::<bool>(),
            FROM..TO,
            -3 * DAY_MS..3 * DAY_MS,
            prop::collection::vec((any::<bool>(), any::<u8>(), any::<i64>()), 0..12),
            prop::collection::vec((any::<bool>(), any::<u8>(), any::<i64>()), 0..4),
        )
            .prop_map(|(s, near, base, delta, raw, extra)| {
                let now = now_for(&s, near, base, delta);
                let events = events_for(&s, now, &raw);
                let extra = events_for(&s, now, &extra);
                (s, now, events, extra)
            })
    }

    /// Every scheduled deadline on the local dates within 12 days of `now`, by brute force.
    fn all_deadlines(s: &Schedule, now: Millis) -> Vec<(Date, Millis)> {
        let today = s.local_date(now).unwrap();
        (-12i64..=12)
            .filter_map(|i| today.checked_add(jiff::Span::new().days(i)).ok())
            .filter(|d| s.is_scheduled(*d))
            .filter_map(|d| Some((d, s.deadline_on(d)?)))
            .collect()
    }

    fn first_in_window(s: &Schedule, deadline: Millis, events: &[Millis]) -> Option<Millis> {
        let w = s.window().as_millis();
        events
            .iter()
            .copied()
            .filter(|e| deadline.0 - w < e.0 && e.0 <= deadline.0)
            .min()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

        /// (a) the next deadline is after `now`, on a scheduled day, and is that day's deadline;
        /// (b) the previous is before, and no scheduled deadline lies strictly between them;
        /// deadlines strictly increase with their dates.
        #[test]
        fn deadlines_bracket_now((s, now, _events, _extra) in arb_case()) {
            let all = all_deadlines(&s, now);
            for pair in all.windows(2) {
                prop_assert!(pair[0].1 < pair[1].1, "not increasing: {pair:?} for {s}");
            }
            let (nd, next) = s.next_deadline_after(now).unwrap();
            let (pd, prev) = s.latest_deadline_at_or_before(now).unwrap();
            prop_assert!(prev <= now && now < next, "{prev:?} {now:?} {next:?} for {s}");
            for (d, at) in [(nd, next), (pd, prev)] {
                prop_assert!(s.is_scheduled(d));
                prop_assert_eq!(s.deadline_on(d), Some(at));
            }
            prop_assert!(all.contains(&(pd, prev)) && all.contains(&(nd, next)));
            prop_assert!(
                !all.iter().any(|&(_, at)| prev < at && at < next),
                "a deadline between {prev:?} and {next:?} for {s}"
            );
            // The deadline is `by` on its date, or later when `by` falls in a gap.
            let local = s.zone().to_datetime(Timestamp::from_millisecond(next.0).unwrap());
            prop_assert!(local >= DateTime::from_parts(nd, s.by()), "{local} before {nd} {}", s.by());

            let e = evaluate(&s, now, &[]).unwrap();
            let p = e.previous.unwrap();
            prop_assert!(p.deadline < now && now <= e.next.deadline);
            prop_assert!(s.is_scheduled(e.next.date) && s.is_scheduled(p.date));
            prop_assert!(!all.iter().any(|&(_, at)| p.deadline < at && at < e.next.deadline));
        }

        /// (c) Met (at the first such event) iff an event lies in (deadline − window, deadline];
        /// next is never Missed, previous never Pending; late_at is the first event in
        /// (previous, next − window] of a missed previous; (d) more events never undo a Met.
        #[test]
        fn evaluation_follows_the_windows((s, now, events, extra) in arb_case()) {
            let e = evaluate(&s, now, &events).unwrap();
            let p = e.previous.unwrap();
            let w = s.window().as_millis();
            prop_assert_eq!(
                e.next.status,
                match first_in_window(&s, e.next.deadline, &events) {
                    Some(at) => DayStatus::Met { at },
                    None => DayStatus::Pending,
                }
            );
            prop_assert_eq!(
                p.status,
                match first_in_window(&s, p.deadline, &events) {
                    Some(at) => DayStatus::Met { at },
                    None => DayStatus::Missed,
                }
            );
            prop_assert_eq!(e.next_window_opens, Millis(e.next.deadline.0 - w));
            let late = events
                .iter()
                .copied()
                .filter(|x| p.deadline < *x && x.0 <= e.next.deadline.0 - w)
                .min();
            prop_assert_eq!(e.late_at, if p.status == DayStatus::Missed { late } else { None });
            prop_assert_eq!(e.last_event, events.iter().copied().max());

            let mut more = events.clone();
            more.extend(&extra);
            let m = evaluate(&s, now, &more).unwrap();
            prop_assert_eq!(m.next.deadline, e.next.deadline);
            prop_assert_eq!(m.previous.map(|p| p.deadline), Some(p.deadline));
            for (before, after) in [(e.next.status, m.next.status), (p.status, m.previous.unwrap().status)] {
                if let DayStatus::Met { at } = before {
                    match after {
                        DayStatus::Met { at: a } => prop_assert!(a <= at),
                        other => prop_assert!(false, "Met turned {other:?}"),
                    }
                }
            }
        }

        /// Prefix templates without braces are kept as they are; `{date}` is `{yyyy}-{mm}-{dd}`.
        #[test]
        fn prefix_expansion(text in "[a-z0-9/=._-]{0,20}", y in 0i16..=9999, m in 1i8..=12, d in 1i8..=28) {
            let day = Date::new(y, m, d).unwrap();
            prop_assert_eq!(expand_prefix(&text, day).unwrap(), text.clone());
            prop_assert_eq!(
                expand_prefix(&format!("{text}{{date}}"), day).unwrap(),
                expand_prefix(&format!("{text}{{yyyy}}-{{mm}}-{{dd}}"), day).unwrap()
            );
        }
    }
}
