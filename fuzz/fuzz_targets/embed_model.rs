//! The sentence embedder's model directory as `Embedder::from_parts` reads it: `config.json`,
//! `tokenizer.json` and `model.safetensors` from one input (two little-endian u16 lengths, then
//! the config, the tokenizer and the rest as the weights). A model that loads must embed a
//! sentence without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((config, tokenizer, model)) = split(data) else {
        return;
    };
    let (Ok(config), Ok(tokenizer)) = (std::str::from_utf8(config), std::str::from_utf8(tokenizer))
    else {
        return;
    };
    let config = (!config.is_empty()).then_some(config);
    // Sizes from a fuzzed config may ask for more memory than the weights hold; the shapes are
    // checked against the file before anything is allocated from them.
    if let Ok(e) = nightshift_embed::Embedder::from_parts(config, tokenizer, model) {
        let v = e.embed(&["The cats purr, déjà vu 猫 [SEP]"]);
        assert_eq!(v.len(), 1);
    }
});

fn split(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let c = u16::from_le_bytes(data.get(..2)?.try_into().ok()?) as usize;
    let t = u16::from_le_bytes(data.get(2..4)?.try_into().ok()?) as usize;
    let rest = data.get(4..)?;
    let config = rest.get(..c)?;
    let tokenizer = rest.get(c..c + t)?;
    Some((config, tokenizer, &rest[c + t..]))
}
