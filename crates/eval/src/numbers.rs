//! Numbers to English words, the way the corpus references write them (British "and":
//! "one hundred and twenty"; years in pairs: "twenty twenty five").
//!
//! Only scoring uses this: the product never spells out what the model wrote (DESIGN §4).

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];

const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

const SCALES: [(u64, &str); 4] = [
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];

/// Largest value spelled as a cardinal; longer digit strings (ids, phone numbers) are read
/// digit by digit, which is also how people say them.
pub const MAX_CARDINAL: u64 = 999_999_999_999_999;

/// `n` as cardinal words: 0 → "zero", 120 → "one hundred and twenty",
/// 1005 → "one thousand and five".
pub fn cardinal(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    if n == 0 {
        out.push(ONES[0].to_string());
        return out;
    }
    let mut rest = n;
    for (scale, name) in SCALES {
        if rest >= scale {
            below_thousand(rest / scale, false, &mut out);
            out.push(name.to_string());
            rest %= scale;
        }
    }
    // British usage puts "and" before a final part below one hundred when something precedes it.
    below_thousand(rest, !out.is_empty(), &mut out);
    out
}

fn below_thousand(n: u64, after_higher: bool, out: &mut Vec<String>) {
    debug_assert!(n < 1000);
    if n == 0 {
        return;
    }
    let hundreds = n / 100;
    let rest = n % 100;
    if hundreds > 0 {
        out.push(ONES[hundreds as usize].to_string());
        out.push("hundred".to_string());
    }
    if rest > 0 {
        if hundreds > 0 || after_higher {
            out.push("and".to_string());
        }
        below_hundred(rest, out);
    }
}

fn below_hundred(n: u64, out: &mut Vec<String>) {
    if n < 20 {
        out.push(ONES[n as usize].to_string());
    } else {
        out.push(TENS[(n / 10) as usize].to_string());
        if !n.is_multiple_of(10) {
            out.push(ONES[(n % 10) as usize].to_string());
        }
    }
}

/// `n` as ordinal words: 1 → "first", 22 → "twenty second", 100 → "one hundredth".
pub fn ordinal(n: u64) -> Vec<String> {
    let mut words = cardinal(n);
    if let Some(last) = words.last_mut() {
        *last = ordinal_word(last);
    }
    words
}

fn ordinal_word(word: &str) -> String {
    match word {
        "one" => "first".into(),
        "two" => "second".into(),
        "three" => "third".into(),
        "five" => "fifth".into(),
        "eight" => "eighth".into(),
        "nine" => "ninth".into(),
        "twelve" => "twelfth".into(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    }
}

/// Whether a bare four-digit number is read as a year ("in 2025"). 2000–2009 are read as
/// cardinals ("two thousand and five"), as people say them.
pub fn is_year_like(n: u64) -> bool {
    (1100..=1999).contains(&n) || (2010..=2099).contains(&n)
}

/// A year read in pairs: 1961 → "nineteen sixty one", 1900 → "nineteen hundred",
/// 1905 → "nineteen oh five", 2025 → "twenty twenty five".
pub fn year(n: u64) -> Vec<String> {
    if !is_year_like(n) {
        return cardinal(n);
    }
    let (hi, lo) = (n / 100, n % 100);
    let mut out = Vec::new();
    below_hundred(hi, &mut out);
    match lo {
        0 => out.push("hundred".into()),
        1..=9 => {
            out.push("oh".into());
            below_hundred(lo, &mut out);
        }
        _ => below_hundred(lo, &mut out),
    }
    out
}

/// Plural of a number word, for "1990s" → "nineteen nineties" and "20s" → "twenties".
pub fn pluralize(word: &str) -> String {
    if let Some(stem) = word.strip_suffix('y') {
        format!("{stem}ies")
    } else if word.ends_with('x') {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// Each digit as a word: "007" → "zero zero seven".
pub fn digits(s: &str) -> Vec<String> {
    s.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| ONES[d as usize].to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(words: Vec<String>) -> String {
        words.join(" ")
    }

    #[test]
    fn cardinals() {
        let cases = [
            (0, "zero"),
            (7, "seven"),
            (13, "thirteen"),
            (20, "twenty"),
            (42, "forty two"),
            (100, "one hundred"),
            (120, "one hundred and twenty"),
            (1000, "one thousand"),
            (1005, "one thousand and five"),
            (1500, "one thousand five hundred"),
            (2_000_000, "two million"),
            (
                1_234_567,
                "one million two hundred and thirty four thousand five hundred and sixty seven",
            ),
        ];
        for (n, want) in cases {
            assert_eq!(j(cardinal(n)), want, "{n}");
        }
    }

    #[test]
    fn ordinals() {
        let cases = [
            (1, "first"),
            (2, "second"),
            (3, "third"),
            (4, "fourth"),
            (11, "eleventh"),
            (12, "twelfth"),
            (20, "twentieth"),
            (22, "twenty second"),
            (30, "thirtieth"),
            (101, "one hundred and first"),
        ];
        for (n, want) in cases {
            assert_eq!(j(ordinal(n)), want, "{n}");
        }
    }

    #[test]
    fn years() {
        let cases = [
            (1961, "nineteen sixty one"),
            (1900, "nineteen hundred"),
            (1905, "nineteen oh five"),
            (2025, "twenty twenty five"),
            (2010, "twenty ten"),
            (2005, "two thousand and five"),
            (2000, "two thousand"),
        ];
        for (n, want) in cases {
            assert_eq!(j(year(n)), want, "{n}");
        }
    }

    #[test]
    fn plurals_and_digits() {
        assert_eq!(pluralize("ninety"), "nineties");
        assert_eq!(pluralize("twenty"), "twenties");
        assert_eq!(pluralize("six"), "sixes");
        assert_eq!(j(digits("007")), "zero zero seven");
    }
}
