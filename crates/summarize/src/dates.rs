//! Dates as people say them in meetings, resolved to ISO dates.
//!
//! "by Friday", "Wednesday, April ninth", "the 18th", "April 18", "tomorrow", "next Monday",
//! "end of the week" — resolved against the meeting's date. The meeting's date comes from the
//! user (`add --date`), the recording's metadata, or what was said ("Today is Thursday, April
//! third."): a spoken month and day take their year from the metadata when there is one, else
//! from the weekday said with them (the year, near the recording's, whose calendar matches).
//!
//! Pure: civil-date arithmetic (days from 1970-01-01, H. Hinnant's algorithms), no clock.

use std::fmt;

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let d = Date { year, month, day };
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(d)
    }

    /// `YYYY-MM-DD`.
    pub fn parse_iso(s: &str) -> Option<Date> {
        let s = s.trim();
        let (y, rest) = s.split_once('-')?;
        let (m, d) = rest.split_once('-')?;
        let d = d.get(..2).unwrap_or(d);
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    pub fn plus_days(self, n: i64) -> Date {
        Date::from_days(self.days() + n)
    }

    /// 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (self.days() + 3).rem_euclid(7) as u32
    }

    /// "Monday" … "Sunday".
    pub fn weekday_name(self) -> &'static str {
        const NAMES: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        NAMES[self.weekday() as usize]
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
/// A month or weekday name, or "today"/"tomorrow" (any case): capitalised, but not a name.
pub(crate) fn is_calendar_word(word: &str) -> bool {
    let w = word.to_lowercase();
    MONTHS.contains(&w.as_str())
        || WEEKDAYS.contains(&w.as_str())
        || w == "today"
        || w == "tomorrow"
}

const ORDINALS: [&str; 31] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty-first",
    "twenty-second",
    "twenty-third",
    "twenty-fourth",
    "twenty-fifth",
    "twenty-sixth",
    "twenty-seventh",
    "twenty-eighth",
    "twenty-ninth",
    "thirtieth",
    "thirty-first",
];

/// What a phrase says about a date, before resolving it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spoken {
    pub month: Option<u32>,
    pub day: Option<u32>,
    pub weekday: Option<u32>,
    pub year: Option<i32>,
    /// Days from the meeting ("today" 0, "tomorrow" 1).
    pub offset_days: Option<i64>,
    /// "next Monday", "next week": the following week.
    pub next: bool,
    /// "end of the week", "this week".
    pub end_of_week: bool,
}

impl Spoken {
    fn is_empty(&self) -> bool {
        *self == Spoken::default()
    }
}

/// Lower-case words of a phrase, with "twenty first" joined as "twenty-first" and ordinal
/// suffixes kept on digits ("9th").
fn words(text: &str) -> Vec<String> {
    let raw: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for w in raw {
        if let Some(prev) = out.last()
            && (prev == "twenty" || prev == "thirty")
            && ORDINALS.contains(&format!("{prev}-{w}").as_str())
        {
            let joined = format!("{prev}-{w}");
            out.pop();
            out.push(joined);
            continue;
        }
        out.push(w);
    }
    out
}

fn day_number(w: &str) -> Option<u32> {
    if let Some(i) = ORDINALS.iter().position(|o| *o == w) {
        return Some(i as u32 + 1);
    }
    let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
    let rest = &w[digits.len()..];
    if digits.is_empty() || !matches!(rest, "" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

/// Read what a phrase says about a date ("Wednesday, April ninth", "by Friday the 10th",
/// "tomorrow"). Empty when it names no date.
pub fn read_spoken(text: &str) -> Spoken {
    let w = words(text);
    let mut s = Spoken::default();
    for (i, word) in w.iter().enumerate() {
        let word = word.as_str();
        if let Some(m) = MONTHS.iter().position(|m| *m == word) {
            // "April 9", "April ninth", "April the ninth"
            let next = w.get(i + 1).map(String::as_str);
            let after = w.get(i + 2).map(String::as_str);
            let day = match next {
                Some("the") => after.and_then(day_number),
                Some(n) => day_number(n),
                None => None,
            };
            // "may" is a month only next to a day ("May 5", "the fifth of May").
            let before = i.checked_sub(1).and_then(|j| w.get(j)).map(String::as_str);
            if word == "may" && day.is_none() && before != Some("of") {
                continue;
            }
            s.month = Some(m as u32 + 1);
            if day.is_some() {
                s.day = day;
            }
        } else if let Some(d) = WEEKDAYS.iter().position(|d| *d == word) {
            s.weekday = Some(d as u32);
        } else if let Ok(y) = word.parse::<i32>()
            && (1990..=2200).contains(&y)
        {
            s.year = Some(y);
        } else if s.day.is_none()
            && let Some(d) = day_number(word)
            && word.chars().any(|c| c.is_alphabetic())
        {
            // "the 18th", "the ninth" (a bare number is too often something else)
            s.day = Some(d);
        }
        match word {
            "today" | "tonight" => s.offset_days = Some(0),
            "tomorrow" => s.offset_days = Some(1),
            "next" => s.next = true,
            "week" if w.get(i.wrapping_sub(1)).map(String::as_str) == Some("next") => {
                s.offset_days = Some(7);
            }
            "week" => s.end_of_week = true,
            _ => {}
        }
    }
    s
}

/// The date a phrase names, as of `meeting` (deadlines are on or after the meeting).
pub fn resolve(spoken_text: &str, meeting: Date) -> Option<Date> {
    let s = read_spoken(spoken_text);
    if s.is_empty() {
        return None;
    }
    if let (Some(m), Some(d)) = (s.month, s.day) {
        let year = s.year.unwrap_or(meeting.year);
        let date = Date::new(year, m, d)?;
        // "January 5" said in December is next year's.
        if s.year.is_none() && date.days() < meeting.days() - 31 {
            return Date::new(year + 1, m, d);
        }
        return Some(date);
    }
    if let Some(d) = s.day
        && s.weekday.is_none()
    {
        // "the 18th": this month's, or next month's when it has passed.
        let this = Date::new(meeting.year, meeting.month, d);
        return match this {
            Some(t) if t >= meeting => Some(t),
            _ => {
                let (y, m) = if meeting.month == 12 {
                    (meeting.year + 1, 1)
                } else {
                    (meeting.year, meeting.month + 1)
                };
                Date::new(y, m, d)
            }
        };
    }
    if let Some(wd) = s.weekday {
        // The next such weekday after the meeting ("Friday" said on a Friday is a week on);
        // "next Friday" the one in the following week. A day number said with it must agree.
        let ahead = (i64::from(wd) - i64::from(meeting.weekday())).rem_euclid(7);
        let mut date = meeting.plus_days(if ahead == 0 { 7 } else { ahead });
        if s.next && ahead != 0 && date.days() - meeting.days() < 7 {
            let week_of = |x: Date| (x.days() - i64::from(x.weekday())) / 7;
            if week_of(date) == week_of(meeting) {
                date = date.plus_days(7);
            }
        }
        if let Some(d) = s.day
            && date.day != d
        {
            // "Friday the 10th": trust the day number within the coming weeks.
            return (0..6)
                .map(|k| meeting.plus_days(k * 7 + if ahead == 0 { 7 } else { ahead }))
                .find(|x| x.day == d);
        }
        return Some(date);
    }
    if let Some(n) = s.offset_days {
        return Some(meeting.plus_days(n));
    }
    if s.end_of_week {
        // Friday of the meeting's week (or the meeting day itself after Friday).
        let to_friday = (4 - i64::from(meeting.weekday())).max(0);
        return Some(meeting.plus_days(to_friday));
    }
    None
}

/// The meeting date said in the meeting ("Today is Thursday, April third."): the first
/// sentence that says "today" with a month and day. `year_hint` (from the recording's
/// metadata) wins; otherwise the year, within three of `near_year`, whose calendar puts that
/// day on the weekday said (the nearest such year), else `near_year`.
pub fn spoken_meeting_date(
    transcript: &str,
    near_year: i32,
    year_hint: Option<i32>,
) -> Option<Date> {
    for sentence in transcript.split(['.', '!', '?', '\n']) {
        let lower = sentence.to_lowercase();
        let s = read_spoken(sentence);
        let (Some(m), Some(d)) = (s.month, s.day) else {
            continue;
        };
        // "Today is …", "This is the sync for Monday, March tenth", "It is Tuesday, July
        // first": a sentence that says what today is, or a full weekday-and-date.
        let says_today = ["today", "this is", "it is", "it's", "date"]
            .iter()
            .any(|w| lower.contains(w));
        if !says_today && s.weekday.is_none() {
            continue;
        }
        if let Some(y) = s.year.or(year_hint) {
            return Date::new(y, m, d);
        }
        let candidates = [0, -1, 1, -2, 2, -3, 3].map(|k| near_year + k);
        let matching = candidates.iter().find_map(|&y| {
            let date = Date::new(y, m, d)?;
            (Some(date.weekday()) == s.weekday).then_some(date)
        });
        return matching.or_else(|| Date::new(near_year, m, d));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    #[test]
    fn civil_dates_round_trip_and_know_their_weekday() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2025-04-03",
            "2026-12-31",
            "2100-03-01",
        ] {
            assert_eq!(Date::from_days(d(s).days()), d(s));
        }
        assert_eq!(d("2025-04-03").weekday(), 3, "a Thursday");
        assert_eq!(d("2026-12-02").weekday(), 2, "a Wednesday");
        assert_eq!(Date::new(2025, 2, 29), None);
    }

    #[test]
    fn deadlines_as_said_resolve_against_the_meeting_date() {
        let thursday = d("2025-04-03");
        let cases = [
            ("by Wednesday, April ninth", "2025-04-09"),
            ("Friday, April eighteenth", "2025-04-18"),
            ("by Monday, April seventh", "2025-04-07"),
            ("Wednesday the sixteenth", "2025-04-16"),
            ("April 16", "2025-04-16"),
            ("the 18th", "2025-04-18"),
            ("by Friday", "2025-04-04"),
            ("next Friday", "2025-04-11"),
            ("Thursday", "2025-04-10"),
            ("tomorrow", "2025-04-04"),
            ("end of the week", "2025-04-04"),
            ("next week", "2025-04-10"),
            ("January twenty-first", "2026-01-21"),
            ("the twenty first of May", "2025-05-21"),
            ("we may ship it by Friday", "2025-04-04"),
        ];
        for (said, want) in cases {
            assert_eq!(
                resolve(said, thursday).map(|x| x.to_string()),
                Some(want.to_string()),
                "{said}"
            );
        }
        assert_eq!(resolve("as soon as possible", thursday), None);
        assert_eq!(resolve("", thursday), None);
    }

    #[test]
    fn the_spoken_meeting_date_finds_its_year_from_the_weekday() {
        let t =
            "Welcome to the design review. Today is Thursday, April third. We need to settle it.";
        assert_eq!(spoken_meeting_date(t, 2026, None), Some(d("2025-04-03")));
        assert_eq!(
            spoken_meeting_date(t, 2026, Some(2024)),
            Some(d("2024-04-03"))
        );
        assert_eq!(
            spoken_meeting_date("Nothing about dates.", 2026, None),
            None
        );
    }
}
