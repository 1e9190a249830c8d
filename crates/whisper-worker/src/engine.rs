//! The loaded model and what the worker does with one chunk: read it, find speech, decode the
//! packed speech windows, map times back, drop hallucinations.

use std::path::Path;
use std::time::Instant;

use nightshift_worker_protocol::{LocalSegment, TranscribeItem, WhisperLoad};
use whisper_rs::{
    WhisperContext, WhisperContextParameters, WhisperState, WhisperVadContext,
    WhisperVadContextParams, WhisperVadParams,
};

use crate::decode::{DecodeOptions, decode};
use nightshift_asr::MIN_SAMPLES;
use nightshift_asr::guards::{drop_repetition_loops, worth_keeping};
use nightshift_asr::pack::{
    PackOptions, Piece, SAMPLE_RATE, Window, plan_windows, secs_to_samples,
};

/// Speech left in a window after whisper stopped early that is worth a second decode.
const MIN_TAIL_S: f64 = 1.0;

pub struct Engine {
    // Field order is drop order: the states and VAD are freed before the context they use.
    /// One per window decoded at once (`WhisperLoad::parallel`).
    states: Vec<WhisperState>,
    vad: Option<WhisperVadContext>,
    ctx: WhisperContext,
    threads: u32,
    /// Forced language; `None` = detect.
    language: Option<String>,
    /// Beam width, resolved at load (the caller's, else the model's default); 1 = greedy.
    beam_size: u32,
    eot_token: i32,
    device: String,
    model_name: String,
}

impl nightshift_asr::Engine for Engine {
    /// Load the model (and the VAD model, if asked).
    fn load(load: &WhisperLoad) -> Result<Engine, String> {
        let path = Path::new(&load.model_path);
        let model_name = nightshift_worker_protocol::whisper_model_name(path);
        if !path.is_file() {
            return Err(format!(
                "model file {} not found: get it with `nightshift models pull {model_name}` or \
                 set NIGHTSHIFT_MODELS to the folder that holds it",
                path.display()
            ));
        }
        let mut params = WhisperContextParameters::default();
        let use_gpu =
            load.use_gpu && cfg!(any(feature = "cuda", feature = "vulkan", feature = "metal"));
        params.use_gpu(use_gpu);
        let ctx = WhisperContext::new_with_params(path, params).map_err(|e| {
            format!(
                "cannot load whisper model {}: {e} (not a whisper.cpp ggml model, or damaged: \
                 re-download it with `nightshift models pull {model_name}`)",
                path.display()
            )
        })?;
        let threads = load.threads.max(1);
        let parallel = load
            .parallel
            .unwrap_or_else(|| auto_parallel(threads, use_gpu))
            .clamp(1, MAX_PARALLEL);
        let states = (0..parallel)
            .map(|_| ctx.create_state())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot set up whisper for {}: {e}", path.display()))?;
        let language = nightshift_asr::forced_language(load, ctx.is_multilingual(), path);
        let vad = match &load.vad_model_path {
            Some(vad_path) => Some(load_vad(vad_path, load.threads)?),
            None => None,
        };
        let multilingual = ctx.is_multilingual();
        Ok(Engine {
            states,
            vad,
            eot_token: ctx.token_eot(),
            ctx,
            threads,
            language,
            beam_size: load
                .beam_size
                .unwrap_or_else(|| default_beam_size(multilingual)),
            device: device_name(use_gpu),
            model_name,
        })
    }

    fn language(&self) -> Option<String> {
        self.language.clone()
    }

    fn transcribe(
        &mut self,
        samples: &[f32],
        item: &TranscribeItem,
    ) -> Result<(Option<String>, Vec<LocalSegment>), String> {
        self.transcribe_samples(samples, item)
    }

    fn model_name(&self) -> &str {
        &self.model_name
    }

    fn device(&self) -> &str {
        &self.device
    }
}

impl Engine {
    fn transcribe_samples(
        &mut self,
        samples: &[f32],
        item: &TranscribeItem,
    ) -> Result<(Option<String>, Vec<LocalSegment>), String> {
        let windows: Vec<Window> = self
            .plan(samples, item)?
            .into_iter()
            .filter(|w| w.len() >= MIN_SAMPLES)
            .collect();
        // No more states than the chunk has windows: a one-window chunk (a short clip) gets
        // every thread instead of leaving the other states' threads idle (64 five-second clips,
        // beam 5, 2 threads: 162 s on two states, 104 s on one). The count depends on the chunk
        // alone, so a resumed run decodes it the same way.
        let used = windows.len().clamp(1, self.states.len());
        let threads = self.threads_per_state(used);
        let detected = match &self.language {
            Some(_) => None,
            None => self.detect_language(samples, &windows, item)?,
        };
        let (language, eot_token, beam_size) = (
            detected.as_deref().or(self.language.as_deref()),
            self.eot_token,
            self.beam_size,
        );
        let prompt = item.prompt.clone().unwrap_or_default();
        let ctx = &self.ctx;
        // The chunk's prompt conditions its first window only: with a text prompt tiny.en
        // stops emitting timestamp tokens and returns the whole window as one segment, and
        // carrying words between windows did not help accuracy (meeting_01/02 pooled WER
        // 14.6 % with, 14.2 % without, same speed).
        let decode_one = |state: &mut WhisperState, first: bool, window: &Window| {
            // whisper.cpp seeds its first decoder's random generator once per state, and beam
            // search (it samples the candidates) and the temperature fallback draw from it: on
            // a state that decoded other windows before, the same audio can give other words.
            // A fresh state per window makes a window's text depend on its audio alone, so a
            // resumed run gives what an uninterrupted one gives, whichever state takes it.
            *state = ctx
                .create_state()
                .map_err(|e| format!("{}: cannot set up whisper: {e}", item.audio_path))?;
            let audio = window.gather(samples);
            let opts = DecodeOptions {
                threads,
                language,
                beam_size,
                prompt: if first { &prompt } else { "" },
                eot_token,
                audio_ctx: item
                    .fit_audio_ctx
                    .then(|| crate::decode::fitted_audio_ctx(audio.len())),
            };
            let t = Instant::now();
            let (raw, lang) = decode(state, &audio, &opts)
                .map_err(|e| format!("{}: whisper failed: {e}", item.audio_path))?;
            tracing::debug!(
                window_s = audio.len() as f64 / SAMPLE_RATE as f64,
                wall_s = t.elapsed().as_secs_f64(),
                segments = raw.len(),
                "window decoded"
            );
            // whisper sometimes ends a window early (a lone timestamp token reads as "no more
            // speech here") and the rest of the window is lost: on a packed window that is
            // speech by construction, so what is left is decoded as a window of its own.
            let last_end = raw.last().map_or(0.0, |s| s.end);
            let tail = window
                .tail_from(last_end)
                .filter(|t| last_end > 0.0 && t.len() >= secs_to_samples(MIN_TAIL_S));
            if let Some(t) = &tail {
                tracing::debug!(
                    last_end,
                    tail_s = t.len() as f64 / SAMPLE_RATE as f64,
                    "early stop: decoding the rest"
                );
            }
            let kept: Vec<_> = raw.into_iter().filter(worth_keeping).collect();
            Ok(crate::pool::Done {
                segments: nightshift_asr::remap::remap(window, &kept),
                language: lang,
                tail,
            })
        };
        let (segments, heard) =
            crate::pool::decode_all(&mut self.states[..used], windows, decode_one)?;
        let language = detected.or(heard).or_else(|| self.language.clone());
        Ok((language, drop_repetition_loops(segments)))
    }

    /// The chunk's language when the model has to find it: whisper's detector run once, on the
    /// chunk's longest window (the first such on a tie), and then given to every window.
    ///
    /// Left to itself, whisper.cpp detects the language inside every `full()` call with an
    /// encoder pass of its own, so each packed window paid for two encoder passes (base,
    /// meeting_01, 2 threads, `run --only audio` median of 3: 31.8 s → 23.3 s, same transcript).
    /// One language per chunk also keeps a short window, where detection is least sure, from
    /// switching language on its own. `None` when the detector gives nothing usable; each
    /// window then detects as before.
    fn detect_language(
        &mut self,
        samples: &[f32],
        windows: &[Window],
        item: &TranscribeItem,
    ) -> Result<Option<String>, String> {
        let Some(longest) = nightshift_asr::pack::longest_window(windows) else {
            return Ok(None);
        };
        let audio = longest.gather(samples);
        let threads = self.threads as usize;
        let state = &mut self.states[0];
        *state = self
            .ctx
            .create_state()
            .map_err(|e| format!("{}: cannot set up whisper: {e}", item.audio_path))?;
        state
            .pcm_to_mel(&audio, threads)
            .map_err(|e| format!("{}: whisper failed: {e}", item.audio_path))?;
        let (id, _) = state
            .lang_detect(0, threads)
            .map_err(|e| format!("{}: language detection failed: {e}", item.audio_path))?;
        let language = whisper_rs::get_lang_str(id).map(str::to_owned);
        tracing::debug!(?language, "chunk language detected");
        Ok(language)
    }

    /// Threads each of `used` states gets: the worker's threads shared out, at least one.
    fn threads_per_state(&self, used: usize) -> u32 {
        (self.threads / used.max(1) as u32).max(1)
    }

    /// Windows to decode: the packed speech spans from ingest, else from our own VAD, else the
    /// whole chunk as one identity-mapped window (whisper.cpp walks it in 30 s steps itself).
    fn plan(&mut self, samples: &[f32], item: &TranscribeItem) -> Result<Vec<Window>, String> {
        let spans = if !item.speech_spans.is_empty() {
            item.speech_spans.clone()
        } else if let Some(vad) = self.vad.as_mut() {
            let spans = vad_spans(vad, samples)
                .map_err(|e| format!("{}: VAD failed: {e}", item.audio_path))?;
            if spans.is_empty() {
                return Ok(Vec::new());
            }
            spans
        } else {
            return Ok(vec![Window {
                pieces: vec![Piece {
                    src_start: 0,
                    src_end: samples.len(),
                    packed_start: 0,
                }],
            }]);
        };
        let windows = plan_windows(&spans, samples, &PackOptions::default());
        tracing::debug!(
            windows = windows.len(),
            spans = spans.len(),
            "speech packed"
        );
        Ok(windows)
    }
}

/// Windows at once when the load does not say: a chunk of 60–120 s packs into a few windows,
/// so more states than this would mostly sit idle (and each holds its own buffers).
const MAX_PARALLEL: u32 = 8;

/// On a GPU one window at a time (the device is the bottleneck, and each state's buffers
/// take VRAM). On a CPU one window per thread: whisper's decoder steps are too small to keep
/// two threads busy on one window.
fn auto_parallel(threads: u32, use_gpu: bool) -> u32 {
    if use_gpu { 1 } else { threads.clamp(1, 4) }
}

fn load_vad(path: &str, threads: u32) -> Result<WhisperVadContext, String> {
    if !Path::new(path).is_file() {
        return Err(format!(
            "VAD model file {path} not found: get it with `nightshift models pull silero` or set \
             NIGHTSHIFT_MODELS"
        ));
    }
    let mut params = WhisperVadContextParams::default();
    params.set_n_threads(threads.max(1) as i32);
    WhisperVadContext::new(path, params).map_err(|e| format!("cannot load VAD model {path}: {e}"))
}

/// Speech spans (seconds) found by whisper.cpp's Silero VAD.
fn vad_spans(
    vad: &mut WhisperVadContext,
    samples: &[f32],
) -> Result<Vec<(f64, f64)>, whisper_rs::WhisperError> {
    let segs = vad.segments_from_samples(WhisperVadParams::default(), samples)?;
    // whisper-rs reports VAD times in centiseconds (DESIGN.md §6).
    Ok(segs
        .map(|s| (s.start as f64 / 100.0, s.end as f64 / 100.0))
        .collect())
}

/// "cpu", or the description ggml gives of the first GPU it uses.
fn device_name(use_gpu: bool) -> String {
    if !use_gpu {
        return "cpu".to_owned();
    }
    // SAFETY: ggml's device registry is initialised by the context load above, and these
    // calls only read it; the strings it returns live as long as the registry.
    unsafe {
        for i in 0..whisper_rs_sys::ggml_backend_dev_count() {
            let dev = whisper_rs_sys::ggml_backend_dev_get(i);
            if dev.is_null()
                || whisper_rs_sys::ggml_backend_dev_type(dev)
                    != whisper_rs_sys::ggml_backend_dev_type_GGML_BACKEND_DEVICE_TYPE_GPU
            {
                continue;
            }
            let desc = whisper_rs_sys::ggml_backend_dev_description(dev);
            if !desc.is_null() {
                return std::ffi::CStr::from_ptr(desc)
                    .to_string_lossy()
                    .into_owned();
            }
        }
    }
    "cpu".to_owned()
}

/// The beam width when the caller leaves it to the model. English-only models get whisper's own
/// 5: on held-out espeak clips (tiny.en, 64 each of two seeds) pooled WER went from 27.8 / 27.2 %
/// greedy to 22.1 / 22.7 %, and on meetings down 1.3–3.3 points, for ~20 % more time.
/// Multilingual models stay greedy: whisper.cpp's beam search samples its candidates, and with
/// base it dropped two of three sentences of a Spanish clip that greedy decoding kept.
fn default_beam_size(multilingual: bool) -> u32 {
    if multilingual { 1 } else { 5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beam_by_default_for_english_only_models_only() {
        assert_eq!(default_beam_size(false), 5);
        assert_eq!(default_beam_size(true), 1);
    }

    #[test]
    fn model_names_match_models_pull() {
        assert_eq!(
            nightshift_worker_protocol::whisper_model_name(Path::new("/m/ggml-tiny.en.bin")),
            "tiny.en"
        );
        assert_eq!(
            nightshift_worker_protocol::whisper_model_name(Path::new("ggml-base-q8_0.bin")),
            "base-q8_0"
        );
        assert_eq!(
            nightshift_worker_protocol::whisper_model_name(Path::new("weird")),
            "weird"
        );
    }
}
