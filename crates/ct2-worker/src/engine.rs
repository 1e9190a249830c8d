//! The loaded CTranslate2 model and what the worker does with one chunk: read it, pack its
//! speech into windows (the same packing as the whisper.cpp worker), encode and decode the
//! windows in batches, time every token by cross-attention alignment, map times back to the
//! chunk and drop hallucinations.
//!
//! Batched decoding is why this engine exists: CTranslate2 decodes a chunk's windows as
//! batches, so each decoder step's matrix products run on `batch` rows instead of one, where
//! whisper.cpp walks the windows one at a time. On a CPU the windows are also split between
//! model replicas, one per thread, decoding at the same time ([`MAX_CPU_REPLICAS`]).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};
use nightshift_asr::guards::{drop_repetition_loops, worth_keeping};
use nightshift_asr::pack::{
    PackOptions, SAMPLE_RATE, Window, plan_windows, samples_to_secs, secs_to_samples,
};
use nightshift_asr::{MIN_SAMPLES, RawSegment, RawToken};
use nightshift_worker_protocol::{LocalSegment, TranscribeItem, WhisperLoad};

use crate::mel::{FRAMES, MelExtractor};
use crate::pool::{Part, PartResult, Pool};
use crate::vocab::Vocabulary;

/// Speech left in a window after the model stopped early that is worth a second decode.
const MIN_TAIL_S: f64 = 1.0;
/// Timestamp tokens and encoder frames per second (20 ms apart).
const STEPS_PER_S: f64 = 50.0;
/// Mel frames per second.
const MEL_FPS: usize = 100;
/// The DTW's median filter over the alignment heads' attention (whisper's and faster-whisper's).
const MEDIAN_FILTER: i64 = 7;
/// Whisper's encoder is trained on 30 s of features, the audio zero-padded, but runs on fewer
/// frames (CTranslate2 takes any length up to 3000): a window gets only as many as its audio
/// needs ([`encoder_frames`]), which makes a short window's encoder pass and its decoder's
/// cross-attention cheaper. Measured with `scripts/bench-asr.sh` (tiny.en, beam 5, 2 threads,
/// median of 3) on meeting_01/02/03: 30 s for every window 2.82 / 3.42 / 4.33 s at WER
/// 15.0 / 10.6 / 11.7 %; these lengths 2.62 / 3.12 / 4.02 s at 13.1 / 10.9 / 11.1 %. On 60
/// generated espeak clips of 4–6 s (`scripts/bench-corpus.sh`, gen_corpus.py seed 5) pooled WER
/// by the floor: 30 s 25.6 %, 20 s 24.0 %, 15 s 23.7 %, 10 s 22.4 %, 5 s 36.1 % (the model
/// drops words when its input is hardly longer than the speech). On 120 more (seed 6): 30 s
/// 24.9 %, 25 s 22.7 %, 20 s 22.3 %, 15 s 22.3 %. But a real 3.9 s LibriSpeech clip lost a
/// word ("walked" → "walks") below 20 s (17.5 s and 15 s; right at 20, 25 and 30 s), so the
/// floor sits at 20 s: no worse on the generated clips, and real speech as at 30 s.
const ENCODER_MIN: usize = 2000;
/// Frames of padding kept after a window's audio (1 s).
const ENCODER_MARGIN: usize = 100;
/// Encoder lengths come in steps of 5 s, so windows of similar length still batch together.
const ENCODER_STEP: usize = 500;
/// Beam width when the load does not say. CTranslate2's beam search is deterministic (it does
/// not sample its candidates as whisper.cpp's does), so multilingual models get it too.
/// Measured on the corpus meetings (tiny.en, 2 threads, `scripts/bench-asr.sh`, WER of
/// meeting_01/02/03): greedy 29.4 / 13.6 / 15.2 %, beam 5 15.0 / 10.6 / 11.7 % for ~15 % more
/// time; with timestamp tokens instead of plain text, greedy 18.8 / 14.4 / 16.1 %, beam 5
/// 15.9 / 11.1 / 12.7 %.
const DEFAULT_BEAM: u32 = 5;
/// Windows decoded as one batch when the load does not say: a 60–120 s chunk packs into 3–5
/// windows, so this takes a whole chunk at once; faster-whisper's batched pipeline uses 8 too.
/// It applies on a GPU and on one CPU thread; with several CPU replicas each window is decoded
/// alone (see [`Pool`]), which costs nothing on a CPU: on one thread the corpus meetings took
/// 3.00 / 3.53 / 4.91 s with batches of one window and 3.20 / 3.59 / 4.80 s with batches of up
/// to 8 (`THREADS=1 ASR_PARALLEL=1|8 scripts/bench-asr.sh`, median of 2).
const DEFAULT_BATCH: usize = 8;
/// On a CPU, the model is loaded as this many replicas at most (CTranslate2 shares their
/// weights), one per thread, and a chunk's windows are split between them and decoded at the
/// same time. A decoder step's matrices are too small for two threads to share well: on
/// meeting_01 (tiny.en, 2 threads) one replica of two threads decoded the two chunks in 2.4 +
/// 1.9 s, two replicas of one thread in 1.5 + 1.3 s, with the same transcript. A one-window
/// chunk then runs on one thread: the nine 5 s corpus clips took 4.0 s against 3.8 s on one
/// two-thread replica; two two-thread replicas (oversubscribed) gave the clips their 3.8 s back
/// but cost the meetings 15–20 %.
const MAX_CPU_REPLICAS: usize = 4;

/// The loaded model and the ASR worker's engine: chunks decoded on the calling thread with one
/// replica, or on the replicas' threads ([`Pool`]), where the next chunk starts as soon as a
/// replica is free.
pub struct Engine {
    core: Arc<Core>,
    /// Replica threads, when there are several replicas.
    pool: Option<Pool>,
    /// Chunks started early (`prepare`), in the order they will be asked for.
    started: VecDeque<Started>,
}

/// A chunk whose windows are being decoded on the replicas: its language and one answer per
/// part, in window order.
struct Started {
    job_id: i64,
    language: Option<String>,
    parts: Result<Vec<PartAnswer>, String>,
}

/// A part's answer: on its way, or in.
struct PartAnswer {
    from: Receiver<PartResult>,
    got: Option<PartResult>,
}

impl PartAnswer {
    /// Whether the answer is in (taken from the channel if it just came).
    fn arrived(&mut self) -> bool {
        if self.got.is_none() {
            match self.from.try_recv() {
                Ok(r) => self.got = Some(r),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => {
                    self.got = Some(Err("a decode thread stopped".into()));
                }
            }
        }
        true
    }

    /// The answer, waiting for it if needed.
    fn take(self) -> PartResult {
        match self.got {
            Some(r) => r,
            None => self
                .from
                .recv()
                .map_err(|_| "a decode thread stopped".to_string())?,
        }
    }
}

/// What decodes: the model and how it is used, shared with the replicas' threads.
pub(crate) struct Core {
    whisper: Whisper,
    vocab: Vocabulary,
    mel: MelExtractor,
    /// Forced language (always `en` for an English-only model); `None` = detect once per chunk.
    language: Option<String>,
    multilingual: bool,
    beam_size: usize,
    batch: usize,
    device: String,
    model_name: String,
}

/// One window's decode, before mapping to chunk time.
struct Decoded {
    segments: Vec<RawSegment>,
    /// Where the last word heard ends, in window time (0 when nothing was heard).
    last_end: f64,
}

impl nightshift_asr::Engine for Engine {
    fn load(load: &WhisperLoad) -> Result<Engine, String> {
        let dir = Path::new(&load.model_path);
        let model_name = dir.file_name().map_or_else(
            || load.model_path.clone(),
            |n| n.to_string_lossy().into_owned(),
        );
        if !dir.join("model.bin").is_file() {
            return Err(format!(
                "CTranslate2 model {} not found (a folder with model.bin, config.json and \
                 vocabulary.txt): get it with `nightshift models pull ct2-tiny.en` (or \
                 `ct2-base`), or point asr_model at a converted model",
                dir.display()
            ));
        }
        let use_gpu = load.use_gpu && cfg!(feature = "cuda");
        let threads = load.threads.max(1) as usize;
        let replicas = if use_gpu {
            1
        } else {
            threads.min(MAX_CPU_REPLICAS)
        };
        let config = Config {
            device: if use_gpu { Device::CUDA } else { Device::CPU },
            // int8 weights; activations in float16 on a GPU, float32 on a CPU.
            compute_type: if use_gpu {
                ComputeType::INT8_FLOAT16
            } else {
                ComputeType::INT8
            },
            num_threads_per_replica: (threads / replicas).max(1),
            device_indices: vec![0; replicas],
            ..Default::default()
        };
        let whisper = Whisper::new(dir, config).map_err(|e| {
            format!(
                "cannot load CTranslate2 model {}: {e} (not a converted whisper model, or \
                 damaged)",
                dir.display()
            )
        })?;
        let vocab = Vocabulary::load(dir)?;
        let multilingual = whisper.is_multilingual();
        let language = nightshift_asr::forced_language(load, multilingual, dir);
        if let Some(l) = &language
            && vocab.language_token(l).is_none()
        {
            return Err(format!(
                "{}: the model knows no language {l:?}",
                dir.display()
            ));
        }
        let core = Arc::new(Core {
            mel: MelExtractor::new(whisper.n_mels()),
            whisper,
            vocab,
            language,
            multilingual,
            beam_size: load.beam_size.unwrap_or(DEFAULT_BEAM).max(1) as usize,
            batch: load.parallel.map_or(DEFAULT_BATCH, |p| p.max(1) as usize),
            device: if use_gpu { "cuda" } else { "cpu" }.to_owned(),
            model_name,
        });
        Ok(Engine {
            pool: if replicas > 1 {
                Some(Pool::new(&core, replicas)?)
            } else {
                None
            },
            core,
            started: VecDeque::new(),
        })
    }

    fn model_name(&self) -> &str {
        &self.core.model_name
    }

    fn device(&self) -> &str {
        &self.core.device
    }

    fn language(&self) -> Option<String> {
        self.core.language.clone()
    }

    fn prepare(&mut self, samples: &Arc<Vec<f32>>, item: &TranscribeItem) {
        let Some(pool) = &self.pool else { return };
        let (language, parts) = match self.core.plan(samples, item) {
            Ok((language, windows)) => {
                // One part per window: the pool hands out the longest queued part first.
                let parts = windows
                    .into_iter()
                    .map(|window| PartAnswer {
                        from: pool.start(Part {
                            window,
                            samples: Arc::clone(samples),
                            language: language.clone(),
                        }),
                        got: None,
                    })
                    .collect();
                (language, Ok(parts))
            }
            Err(e) => (None, Err(e)),
        };
        self.started.push_back(Started {
            job_id: item.job_id,
            language,
            parts,
        });
    }

    fn ready(&mut self, item: &TranscribeItem) -> bool {
        match self.started.front_mut() {
            Some(s) if s.job_id == item.job_id => match &mut s.parts {
                Ok(parts) => parts.iter_mut().all(PartAnswer::arrived),
                Err(_) => true,
            },
            _ => true,
        }
    }

    fn transcribe(
        &mut self,
        samples: &[f32],
        item: &TranscribeItem,
    ) -> Result<(Option<String>, Vec<LocalSegment>), String> {
        let result = if self.pool.is_some() {
            if self.started.front().is_none_or(|s| s.job_id != item.job_id) {
                self.prepare(&Arc::new(samples.to_vec()), item);
            }
            finish(self.started.pop_front().expect("started just now"))
        } else {
            self.core.transcribe_samples(samples, item)
        };
        result.map_err(|e| format!("{}: {e}", item.audio_path))
    }
}

/// A started chunk's segments: its parts' answers in window order.
fn finish(started: Started) -> Result<(Option<String>, Vec<LocalSegment>), String> {
    let mut segments = Vec::new();
    for part in started.parts? {
        segments.extend(part.take()?);
    }
    Ok((started.language, drop_repetition_loops(segments)))
}

impl Core {
    /// The chunk's language and its windows: the speech spans from ingest (without them the
    /// whole chunk is one span, which the planner cuts into ≤ 30 s windows at its quietest
    /// points) packed into windows.
    fn plan(
        &self,
        samples: &[f32],
        item: &TranscribeItem,
    ) -> Result<(Option<String>, Vec<Window>), String> {
        let spans = if item.speech_spans.is_empty() {
            vec![(0.0, samples.len() as f64 / SAMPLE_RATE as f64)]
        } else {
            item.speech_spans.clone()
        };
        let windows: Vec<Window> = plan_windows(&spans, samples, &PackOptions::default())
            .into_iter()
            .filter(|w| w.len() >= MIN_SAMPLES)
            .collect();
        let language = match &self.language {
            Some(l) => Some(l.clone()),
            None => self.detect_language(samples, &windows)?,
        };
        Ok((language, windows))
    }

    /// One chunk on the calling thread (one replica).
    fn transcribe_samples(
        &self,
        samples: &[f32],
        item: &TranscribeItem,
    ) -> Result<(Option<String>, Vec<LocalSegment>), String> {
        let (language, windows) = self.plan(samples, item)?;
        let segments = self.decode_part(&windows, samples, language.as_deref())?;
        Ok((language, drop_repetition_loops(segments)))
    }

    /// The segments of `windows` in chunk time, in order: the windows decoded in batches, then
    /// the tails of those the model stopped early.
    pub(crate) fn decode_part(
        &self,
        windows: &[Window],
        samples: &[f32],
        language: Option<&str>,
    ) -> Result<Vec<LocalSegment>, String> {
        let audio: Vec<Vec<f32>> = windows.iter().map(|w| w.gather(samples)).collect();
        let mut decoded = self.decode_serial(&audio, language, Mode::Text)?;

        // A window whose text is far too short for its speech was cut off by the model, but
        // the cross-attention alignment then spreads that text over the whole window, so no
        // tail shows. Such windows are decoded again with whisper's timestamps, which end where
        // the text ends; the rest of the window is then decoded as a tail, below.
        let thin: Vec<usize> = (0..windows.len())
            .filter(|&i| spaced(language) && too_few_words(&windows[i], &decoded[i]))
            .collect();
        if !thin.is_empty() {
            let again_audio: Vec<&[f32]> = thin.iter().map(|&i| audio[i].as_slice()).collect();
            let again = self.decode_serial(&again_audio, language, Mode::Timestamps)?;
            for (&i, d) in thin.iter().zip(again) {
                tracing::debug!(
                    window_s = samples_to_secs(windows[i].len()),
                    words = word_count(&decoded[i]),
                    again_words = word_count(&d),
                    again_heard_until = d.last_end,
                    "too few words for the window's speech: decoded again with timestamps"
                );
                if word_count(&d) > word_count(&decoded[i]) || tail_of(&windows[i], &d).is_some() {
                    decoded[i] = d;
                }
            }
        }

        // The model sometimes ends its text before the window's speech ends (tiny.en lost a
        // meeting's closing recap this way) and the rest is lost: on a packed window that is
        // speech by construction, so what is left after the last aligned word is decoded as
        // windows of their own, in one more batch.
        let tails: Vec<Option<Window>> = windows
            .iter()
            .zip(&decoded)
            .map(|(w, d)| tail_of(w, d))
            .collect();
        let tail_audio: Vec<Vec<f32>> = tails.iter().flatten().map(|t| t.gather(samples)).collect();
        let mut tail_decoded = self
            .decode_serial(&tail_audio, language, Mode::Text)?
            .into_iter();

        let mut segments = Vec::new();
        for ((window, d), tail) in windows.iter().zip(&decoded).zip(&tails) {
            segments.extend(remap_kept(window, &d.segments));
            if let Some(t) = tail {
                let td = tail_decoded.next().expect("one decode per tail");
                segments.extend(remap_kept(t, &td.segments));
            }
        }
        Ok(segments)
    }

    /// Decode `audio` in batches of at most `self.batch` on the calling thread; the results in
    /// the order of `audio`.
    fn decode_serial<A: AsRef<[f32]>>(
        &self,
        audio: &[A],
        language: Option<&str>,
        mode: Mode,
    ) -> Result<Vec<Decoded>, String> {
        // A window is batched only with windows of its own encoder length, so its transcript
        // does not depend on what it is batched with.
        let frames: Vec<usize> = audio
            .iter()
            .map(|a| encoder_frames(a.as_ref().len()))
            .collect();
        let mut lengths = frames.clone();
        lengths.sort_unstable();
        lengths.dedup();
        let mut out: Vec<Option<Decoded>> = (0..audio.len()).map(|_| None).collect();
        for &len in lengths.iter().rev() {
            let same: Vec<usize> = (0..audio.len()).filter(|&i| frames[i] == len).collect();
            for group in same.chunks(self.batch) {
                let clips: Vec<&[f32]> = group.iter().map(|&i| audio[i].as_ref()).collect();
                for (&i, d) in group
                    .iter()
                    .zip(self.decode_group(&clips, language, len, mode)?)
                {
                    out[i] = Some(d);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every window is in one group"))
            .collect())
    }

    /// The start of every decode: `<|startoftranscript|>`, and for a multilingual model the
    /// language and `<|transcribe|>`.
    fn prompt(&self, language: Option<&str>) -> Vec<usize> {
        let mut p = vec![self.vocab.sot];
        if self.multilingual {
            let lang = language
                .and_then(|l| self.vocab.language_token(l))
                .or_else(|| self.vocab.language_token("en"));
            p.extend(lang);
            p.push(self.vocab.transcribe);
        }
        p
    }

    /// Decode windows that share the encoder length `frames` (see [`encoder_frames`]) as one
    /// batch.
    fn decode_group(
        &self,
        group: &[&[f32]],
        language: Option<&str>,
        frames: usize,
        mode: Mode,
    ) -> Result<Vec<Decoded>, String> {
        let t = Instant::now();
        let mut feats = Vec::with_capacity(group.len() * self.mel.n_mels() * frames);
        for a in group {
            self.mel.extract_into(a, frames, &mut feats);
        }
        let view = StorageView::new(
            &[group.len(), self.mel.n_mels(), frames],
            &mut feats,
            Device::CPU,
        )
        .map_err(|e| format!("CTranslate2 input: {e}"))?;
        let encoded = self
            .whisper
            .encode(&view, false)
            .map_err(|e| format!("CTranslate2 encoder failed: {e}"))?;
        let t_enc = t.elapsed().as_secs_f64();

        let prompt = self.prompt(language);
        // Plain text, no timestamp tokens: segments are cut at sentence ends at the aligned word
        // times instead (`split_sentences`).
        let mut decode_prompt = prompt.clone();
        if mode == Mode::Text {
            decode_prompt.push(self.vocab.no_timestamps);
        }
        let prompt_tokens: Vec<&str> = decode_prompt
            .iter()
            .map(|&id| self.vocab.token(id))
            .collect();
        let opts = WhisperOptions {
            beam_size: self.beam_size,
            return_no_speech_prob: true,
            ..Default::default()
        };
        let results = self
            .whisper
            .generate(&encoded, &vec![prompt_tokens; group.len()], &opts)
            .map_err(|e| format!("CTranslate2 decoder failed: {e}"))?;
        let t_gen = t.elapsed().as_secs_f64() - t_enc;

        let parsed: Vec<Vec<Span>> = results
            .iter()
            .zip(group)
            .map(|(r, a)| {
                let ids = r.sequences_ids.first().map_or(&[][..], Vec::as_slice);
                split_by_timestamps(ids, &self.vocab, a.len() as f64 / SAMPLE_RATE as f64)
            })
            .collect();
        let text_tokens: Vec<Vec<usize>> = parsed
            .iter()
            .map(|spans| {
                spans
                    .iter()
                    .flat_map(|s| s.tokens.iter().copied())
                    .collect()
            })
            .collect();
        let num_frames: Vec<usize> = group
            .iter()
            .map(|a| (a.len() * MEL_FPS / SAMPLE_RATE).min(frames))
            .collect();
        let aligned = self
            .whisper
            .align(&encoded, &prompt, &text_tokens, &num_frames, MEDIAN_FILTER)
            .map_err(|e| format!("CTranslate2 word alignment failed: {e}"))?;
        tracing::debug!(
            windows = group.len(),
            encode_s = t_enc,
            generate_s = t_gen,
            align_s = t.elapsed().as_secs_f64() - t_enc - t_gen,
            "batch decoded"
        );

        Ok(parsed
            .into_iter()
            .zip(&text_tokens)
            .zip(&aligned)
            .zip(&results)
            .map(|(((spans, tokens), al), r)| {
                let times = token_times(
                    tokens.len(),
                    al.alignments.iter().map(|a| (a.token_x, a.frame_x)),
                );
                let probs = &al.text_token_probs;
                let mut k = 0usize;
                let segments: Vec<RawSegment> = spans
                    .into_iter()
                    .map(|span| {
                        let raw_tokens: Vec<RawToken> = span
                            .tokens
                            .iter()
                            .map(|&id| {
                                let (t0, t1) = times.get(k).copied().unwrap_or((-1.0, -1.0));
                                let p = probs.get(k).copied().unwrap_or(0.0);
                                k += 1;
                                RawToken {
                                    bytes: self.vocab.token_bytes(id),
                                    t0,
                                    t1,
                                    p,
                                }
                            })
                            .collect();
                        raw_segment(span.start, span.end, raw_tokens, r.no_speech_prob)
                    })
                    .flat_map(split_sentences)
                    .collect();
                Decoded {
                    last_end: segments.last().map_or(0.0, heard_until),
                    segments,
                }
            })
            .collect())
    }

    /// The chunk's language for a multilingual model left to detect it: the model's detector
    /// on the chunk's longest window (the first such on a tie), then used for every window.
    fn detect_language(
        &self,
        samples: &[f32],
        windows: &[Window],
    ) -> Result<Option<String>, String> {
        let Some(longest) = nightshift_asr::pack::longest_window(windows) else {
            return Ok(None);
        };
        let mut feats = Vec::new();
        self.mel
            .extract_into(&longest.gather(samples), FRAMES, &mut feats);
        let view = StorageView::new(&[1, self.mel.n_mels(), FRAMES], &mut feats, Device::CPU)
            .map_err(|e| format!("CTranslate2 input: {e}"))?;
        let found = self
            .whisper
            .detect_language(&view)
            .map_err(|e| format!("language detection failed: {e}"))?;
        let best = found.first().and_then(|langs| langs.first());
        Ok(best.map(|d| {
            d.language
                .trim_start_matches("<|")
                .trim_end_matches("|>")
                .to_owned()
        }))
    }
}

/// The encoder length, in mel frames, of a window of `samples`: its audio and
/// [`ENCODER_MARGIN`], rounded up to a whole [`ENCODER_STEP`], at least [`ENCODER_MIN`] and at
/// most whisper's 30 s. A function of the window alone, so a window decodes the same in any
/// batch.
fn encoder_frames(samples: usize) -> usize {
    let need = (samples * MEL_FPS).div_ceil(SAMPLE_RATE) + ENCODER_MARGIN;
    (need.div_ceil(ENCODER_STEP) * ENCODER_STEP).clamp(ENCODER_MIN, FRAMES)
}

/// How a window is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain text (`<|notimestamps|>`), timed by the alignment: the usual decode.
    Text,
    /// With whisper's timestamp tokens, whose last one says where the model stopped.
    Timestamps,
}

/// Windows of at least this much audio are checked for too short a text.
const THIN_MIN_S: f64 = 8.0;
/// Fewer words per second of a window's audio than this means the model stopped early. Packed
/// windows are speech: on the shared corpus (real speech and meetings) windows of 8 s or more
/// carried at least 2.17 words/s, on 36 generated espeak meetings (gen_corpus.py seeds 1–3, 7)
/// at least 1.74 except where the model had stopped after a sentence or two (0.36–1.32).
const THIN_WORDS_PER_S: f64 = 1.5;

fn word_count(d: &Decoded) -> usize {
    d.segments
        .iter()
        .map(|s| s.text.split_whitespace().count())
        .sum()
}

/// Whether `language` (None: English-only model) puts spaces between words, so that words per
/// second can tell a cut-off text ([`too_few_words`]); Chinese, Japanese, Thai and the like
/// do not.
fn spaced(language: Option<&str>) -> bool {
    !matches!(
        language,
        Some("zh" | "ja" | "th" | "lo" | "km" | "my" | "yue" | "bo")
    )
}

/// Whether `d` has too few words for the speech in `window` (see [`THIN_WORDS_PER_S`]).
fn too_few_words(window: &Window, d: &Decoded) -> bool {
    let secs = samples_to_secs(window.len());
    secs >= THIN_MIN_S && (word_count(d) as f64) < THIN_WORDS_PER_S * secs
}

/// What is left of `window` after the last word the model heard, when it is worth a decode.
fn tail_of(window: &Window, d: &Decoded) -> Option<Window> {
    window
        .tail_from(d.last_end)
        .filter(|t| d.last_end > 0.0 && t.len() >= secs_to_samples(MIN_TAIL_S))
}

/// A window's segments worth keeping (not silence the model talked into, not punctuation
/// alone), in chunk time.
fn remap_kept(window: &Window, segs: &[RawSegment]) -> Vec<LocalSegment> {
    let kept: Vec<RawSegment> = segs.iter().filter(|s| worth_keeping(s)).cloned().collect();
    nightshift_asr::remap::remap(window, &kept)
}

/// One segment of a decoded window: its timestamps (window time) and text token ids.
#[derive(Debug, PartialEq)]
struct Span {
    start: f64,
    end: f64,
    tokens: Vec<usize>,
}

/// Cut a decoded token sequence into segments at its timestamp tokens: a timestamp after
/// text closes a segment, one before text opens the next. Text after the last timestamp runs
/// to the end of the window's audio (`duration`). Special tokens other than timestamps are
/// dropped.
fn split_by_timestamps(ids: &[usize], vocab: &Vocabulary, duration: f64) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut start: Option<f64> = None;
    let mut last_time = 0.0;
    let mut text = Vec::new();
    for &id in ids {
        if id >= vocab.timestamp_begin {
            let t = ((id - vocab.timestamp_begin) as f64 / STEPS_PER_S).min(duration);
            if text.is_empty() {
                start = Some(t);
            } else {
                let s = start.take().unwrap_or(last_time);
                spans.push(Span {
                    start: s,
                    end: t.max(s),
                    tokens: std::mem::take(&mut text),
                });
            }
            last_time = t;
        } else if id < vocab.eot {
            text.push(id);
        }
    }
    if !text.is_empty() {
        let s = start.unwrap_or(last_time);
        spans.push(Span {
            start: s,
            end: duration.max(s),
            tokens: text,
        });
    }
    spans
}

/// Each text token's (start, end) in window time from the DTW path (text index, encoder frame),
/// as faster-whisper reads it: a token starts at the first frame the path reaches it, and ends
/// where the next token (the end-of-text after the last) starts. `n` text tokens; tokens the
/// path does not cover get (-1, -1), which `remap` reads as "no usable times".
fn token_times(n: usize, path: impl Iterator<Item = (i64, i64)>) -> Vec<(f64, f64)> {
    let mut first_frame: Vec<Option<i64>> = vec![None; n + 1];
    for (token, frame) in path {
        if let Some(slot) = usize::try_from(token)
            .ok()
            .and_then(|t| first_frame.get_mut(t))
            && slot.is_none()
        {
            *slot = Some(frame);
        }
    }
    (0..n)
        .map(|k| match (first_frame[k], first_frame[k + 1]) {
            (Some(a), Some(b)) => (a as f64 / STEPS_PER_S, b.max(a) as f64 / STEPS_PER_S),
            (Some(a), None) => (a as f64 / STEPS_PER_S, a as f64 / STEPS_PER_S),
            _ => (-1.0, -1.0),
        })
        .collect()
}

/// Where the model stopped hearing speech in a segment: its last word's aligned end when the
/// words are timed (a segment the model closed without a timestamp claims the whole rest of
/// the window), else the segment's end.
fn heard_until(seg: &RawSegment) -> f64 {
    match seg.tokens.last() {
        Some(t) if t.t0 >= 0.0 => t.t1.min(seg.end),
        _ => seg.end,
    }
}

/// A window decoded as plain text, cut into one segment per sentence (after a token ending in
/// `.`, `?` or `!`) at its tokens' aligned times. Untimed text stays one segment.
fn split_sentences(seg: RawSegment) -> Vec<RawSegment> {
    if seg.tokens.is_empty() || seg.tokens.iter().any(|t| t.t0 < 0.0) {
        return vec![seg];
    }
    let mut out = Vec::new();
    let mut current: Vec<RawToken> = Vec::new();
    for tok in seg.tokens {
        let ends = matches!(tok.bytes.trim_ascii_end().last(), Some(b'.' | b'?' | b'!'));
        current.push(tok);
        if ends {
            let toks = std::mem::take(&mut current);
            out.push(raw_segment(
                toks[0].t0,
                toks[toks.len() - 1].t1,
                toks,
                seg.no_speech_prob,
            ));
        }
    }
    if !current.is_empty() {
        out.push(raw_segment(
            current[0].t0,
            current[current.len() - 1].t1,
            current,
            seg.no_speech_prob,
        ));
    }
    out
}

/// A segment with its text spelled from its tokens and whisper's confidence: the mean
/// log-probability of its tokens.
fn raw_segment(start: f64, end: f64, tokens: Vec<RawToken>, no_speech_prob: f32) -> RawSegment {
    let bytes: Vec<u8> = tokens
        .iter()
        .flat_map(|t| t.bytes.iter().copied())
        .collect();
    let avg_logprob = if tokens.is_empty() {
        0.0
    } else {
        tokens.iter().map(|t| t.p.max(1e-10).ln()).sum::<f32>() / tokens.len() as f32
    };
    RawSegment {
        start,
        end,
        text: String::from_utf8_lossy(&bytes).trim().to_owned(),
        no_speech_prob,
        avg_logprob,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(v: &Vocabulary, t: f64) -> usize {
        v.timestamp_begin + (t * STEPS_PER_S).round() as usize
    }

    fn vocab() -> Vocabulary {
        crate::vocab::tests::vocab()
    }

    #[test]
    fn timestamps_cut_the_sequence_into_segments() {
        let v = vocab();
        let ids = [
            ts(&v, 0.0),
            0,
            1,
            ts(&v, 1.2),
            ts(&v, 1.4),
            3,
            ts(&v, 2.0),
            v.eot,
        ];
        assert_eq!(
            split_by_timestamps(&ids, &v, 5.0),
            vec![
                Span {
                    start: 0.0,
                    end: 1.2,
                    tokens: vec![0, 1]
                },
                Span {
                    start: 1.4,
                    end: 2.0,
                    tokens: vec![3]
                },
            ]
        );
    }

    #[test]
    fn text_without_a_closing_timestamp_runs_to_the_end_of_the_audio() {
        let v = vocab();
        let ids = [ts(&v, 0.5), 0, 1, v.eot];
        assert_eq!(
            split_by_timestamps(&ids, &v, 3.0),
            vec![Span {
                start: 0.5,
                end: 3.0,
                tokens: vec![0, 1]
            }]
        );
        assert!(split_by_timestamps(&[ts(&v, 0.0), v.eot], &v, 3.0).is_empty());
    }

    #[test]
    fn a_window_with_far_too_few_words_for_its_speech_is_found() {
        let window = |secs: f64| Window {
            pieces: vec![nightshift_asr::pack::Piece {
                src_start: 0,
                src_end: secs_to_samples(secs),
                packed_start: 0,
            }],
        };
        let decoded = |words: usize| Decoded {
            segments: vec![raw_segment(
                0.0,
                1.0,
                vec![RawToken {
                    bytes: vec!["word "; words].concat().into_bytes(),
                    t0: 0.0,
                    t1: 1.0,
                    p: 0.9,
                }],
                0.0,
            )],
            last_end: 1.0,
        };
        // A sentence for 26 s of speech: the model stopped early.
        assert!(too_few_words(&window(26.0), &decoded(14)));
        // Slow but whole speech (2 words/s), and short windows, are left alone.
        assert!(!too_few_words(&window(26.0), &decoded(52)));
        assert!(!too_few_words(&window(6.0), &decoded(2)));
        assert_eq!(word_count(&decoded(7)), 7);
        // Words are counted between spaces, so languages written without them are not checked.
        assert!(spaced(None) && spaced(Some("en")) && spaced(Some("de")));
        assert!(!spaced(Some("zh")) && !spaced(Some("ja")) && !spaced(Some("th")));
    }

    #[test]
    fn a_window_gets_the_encoder_length_its_audio_needs() {
        let secs = |s: f64| (s * SAMPLE_RATE as f64) as usize;
        // Short windows: the floor.
        assert_eq!(encoder_frames(secs(0.5)), ENCODER_MIN);
        assert_eq!(encoder_frames(secs(13.9)), 2000);
        // The audio and a second of margin, in whole 5 s steps.
        assert_eq!(encoder_frames(secs(19.0)), 2000);
        assert_eq!(encoder_frames(secs(19.5)), 2500);
        // A full window: whisper's 30 s, never more.
        assert_eq!(encoder_frames(secs(29.5)), FRAMES);
        assert_eq!(encoder_frames(secs(40.0)), FRAMES);
    }

    #[test]
    fn a_token_runs_from_its_first_frame_to_the_next_tokens() {
        // Path over 2 text tokens and the end-of-text (index 2).
        let path = [(0, 10), (0, 11), (1, 15), (1, 16), (2, 30)];
        assert_eq!(
            token_times(2, path.into_iter()),
            vec![(0.2, 0.3), (0.3, 0.6)]
        );
        // A token the path never reaches has no times.
        assert_eq!(
            token_times(2, [(0, 10)].into_iter()),
            vec![(0.2, 0.2), (-1.0, -1.0)]
        );
    }
}
