//! What the user typed, parsed into safe pieces: words (stemmed by FTS5's porter tokenizer),
//! `"quoted phrases"`, `prefix*` words and `-excluded` words. User text never reaches FTS5
//! MATCH as syntax: every piece is made of Unicode letters and digits only (split where FTS5's
//! unicode61 tokenizer splits) and written as a double-quoted FTS5 string, and the expression is
//! bound as a parameter, never spliced into SQL. `AND`, `OR`, `NOT`, `NEAR`, `:`, `^`, `(`, `)`
//! and `'` are therefore ordinary text.

/// At most this many pieces are used (a 10 KB paste searches its first words, not 2,000 ORs).
pub const MAX_PIECES: usize = 32;

/// Words a search for them alone would match nearly every passage with (English, lower case).
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "all", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
    "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had",
    "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in",
    "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of",
    "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "s", "same",
    "she", "should", "so", "some", "such", "t", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours", "um", "uh", "okay", "ok", "yeah", "so",
    "like",
];

pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Content words (stop words dropped), lower case.
    pub words: Vec<String>,
    /// Quoted phrases, each a list of lower-case words.
    pub phrases: Vec<Vec<String>>,
    /// `word*` prefixes, lower case.
    pub prefixes: Vec<String>,
    /// `-word` exclusions, lower case.
    pub excluded: Vec<String>,
    /// The query as plain words (stop words kept, syntax dropped) for the sentence embedder;
    /// empty when nothing is searchable.
    pub plain: String,
}

impl Parsed {
    /// Whether anything positive is left to search for.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty() && self.prefixes.is_empty()
    }

    /// The FTS5 MATCH expression: the positive pieces OR-ed (BM25 ranks passages with more of
    /// them first), minus the excluded words; `None` when nothing positive is left.
    pub fn fts_expr(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut positive: Vec<String> = Vec::new();
        positive.extend(self.phrases.iter().map(|p| quoted(&p.join(" "))));
        positive.extend(self.words.iter().map(|w| quoted(w)));
        positive.extend(self.prefixes.iter().map(|w| format!("{} *", quoted(w))));
        let mut expr = format!("({})", positive.join(" OR "));
        if !self.excluded.is_empty() {
            let neg: Vec<String> = self.excluded.iter().map(|w| quoted(w)).collect();
            expr = format!("{expr} NOT ({})", neg.join(" OR "));
        }
        Some(expr)
    }

    /// An FTS5 expression matching any excluded word (`None` without exclusions).
    pub fn excluded_expr(&self) -> Option<String> {
        if self.excluded.is_empty() {
            return None;
        }
        let neg: Vec<String> = self.excluded.iter().map(|w| quoted(w)).collect();
        Some(neg.join(" OR "))
    }

    /// Every lower-case word the query looks for (for matching speaker names).
    pub fn all_words(&self) -> impl Iterator<Item = &str> {
        self.words
            .iter()
            .chain(self.phrases.iter().flatten())
            .map(String::as_str)
    }
}

/// An FTS5 string: double quotes, inner quotes doubled (our words hold none, but the rule is
/// kept so no input can end the string early).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Split like FTS5's unicode61 tokenizer: runs of letters and digits.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Parse a query. Never fails: what is not a word is ignored.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut plain: Vec<String> = Vec::new();
    let mut pieces = 0usize;
    let mut in_phrase = false;
    let mut phrase: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() && pieces < MAX_PIECES {
        let c = chars[i];
        if c == '"' {
            if in_phrase && !phrase.is_empty() {
                let p = std::mem::take(&mut phrase);
                if p.len() == 1 {
                    push_word(&mut out, &p[0]);
                } else {
                    out.phrases.push(p);
                }
                pieces += 1;
            }
            phrase.clear();
            in_phrase = !in_phrase;
            i += 1;
            continue;
        }
        if !is_word_char(c) {
            i += 1;
            continue;
        }
        let negated =
            !in_phrase && i > 0 && chars[i - 1] == '-' && (i < 2 || !is_word_char(chars[i - 2]));
        let start = i;
        while i < chars.len() && is_word_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
        let prefix = i < chars.len() && chars[i] == '*';
        plain.push(word.clone());
        if in_phrase {
            phrase.push(word);
            continue;
        }
        if negated {
            out.excluded.push(word);
        } else if prefix {
            out.prefixes.push(word);
        } else if !push_word(&mut out, &word) {
            continue;
        }
        pieces += 1;
    }
    // An unclosed quote: its words are a phrase all the same.
    if in_phrase && pieces < MAX_PIECES {
        match phrase.len() {
            0 => {}
            1 => {
                push_word(&mut out, &phrase[0]);
            }
            _ => out.phrases.push(phrase),
        }
    }
    dedup(&mut out.words);
    dedup(&mut out.prefixes);
    dedup(&mut out.excluded);
    if !out.is_empty() {
        out.plain = plain.join(" ");
    }
    out
}

/// Add a content word; false for a stop word.
fn push_word(out: &mut Parsed, word: &str) -> bool {
    if is_stop_word(word) {
        return false;
    }
    out.words.push(word.to_string());
    true
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|w| seen.insert(w.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        let p = parse(r#"When is the "production migration" migr* -billing?"#);
        assert_eq!(p.words, Vec::<String>::new());
        assert_eq!(p.phrases, vec![vec!["production", "migration"]]);
        assert_eq!(p.prefixes, vec!["migr"]);
        assert_eq!(p.excluded, vec!["billing"]);
        assert_eq!(
            p.fts_expr().unwrap(),
            r#"("production migration" OR "migr" *) NOT ("billing")"#
        );
        assert_eq!(p.plain, "when is the production migration migr billing");
        // A hyphen inside a word is not an exclusion.
        let p = parse("follow-up budget");
        assert_eq!(p.words, vec!["follow", "budget"]);
        assert!(p.excluded.is_empty());
    }

    #[test]
    fn fts_and_sql_syntax_is_plain_text() {
        let p =
            parse(r#"* ( ) : ^ NEAR OR AND - ' ; DROP TABLE jobs; -- text:foo^2 NEAR(a b) "x""#);
        let expr = p.fts_expr().unwrap();
        // Only quoted words and our own operators remain.
        assert_eq!(
            expr,
            r#"("near" OR "drop" OR "table" OR "jobs" OR "text" OR "foo" OR "2" OR "b" OR "x")"#
        );
        let only_syntax = parse(r#"" * ( ) : ^ - ' " ""#);
        assert!(only_syntax.is_empty() && only_syntax.fts_expr().is_none());
        assert_eq!(only_syntax.plain, "");
    }

    #[test]
    fn stop_words_alone_search_nothing() {
        for q in ["the of and", "to be or not to be", "", "   ", "?!.,"] {
            let p = parse(q);
            assert!(p.fts_expr().is_none(), "{q:?} -> {p:?}");
        }
        // In quotes they are a phrase.
        assert!(parse(r#""to be or not to be""#).fts_expr().is_some());
    }

    #[test]
    fn a_huge_query_is_cut_to_its_first_pieces() {
        let q = "budget forecast ".repeat(700) + &"w".repeat(10_000);
        let p = parse(&q);
        assert_eq!(p.words, vec!["budget", "forecast"]);
        let q: String = (0..2000).map(|i| format!("word{i} ")).collect();
        assert_eq!(parse(&q).words.len(), MAX_PIECES);
    }
}
