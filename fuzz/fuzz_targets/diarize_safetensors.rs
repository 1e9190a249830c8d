//! The diarization models' safetensors reader (`diarize::weights::Weights::parse`), as the
//! diarize worker reads `segmentation.safetensors` and `campplus.safetensors`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = nightshift_diarize::weights::Weights::parse(data, "fuzz.safetensors") {
        // What the models do next: look tensors up by name and shape.
        let _ = w.get("conv.weight", &[4, 1, 3]);
        let _ = w.get_flat("conv.bias", 4);
    }
});
