//! Passage embeddings computed by the Foreman while it has nothing else to do, so that the
//! first search after a large `run` does not embed minutes of text. On the CPU, in process,
//! between batches (never while a batch holds the GPU lease), a slice at a time so that new
//! work and a stop request are seen within about a second.

use anyhow::Result;
use nightshift_embed::{Embedder, MODEL_NAME};
use nightshift_queue::Queue;

use crate::home::Home;
use crate::search::semantic;

/// Passages embedded per idle step (a few hundred ms of CPU on a laptop core).
const SLICE: usize = 64;

/// The embedding model, loaded the first time there is something to embed.
#[derive(Default)]
pub(super) enum Embeddings {
    #[default]
    NotLoaded,
    /// No model (or it failed to load): said once, then skipped.
    Off,
    On(Box<Embedder>),
}

impl Embeddings {
    /// Embed one slice of the passages stored since the last embedded one; how many (0: none
    /// waiting, or no model).
    pub(super) fn step(&mut self, home: &Home, queue: &mut Queue) -> Result<usize> {
        if matches!(self, Embeddings::Off)
            || !queue.has_passages_after_vectors(MODEL_NAME, &semantic::EMBEDDED_SOURCES)?
        {
            return Ok(0);
        }
        if matches!(self, Embeddings::NotLoaded) {
            *self = load(home);
        }
        match self {
            Embeddings::On(e) => semantic::embed_some(queue, e, SLICE),
            _ => Ok(0),
        }
    }
}

fn load(home: &Home) -> Embeddings {
    let loaded = semantic::model_dir(home)
        .and_then(|dir| Embedder::load(&dir).map_err(|e| format!("{}: {e}", dir.display())));
    match loaded {
        Ok(e) => Embeddings::On(Box::new(e)),
        Err(why) => {
            tracing::info!(
                "search passages are not embedded ahead (search will embed them if the model appears): {why}"
            );
            Embeddings::Off
        }
    }
}
