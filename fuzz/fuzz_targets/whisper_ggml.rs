//! `nightshift plan` on a whisper.cpp ggml header: `planner::read` (hparams, mel filters, vocabulary)
//! then the estimate and verdict it feeds. The magic is forced to whisper's `lmgg`.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() < 4 {
        bytes.resize(4, 0);
    }
    bytes[0..4].copy_from_slice(&0x6767_6d6c_u32.to_le_bytes());
    let len = bytes.len() as u64;
    if let Ok(model) = nightshift_planner::read(Cursor::new(bytes), len) {
        plan(model);
    }
});

fn plan(model: nightshift_planner::Model) {
    use nightshift_planner::{FlashAttn, KvType, Options};
    let mut opts = Options::default();
    let _ = model.estimate(&opts).total_bytes();
    opts.kv_type = KvType::Q4_0;
    opts.flash_attn = FlashAttn::Off;
    opts.n_ctx = Some(1 << 20);
    let models = nightshift_planner::pair_projectors(vec![((), model)]);
    let models: Vec<_> = models.into_iter().map(|(_, m)| m).collect();
    let _ = nightshift_planner::verdict(&models, &opts, 6 << 30);
}
