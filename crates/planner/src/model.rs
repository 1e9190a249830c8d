//! A model file as the planner sees it: which kind, and the numbers the estimator needs.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{PlanError, Result};
use crate::estimate::{self, Estimate, LlmWeights, Options};
use crate::gguf::{self, Gguf};
use crate::shape::{LlmShape, ProjectorShape, is_projector};
use crate::whisper::{self, WhisperHeader};

#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    Llm(Llm),
    /// A vision projector not attached to an LLM.
    Projector(Projector),
    Whisper(WhisperHeader),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Llm {
    pub shape: LlmShape,
    pub weights: LlmWeights,
    /// The VLM's projector: loaded into the same process.
    pub projector: Option<Projector>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Projector {
    pub shape: ProjectorShape,
    pub weights_bytes: u64,
}

/// Read a model's header (never its weights).
pub fn open(path: &Path) -> Result<Model> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    read(BufReader::new(file), len)
}

/// Read the header of a model whose bytes `r` holds (`len` of them): GGUF or whisper ggml by
/// its magic. `open` on a file; the fuzz targets on memory.
pub fn read<R: Read + Seek>(mut r: R, len: u64) -> Result<Model> {
    let mut magic = [0u8; 4];
    if len < 4 {
        return Err(PlanError::Truncated {
            what: "magic",
            offset: 0,
            needed: 4,
            len,
        });
    }
    r.read_exact(&mut magic)?;
    r.seek(SeekFrom::Start(0))?;
    match magic {
        gguf::MAGIC => Model::from_gguf(&Gguf::parse(r, len)?),
        whisper::MAGIC => Ok(Model::Whisper(WhisperHeader::parse(r, len)?)),
        other => Err(PlanError::UnknownFormat(other)),
    }
}

impl Model {
    pub fn from_gguf(g: &Gguf) -> Result<Model> {
        if is_projector(g) {
            return Ok(Model::Projector(Projector {
                shape: ProjectorShape::from_gguf(g)?,
                weights_bytes: g.tensor_bytes(),
            }));
        }
        let shape = LlmShape::from_gguf(g)?;
        let mut weights = LlmWeights {
            layers: vec![0; shape.n_layer as usize],
            ..Default::default()
        };
        for t in &g.tensors {
            let layer = t
                .name
                .strip_prefix("blk.")
                .and_then(|rest| rest.split('.').next())
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n < weights.layers.len());
            match (layer, t.name.as_str()) {
                (Some(il), _) => weights.layers[il] += t.bytes,
                (None, "token_embd.weight") => weights.token_embd += t.bytes,
                (None, name) => {
                    weights.has_output |= name == "output.weight";
                    weights.other += t.bytes;
                }
            }
        }
        Ok(Model::Llm(Llm {
            shape,
            weights,
            projector: None,
        }))
    }

    pub fn estimate(&self, opts: &Options) -> Estimate {
        match self {
            Model::Llm(m) => estimate::llm(
                &m.shape,
                &m.weights,
                m.projector.as_ref().map(|p| (&p.shape, p.weights_bytes)),
                opts,
            ),
            Model::Projector(p) => estimate::projector_alone(&p.shape, p.weights_bytes, opts),
            Model::Whisper(w) => estimate::whisper(&w.hparams, w.weights_bytes(), opts),
        }
    }

    /// Training context of an LLM; `None` for models without a context to choose.
    pub fn n_ctx_train(&self) -> Option<u64> {
        match self {
            Model::Llm(m) => Some(m.shape.n_ctx_train),
            _ => None,
        }
    }
}

/// Attach each projector to the LLM just before it (`plan llm.gguf mmproj.gguf`): a VLM's
/// projector is loaded by the same process and counts against the same budget.
pub fn pair_projectors<T>(models: Vec<(T, Model)>) -> Vec<(T, Model)> {
    let mut out: Vec<(T, Model)> = Vec::with_capacity(models.len());
    for (name, model) in models {
        if let Model::Projector(p) = &model
            && let Some((_, Model::Llm(llm))) = out.last_mut()
            && llm.projector.is_none()
        {
            llm.projector = Some(p.clone());
            continue;
        }
        out.push((name, model));
    }
    out
}
