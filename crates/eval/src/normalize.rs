//! Text normalisation for WER (DESIGN §4, corpus README): lower-case, hyphens to spaces,
//! numbers spelled out, punctuation removed (apostrophes inside words kept).
//!
//! Both sides of a comparison go through the same function: the references spell numbers
//! out ("March twenty second, twenty twenty five") while whisper writes digits
//! ("March 22nd, 2025"), so digits are turned into the words people say for them.

use crate::numbers;

/// Normalise `text` into the words WER is computed over.
pub fn normalize(text: &str) -> Vec<String> {
    let spelled = spell_numbers(text);
    strip_punctuation(&spelled.to_lowercase())
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}')
}

/// Keep letters, digits and in-word apostrophes; everything else separates words. A dot between
/// two letters is dropped instead ("a.m." → "am", "e.g." → "eg"), as abbreviations are one word.
fn strip_punctuation(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        if c.is_alphanumeric() {
            out.push(c);
        } else if is_apostrophe(c) {
            let inside =
                prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric);
            out.push(if inside { '\'' } else { ' ' });
        } else if c == '.'
            && prev.is_some_and(char::is_alphabetic)
            && next.is_some_and(char::is_alphabetic)
        {
            // abbreviation: drop the dot, keep the letters together
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().map(str::to_string).collect()
}

/// Replace every number in `text` by its words, leaving everything else as it is.
fn spell_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let currency = currency_unit(c);
        if currency.is_some() && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            i = spell_number_at(&chars, i + 1, currency, &mut out);
        } else if c.is_ascii_digit() {
            i = spell_number_at(&chars, i, None, &mut out);
        } else {
            if c == '&' {
                out.push_str(" and ");
            } else {
                out.push(c);
            }
            i += 1;
        }
    }
    out
}

/// (singular, plural, hundredth) names of a currency symbol.
type Currency = (&'static str, &'static str, &'static str);

fn currency_unit(c: char) -> Option<Currency> {
    match c {
        '$' => Some(("dollar", "dollars", "cents")),
        '€' => Some(("euro", "euros", "cents")),
        '£' => Some(("pound", "pounds", "pence")),
        _ => None,
    }
}

/// A number as written, before it is spelled.
#[derive(Debug, Default)]
struct NumberToken {
    int: String,
    /// Thousands separators were present ("1,500"): never a year.
    grouped: bool,
    minutes: Option<u64>,
    frac: Option<String>,
    ordinal: bool,
    plural: bool,
    percent: bool,
}

fn take_digits(chars: &[char], mut i: usize, into: &mut String) -> usize {
    while let Some(c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
        into.push(*c);
        i += 1;
    }
    i
}

fn digits_at(chars: &[char], i: usize, n: usize) -> bool {
    (i..i + n).all(|k| chars.get(k).is_some_and(char::is_ascii_digit))
        && !chars.get(i + n).is_some_and(char::is_ascii_digit)
}

fn letter_at(chars: &[char], i: usize) -> bool {
    chars.get(i).is_some_and(|c| c.is_alphabetic())
}

/// Parse the number starting at `i` (a digit), write its words, return the index after it.
fn spell_number_at(
    chars: &[char],
    start: usize,
    currency: Option<Currency>,
    out: &mut String,
) -> usize {
    let mut tok = NumberToken::default();
    let mut i = take_digits(chars, start, &mut tok.int);
    while chars.get(i) == Some(&',') && digits_at(chars, i + 1, 3) {
        i = take_digits(chars, i + 1, &mut tok.int);
        tok.grouped = true;
    }
    if !tok.grouped
        && tok.int.len() <= 2
        && chars.get(i) == Some(&':')
        && digits_at(chars, i + 1, 2)
    {
        let mut m = String::new();
        i = take_digits(chars, i + 1, &mut m);
        tok.minutes = m.parse().ok().filter(|m| *m < 60);
        if tok.minutes.is_none() {
            // not a clock time ("3:75"): the colon just separates two numbers
            tok.int.push(' ');
            tok.int.push_str(&m);
        }
    } else if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        let mut f = String::new();
        i = take_digits(chars, i + 1, &mut f);
        tok.frac = Some(f);
    }
    i = take_suffix(chars, i, &mut tok);

    let mut words = number_words(&tok, currency.is_some());
    if let Some(cur) = currency {
        i = add_currency(chars, i, &tok, cur, &mut words);
    }
    out.push(' ');
    out.push_str(&words.join(" "));
    out.push(' ');
    i
}

/// "%", ordinal endings ("22nd"), plurals ("1990s", "90's").
fn take_suffix(chars: &[char], i: usize, tok: &mut NumberToken) -> usize {
    if chars.get(i) == Some(&'%') {
        tok.percent = true;
        return i + 1;
    }
    let mut end = i;
    while letter_at(chars, end) {
        end += 1;
    }
    let suffix: String = chars[i..end].iter().collect::<String>().to_lowercase();
    let plain = tok.frac.is_none() && tok.minutes.is_none();
    match suffix.as_str() {
        "st" | "nd" | "rd" | "th" if plain => {
            tok.ordinal = true;
            end
        }
        "s" if plain => {
            tok.plural = true;
            end
        }
        "" if plain
            && chars.get(i).copied().is_some_and(is_apostrophe)
            && chars.get(i + 1).is_some_and(|c| *c == 's' || *c == 'S')
            && !letter_at(chars, i + 2) =>
        {
            tok.plural = true;
            i + 2
        }
        // Anything else ("4x", "mp3"'s neighbours) stays in the text as its own word.
        _ => i,
    }
}

fn integer_words(int: &str) -> Vec<String> {
    match int.parse::<u64>() {
        Ok(n) if !(int.len() > 1 && int.starts_with('0')) && n <= numbers::MAX_CARDINAL => {
            numbers::cardinal(n)
        }
        // "007", phone numbers, the "3 75" of a non-time: read the digits
        _ => int
            .split(' ')
            .flat_map(|part| match part.parse::<u64>() {
                Ok(n) if n <= numbers::MAX_CARDINAL && !part.starts_with('0') => {
                    numbers::cardinal(n)
                }
                _ => numbers::digits(part),
            })
            .collect(),
    }
}

fn number_words(tok: &NumberToken, money: bool) -> Vec<String> {
    let n = tok.int.parse::<u64>().ok();
    let mut words = if let Some(m) = tok.minutes {
        // clock time: "3:30" → "three thirty", "3:05" → "three oh five", "3:00" → "three"
        let mut w = integer_words(&tok.int);
        match m {
            0 => {}
            1..=9 => {
                w.push("oh".into());
                w.extend(numbers::cardinal(m));
            }
            _ => w.extend(numbers::cardinal(m)),
        }
        w
    } else if tok.ordinal {
        match n {
            Some(n) => numbers::ordinal(n),
            None => integer_words(&tok.int),
        }
    } else if !tok.grouped
        && tok.int.len() == 4
        && tok.frac.is_none()
        && !money
        && !tok.percent
        && n.is_some_and(numbers::is_year_like)
    {
        numbers::year(n.unwrap_or_default())
    } else {
        integer_words(&tok.int)
    };
    if let Some(f) = &tok.frac
        && !(money && f.len() == 2)
    {
        words.push("point".into());
        words.extend(numbers::digits(f));
    }
    if tok.plural
        && let Some(last) = words.last_mut()
    {
        *last = numbers::pluralize(last);
    }
    if tok.percent {
        words.push("percent".into());
    }
    words
}

const SCALE_WORDS: [&str; 4] = ["thousand", "million", "billion", "trillion"];

/// "$5" → "five dollars", "$1" → "one dollar", "$5.50" → "five dollars and fifty cents",
/// "$2 million" → "two million dollars" (the scale word that follows is consumed).
fn add_currency(
    chars: &[char],
    mut i: usize,
    tok: &NumberToken,
    (one, many, hundredth): Currency,
    words: &mut Vec<String>,
) -> usize {
    let cents = tok.frac.as_deref().filter(|f| f.len() == 2);
    let mut j = i;
    while chars.get(j).is_some_and(|c| *c == ' ') {
        j += 1;
    }
    let mut k = j;
    while letter_at(chars, k) {
        k += 1;
    }
    let next: String = chars[j..k].iter().collect::<String>().to_lowercase();
    if cents.is_none() && j > i && SCALE_WORDS.contains(&next.as_str()) {
        words.push(next);
        i = k;
    }
    let singular = tok.int == "1" && tok.frac.is_none() && words.len() == 1;
    match cents {
        Some(c) => {
            let c: u64 = c.parse().unwrap_or(0);
            let whole = tok.int != "0";
            if whole {
                words.push(if tok.int == "1" { one } else { many }.into());
            } else {
                words.clear();
            }
            if c > 0 {
                if whole {
                    words.push("and".into());
                }
                words.extend(numbers::cardinal(c));
                words.push(hundredth.into());
            }
        }
        None => words.push(if singular { one } else { many }.into()),
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).join(" ")
    }

    #[test]
    fn plain_text() {
        let cases = [
            (
                "And so, my fellow Americans: ask not!",
                "and so my fellow americans ask not",
            ),
            (
                "This isn't part of it, is it?",
                "this isn't part of it is it",
            ),
            ("Mm-hmm. L_C_D_ display", "mm hmm l c d display"),
            (
                "'Cause it's the customers' view",
                "cause it's the customers view",
            ),
            ("It\u{2019}s fine \u{2014} really", "it's fine really"),
            ("Q&A at 10 a.m.", "q and a at ten am"),
            ("  spaced\tout\n", "spaced out"),
            ("Café ünïcode", "café ünïcode"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(n(input), want, "{input:?}");
        }
    }

    #[test]
    fn numbers_are_spelled_like_the_references() {
        let cases = [
            ("Saturday, March 22nd.", "saturday march twenty second"),
            ("on March 10th, 2025", "on march tenth twenty twenty five"),
            ("July 1st", "july first"),
            ("the 3rd item", "the third item"),
            ("70% of it", "seventy percent of it"),
            ("at 3:30", "at three thirty"),
            ("at 3:05 or 4:00", "at three oh five or four"),
            ("$5 each", "five dollars each"),
            ("$1", "one dollar"),
            ("$5.50", "five dollars and fifty cents"),
            ("$2 million", "two million dollars"),
            ("£3", "three pounds"),
            ("version 3.2", "version three point two"),
            ("about 120 people", "about one hundred and twenty people"),
            ("1,500 users", "one thousand five hundred users"),
            ("in 1961", "in nineteen sixty one"),
            ("the 1990s", "the nineteen nineties"),
            ("in your 20s", "in your twenties"),
            ("8 out of 10", "eight out of ten"),
            ("sprint 14", "sprint fourteen"),
            ("Q2", "q two"),
            ("agent 007", "agent zero zero seven"),
            ("2-3 weeks", "two three weeks"),
            ("in 2005", "in two thousand and five"),
            ("1,2,3", "one two three"),
        ];
        for (input, want) in cases {
            assert_eq!(n(input), want, "{input:?}");
        }
    }

    #[test]
    fn reference_and_digit_hypothesis_meet() {
        let reference = "Does everyone agree that we migrate production on Saturday, \
                         March twenty second? It is Tuesday, July first, twenty twenty five.";
        let hypothesis = "Does everyone agree that we migrate production on Saturday, \
                          March 22nd? It is Tuesday, July 1st, 2025.";
        assert_eq!(normalize(reference), normalize(hypothesis));
    }
}
