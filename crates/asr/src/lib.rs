//! What both ASR workers (whisper.cpp and CTranslate2) do the same way around their engine:
//! pack a chunk's speech into windows (`pack`), map what a window decoded back to chunk time
//! with per-word times (`remap`), and drop what whisper-family models hallucinate (`guards`).
//! The engine only has to turn a window's audio into [`RawSegment`]s; `serve` runs the
//! worker protocol's batch loop around it.

pub mod guards;
pub mod pack;
mod raw;
pub mod remap;
mod serve;

pub use raw::{RawSegment, RawToken};
pub use serve::{Engine, MIN_SAMPLES, send_fatal, serve};

/// The language to decode in, from what the load asks and what the model can do: a
/// multilingual model takes the requested language (`None` or `auto`: detect it); an
/// English-only model is always `en`, a request for another language logged and ignored.
pub fn forced_language(
    load: &nightshift_worker_protocol::WhisperLoad,
    multilingual: bool,
    model: &std::path::Path,
) -> Option<String> {
    if multilingual {
        return load.language.clone().filter(|l| l != "auto");
    }
    if load
        .language
        .as_deref()
        .is_some_and(|l| l != "en" && l != "auto")
    {
        tracing::warn!(
            "{} is an English-only model; ignoring language {:?}",
            model.display(),
            load.language
        );
    }
    Some("en".to_owned())
}
