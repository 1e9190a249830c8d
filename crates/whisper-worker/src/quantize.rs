//! `nightshift-whisper-worker quantize IN OUT TYPE`: a whisper.cpp ggml model (f16) with its
//! weight matrices quantized by ggml's own quantizer (`ggml_quantize_chunk`, the code
//! whisper.cpp's `quantize` example calls), so the result is what whisper.cpp expects to load.
//!
//! The legacy ggml layout is streamed: magic, 11 hparams (the last is the ftype), the mel
//! filters, the vocabulary, then tensors (`n_dims`, name length, type, dims, name, data) to the
//! end of the file. whisper.cpp creates every 2-D weight matrix with the model's weight type
//! and everything else (biases, norms, positional embeddings, the 3-D convolutions) with a
//! fixed type, and refuses a file whose tensors differ; so exactly the f16 2-D tensors are
//! quantized and the rest is copied unchanged. The output is written beside `OUT` and renamed
//! into place when complete; the input is only read.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// "ggml" in the file's first four bytes, little-endian.
const MAGIC: u32 = 0x6767_6d6c;
/// ggml's quantization version and the factor it is stored with in the ftype.
const QNT_VERSION: i32 = 2;
const QNT_VERSION_FACTOR: i32 = 1000;
/// hparams ftype of an f16 model (GGML_FTYPE_MOSTLY_F16) and tensor type ids.
const FTYPE_F16: i32 = 1;
const TYPE_F32: i32 = 0;
const TYPE_F16: i32 = 1;
/// Larger dims or names than any whisper model has mean a damaged file.
const MAX_DIM: i32 = 1 << 24;
const MAX_NAME: i32 = 1024;
const MAX_TOKEN: u32 = 1 << 16;

/// A quantization the worker can write: its name, ggml tensor type and ggml file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantType {
    pub name: &'static str,
    ggml_type: u32,
    ftype: i32,
}

/// What `models quantize` offers: the types whisper.cpp's own quantizer supports for whisper.
pub const TYPES: [QuantType; 5] = [
    QuantType {
        name: "q8_0",
        ggml_type: whisper_rs_sys::ggml_type_GGML_TYPE_Q8_0,
        ftype: 7,
    },
    QuantType {
        name: "q5_1",
        ggml_type: whisper_rs_sys::ggml_type_GGML_TYPE_Q5_1,
        ftype: 9,
    },
    QuantType {
        name: "q5_0",
        ggml_type: whisper_rs_sys::ggml_type_GGML_TYPE_Q5_0,
        ftype: 8,
    },
    QuantType {
        name: "q4_1",
        ggml_type: whisper_rs_sys::ggml_type_GGML_TYPE_Q4_1,
        ftype: 3,
    },
    QuantType {
        name: "q4_0",
        ggml_type: whisper_rs_sys::ggml_type_GGML_TYPE_Q4_0,
        ftype: 2,
    },
];

pub fn quant_type(name: &str) -> Option<QuantType> {
    TYPES.iter().copied().find(|t| t.name == name)
}

/// What was written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub quantized: usize,
    pub copied: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Quantize `input` into `output`. The error names the file and the cause.
pub fn quantize(input: &Path, output: &Path, to: QuantType) -> Result<Report, String> {
    let src = File::open(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let bytes_in = src.metadata().map(|m| m.len()).unwrap_or(0);
    let tmp = output.with_extension("part");
    let dst = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut r = Reader {
        inner: BufReader::new(src),
        path: input,
    };
    let mut w = BufWriter::new(dst);
    let result = copy_quantized(&mut r, &mut w, to).and_then(|mut report| {
        w.flush()
            .and_then(|()| w.get_ref().sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        report.bytes_in = bytes_in;
        report.bytes_out = w.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
        Ok(report)
    });
    drop(w);
    match result {
        Ok(report) => {
            std::fs::rename(&tmp, output).map_err(|e| format!("{}: {e}", output.display()))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn copy_quantized(r: &mut Reader<'_>, w: &mut impl Write, to: QuantType) -> Result<Report, String> {
    let out = |w: &mut dyn Write, b: &[u8]| w.write_all(b).map_err(|e| format!("writing: {e}"));
    let magic = r.u32()?;
    if magic != MAGIC {
        return Err(r.bad("not a whisper.cpp ggml model (bad magic)"));
    }
    out(w, &magic.to_le_bytes())?;
    let mut hparams = [0i32; 11];
    for h in &mut hparams {
        *h = r.i32()?;
    }
    if hparams[10] % QNT_VERSION_FACTOR != FTYPE_F16 {
        return Err(r.bad(&format!(
            "weights are not f16 (ftype {}): quantize the f16 model, not a quantized one",
            hparams[10]
        )));
    }
    hparams[10] = to.ftype + QNT_VERSION * QNT_VERSION_FACTOR;
    for h in hparams {
        out(w, &h.to_le_bytes())?;
    }
    // Mel filters: n_mel, n_fft, then n_mel × n_fft f32.
    let (n_mel, n_fft) = (r.i32()?, r.i32()?);
    if !(0..=1024).contains(&n_mel) || !(0..=4096).contains(&n_fft) {
        return Err(r.bad("implausible mel filter size"));
    }
    out(w, &n_mel.to_le_bytes())?;
    out(w, &n_fft.to_le_bytes())?;
    out(w, &r.bytes(n_mel as usize * n_fft as usize * 4)?)?;
    // Vocabulary: count, then each token as a length and its bytes.
    let n_vocab = r.i32()?;
    if !(0..=1 << 20).contains(&n_vocab) {
        return Err(r.bad("implausible vocabulary size"));
    }
    out(w, &n_vocab.to_le_bytes())?;
    for _ in 0..n_vocab {
        let len = r.u32()?;
        if len > MAX_TOKEN {
            return Err(r.bad("implausible token length"));
        }
        out(w, &len.to_le_bytes())?;
        out(w, &r.bytes(len as usize)?)?;
    }
    let mut report = Report::default();
    while let Some(n_dims) = r.i32_or_eof()? {
        let (name_len, ttype) = (r.i32()?, r.i32()?);
        if !(1..=4).contains(&n_dims) || !(1..=MAX_NAME).contains(&name_len) {
            return Err(r.bad("damaged tensor header"));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = r.i32()?;
            if !(1..=MAX_DIM).contains(&d) {
                return Err(r.bad("damaged tensor dimensions"));
            }
            dims.push(d as usize);
        }
        let name = r.bytes(name_len as usize)?;
        let elements: usize = dims.iter().product();
        let elem_size = match ttype {
            TYPE_F32 => 4,
            TYPE_F16 => 2,
            other => {
                return Err(r.bad(&format!(
                    "tensor {} has type {other}: only f32 and f16 tensors can be read",
                    String::from_utf8_lossy(&name)
                )));
            }
        };
        let data = r.bytes(elements * elem_size)?;
        let header = |w: &mut dyn Write, ttype: i32| -> Result<(), String> {
            out(w, &n_dims.to_le_bytes())?;
            out(w, &name_len.to_le_bytes())?;
            out(w, &ttype.to_le_bytes())?;
            for d in &dims {
                out(w, &(*d as i32).to_le_bytes())?;
            }
            out(w, &name)
        };
        if ttype == TYPE_F16 && n_dims == 2 {
            let q = quantize_f16_matrix(&data, dims[0], dims[1], to)
                .map_err(|e| r.bad(&format!("tensor {}: {e}", String::from_utf8_lossy(&name))))?;
            header(w, to.ggml_type as i32)?;
            out(w, &q)?;
            report.quantized += 1;
        } else {
            header(w, ttype)?;
            out(w, &data)?;
            report.copied += 1;
        }
    }
    if report.quantized == 0 {
        return Err(r.bad("no f16 weight matrices to quantize"));
    }
    Ok(report)
}

/// One f16 matrix of `rows` rows of `per_row` values, quantized row by row by ggml.
fn quantize_f16_matrix(
    data: &[u8],
    per_row: usize,
    rows: usize,
    to: QuantType,
) -> Result<Vec<u8>, String> {
    // SAFETY: plain functions of a type id.
    let block = unsafe { whisper_rs_sys::ggml_blck_size(to.ggml_type) } as usize;
    if block == 0 || !per_row.is_multiple_of(block) {
        return Err(format!(
            "rows of {per_row} values do not split into {}'s blocks of {block}",
            to.name
        ));
    }
    let halves: Vec<u16> = data
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut floats = vec![0f32; halves.len()];
    // SAFETY: both buffers hold `halves.len()` elements.
    unsafe {
        whisper_rs_sys::ggml_fp16_to_fp32_row(
            halves.as_ptr(),
            floats.as_mut_ptr(),
            halves.len() as i64,
        );
    }
    // SAFETY: as above.
    let row_bytes = unsafe { whisper_rs_sys::ggml_row_size(to.ggml_type, per_row as i64) };
    let mut q = vec![0u8; row_bytes * rows];
    // SAFETY: `floats` holds rows × per_row values and `q` rows × row_bytes bytes, which is
    // what ggml writes for these rows; no importance matrix (none of these types needs one).
    let written = unsafe {
        whisper_rs_sys::ggml_quantize_chunk(
            to.ggml_type,
            floats.as_ptr(),
            q.as_mut_ptr().cast(),
            0,
            rows as i64,
            per_row as i64,
            std::ptr::null(),
        )
    };
    if written != q.len() {
        return Err(format!("ggml wrote {written} bytes, expected {}", q.len()));
    }
    Ok(q)
}

/// Little-endian reads with errors that name the file.
struct Reader<'a> {
    inner: BufReader<File>,
    path: &'a Path,
}

impl Reader<'_> {
    fn bad(&self, why: &str) -> String {
        format!("{}: {why}", self.path.display())
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, String> {
        let mut b = Vec::new();
        let got = (&mut self.inner)
            .take(n as u64)
            .read_to_end(&mut b)
            .map_err(|e| self.bad(&e.to_string()))?;
        if got != n {
            return Err(self.bad("truncated"));
        }
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, String> {
        self.u32().map(|v| v as i32)
    }

    /// The next i32, or `None` at a clean end of file.
    fn i32_or_eof(&mut self) -> Result<Option<i32>, String> {
        let mut b = Vec::new();
        let got = (&mut self.inner)
            .take(4)
            .read_to_end(&mut b)
            .map_err(|e| self.bad(&e.to_string()))?;
        match got {
            0 => Ok(None),
            4 => Ok(Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            _ => Err(self.bad("truncated")),
        }
    }
}
