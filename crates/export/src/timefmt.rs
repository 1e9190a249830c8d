//! Timestamps as the formats write them.

/// Seconds → whole milliseconds; negative, NaN and infinite times become 0 so a bad number can
/// never produce an unparsable cue.
pub fn to_ms(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as u64
    } else {
        0
    }
}

/// `HH:MM:SS` + `sep` + `mmm` (SRT uses ',', WebVTT '.'); hours grow past two digits if needed.
pub fn cue_time(ms: u64, sep: char) -> String {
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{frac:03}")
}

/// `HH:MM:SS`, truncated to the second, for txt and md.
pub fn clock(seconds: f64) -> String {
    let s = to_ms(seconds) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A cue's `(start, end)` in ms with `end > start` strictly (subtitle players drop empty cues).
pub fn cue_span(start: f64, end: f64) -> (u64, u64) {
    let s = to_ms(start);
    let e = to_ms(end).max(s + 1);
    (s, e)
}

/// Whitespace (newlines included) collapsed to single spaces: one segment, one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(cue_time(0, ','), "00:00:00,000");
        assert_eq!(cue_time(3_723_004, '.'), "01:02:03.004");
        assert_eq!(cue_time(360_000_000, ','), "100:00:00,000");
        assert_eq!(clock(62.9), "00:01:02");
        assert_eq!(clock(-3.0), "00:00:00");
        assert_eq!(to_ms(f64::NAN), 0);
        assert_eq!(to_ms(1.0006), 1001);
        assert_eq!(cue_span(2.0, 2.0), (2000, 2001));
        assert_eq!(cue_span(2.0, 1.0), (2000, 2001));
        assert_eq!(one_line(" a\n\n b\tc "), "a b c");
    }
}
