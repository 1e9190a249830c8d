//! The speaker embedder through ONNX Runtime (opened at run time from the file the load
//! message names): a d-vector model taking `mel_window [batch, 80, 40]` log-mel windows and
//! returning `embedding [batch, 256]`.

use std::path::Path;

use nightshift_diarize::pipeline::DVEC_FRAMES;
use nightshift_diarize::{DiarizeError, Embedder, mel::MEL_BINS};
use ort::session::Session;
use ort::value::Tensor;

/// Windows per ONNX Runtime call: large enough to amortise the call, small enough to bound
/// memory.
const BATCH: usize = 64;

pub struct OnnxEmbedder {
    session: Session,
    input: String,
    dim: usize,
}

/// ONNX Runtime can be initialised once per process.
pub fn init_runtime(library: &Path) -> Result<ort::environment::Environment, String> {
    ort::init_from(library)
        .map_err(|e| format!("{}: cannot load ONNX Runtime: {e}", library.display()))?
        .with_name("nightshift-diarize")
        .build()
        .map_err(|e| format!("ONNX Runtime: {e}"))
}

impl OnnxEmbedder {
    pub fn open(
        env: &ort::environment::Environment,
        model: &Path,
        threads: usize,
    ) -> Result<Self, String> {
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", model.display());
        let mut session = Session::builder(env)
            .map_err(|e| fail(&e))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| fail(&e))?
            .commit_from_file(model)
            .map_err(|e| fail(&e))?;
        let input = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| fail(&"the model has no input"))?;
        // Probe the output size with one silent window rather than trusting symbolic shapes.
        let probe = vec![0.0f32; DVEC_FRAMES * MEL_BINS];
        let dim = run(&mut session, &input, &probe, 1)
            .map_err(|e| fail(&e))?
            .len();
        Ok(OnnxEmbedder {
            session,
            input,
            dim,
        })
    }
}

fn run(
    session: &mut Session,
    input: &str,
    windows: &[f32],
    count: usize,
) -> Result<Vec<f32>, String> {
    let tensor = Tensor::from_array(([count, DVEC_FRAMES, MEL_BINS], windows.to_vec()))
        .map_err(|e| e.to_string())?;
    let outputs = session
        .run(ort::inputs![input => tensor])
        .map_err(|e| e.to_string())?;
    let (_, values) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| e.to_string())?;
    Ok(values.to_vec())
}

impl Embedder for OnnxEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, windows: &[f32], count: usize) -> Result<Vec<f32>, DiarizeError> {
        let per = DVEC_FRAMES * MEL_BINS;
        let mut out = Vec::with_capacity(count * self.dim);
        for batch in windows[..count * per].chunks(BATCH * per) {
            let n = batch.len() / per;
            let mut v =
                run(&mut self.session, &self.input, batch, n).map_err(DiarizeError::Embedder)?;
            if v.len() != n * self.dim {
                return Err(DiarizeError::Embedder(format!(
                    "{} values for {n} windows of size {}",
                    v.len(),
                    self.dim
                )));
            }
            for row in v.chunks_exact_mut(self.dim) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    row.iter_mut().for_each(|x| *x /= norm);
                }
            }
            out.extend(v);
        }
        Ok(out)
    }
}
