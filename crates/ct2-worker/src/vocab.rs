//! A converted whisper model's vocabulary (`vocabulary.txt`: one token per line, the line
//! number is the id; or `vocabulary.json`: a list of tokens) and the special tokens the worker
//! needs. Tokens are GPT-2 byte-level BPE strings: each byte of the text is one printable
//! character ("Ġ" is a space), which `token_bytes` maps back.

use std::collections::HashMap;
use std::path::Path;

pub struct Vocabulary {
    tokens: Vec<String>,
    /// GPT-2's byte ↔ character table, reversed.
    byte_of: HashMap<char, u8>,
    pub eot: usize,
    pub sot: usize,
    pub transcribe: usize,
    pub no_timestamps: usize,
    /// `<|0.00|>`; every id from here up is a timestamp, 20 ms apart.
    pub timestamp_begin: usize,
}

impl Vocabulary {
    pub fn load(model_dir: &Path) -> Result<Vocabulary, String> {
        let txt = model_dir.join("vocabulary.txt");
        let json = model_dir.join("vocabulary.json");
        let tokens: Vec<String> = if txt.is_file() {
            std::fs::read_to_string(&txt)
                .map_err(|e| format!("cannot read {}: {e}", txt.display()))?
                .lines()
                .map(str::to_owned)
                .collect()
        } else {
            let text = std::fs::read_to_string(&json).map_err(|e| {
                format!(
                    "{}: no vocabulary.txt or vocabulary.json: {e}",
                    model_dir.display()
                )
            })?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?
        };
        Vocabulary::from_tokens(tokens)
            .map_err(|e| format!("{}: not a whisper vocabulary: {e}", model_dir.display()))
    }

    fn from_tokens(tokens: Vec<String>) -> Result<Vocabulary, String> {
        let id = |t: &str| {
            tokens
                .iter()
                .position(|x| x == t)
                .ok_or_else(|| format!("no {t} token"))
        };
        Ok(Vocabulary {
            eot: id("<|endoftext|>")?,
            sot: id("<|startoftranscript|>")?,
            transcribe: id("<|transcribe|>")?,
            no_timestamps: id("<|notimestamps|>")?,
            timestamp_begin: id("<|0.00|>")?,
            byte_of: bytes_to_unicode()
                .into_iter()
                .map(|(b, c)| (c, b))
                .collect(),
            tokens,
        })
    }

    /// The id of `<|xx|>` for language code `xx`.
    pub fn language_token(&self, code: &str) -> Option<usize> {
        let t = format!("<|{code}|>");
        self.tokens[..self.timestamp_begin]
            .iter()
            .position(|x| *x == t)
    }

    /// The text bytes of a text token (an id below `eot`).
    pub fn token_bytes(&self, id: usize) -> Vec<u8> {
        let Some(t) = self.tokens.get(id) else {
            return Vec::new();
        };
        t.chars()
            .map(|c| self.byte_of.get(&c).copied().unwrap_or(b'?'))
            .collect()
    }

    pub fn token(&self, id: usize) -> &str {
        self.tokens.get(id).map_or("", String::as_str)
    }
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other 68
/// bytes take the characters from U+0100 up, in byte order.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            if printable(b) {
                (b, char::from(b))
            } else {
                let c = char::from_u32(next).expect("below the surrogates");
                next += 1;
                (b, c)
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn vocab() -> Vocabulary {
        let mut tokens: Vec<String> = ["Hello", "Ġworld", "Ã©", "."].map(String::from).to_vec();
        for t in ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>"] {
            tokens.push(t.into());
        }
        tokens.push("<|transcribe|>".into());
        tokens.push("<|notimestamps|>".into());
        tokens.push("<|0.00|>".into());
        Vocabulary::from_tokens(tokens).unwrap()
    }

    #[test]
    fn special_tokens_are_found_by_name() {
        let v = vocab();
        assert_eq!(
            (v.eot, v.sot, v.transcribe, v.timestamp_begin),
            (4, 5, 8, 10)
        );
        assert_eq!(v.no_timestamps, 9);
        assert_eq!(v.language_token("de"), Some(7));
        assert_eq!(v.language_token("xx"), None);
    }

    #[test]
    fn byte_level_tokens_decode_to_utf8_text() {
        let v = vocab();
        let bytes: Vec<u8> = [0, 1, 2, 3]
            .iter()
            .flat_map(|&i| v.token_bytes(i))
            .collect();
        assert_eq!(String::from_utf8(bytes).unwrap(), "Hello worldé.");
    }

    #[test]
    fn the_byte_table_is_a_bijection() {
        let table = bytes_to_unicode();
        let chars: std::collections::HashSet<char> = table.iter().map(|(_, c)| *c).collect();
        assert_eq!(chars.len(), 256);
        assert_eq!(table[b' ' as usize].1, 'Ġ');
    }
}
