//! The BERT uncased tokenizer as HF `tokenizers` runs it from a `tokenizer.json` with a
//! `BertNormalizer`, a `BertPreTokenizer` and a `WordPiece` model, written out so the crate needs
//! no tokenizer library (and no C build):
//!
//! 1. normalise: drop NUL, U+FFFD and control/format/unassigned characters, turn whitespace into
//!    spaces, put spaces around CJK ideographs, strip accents (NFD, then drop non-spacing marks)
//!    and lower-case — each step as the file's `clean_text`, `handle_chinese_chars`,
//!    `strip_accents` (unset: follows `lowercase`) and `lowercase` say;
//! 2. split at whitespace, and isolate every punctuation character (ASCII or Unicode `P*`);
//! 3. each word greedily into the longest vocabulary pieces, continuations prefixed `##`; a word
//!    with a piece that is not in the vocabulary, or longer than `max_input_chars_per_word`, is
//!    one `[UNK]`;
//! 4. `[CLS] … [SEP]`, cut to the model's sequence limit.
//!
//! Special tokens written literally in the text (`[MASK]`) are not recognised: summaries do not
//! contain them. Checked token for token against HF `tokenizers` by the golden test.

use std::collections::HashMap;

use serde_json::Value;
use unicode_general_category::{GeneralCategory as Gc, get_general_category};
use unicode_normalization::char::decompose_canonical;

/// A WordPiece tokenizer read from `tokenizer.json`.
#[derive(Debug)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
    prefix: String,
    max_chars_per_word: usize,
    clean_text: bool,
    chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

impl WordPiece {
    /// Parse a `tokenizer.json`; anything but a BERT WordPiece setup is refused with the reason.
    pub fn from_json(text: &str) -> Result<WordPiece, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let kind = |v: &Value| v.get("type").and_then(Value::as_str).map(str::to_string);
        let model = root.get("model").ok_or("no `model`")?;
        if kind(model).as_deref() != Some("WordPiece") {
            return Err(format!("model type {:?}, WordPiece expected", kind(model)));
        }
        let norm = root.get("normalizer").ok_or("no `normalizer`")?;
        if kind(norm).as_deref() != Some("BertNormalizer") {
            return Err(format!(
                "normalizer {:?}, BertNormalizer expected",
                kind(norm)
            ));
        }
        let pre = root.get("pre_tokenizer").ok_or("no `pre_tokenizer`")?;
        if kind(pre).as_deref() != Some("BertPreTokenizer") {
            return Err(format!(
                "pre_tokenizer {:?}, BertPreTokenizer expected",
                kind(pre)
            ));
        }
        let vocab: HashMap<String, u32> = model
            .get("vocab")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or("model.vocab is not a token → id map")?;
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| format!("{token} not in the vocabulary"))
        };
        let unk_token = model
            .get("unk_token")
            .and_then(Value::as_str)
            .unwrap_or("[UNK]");
        let flag =
            |key: &str, default: bool| norm.get(key).and_then(Value::as_bool).unwrap_or(default);
        let lowercase = flag("lowercase", true);
        Ok(WordPiece {
            unk: id(unk_token)?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            prefix: model
                .get("continuing_subword_prefix")
                .and_then(Value::as_str)
                .unwrap_or("##")
                .to_string(),
            max_chars_per_word: model
                .get("max_input_chars_per_word")
                .and_then(Value::as_u64)
                .unwrap_or(100) as usize,
            clean_text: flag("clean_text", true),
            chinese_chars: flag("handle_chinese_chars", true),
            // `null` means "as lowercase".
            strip_accents: flag("strip_accents", lowercase),
            lowercase,
            vocab,
        })
    }

    /// The id of the unknown-word token.
    pub fn unk(&self) -> u32 {
        self.unk
    }

    /// The ids every encoding may carry whatever the text: `[UNK]`, `[CLS]`, `[SEP]`.
    pub fn special_ids(&self) -> [u32; 3] {
        [self.unk, self.cls, self.sep]
    }

    /// Token ids of one text, `[CLS]` and `[SEP]` included, at most `max_tokens` (≥ 2) long.
    pub fn encode(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        let mut ids = vec![self.cls];
        let budget = max_tokens.max(2) - 1;
        'words: for word in pre_tokenize(&self.normalize(text)) {
            for id in self.word_pieces(&word) {
                if ids.len() == budget {
                    break 'words;
                }
                ids.push(id);
            }
        }
        ids.push(self.sep);
        ids
    }

    fn normalize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if self.clean_text && (c == '\0' || c == '\u{fffd}' || is_control(c)) {
                continue;
            }
            if self.clean_text && is_whitespace(c) {
                out.push(' ');
            } else if self.chinese_chars && is_chinese(c) {
                out.push(' ');
                out.push(c);
                out.push(' ');
            } else {
                out.push(c);
            }
        }
        if self.strip_accents {
            let mut stripped = String::with_capacity(out.len());
            for c in out.chars() {
                decompose_canonical(c, |d| {
                    if get_general_category(d) != Gc::NonspacingMark {
                        stripped.push(d);
                    }
                });
            }
            out = stripped;
        }
        if self.lowercase {
            out = out.chars().flat_map(char::to_lowercase).collect();
        }
        out
    }

    fn word_pieces(&self, word: &str) -> Vec<u32> {
        if word.chars().count() > self.max_chars_per_word {
            return vec![self.unk];
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            // The longest vocabulary entry that starts at `start`, trying char boundaries from
            // the end of the word backwards.
            let found = word[start..]
                .char_indices()
                .map(|(i, c)| start + i + c.len_utf8())
                .rev()
                .find_map(|end| {
                    candidate.clear();
                    if start > 0 {
                        candidate.push_str(&self.prefix);
                    }
                    candidate.push_str(&word[start..end]);
                    self.vocab.get(&candidate).map(|&id| (id, end))
                });
            match found {
                Some((id, end)) => {
                    pieces.push(id);
                    start = end;
                }
                None => return vec![self.unk],
            }
        }
        pieces
    }
}

/// Words after `BertPreTokenizer`: whitespace removed, each punctuation character on its own.
fn pre_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || is_punctuation(c) {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            if is_punctuation(c) {
                words.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// Control and format characters, unassigned code points and private use; tab, newline and
/// carriage return are whitespace instead.
fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    matches!(
        get_general_category(c),
        Gc::Control | Gc::Format | Gc::Unassigned | Gc::PrivateUse | Gc::Surrogate
    )
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            get_general_category(c),
            Gc::ConnectorPunctuation
                | Gc::DashPunctuation
                | Gc::ClosePunctuation
                | Gc::FinalPunctuation
                | Gc::InitialPunctuation
                | Gc::OtherPunctuation
                | Gc::OpenPunctuation
        )
}

/// The CJK ideograph blocks BERT splits into single characters.
fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab: Vec<&str> = vec![
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "un", "##aff", "##able", "cafe", ",", "!",
            "a", "中",
        ];
        let vocab: serde_json::Map<String, Value> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), Value::from(i)))
            .collect();
        let json = serde_json::json!({
            "normalizer": {"type": "BertNormalizer", "clean_text": true,
                           "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}
        });
        WordPiece::from_json(&json.to_string()).unwrap()
    }

    #[test]
    fn greedy_longest_pieces_accents_punctuation_and_unknowns() {
        let t = tiny();
        // the unaffable, café! 中 zzz
        assert_eq!(
            t.encode("The UNAFFABLE,\tCafé!中 zzz", 64),
            vec![2, 4, 5, 6, 7, 9, 8, 10, 12, 1, 3]
        );
        assert_eq!(t.encode("un\u{0}aff\u{200b}able", 64), vec![2, 5, 6, 7, 3]);
    }

    #[test]
    fn a_word_with_an_unknown_piece_is_one_unk_and_the_limit_holds() {
        let t = tiny();
        assert_eq!(t.encode("unaffx", 64), vec![2, 1, 3]);
        assert_eq!(t.encode("a a a a a", 4), vec![2, 11, 11, 3]);
        assert_eq!(t.encode("", 4), vec![2, 3]);
    }

    #[test]
    fn refuses_other_tokenizers() {
        let err = WordPiece::from_json(r#"{"model": {"type": "BPE"}}"#).unwrap_err();
        assert!(err.contains("WordPiece"), "{err}");
    }
}
