//! Unit tests on synthetic headers (see `testutil`).

use std::io::Cursor;

use crate::estimate::{CUDA_OVERHEAD_BYTES, FlashAttn, KvType, Options};
use crate::gguf::{Gguf, Value, ValueType};
use crate::model::{Model, pair_projectors};
use crate::testutil::*;
use crate::{PlanError, verdict};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn gib(b: u64) -> f64 {
    b as f64 / GIB as f64
}

fn opts(ctx: u64, kv: KvType) -> Options {
    Options {
        n_ctx: Some(ctx),
        kv_type: kv,
        ..Options::default()
    }
}

#[test]
fn every_metadata_type_round_trips_in_v2_and_v3() {
    for version in [2, 3] {
        let mut w = GgufWriter::new(version);
        w.raw("a.u8", 0, &[7])
            .raw("a.i8", 1, &[0xff])
            .raw("a.u16", 2, &513u16.to_le_bytes())
            .raw("a.i16", 3, &(-2i16).to_le_bytes())
            .u32("a.u32", 70_000)
            .raw("a.i32", 5, &(-3i32).to_le_bytes())
            .f32("a.f32", 1.5)
            .bool("a.bool", true)
            .str("a.str", "héllo")
            .u64("a.u64", 1 << 40)
            .raw("a.i64", 11, &(-4i64).to_le_bytes())
            .raw("a.f64", 12, &2.25f64.to_le_bytes())
            .bools("a.bools", &[true, false])
            .strs("a.strs", &["x".into(), "yz".into()]);
        // An array of arrays of u32: [[1, 2]].
        let mut nested = 9u32.to_le_bytes().to_vec();
        nested.extend(1u64.to_le_bytes());
        nested.extend(4u32.to_le_bytes());
        nested.extend(2u64.to_le_bytes());
        nested.extend(1u32.to_le_bytes());
        nested.extend(2u32.to_le_bytes());
        w.raw("a.nested", 9, &nested);
        let g = w.parse();
        assert_eq!(g.version, version);
        assert_eq!(g.get("a.u8"), Some(&Value::U8(7)));
        assert_eq!(g.get("a.i8"), Some(&Value::I8(-1)));
        assert_eq!(g.get("a.u16"), Some(&Value::U16(513)));
        assert_eq!(g.get("a.i16"), Some(&Value::I16(-2)));
        assert_eq!(g.get_u64("a.u32"), Some(70_000));
        assert_eq!(g.get("a.i32"), Some(&Value::I32(-3)));
        assert_eq!(g.get("a.f32"), Some(&Value::F32(1.5)));
        assert_eq!(g.get("a.bool"), Some(&Value::Bool(true)));
        assert_eq!(g.get_str("a.str"), Some("héllo"));
        assert_eq!(g.get_u64("a.u64"), Some(1 << 40));
        assert_eq!(g.get("a.i64"), Some(&Value::I64(-4)));
        assert_eq!(g.get("a.f64"), Some(&Value::F64(2.25)));
        assert_eq!(
            g.get("a.bools"),
            Some(&Value::Array {
                elem: ValueType::Bool,
                len: 2,
                items: vec![Value::Bool(true), Value::Bool(false)]
            })
        );
        // String arrays are skipped, their length kept.
        assert!(matches!(
            g.get("a.strs"),
            Some(Value::Array { elem: ValueType::String, len: 2, items }) if items.is_empty()
        ));
        let Some(Value::Array { items, .. }) = g.get("a.nested") else {
            panic!("nested array missing")
        };
        assert_eq!(
            items,
            &vec![Value::Array {
                elem: ValueType::U32,
                len: 2,
                items: vec![Value::U32(1), Value::U32(2)]
            }]
        );
    }
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let mut w = GgufWriter::new(3);
    w.str("general.architecture", "llama")
        .u32s("llama.attention.head_count_kv", &[1, 2])
        .strs("tokenizer.ggml.tokens", &["a".into(), "bc".into()])
        .tensor("blk.0.attn_q.weight", &[64, 2], Q4_K - 4) // q8_0
        .tensor("output.weight", &[256, 2], Q6_K);
    let header = w.header();
    let full = w.file_len();
    for cut in 0..header.len() {
        let got = Gguf::parse(Cursor::new(&header[..cut]), cut as u64);
        assert!(got.is_err(), "prefix of {cut} bytes parsed");
    }
    // A complete header whose tensor data was cut off by one byte.
    let g = Gguf::parse(Cursor::new(&header), full).unwrap();
    let end = g
        .tensors
        .iter()
        .map(|t| g.data_offset + t.offset + t.bytes)
        .max();
    let err = Gguf::parse(Cursor::new(&header), end.unwrap() - 1).unwrap_err();
    assert!(
        matches!(
            err,
            PlanError::Truncated {
                what: "tensor data",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn garbage_lengths_are_refused_before_allocating() {
    let header = |counts: [u64; 2], tail: &[u8]| {
        let mut h = b"GGUF".to_vec();
        h.extend(3u32.to_le_bytes());
        h.extend(counts[0].to_le_bytes());
        h.extend(counts[1].to_le_bytes());
        h.extend(tail);
        h
    };
    let huge = u64::MAX / 3;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("tensor count", header([huge, 0], &[])),
        ("metadata count", header([0, huge], &[])),
    ];
    let mut key = 1u64.to_le_bytes().to_vec();
    key.push(b'k');
    let mut long_string = key.clone();
    long_string.extend(8u32.to_le_bytes());
    long_string.extend((1u64 << 62).to_le_bytes());
    cases.push(("string length", header([0, 1], &long_string)));
    let mut long_array = key.clone();
    long_array.extend(9u32.to_le_bytes());
    long_array.extend(0u32.to_le_bytes());
    long_array.extend((1u64 << 62).to_le_bytes());
    cases.push(("array length", header([0, 1], &long_array)));
    let mut huge_key = (1u64 << 40).to_le_bytes().to_vec();
    huge_key.extend([0; 64]);
    cases.push(("key length", header([0, 1], &huge_key)));
    let mut bad_type = key.clone();
    bad_type.extend(99u32.to_le_bytes());
    cases.push(("value type", header([0, 1], &bad_type)));
    // A file that claims to be 2^62 bytes long still cannot make us allocate that much.
    for (name, bytes) in cases {
        let claimed = 1u64 << 62;
        let err = Gguf::parse(Cursor::new(&bytes), bytes.len() as u64);
        assert!(err.is_err(), "{name}: accepted");
        let err = Gguf::parse(Cursor::new(&bytes), claimed);
        assert!(err.is_err(), "{name}: accepted with a huge claimed length");
    }
    let err = Gguf::parse(Cursor::new(b"GGUF\x00\x00\x00\x03rest"), 12).unwrap_err();
    assert_eq!(err.to_string(), "unsupported: big-endian GGUF");
    let err = Gguf::parse(Cursor::new(b"GGUF\x01\x00\x00\x00rest"), 12).unwrap_err();
    assert!(err.to_string().contains("v1"), "{err}");
}

#[test]
fn tensor_sizes_follow_ggml_block_sizes() {
    let g = llama_8b_q4_k_m().parse();
    let q = g.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.bytes, 4096 * 4096 / 256 * 144);
    let out = g.tensor("output.weight").unwrap();
    assert_eq!(out.bytes, 4096 * 128_256 / 256 * 210);
    let mut w = GgufWriter::new(3);
    w.raw("x", 4, &1u32.to_le_bytes());
    // 100 elements of q4_K: not a whole block.
    let mut t = 1u64.to_le_bytes().to_vec();
    t.push(b't');
    t.extend(1u32.to_le_bytes());
    t.extend(100u64.to_le_bytes());
    t.extend(12u32.to_le_bytes());
    t.extend(0u64.to_le_bytes());
    let mut h = b"GGUF".to_vec();
    h.extend(3u32.to_le_bytes());
    h.extend(1u64.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    h.extend(t);
    let err = Gguf::parse(Cursor::new(&h), 1 << 20).unwrap_err();
    assert!(err.to_string().contains("do not fit type q4_K"), "{err}");
}

#[test]
fn llama_8b_q4_k_m_weighs_4_9_gb() {
    let m = llama_8b_q4_k_m().model();
    let Model::Llm(llm) = &m else { panic!() };
    assert_eq!(llm.shape.n_vocab, 128_256);
    assert_eq!(llm.shape.n_head_kv, vec![8; 32]);
    assert_eq!(llm.shape.head_dim_k, 128);
    let total = llm.weights.total();
    assert!(
        (4.8e9..5.0e9).contains(&(total as f64)),
        "8B Q4_K_M weights {total}"
    );
    // On the GPU the input embedding stays in host memory (llama.cpp's input layer is CPU).
    let gpu = m.estimate(&Options::default());
    assert_eq!(gpu.weights_bytes, total - llm.weights.token_embd);
    let cpu = m.estimate(&Options {
        n_gpu_layers: Some(0),
        ..Options::default()
    });
    assert_eq!(cpu.weights_bytes, total);
    assert_eq!(cpu.overhead_bytes, 0);
    assert_eq!(gpu.overhead_bytes, CUDA_OVERHEAD_BYTES);
}

/// The 6 GB card: an 8B Q4_K_M with a 10k-token context fits only with a quantized KV cache.
#[test]
fn six_gib_card_10k_context_needs_a_quantized_kv_cache() {
    let m = llama_8b_q4_k_m().model();
    let budget = 6 * GIB;
    let per = |kv| m.estimate(&opts(10_000, kv));
    let (f16, q8, q4) = (per(KvType::F16), per(KvType::Q8_0), per(KvType::Q4_0));
    assert_eq!(f16.n_ctx, Some(10_240), "llama.cpp pads n_ctx to 256");
    // 10240 cells × 32 layers × 8 heads × 128 × (K + V): exact.
    assert_eq!(f16.kv_cache_bytes, 10_240 * 32 * 8 * 128 * 2 * 2);
    assert_eq!(q8.kv_cache_bytes, 10_240 * 32 * 2 * (8 * 128 / 32 * 34));
    assert_eq!(q4.kv_cache_bytes, 10_240 * 32 * 2 * (8 * 128 / 32 * 18));
    assert_eq!(gib(f16.kv_cache_bytes), 1.25);
    for (name, e) in [("f16", &f16), ("q8_0", &q8), ("q4_0", &q4)] {
        eprintln!(
            "8B Q4_K_M @10k {name}: weights {:.2} kv {:.3} compute {:.3} overhead {:.3} total {:.2} GiB",
            gib(e.weights_bytes),
            gib(e.kv_cache_bytes),
            gib(e.compute_bytes),
            gib(e.overhead_bytes),
            gib(e.total_bytes())
        );
    }
    for e in [&f16, &q8, &q4] {
        assert!(e.compute_bytes > 250 * MIB && e.compute_bytes < 400 * MIB);
        assert!(e.notes.is_empty(), "{:?}", e.notes);
    }
    assert!(
        f16.total_bytes() > budget,
        "f16: {:.2} GiB",
        gib(f16.total_bytes())
    );
    assert!(
        q8.total_bytes() <= budget,
        "q8_0: {:.2} GiB",
        gib(q8.total_bytes())
    );
    assert!(q4.total_bytes() < q8.total_bytes());
    // The largest context on this card, by KV type.
    let max = |kv| crate::max_ctx(std::slice::from_ref(&m), &opts(0, kv), budget).unwrap();
    let (mf, m8, m4) = (max(KvType::F16), max(KvType::Q8_0), max(KvType::Q4_0));
    eprintln!("8B Q4_K_M max ctx on 6 GiB: f16 {mf}, q8_0 {m8}, q4_0 {m4}");
    assert!((7_000..10_000).contains(&mf), "f16 max ctx {mf}");
    assert!(m8 > 14_000 && m4 > m8, "q8_0 {m8}, q4_0 {m4}");
    assert!(
        m.estimate(&opts(mf, KvType::F16)).total_bytes() <= budget
            && m.estimate(&opts(mf + 256, KvType::F16)).total_bytes() > budget
    );
}

#[test]
fn flash_attention_off_plans_a_quantized_v_cache_as_f16_and_says_so() {
    let m = llama_8b_q4_k_m().model();
    let on = m.estimate(&opts(8192, KvType::Q8_0));
    let off = m.estimate(&Options {
        flash_attn: FlashAttn::Off,
        ..opts(8192, KvType::Q8_0)
    });
    assert_eq!((on.kv_type_k, on.kv_type_v), (Some("q8_0"), Some("q8_0")));
    assert_eq!((off.kv_type_k, off.kv_type_v), (Some("q8_0"), Some("f16")));
    assert!(off.kv_cache_bytes > on.kv_cache_bytes);
    assert!(
        off.notes[0].contains("V is planned as f16"),
        "{:?}",
        off.notes
    );
    // Without flash attention the n_ctx × n_ubatch × n_head score matrix dominates.
    assert!(off.compute_bytes > on.compute_bytes + 8192 * 512 * 32 * 4 / 2);
}

#[test]
fn vlm_with_projector_and_sliding_window_layers() {
    let models = pair_projectors(vec![
        ("gemma3", gemma3_4b_q4_k_m().model()),
        ("mmproj", gemma3_mmproj_f16().model()),
    ]);
    assert_eq!(models.len(), 1, "the projector is attached to its LLM");
    let vlm = &models[0].1;
    let Model::Llm(llm) = vlm else { panic!() };
    let swa = llm.shape.swa.as_ref().unwrap();
    assert_eq!(swa.window, 1024);
    assert_eq!(
        swa.layers.iter().filter(|&&s| !s).count(),
        5,
        "layers 5, 11, … are global"
    );
    assert!(!swa.layers[5] && swa.layers[4]);
    let e = vlm.estimate(&opts(32_768, KvType::F16));
    // 29 SWA layers hold 1024 + 512 (ubatch) cells, 5 global layers the whole context.
    let per_cell = 4 * 256 * 2 * 2;
    assert_eq!(e.kv_cache_bytes, (29 * 1536 + 5 * 32_768) * per_cell);
    let p = e.projector.as_ref().unwrap();
    assert!(
        (800e6..900e6).contains(&(p.weights_bytes as f64)),
        "{}",
        p.weights_bytes
    );
    let llm_weights = llm.weights.total(); // tied embeddings: token_embd is the head on GPU
    assert_eq!(e.weights_bytes, llm_weights + p.weights_bytes);
    assert!(e.notes.iter().any(|n| n.contains("projector")));
    // Without flash attention the ViT's 4096² × 16 scores alone are 1 GiB.
    let off = vlm.estimate(&Options {
        flash_attn: FlashAttn::Off,
        ..opts(32_768, KvType::F16)
    });
    assert!(off.projector.as_ref().unwrap().compute_bytes >= GIB);
    // On the 6 GB card the VLM fits at 32k with f16 KV thanks to SWA…
    assert!(e.total_bytes() < 6 * GIB, "{:.2} GiB", gib(e.total_bytes()));
    // …but not beside the 8B LLM.
    let set = vec![llama_8b_q4_k_m().model(), vlm.clone()];
    let v = verdict(&set, &opts(8192, KvType::Q8_0), 6 * GIB);
    assert!(!v.fits_together);
    assert_eq!(v.must_run_alone, vec![0, 1]);
    assert_eq!(v.max_ctx_that_fits, None);
}

#[test]
fn verdict_small_models_fit_together_and_huge_ones_never() {
    let small = {
        let mut w = GgufWriter::new(3);
        w.str("general.architecture", "llama")
            .u32("llama.block_count", 2)
            .u32("llama.context_length", 8192)
            .u32("llama.embedding_length", 256)
            .u32("llama.attention.head_count", 4)
            .u32("llama.vocab_size", 1000)
            .tensor("blk.0.attn_q.weight", &[256, 256], F16);
        w.model()
    };
    let big = llama_8b_q4_k_m().model();
    let o = opts(4096, KvType::Q8_0);
    let v = verdict(&[small.clone(), big.clone()], &o, 6 * GIB);
    assert!(v.fits_together && v.must_run_alone.is_empty() && v.too_large.is_empty());
    assert_eq!(v.max_ctx_that_fits.map(|c| c % 256), Some(0));
    let v = verdict(&[small, big], &o, 4 * GIB);
    assert_eq!(v.too_large, vec![1]);
    assert!(!v.fits_together);
    assert_eq!(v.max_ctx_that_fits, None);
}

#[test]
fn partial_offload_counts_only_gpu_layers() {
    let m = llama_8b_q4_k_m().model();
    let Model::Llm(llm) = &m else { panic!() };
    let half = m.estimate(&Options {
        n_gpu_layers: Some(16),
        ..opts(8192, KvType::F16)
    });
    let full = m.estimate(&opts(8192, KvType::F16));
    assert_eq!(half.kv_cache_bytes * 2, full.kv_cache_bytes);
    assert_eq!(
        half.weights_bytes,
        llm.weights.layers[16..].iter().sum::<u64>(),
        "no output layer below n_layer + 1"
    );
}
