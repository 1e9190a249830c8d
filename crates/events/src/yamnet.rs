//! YAMNet (521 AudioSet classes) run by tract on log-mel patches, several patches per run and
//! the runs spread over threads; `Tagger` streams audio in and per-patch class probabilities
//! out.

use std::path::Path;

use tract_onnx::prelude::*;

use crate::EventsError;
use crate::frontend::{LogMel, MEL_BANDS, PATCH_FRAMES, PATCH_HOP_FRAMES, PATCH_HOP_S};

pub const CLASSES: usize = 521;
/// Patches per model run: the graph has a batch of 1 built into its reshapes (tract cannot type
/// it with another), so threads, not batches, give the parallelism.
pub const BATCH: usize = 1;

/// The model and its class names (`yamnet_class_map.csv`, by index).
pub struct Yamnet {
    plan: std::sync::Arc<TypedRunnableModel>,
    pub class_names: Vec<String>,
}

/// One patch's probabilities (sigmoid of the logits), with the patch's start in seconds.
#[derive(Debug, Clone)]
pub struct PatchScores {
    pub start_s: f64,
    pub probs: Vec<f32>,
}

impl Yamnet {
    /// `model` is `model.onnx` with its external `model.data` beside it; `class_map` the CSV.
    pub fn load(model: &Path, class_map: &Path) -> Result<Yamnet, EventsError> {
        let bad = |why: String| EventsError::Model {
            path: model.display().to_string(),
            why,
        };
        let class_names = read_class_map(class_map)?;
        let mut graph = tract_onnx::onnx()
            .model_for_path(model)
            .map_err(|e| bad(format!("{e:#}")))?;
        graph
            .set_input_fact(0, f32::fact([BATCH, 1, PATCH_FRAMES, MEL_BANDS]).into())
            .map_err(|e| bad(format!("{e:#}")))?;
        let plan = graph
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| bad(format!("{e:#}")))?;
        Ok(Yamnet { plan, class_names })
    }

    /// Probabilities of up to `BATCH` patches (each `PATCH_FRAMES` × `MEL_BANDS`, row-major).
    fn run(&self, patches: &[f32]) -> Result<Vec<Vec<f32>>, EventsError> {
        let per = PATCH_FRAMES * MEL_BANDS;
        let n = patches.len() / per;
        let mut input = vec![0f32; BATCH * per];
        input[..patches.len()].copy_from_slice(patches);
        let tensor =
            tract_ndarray::Array4::from_shape_vec((BATCH, 1, PATCH_FRAMES, MEL_BANDS), input)
                .map_err(|e| EventsError::Inference(e.to_string()))?;
        let out = self
            .plan
            .run(tvec!(Tensor::from(tensor).into()))
            .map_err(|e| EventsError::Inference(format!("{e:#}")))?;
        let logits = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| EventsError::Inference(format!("{e:#}")))?;
        let flat: Vec<f32> = logits.iter().copied().collect();
        if flat.len() != BATCH * CLASSES {
            return Err(EventsError::Inference(format!(
                "model answered {:?}, want [{BATCH}, {CLASSES}]",
                logits.shape()
            )));
        }
        Ok(flat
            .chunks_exact(CLASSES)
            .take(n)
            .map(|row| row.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect())
            .collect())
    }

    /// Probabilities of many patches, in order, the runs spread over `threads` threads.
    pub fn run_many(&self, patches: &[f32], threads: usize) -> Result<Vec<Vec<f32>>, EventsError> {
        let per_run = BATCH * PATCH_FRAMES * MEL_BANDS;
        let runs: Vec<&[f32]> = patches.chunks(per_run).collect();
        let threads = threads.clamp(1, runs.len().max(1));
        let per_thread = runs.len().div_ceil(threads);
        let parts: Vec<Result<Vec<Vec<f32>>, EventsError>> = std::thread::scope(|s| {
            let handles: Vec<_> = runs
                .chunks(per_thread.max(1))
                .map(|mine| {
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for run in mine {
                            out.extend(self.run(run)?);
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(EventsError::Inference("a model thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut all = Vec::with_capacity(patches.len() / (PATCH_FRAMES * MEL_BANDS));
        for p in parts {
            all.extend(p?);
        }
        Ok(all)
    }
}

/// `index,mid,display_name` with quoted names that hold commas; one class per index 0..521.
fn read_class_map(path: &Path) -> Result<Vec<String>, EventsError> {
    let bad = |why: String| EventsError::Model {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut names = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ',');
        let index = parts.next().and_then(|i| i.trim().parse::<usize>().ok());
        let name = parts.nth(1).map(|s| s.trim().trim_matches('"').to_string());
        match (index, name) {
            (Some(i), Some(name)) if i == names.len() => names.push(name),
            _ => {
                return Err(bad(format!(
                    "line {}: not `index,mid,name` in order",
                    n + 1
                )));
            }
        }
    }
    if names.len() != CLASSES {
        return Err(bad(format!("{} classes, want {CLASSES}", names.len())));
    }
    Ok(names)
}

/// A patch whose every log-mel value is below this is silence (a band magnitude of 0.05, about
/// -60 dBFS for a tone): it is not run (no event is silent), which makes a meeting's breaks
/// nearly free.
const SILENT_LOG_MEL: f32 = -3.0;

/// Audio in (any piece size), patch probabilities out: frames are kept until a patch is
/// complete, patches until a full set of runs can go to the model.
pub struct Tagger<'m> {
    model: &'m Yamnet,
    threads: usize,
    mel: LogMel,
    frames: Vec<[f32; MEL_BANDS]>,
    /// Index of `frames[0]` in the stream.
    first_frame: usize,
    /// Audible patches waiting for the model, back to back.
    queued: Vec<f32>,
    /// Every patch since the last run: its index and whether it is silent (never run).
    slots: Vec<(usize, bool)>,
    next_patch: usize,
    pub out: Vec<PatchScores>,
}

impl<'m> Tagger<'m> {
    pub fn new(model: &'m Yamnet, threads: usize) -> Tagger<'m> {
        Tagger {
            model,
            threads: threads.max(1),
            mel: LogMel::new(),
            frames: Vec::new(),
            first_frame: 0,
            queued: Vec::new(),
            slots: Vec::new(),
            next_patch: 0,
            out: Vec::new(),
        }
    }

    /// Feed 16 kHz mono samples.
    pub fn push(&mut self, samples: &[f32]) -> Result<(), EventsError> {
        self.mel.push(samples, &mut self.frames);
        loop {
            let start = self.next_patch * PATCH_HOP_FRAMES - self.first_frame;
            if start + PATCH_FRAMES > self.frames.len() {
                break;
            }
            let patch = &self.frames[start..start + PATCH_FRAMES];
            let silent = patch.iter().flatten().all(|&v| v < SILENT_LOG_MEL);
            if !silent {
                for f in patch {
                    self.queued.extend_from_slice(f);
                }
            }
            self.slots.push((self.next_patch, silent));
            self.next_patch += 1;
        }
        // Frames no later patch needs.
        let keep_from = self.next_patch * PATCH_HOP_FRAMES - self.first_frame;
        let drop = keep_from.min(self.frames.len());
        self.frames.drain(..drop);
        self.first_frame += drop;
        if self.slots.len() >= BATCH * self.threads * 16 {
            self.flush_queue()?;
        }
        Ok(())
    }

    fn flush_queue(&mut self) -> Result<(), EventsError> {
        let mut probs = self.model.run_many(&self.queued, self.threads)?.into_iter();
        for (index, silent) in self.slots.drain(..) {
            self.out.push(PatchScores {
                start_s: index as f64 * PATCH_HOP_S,
                // A silent patch holds no event: no class scores at all.
                probs: if silent {
                    Vec::new()
                } else {
                    probs.next().unwrap_or_default()
                },
            });
        }
        self.queued.clear();
        Ok(())
    }

    /// The end of the stream: a clip shorter than one patch is padded to one (with silence,
    /// as YAMNet does); the patches still queued are run.
    pub fn finish(mut self) -> Result<Vec<PatchScores>, EventsError> {
        if self.next_patch == 0 && !self.frames.is_empty() {
            let silence = [0.001f32.ln(); MEL_BANDS];
            self.frames.resize(PATCH_FRAMES, silence);
            let silent = self.frames.iter().flatten().all(|&v| v < SILENT_LOG_MEL);
            if !silent {
                for f in &self.frames {
                    self.queued.extend_from_slice(f);
                }
            }
            self.slots.push((0, silent));
        }
        self.flush_queue()?;
        Ok(self.out)
    }
}
