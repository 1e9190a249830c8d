//! The diarization pipeline over a meeting made of speech spans (the stored chunks):
//!
//! 1. **Segmentation** in 10 s windows sliding by `step_s` inside each span: per frame
//!    (270 samples, 16.9 ms) which of 3 *local* speakers talk, overlap included.
//! 2. **Embeddings**: a fixed grid of cells (0.82 s every 0.6 s) marks where some local speaker
//!    talks alone. Each local speaker's clean cells are cut into pieces of ~2.6 s at fixed grid
//!    positions, one clustering item each, embedded as one clip; a piece two overlapping windows
//!    both see is embedded once (short turns get one embedding of their own clean audio).
//! 3. **Clustering** of all pieces of the meeting by centroid (cosine, with slack for small
//!    clusters: see `cluster`), the count from a threshold or the user's hints; clusters with
//!    little speech are folded into their nearest neighbour, then k-means rounds let each piece
//!    move to its nearest centroid.
//! 4. **Timbre** (`timbre`, unless the user hinted an exact count): each piece's cepstra as a
//!    full-covariance Gaussian. Clusters whose pooled Gaussians are alike (ΔBIC per frame
//!    under `merge_score`) merge; a cluster whose pieces split into two clearly different
//!    Gaussians (over `split_score`) becomes two speakers. This parts voices CAM++ places
//!    closer together than one voice's own pieces.
//! 5. **Reconstruction** on the global frame grid: each frame keeps as many speakers as the
//!    windows covering it saw on average, the ones with the highest aggregated activity.
//!    Frames of a local speaker take the cluster of its nearest piece; local speakers without
//!    any piece take the cluster they agree with most.
//!
//! Defaults were chosen on the development corpus with CAM++ embeddings (`examples/tune.rs` in
//! the worker crate): with size slack 0.12, every file gets its exact speaker count for
//! thresholds 0.10–0.13 (0.115 sits in the middle); DER does not change inside that range.
//! The timbre scores were chosen on generated meetings (`scripts/gen_corpus.py --meetings 12`,
//! seeds 1, 2, 3, 7, 8, 9, 10, 11: 96 meetings): the exact speaker count went from 66/96 to
//! 87/96 at split 0.7 and merge 0.36 (merge 0.3–0.45 alike, 0.24 gives 85; split 0.56 and
//! 0.84 lose 2–5). On seeds 12 and 13, not looked at before the split was chosen: 20/24 →
//! 23/24. The development corpus is unchanged (4/4).

use std::sync::Arc;
use std::time::Instant;

use crate::DiarizeError;
use crate::cluster::{self, CountHints, normalized};
use crate::segmentation::{self, FRAMES, LOCAL_SPEAKERS, SAMPLE_RATE, Segmenter, WINDOW_SAMPLES};
use crate::timbre::{self, Moments};

/// Samples between two segmentation frames (the network's total stride, 10 · 3 · 3 · 3).
pub const FRAME_STEP: usize = 270;
/// Offset of frame 0's centre from the window start (half the receptive field, 991 samples).
const FRAME_CENTER: usize = 495;
/// Clean-speech cells: a fixed grid of 0.82 s cells every 0.6 s per span. A cell belongs to a
/// local speaker when ≥ 90 % of it is that speaker talking alone.
pub const CELL_SAMPLES: usize = 13_152;
const GRID_STEP: usize = 9_600;
const GRID_STEP_S: f32 = GRID_STEP as f32 / SAMPLE_RATE as f32;

/// A speaker embedding model.
pub trait Embedder {
    /// Embedding size.
    fn dim(&self) -> usize;
    /// One L2-normalised embedding per clip of 16 kHz mono samples, `clips.len() × dim`.
    fn embed(&mut self, clips: &[&[f32]]) -> Result<Vec<f32>, DiarizeError>;
}

impl Embedder for crate::campplus::CamPlus {
    fn dim(&self) -> usize {
        crate::campplus::EMBEDDING_DIM
    }

    fn embed(&mut self, clips: &[&[f32]]) -> Result<Vec<f32>, DiarizeError> {
        Ok(self.embed_clips(clips))
    }
}

/// Tuning of the pipeline. Defaults are the measured ones (see the crate's tests and the
/// corpus DER test).
#[derive(Debug, Clone)]
pub struct Options {
    /// Segmentation windows slide by this many seconds.
    pub step_s: f32,
    /// Merge clusters closer than this average cosine distance.
    pub threshold: f32,
    /// Extra merge distance per 1/√(pieces) of each cluster (see `cluster`).
    pub size_slack: f32,
    pub hints: CountHints,
    /// A cluster with less clean speech than this share of the meeting's, or than
    /// `min_speaker_s`, is folded into the nearest other cluster.
    pub min_speaker_share: f32,
    pub min_speaker_s: f32,
    /// Gaps shorter than this inside one speaker's activity are closed.
    pub fill_gap_s: f32,
    /// Turns shorter than this are dropped.
    pub min_turn_s: f32,
    /// Threads for the segmentation network.
    pub threads: usize,
    /// k-means rounds after the agglomerative clustering (0: none).
    pub refine_rounds: usize,
    /// How the number of speakers is chosen when no exact count is hinted.
    pub count: CountMethod,
    /// A cluster whose pieces split into two voices with cepstral Gaussians this different
    /// (ΔBIC per frame, see `timbre`) becomes two speakers; infinity: never.
    pub split_score: f32,
    /// Two clusters whose cepstral Gaussians differ by less than this (ΔBIC per frame) are
    /// one voice and merge; minus infinity: never.
    pub merge_score: f32,
}

/// How the number of speakers is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMethod {
    /// Where merging stops at `threshold` (with the size slack).
    Threshold,
    /// The threshold's count and every count up to two more, each settled (folded, refined):
    /// the one whose clusters separate best (simplified silhouette) wins. One speaker stays one.
    Silhouette,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            step_s: 5.0,
            threshold: 0.115,
            size_slack: 0.12,
            hints: CountHints::default(),
            min_speaker_share: 0.03,
            min_speaker_s: 5.0,
            fill_gap_s: 0.2,
            min_turn_s: 0.1,
            threads: 2,
            refine_rounds: 20,
            count: CountMethod::Threshold,
            split_score: 0.7,
            merge_score: 0.36,
        }
    }
}

/// One speaker turn in meeting seconds; `speaker` indexes [`Diarization::speakers`].
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub start: f64,
    pub end: f64,
    pub speaker: usize,
}

/// A speaker found in the meeting.
#[derive(Debug, Clone)]
pub struct Speaker {
    /// L2-normalised mean embedding: what enrolled voice profiles are compared with.
    pub centroid: Vec<f32>,
    pub speech_s: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Diarization {
    pub turns: Vec<Turn>,
    pub speakers: Vec<Speaker>,
}

/// What one span contributes before clustering.
#[derive(Debug, Clone)]
pub struct SpanAnalysis {
    offset_s: f64,
    samples: usize,
    /// Window start (samples, inside the span) and per-frame local activity bits.
    windows: Vec<(usize, Vec<u8>)>,
    /// Embeddings of local speakers: (window index, local speaker, vector, weight).
    locals: Vec<LocalSpeaker>,
    /// Cepstral statistics of each embedded clip (indexed by `LocalSpeaker::clip`).
    clip_moments: Vec<Moments>,
    /// Wall time of the two steps.
    pub segmentation_s: f64,
    pub embedding_s: f64,
}

impl SpanAnalysis {
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    pub fn embedding_count(&self) -> usize {
        self.locals.len()
    }

    /// The clustering items in the order [`Diarizer::finish`] clusters them: each piece's
    /// meeting-time range (seconds), weight and embedding. For diagnostics and tuning.
    pub fn items(&self) -> impl Iterator<Item = PieceItem<'_>> {
        self.locals.iter().map(|l| {
            let start = self.windows[l.window].0;
            let second = |frame: usize| {
                self.offset_s
                    + (start + frame * FRAME_STEP + FRAME_CENTER) as f64 / SAMPLE_RATE as f64
            };
            PieceItem {
                window: l.window,
                local: l.speaker,
                start_s: second(l.frames.0),
                end_s: second(l.frames.1),
                weight: l.weight,
                vector: &l.vector,
            }
        })
    }
}

/// One clustering item as [`SpanAnalysis::items`] shows it.
#[derive(Debug, Clone, Copy)]
pub struct PieceItem<'a> {
    /// The analysis window it was heard in, and its local speaker there (the segmentation's
    /// track: two tracks of one window are two voices to the segmentation network).
    pub window: usize,
    pub local: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub weight: f32,
    pub vector: &'a [f32],
}

/// One clustering item: a piece of a local speaker's speech in one window (the frames
/// `frames.0..frames.1`), with its embedding.
#[derive(Debug, Clone)]
struct LocalSpeaker {
    window: usize,
    speaker: usize,
    frames: (usize, usize),
    /// The embedded clip (of its span) this piece is: overlapping windows that see the same
    /// range share one clip, so the audio behind a cluster is counted once.
    clip: usize,
    vector: Vec<f32>,
    weight: f32,
}

/// Cells per clustering item: a local speaker's clean speech is cut into pieces of about
/// 2.6 s, so two voices the segmentation confuses inside one window can still part.
const PIECE_CELLS: usize = 4;

/// The segmentation network and the pipeline's options. Cloning shares the network.
#[derive(Clone)]
pub struct Diarizer {
    segmenter: Arc<Segmenter>,
    options: Options,
}

impl Diarizer {
    pub fn new(segmenter: Segmenter, options: Options) -> Self {
        Diarizer {
            segmenter: Arc::new(segmenter),
            options,
        }
    }

    /// The same network with other options (per-meeting hints).
    pub fn with_options(&self, options: Options) -> Diarizer {
        Diarizer {
            segmenter: Arc::clone(&self.segmenter),
            options,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Steps 1 and 2 for one span of 16 kHz mono samples starting at `offset_s`.
    pub fn analyse(
        &self,
        embedder: &mut dyn Embedder,
        samples: &[f32],
        offset_s: f64,
    ) -> Result<SpanAnalysis, DiarizeError> {
        let t0 = Instant::now();
        let starts = window_starts(samples.len(), self.options.step_s);
        let activity = self.segment(samples, &starts);
        let windows: Vec<(usize, Vec<u8>)> = starts.into_iter().zip(activity).collect();
        let t1 = Instant::now();
        let (locals, clip_moments) = embed_locals(embedder, samples, &windows)?;
        Ok(SpanAnalysis {
            offset_s,
            samples: samples.len(),
            windows,
            locals,
            clip_moments,
            segmentation_s: (t1 - t0).as_secs_f64(),
            embedding_s: t1.elapsed().as_secs_f64(),
        })
    }

    /// Per-window activity, the windows split over the configured threads.
    fn segment(&self, samples: &[f32], starts: &[usize]) -> Vec<Vec<u8>> {
        let window = |start: usize| -> Vec<f32> {
            let mut w = vec![0.0f32; WINDOW_SAMPLES];
            let end = (start + WINDOW_SAMPLES).min(samples.len());
            w[..end - start].copy_from_slice(&samples[start..end]);
            w
        };
        let threads = self.options.threads.max(1).min(starts.len().max(1));
        let per_thread = starts.len().div_ceil(threads);
        // Batches of a few windows bound memory (SincNet's first layer is 5 MB per window).
        const BATCH: usize = 4;
        let run = |part: &[usize]| -> Vec<Vec<u8>> {
            let mut out = Vec::with_capacity(part.len());
            for batch in part.chunks(BATCH) {
                let wins: Vec<Vec<f32>> = batch.iter().map(|&s| window(s)).collect();
                let refs: Vec<&[f32]> = wins.iter().map(|w| w.as_slice()).collect();
                for (lp, &start) in self.segmenter.forward(&refs).iter().zip(batch) {
                    let mut act = segmentation::activity(lp);
                    // Frames past the end of the span (zero padding) are silence.
                    for (i, a) in act.iter_mut().enumerate() {
                        if start + i * FRAME_STEP + FRAME_CENTER >= samples.len() {
                            *a = 0;
                        }
                    }
                    out.push(act);
                }
            }
            out
        };
        if threads <= 1 {
            return run(starts);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = starts
                .chunks(per_thread)
                .map(|part| scope.spawn(move || run(part)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("segmentation thread panicked"))
                .collect()
        })
    }

    /// Steps 3 and 4 over every span of the meeting.
    pub fn finish(&self, spans: &[SpanAnalysis]) -> Diarization {
        finish(spans, &self.options)
    }
}

/// Window starts covering `len` samples: every `step` from 0, plus one ending exactly at the
/// end; a span shorter than a window gets one (zero-padded) window.
fn window_starts(len: usize, step_s: f32) -> Vec<usize> {
    if len <= WINDOW_SAMPLES {
        return vec![0];
    }
    let step = ((step_s * SAMPLE_RATE as f32) as usize).max(FRAME_STEP);
    let last = len - WINDOW_SAMPLES;
    let mut starts: Vec<usize> = (0..=last).step_by(step).collect();
    if *starts.last().expect("at least one start") != last {
        starts.push(last);
    }
    starts
}

/// Sample range a segmentation frame stands for (inside its window).
fn frame_range(i: usize) -> (usize, usize) {
    let c = i * FRAME_STEP + FRAME_CENTER;
    (c - FRAME_STEP / 2, c + FRAME_STEP / 2)
}

/// For each window and local speaker: its clean speech cut into pieces, one embedding each;
/// and each embedded clip's cepstral statistics.
fn embed_locals(
    embedder: &mut dyn Embedder,
    samples: &[f32],
    windows: &[(usize, Vec<u8>)],
) -> Result<(Vec<LocalSpeaker>, Vec<Moments>), DiarizeError> {
    let (wanted, short) = clips_to_embed(samples, windows);
    // The same range seen by two overlapping windows is embedded once.
    let mut ranges: Vec<(usize, usize)> = wanted.iter().map(|p| p.range).collect();
    ranges.sort_unstable();
    ranges.dedup();
    let mut clips: Vec<&[f32]> = ranges.iter().map(|&(a, b)| &samples[a..b]).collect();
    clips.extend(short.iter().map(|s| s.audio.as_slice()));
    let dim = embedder.dim();
    let vectors = embed_checked(embedder, &clips, dim)?;
    let moments: Vec<Moments> = clips.iter().map(|c| Moments::of_audio(c)).collect();
    let vector = |row: usize| vectors[row * dim..(row + 1) * dim].to_vec();
    let mut locals = Vec::new();
    for piece in wanted {
        let row = ranges
            .binary_search(&piece.range)
            .expect("every range was embedded");
        let start = windows[piece.window].0;
        let (a, b) = (piece.range.0 - start, piece.range.1 - start);
        locals.push(LocalSpeaker {
            window: piece.window,
            speaker: piece.speaker,
            frames: (
                a.saturating_sub(FRAME_CENTER) / FRAME_STEP,
                (b.saturating_sub(FRAME_CENTER) / FRAME_STEP + 1).min(FRAMES),
            ),
            clip: row,
            vector: vector(row),
            weight: piece.weight,
        });
    }
    for (i, turn) in short.iter().enumerate() {
        locals.push(LocalSpeaker {
            window: turn.window,
            speaker: turn.speaker,
            frames: (0, FRAMES),
            clip: ranges.len() + i,
            vector: vector(ranges.len() + i),
            weight: 0.5,
        });
    }
    // Window order: `finish` finds each window's local speakers side by side.
    locals.sort_by_key(|l| (l.window, l.speaker));
    Ok((locals, moments))
}

/// A piece of a local speaker's clean speech: adjacent grid cells, `range` in span samples,
/// weighted by its number of cells.
struct WantedPiece {
    window: usize,
    speaker: usize,
    range: (usize, usize),
    weight: f32,
}

/// A local speaker with clean speech but no clean grid cell: its own clean audio, embedded as
/// one clip.
struct ShortTurn {
    window: usize,
    speaker: usize,
    audio: Vec<f32>,
}

/// What to embed for every window and local speaker that talks alone somewhere: grid pieces
/// where it has clean cells, else its clean audio when that lasts at least 0.4 s.
fn clips_to_embed(
    samples: &[f32],
    windows: &[(usize, Vec<u8>)],
) -> (Vec<WantedPiece>, Vec<ShortTurn>) {
    let grid_len = if samples.len() >= CELL_SAMPLES {
        (samples.len() - CELL_SAMPLES) / GRID_STEP + 1
    } else {
        0
    };
    let mut wanted = Vec::new();
    let mut short = Vec::new();
    for (w, (start, act)) in windows.iter().enumerate() {
        for k in 0..LOCAL_SPEAKERS {
            let bit = 1u8 << k;
            let clean: Vec<bool> = act.iter().map(|&a| a == bit).collect();
            if !clean.iter().any(|&c| c) {
                continue;
            }
            let cells = clean_cells(*start, &clean, grid_len);
            if cells.is_empty() {
                // A short turn: one embedding of its own clean audio.
                let audio = clean_audio(samples, *start, &clean);
                if audio.len() >= SAMPLE_RATE * 2 / 5 {
                    short.push(ShortTurn {
                        window: w,
                        speaker: k,
                        audio,
                    });
                }
            } else {
                for piece in pieces(&cells) {
                    let range = (
                        piece[0] * GRID_STEP,
                        piece[piece.len() - 1] * GRID_STEP + CELL_SAMPLES,
                    );
                    wanted.push(WantedPiece {
                        window: w,
                        speaker: k,
                        range,
                        weight: piece.len() as f32,
                    });
                }
            }
        }
    }
    (wanted, short)
}

/// The grid cells (of the span's `grid_len`) that lie wholly inside the window starting at
/// `start` and are at least 90 % `clean` frames.
fn clean_cells(start: usize, clean: &[bool], grid_len: usize) -> Vec<usize> {
    let first = start.div_ceil(GRID_STEP);
    let last =
        ((start + WINDOW_SAMPLES).saturating_sub(CELL_SAMPLES) / GRID_STEP + 1).min(grid_len);
    (first..last)
        .filter(|&g| {
            let a = g * GRID_STEP - start;
            clean_share(clean, a, a + CELL_SAMPLES) >= 0.9
        })
        .collect()
}

/// The samples of the window starting at `start` that its `clean` frames stand for, in order
/// (cut at the end of the span).
fn clean_audio(samples: &[f32], start: usize, clean: &[bool]) -> Vec<f32> {
    clean
        .iter()
        .enumerate()
        .filter(|(_, c)| **c)
        .flat_map(|(i, _)| {
            let (a, b) = frame_range(i);
            let (a, b) = (
                (start + a).min(samples.len()),
                (start + b).min(samples.len()),
            );
            samples[a..b].iter().copied()
        })
        .collect()
}

/// The embedder's vectors for `clips` (none asked for when there is no clip), refused unless
/// there is exactly one of dimension `dim` per clip: the rows are indexed by clip below.
fn embed_checked(
    embedder: &mut dyn Embedder,
    clips: &[&[f32]],
    dim: usize,
) -> Result<Vec<f32>, DiarizeError> {
    let vectors = if clips.is_empty() {
        Vec::new()
    } else {
        embedder.embed(clips)?
    };
    if vectors.len() != clips.len() * dim {
        return Err(DiarizeError::Embedder(format!(
            "{} values for {} clips of dimension {dim}",
            vectors.len(),
            clips.len()
        )));
    }
    Ok(vectors)
}

/// Sorted grid cells cut into pieces of at most `PIECE_CELLS` adjacent cells, cut at fixed
/// grid positions (multiples of `PIECE_CELLS`) so that two overlapping windows that see the
/// same speech ask for the same pieces; a one-cell remainder joins its neighbour in the run.
fn pieces(cells: &[usize]) -> Vec<&[usize]> {
    let mut out: Vec<&[usize]> = Vec::new();
    let mut run_start = 0;
    for i in 1..=cells.len() {
        if i == cells.len() || cells[i] != cells[i - 1] + 1 {
            let run = &cells[run_start..i];
            let mut parts: Vec<&[usize]> = Vec::new();
            let mut a = 0;
            for j in 1..=run.len() {
                if j == run.len() || run[j].is_multiple_of(PIECE_CELLS) {
                    parts.push(&run[a..j]);
                    a = j;
                }
            }
            // Merge one-cell fragments at either end into their neighbour.
            if parts.len() > 1 && parts[0].len() == 1 {
                let n = parts[1].len() + 1;
                parts.remove(0);
                parts[0] = &run[..n];
            }
            if parts.len() > 1 && parts[parts.len() - 1].len() == 1 {
                parts.pop();
                let last = parts.len() - 1;
                let from = run.len() - parts[last].len() - 1;
                parts[last] = &run[from..];
            }
            out.extend(parts);
            run_start = i;
        }
    }
    out
}

/// Share of samples `a..b` (window-relative) that fall in clean frames.
fn clean_share(clean: &[bool], a: usize, b: usize) -> f32 {
    let first = a.saturating_sub(FRAME_CENTER) / FRAME_STEP;
    let mut covered = 0usize;
    for (i, &c) in clean.iter().enumerate().skip(first) {
        let (fa, fb) = frame_range(i);
        if fa >= b {
            break;
        }
        if c {
            covered += fb.min(b).saturating_sub(fa.max(a));
        }
    }
    covered as f32 / (b - a) as f32
}

fn finish(spans: &[SpanAnalysis], options: &Options) -> Diarization {
    let dim = spans
        .iter()
        .flat_map(|s| s.locals.first())
        .map(|l| l.vector.len())
        .next();
    let Some(dim) = dim else {
        return Diarization::default();
    };
    let all: Vec<(usize, &LocalSpeaker)> = spans
        .iter()
        .enumerate()
        .flat_map(|(s, span)| span.locals.iter().map(move |l| (s, l)))
        .collect();
    let vectors: Vec<f32> = all
        .iter()
        .flat_map(|(_, l)| l.vector.iter().copied())
        .collect();
    let weights: Vec<f32> = all.iter().map(|(_, l)| l.weight).collect();
    let clips: Vec<(usize, usize)> = all.iter().map(|(s, l)| (*s, l.clip)).collect();
    let moments: Vec<&Moments> = all
        .iter()
        .map(|(s, l)| &spans[*s].clip_moments[l.clip])
        .collect();
    let mut labels = cluster_items(&vectors, dim, &weights, &clips, options);
    if options.hints.exact.is_none() {
        merge_by_timbre(&mut labels, &moments, &weights, &clips, options);
        split_by_timbre(
            &mut labels,
            &moments,
            &vectors,
            dim,
            &weights,
            &clips,
            options,
        );
    }
    let k = labels.iter().max().map_or(0, |m| m + 1);
    let cents = centroids(&labels, &vectors, dim, &weights, k);

    // Per span: label of each (window, local speaker).
    let mut turns = Vec::new();
    let mut speech = vec![0.0f64; k];
    let mut cursor = 0;
    for span in spans {
        let span_labels = &labels[cursor..cursor + span.locals.len()];
        cursor += span.locals.len();
        let mut frame_label = frame_labels(span, span_labels);
        for t in reconstruct(span, &mut frame_label, k, options) {
            speech[t.speaker] += t.end - t.start;
            turns.push(t);
        }
    }
    // Speakers numbered by first appearance; speakers with no turn left are dropped.
    turns.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.speaker.cmp(&b.speaker)));
    let mut renumber = vec![usize::MAX; k];
    let mut speakers = Vec::new();
    for t in turns.iter_mut() {
        if renumber[t.speaker] == usize::MAX {
            renumber[t.speaker] = speakers.len();
            speakers.push(Speaker {
                centroid: cents[t.speaker].clone(),
                speech_s: speech[t.speaker],
            });
        }
        t.speaker = renumber[t.speaker];
    }
    Diarization { turns, speakers }
}

/// Cluster labels of the pieces: agglomerative merging to the threshold (or the hinted count),
/// clusters with little speech folded into their nearest neighbour, then k-means rounds that
/// let every piece move to its nearest centroid (undoing early mistakes of the greedy merging),
/// and a fold again of what that emptied out. Folding is skipped when the user asked for an
/// exact count. With [`CountMethod::Silhouette`], other counts are settled the same way and the
/// best separated one is kept.
fn cluster_items(
    vectors: &[f32],
    dim: usize,
    weights: &[f32],
    clips: &[(usize, usize)],
    options: &Options,
) -> Vec<usize> {
    let linkage = cluster::Linkage {
        threshold: options.threshold,
        size_slack: options.size_slack,
        piece_weight: PIECE_CELLS as f32,
    };
    let settle = |labels: &mut Vec<usize>| {
        if options.hints.exact.is_none() {
            fold_small(labels, vectors, dim, weights, clips, options);
        }
        if options.refine_rounds > 0 {
            cluster::refine(vectors, dim, weights, labels, options.refine_rounds);
            if options.hints.exact.is_none() {
                fold_small(labels, vectors, dim, weights, clips, options);
            }
        }
    };
    let count = |labels: &[usize]| labels.iter().max().map_or(0, |m| m + 1);
    let mut labels = cluster::agglomerative(vectors, dim, weights, linkage, options.hints);
    settle(&mut labels);
    let k0 = count(&labels);
    if options.count != CountMethod::Silhouette || options.hints.exact.is_some() || k0 < 2 {
        return labels;
    }
    let kmax = (k0 + 2).min(options.hints.max.max(2));
    let levels = cluster::agglomerative_levels(vectors, dim, weights, linkage, kmax);
    let mut best = (cluster::silhouette(vectors, dim, weights, &labels), labels);
    for level in levels.iter().skip(options.hints.min.max(2) - 1) {
        let mut l = level.clone();
        settle(&mut l);
        if count(&l) < 2 {
            continue;
        }
        let s = cluster::silhouette(vectors, dim, weights, &l);
        if s > best.0 {
            best = (s, l);
        }
    }
    best.1
}

/// Folds clusters with less than `min_speaker_s` of clean speech, or less than
/// `min_speaker_share` of all, into the nearest other cluster, smallest first, while more than
/// `hints.min` clusters remain. Weights count grid cells (`GRID_STEP_S` apart); a clip that
/// several overlapping windows saw (`clips`, one per item) is speech heard once. (Summing every
/// window's view counted a 2 s piece three windows saw as 5.4 s, so a few outlying pieces of
/// one voice stood as a speaker of their own: on generated meetings of seeds 1–3 the exact
/// count went from 24/36 to 26/36 at the default threshold, 23 → 28 and 23 → 25 at ±20 %.)
fn fold_small(
    labels: &mut [usize],
    vectors: &[f32],
    dim: usize,
    weights: &[f32],
    clips: &[(usize, usize)],
    options: &Options,
) {
    let heard = |labels: &[usize], k: usize| heard_masses(labels, weights, clips, k);
    let total: f32 = heard(&vec![0; labels.len()], 1)[0];
    loop {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        if k <= options.hints.min.max(1) {
            return;
        }
        let masses = heard(labels, k);
        let small = (0..k)
            .filter(|&c| {
                masses[c] < options.min_speaker_share * total
                    || masses[c] * GRID_STEP_S < options.min_speaker_s
            })
            .min_by(|a, b| masses[*a].total_cmp(&masses[*b]));
        let Some(small) = small else { return };
        let cents = centroids(labels, vectors, dim, weights, k);
        let target = (0..k)
            .filter(|&c| c != small)
            .min_by(|a, b| {
                cluster::cosine_distance(&cents[small], &cents[*a])
                    .total_cmp(&cluster::cosine_distance(&cents[small], &cents[*b]))
            })
            .expect("another cluster");
        labels
            .iter_mut()
            .filter(|l| **l == small)
            .for_each(|l| *l = target);
        cluster::renumber(labels);
    }
}

/// Clean speech per cluster in grid cells, a clip that several items share counted once.
fn heard_masses(labels: &[usize], weights: &[f32], clips: &[(usize, usize)], k: usize) -> Vec<f32> {
    let mut seen = std::collections::HashSet::new();
    let mut masses = vec![0.0f32; k];
    for ((l, w), clip) in labels.iter().zip(weights).zip(clips) {
        if seen.insert((*l, *clip)) {
            masses[*l] += w;
        }
    }
    masses
}

/// The clusters' pooled cepstral statistics, a clip that several items share counted once.
fn pooled_moments(
    labels: &[usize],
    moments: &[&Moments],
    clips: &[(usize, usize)],
    k: usize,
) -> Vec<Moments> {
    let mut pooled = vec![Moments::default(); k];
    let mut seen = std::collections::HashSet::new();
    for ((&l, m), clip) in labels.iter().zip(moments).zip(clips) {
        if seen.insert((l, *clip)) {
            pooled[l].add(m);
        }
    }
    pooled
}

/// Clusters the embedder put apart but whose timbre is one voice's: while more than
/// `hints.min` remain, the pair whose cepstral Gaussians differ least (ΔBIC per frame) merges
/// if that is under `merge_score`, scaled down by `MERGE_FULL_S` / speech of the smaller one
/// when that has more. Both need `SPLIT_MIN_FRAMES` for a Gaussian.
fn merge_by_timbre(
    labels: &mut [usize],
    moments: &[&Moments],
    weights: &[f32],
    clips: &[(usize, usize)],
    options: &Options,
) {
    if !options.merge_score.is_finite() {
        return;
    }
    loop {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        if k <= options.hints.min.max(1) {
            return;
        }
        let pooled = pooled_moments(labels, moments, clips, k);
        let masses = heard_masses(labels, weights, clips, k);
        let mut best: Option<(f64, usize, usize)> = None;
        for a in 0..k {
            for b in a + 1..k {
                if pooled[a].frames < SPLIT_MIN_FRAMES || pooled[b].frames < SPLIT_MIN_FRAMES {
                    continue;
                }
                let Some(d) = timbre::delta_bic(&pooled[a], &pooled[b]) else {
                    continue;
                };
                let smaller = masses[a].min(masses[b]) * GRID_STEP_S;
                let needed = options.merge_score * (MERGE_FULL_S / smaller).min(1.0);
                if d < needed as f64 && best.is_none_or(|(x, _, _)| d < x) {
                    best = Some((d, a, b));
                }
            }
        }
        let Some((_, a, b)) = best else { return };
        labels.iter_mut().filter(|l| **l == b).for_each(|l| *l = a);
        cluster::renumber(labels);
    }
}

/// Two clusters that both have more speech than this need proportionally more alike timbres
/// to merge. The fragments the embedder splits off a voice are small (5–9 s on generated
/// meetings, at ΔBIC up to 0.28; one of 22 s at 0.08), while two well-heard voices can be
/// close: a male and a female voice of the development corpus's meeting_03 (150 s and 38 s)
/// at 0.355.
const MERGE_FULL_S: f32 = 15.0;

/// Frames a side of a timbre split needs for its Gaussian (19 cepstra, full covariance: 209
/// parameters): about 4 s of voiced speech.
const SPLIT_MIN_FRAMES: f64 = 300.0;

/// A cluster with less speech than this needs proportionally stronger evidence to split: the
/// best split of a few pieces also fits their chance differences. (On generated meetings,
/// splits of one voice in clusters under 30 s scored 0.58–0.96, true ones 1.05–1.42; above
/// 30 s true splits scored 0.71–1.75.)
const SPLIT_FULL_S: f32 = 30.0;

/// Clusters that hold two voices the embedder cannot part, split by their timbre: each
/// cluster with speech for two speakers is split in the way whose sides' cepstral Gaussians
/// differ most (`timbre::best_split`); when they differ by more than `split_score` (scaled up
/// by `SPLIT_FULL_S` / speech for small clusters) and each side has a speaker's worth of
/// speech, the second side becomes a new speaker. The new clusters are checked again, up to
/// `hints.max` speakers. Pieces without voiced frames go with the side whose embedding
/// centroid is nearer.
fn split_by_timbre(
    labels: &mut [usize],
    moments: &[&Moments],
    vectors: &[f32],
    dim: usize,
    weights: &[f32],
    clips: &[(usize, usize)],
    options: &Options,
) {
    if !options.split_score.is_finite() {
        return;
    }
    let total: f32 = heard_masses(&vec![0; labels.len()], weights, clips, 1)
        .first()
        .copied()
        .unwrap_or(0.0);
    let is_speaker = |mass: f32| {
        mass * GRID_STEP_S >= options.min_speaker_s && mass >= options.min_speaker_share * total
    };
    let mut settled = std::collections::HashSet::new();
    loop {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        if k >= options.hints.max {
            break;
        }
        let masses = heard_masses(labels, weights, clips, k);
        let mut order: Vec<usize> = (0..k).filter(|c| !settled.contains(c)).collect();
        order.sort_by(|a, b| masses[*b].total_cmp(&masses[*a]));
        let mut split_one = false;
        for c in order {
            settled.insert(c);
            if masses[c] * GRID_STEP_S < 2.0 * options.min_speaker_s {
                continue;
            }
            let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
            let mut seen = std::collections::HashSet::new();
            let pooled: Vec<bool> = members.iter().map(|&i| seen.insert(clips[i])).collect();
            let pieces: Vec<&Moments> = members.iter().map(|&i| moments[i]).collect();
            let Some(split) = timbre::best_split(&pieces, &pooled, SPLIT_MIN_FRAMES) else {
                continue;
            };
            let full = SPLIT_FULL_S / (masses[c] * GRID_STEP_S);
            if split.score <= (options.split_score * full.max(1.0)) as f64 {
                continue;
            }
            let mut trial = labels.to_vec();
            for (&i, &second) in members.iter().zip(&split.side) {
                if second {
                    trial[i] = k;
                }
            }
            // Pieces with nothing voiced: to the nearer side by embedding.
            let cents = centroids(&trial, vectors, dim, weights, k + 1);
            for &i in &members {
                if moments[i].frames < 1.0 {
                    let v = &vectors[i * dim..(i + 1) * dim];
                    trial[i] = if cluster::cosine_distance(v, &cents[k])
                        < cluster::cosine_distance(v, &cents[c])
                    {
                        k
                    } else {
                        c
                    };
                }
            }
            let sides = heard_masses(&trial, weights, clips, k + 1);
            if !is_speaker(sides[c]) || !is_speaker(sides[k]) {
                continue;
            }
            labels.copy_from_slice(&trial);
            settled.remove(&c);
            split_one = true;
            break;
        }
        if !split_one {
            break;
        }
    }
    cluster::renumber(labels);
}

fn centroids(
    labels: &[usize],
    vectors: &[f32],
    dim: usize,
    weights: &[f32],
    k: usize,
) -> Vec<Vec<f32>> {
    let mut sums = vec![vec![0.0f32; dim]; k];
    for (i, &l) in labels.iter().enumerate() {
        for (s, v) in sums[l].iter_mut().zip(&vectors[i * dim..(i + 1) * dim]) {
            *s += v * weights[i];
        }
    }
    sums.into_iter().map(normalized).collect()
}

/// Cluster of every (window, frame, local speaker) that talks: the label of the piece that
/// covers the frame, else of the nearest piece of the same local speaker; `None` when the
/// local speaker has no piece in that window. Indexed by [`label_index`].
fn frame_labels(span: &SpanAnalysis, labels: &[usize]) -> Vec<Option<usize>> {
    let mut out = vec![None; span.windows.len() * FRAMES * LOCAL_SPEAKERS];
    let mut by_local: Vec<Vec<(usize, usize, usize)>> =
        vec![Vec::new(); span.windows.len() * LOCAL_SPEAKERS];
    for (l, &c) in span.locals.iter().zip(labels) {
        by_local[l.window * LOCAL_SPEAKERS + l.speaker].push((l.frames.0, l.frames.1, c));
    }
    for (w, (_, act)) in span.windows.iter().enumerate() {
        for s in 0..LOCAL_SPEAKERS {
            let items = &by_local[w * LOCAL_SPEAKERS + s];
            if items.is_empty() {
                continue;
            }
            for (i, &a) in act.iter().enumerate() {
                if a & (1 << s) == 0 {
                    continue;
                }
                let gap = |&(from, to, _): &(usize, usize, usize)| {
                    if i < from {
                        from - i
                    } else {
                        (i + 1).saturating_sub(to)
                    }
                };
                let best = items.iter().min_by_key(|it| gap(it)).expect("non-empty");
                out[label_index(w, i, s)] = Some(best.2);
            }
        }
    }
    out
}

/// Index of (window `w`, frame `i`, local speaker `s`) in the per-span frame labels.
fn label_index(w: usize, i: usize, s: usize) -> usize {
    (w * FRAMES + i) * LOCAL_SPEAKERS + s
}

/// Global-grid aggregation of one span's windows into turns (meeting seconds).
fn reconstruct(
    span: &SpanAnalysis,
    frame_label: &mut [Option<usize>],
    k: usize,
    options: &Options,
) -> Vec<Turn> {
    let grid = FrameGrid::new(span);
    let (cover, count) = grid.coverage();
    let mut score = grid.scores(frame_label, k);
    if grid.label_unembedded(frame_label, &score, k) {
        score = grid.scores(frame_label, k);
    }
    let on = grid.active(&cover, &count, &score, k);
    grid.turns(&on, k, options)
}

/// One span's global frame grid (`FRAME_STEP` apart from the span's start), onto which its
/// overlapping windows are aggregated. Per-cluster arrays are `k × frames`, cluster-major.
struct FrameGrid<'a> {
    span: &'a SpanAnalysis,
    frames: usize,
    /// Weight of each window frame: edges of a window see less context, so frames are weighed
    /// by a Hann-like taper (never zero).
    taper: Vec<f32>,
}

impl<'a> FrameGrid<'a> {
    fn new(span: &'a SpanAnalysis) -> Self {
        let taper = (0..FRAMES)
            .map(|i| {
                let x = (i as f32 + 0.5) / FRAMES as f32;
                0.1 + 0.9 * (std::f32::consts::PI * x).sin()
            })
            .collect();
        FrameGrid {
            span,
            frames: span.samples.div_ceil(FRAME_STEP) + 1,
            taper,
        }
    }

    /// Global frame of frame `i` of the window starting at `start`.
    fn global(start: usize, i: usize) -> usize {
        (start + i * FRAME_STEP + FRAME_CENTER) / FRAME_STEP
    }

    /// Per global frame: the tapered weight of the window frames covering it (inside the
    /// span), and their tapered count of active local speakers. Their ratio is the expected
    /// number of speakers.
    fn coverage(&self) -> (Vec<f32>, Vec<f32>) {
        let mut cover = vec![0.0f32; self.frames];
        let mut count = vec![0.0f32; self.frames];
        for (start, act) in &self.span.windows {
            for (i, &a) in act.iter().enumerate() {
                let g = Self::global(*start, i);
                if g < self.frames && start + i * FRAME_STEP + FRAME_CENTER < self.span.samples {
                    cover[g] += self.taper[i];
                    count[g] += self.taper[i] * a.count_ones() as f32;
                }
            }
        }
        (cover, count)
    }

    /// Per cluster and global frame: the tapered activity of the labelled local speakers.
    fn scores(&self, frame_label: &[Option<usize>], k: usize) -> Vec<f32> {
        let frames = self.frames;
        let mut score = vec![0.0f32; k * frames];
        for (w, (start, act)) in self.span.windows.iter().enumerate() {
            for (i, &a) in act.iter().enumerate() {
                let g = Self::global(*start, i);
                if g >= frames {
                    continue;
                }
                for s in 0..LOCAL_SPEAKERS {
                    if a & (1 << s) != 0
                        && let Some(c) = frame_label[label_index(w, i, s)]
                    {
                        score[c * frames + g] += self.taper[i];
                    }
                }
            }
        }
        score
    }

    /// Labels the local speakers without an embedding, one window at a time, each with
    /// [`Self::best_agreeing`]. True when any label was given (the scores are then stale).
    fn label_unembedded(&self, frame_label: &mut [Option<usize>], score: &[f32], k: usize) -> bool {
        let mut changed = false;
        for (w, (_, act)) in self.span.windows.iter().enumerate() {
            for s in 0..LOCAL_SPEAKERS {
                let Some(c) = self.best_agreeing(w, s, frame_label, score, k) else {
                    continue;
                };
                for (i, &a) in act.iter().enumerate() {
                    if a & (1 << s) != 0 {
                        frame_label[label_index(w, i, s)] = Some(c);
                    }
                }
                changed = true;
            }
        }
        changed
    }

    /// For local speaker `s` of window `w` when none of its frames has a label: the cluster
    /// whose aggregated activity agrees most with its own, not already used by another local
    /// speaker of the same window; `None` when it is labelled, silent on the grid, or no
    /// cluster agrees at all.
    fn best_agreeing(
        &self,
        w: usize,
        s: usize,
        frame_label: &[Option<usize>],
        score: &[f32],
        k: usize,
    ) -> Option<usize> {
        let (start, act) = &self.span.windows[w];
        let labelled = act
            .iter()
            .enumerate()
            .any(|(i, &a)| a & (1 << s) != 0 && frame_label[label_index(w, i, s)].is_some());
        if labelled {
            return None;
        }
        let mut agree = vec![0.0f32; k];
        let mut active = 0;
        for (i, &a) in act.iter().enumerate() {
            let g = Self::global(*start, i);
            if a & (1 << s) == 0 || g >= self.frames {
                continue;
            }
            active += 1;
            for (c, ag) in agree.iter_mut().enumerate() {
                *ag += score[c * self.frames + g];
            }
        }
        if active == 0 {
            return None;
        }
        let used: Vec<usize> = (0..LOCAL_SPEAKERS)
            .filter(|&o| o != s)
            .flat_map(|o| (0..FRAMES).filter_map(move |i| frame_label[label_index(w, i, o)]))
            .collect();
        (0..k)
            .filter(|c| !used.contains(c) && agree[*c] > 0.0)
            .max_by(|a, b| agree[*a].total_cmp(&agree[*b]))
    }

    /// Per cluster and global frame, whether the cluster talks: each covered frame keeps its
    /// expected number of speakers, filled with the highest-scoring clusters (score > 0).
    fn active(&self, cover: &[f32], count: &[f32], score: &[f32], k: usize) -> Vec<bool> {
        let frames = self.frames;
        let mut on = vec![false; k * frames];
        let mut order: Vec<usize> = (0..k).collect();
        for g in 0..frames {
            if cover[g] <= 0.0 {
                continue;
            }
            let n = (count[g] / cover[g]).round() as usize;
            if n == 0 {
                continue;
            }
            order.sort_by(|a, b| score[b * frames + g].total_cmp(&score[a * frames + g]));
            for &c in order.iter().take(n) {
                if score[c * frames + g] > 0.0 {
                    on[c * frames + g] = true;
                }
            }
        }
        on
    }

    /// Each cluster's runs of active frames as turns in meeting seconds, gaps shorter than
    /// `fill_gap_s` closed, turns shorter than `min_turn_s` dropped; cluster by cluster.
    fn turns(&self, on: &[bool], k: usize, options: &Options) -> Vec<Turn> {
        let step_s = FRAME_STEP as f64 / SAMPLE_RATE as f64;
        let span_s = self.span.samples as f64 / SAMPLE_RATE as f64;
        let mut turns = Vec::new();
        for c in 0..k {
            let row = &on[c * self.frames..(c + 1) * self.frames];
            for (a, b) in runs(row, step_s, options.fill_gap_s) {
                let start = (a as f64 - 0.5).max(0.0) * step_s;
                let end = ((b as f64 - 0.5) * step_s).min(span_s);
                if end - start >= options.min_turn_s as f64 {
                    turns.push(Turn {
                        start: self.span.offset_s + start,
                        end: self.span.offset_s + end,
                        speaker: c,
                    });
                }
            }
        }
        turns
    }
}

/// Runs of `true` in `row` as frame ranges `a..b`; a run starting less than `fill_gap_s` after
/// the previous one ended (frames `step_s` apart) extends it instead.
fn runs(row: &[bool], step_s: f64, fill_gap_s: f32) -> Vec<(usize, usize)> {
    let frames = row.len();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut g = 0;
    while g < frames {
        if !row[g] {
            g += 1;
            continue;
        }
        let a = g;
        while g < frames && row[g] {
            g += 1;
        }
        match runs.last_mut() {
            Some(last) if ((a - last.1) as f64) * step_s < fill_gap_s as f64 => last.1 = g,
            _ => runs.push((a, g)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_span() {
        assert_eq!(window_starts(1000, 2.5), vec![0]);
        assert_eq!(window_starts(WINDOW_SAMPLES, 2.5), vec![0]);
        let s = window_starts(WINDOW_SAMPLES + 50_000, 2.5);
        assert_eq!(s, vec![0, 40_000, 50_000]);
    }

    #[test]
    fn cells_cut_into_pieces() {
        // Cut at multiples of 4, so overlapping windows ask for the same pieces.
        let cells = [1, 2, 3, 4, 5, 6, 7, 9, 10];
        let p = pieces(&cells);
        assert_eq!(p, vec![&[1, 2, 3][..], &[4, 5, 6, 7], &[9, 10]]);
        // One-cell fragments join their neighbour.
        let cells = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let p = pieces(&cells);
        assert_eq!(p, vec![&[3, 4, 5, 6, 7][..], &[8, 9, 10, 11, 12]]);
    }

    #[test]
    fn clean_share_counts_frames() {
        let clean = vec![true; FRAMES];
        assert!((clean_share(&clean, 1000, 1000 + CELL_SAMPLES) - 1.0).abs() < 1e-6);
        let none = vec![false; FRAMES];
        assert_eq!(clean_share(&none, 1000, 1000 + CELL_SAMPLES), 0.0);
    }

    fn span_with(
        windows: Vec<(usize, Vec<u8>)>,
        samples: usize,
        locals: Vec<LocalSpeaker>,
    ) -> SpanAnalysis {
        let clips = locals.iter().map(|l| l.clip + 1).max().unwrap_or(0);
        SpanAnalysis {
            offset_s: 100.0,
            samples,
            windows,
            locals,
            clip_moments: vec![Moments::default(); clips],
            segmentation_s: 0.0,
            embedding_s: 0.0,
        }
    }

    #[test]
    fn a_clip_several_windows_saw_is_speech_heard_once() {
        // One voice in 20 distinct pieces of 3 cells, and one outlying 3-cell piece that three
        // overlapping windows saw: 1.8 s of speech, not 5.4 s, so it is folded.
        let dim = 2;
        let mut vectors = Vec::new();
        let mut weights = Vec::new();
        let mut clips = Vec::new();
        for c in 0..20 {
            vectors.extend([1.0, 0.0]);
            weights.push(3.0);
            clips.push((0, c));
        }
        for _ in 0..3 {
            vectors.extend([0.0, 1.0]);
            weights.push(3.0);
            clips.push((0, 20));
        }
        let mut labels: Vec<usize> = (0..23).map(|i| usize::from(i >= 20)).collect();
        let options = Options {
            min_speaker_share: 0.0,
            ..Options::default()
        };
        fold_small(&mut labels, &vectors, dim, &weights, &clips, &options);
        assert!(labels.iter().all(|&l| l == 0), "{labels:?}");
        // Three distinct pieces of that voice (5.4 s) stay a speaker.
        let clips: Vec<(usize, usize)> = (0..23).map(|c| (0, c)).collect();
        let mut labels: Vec<usize> = (0..23).map(|i| usize::from(i >= 20)).collect();
        fold_small(&mut labels, &vectors, dim, &weights, &clips, &options);
        assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 3);
    }

    /// Pieces of two synthetic voices (formant at 600 Hz and at 1400 Hz), 2.6 s each,
    /// with their embeddings given.
    fn two_voice_items(vectors_of: impl Fn(usize) -> [f32; 2]) -> (Vec<Moments>, Vec<f32>) {
        let voice = crate::timbre::tests::voice;
        let mut moments = Vec::new();
        let mut vectors = Vec::new();
        for i in 0..16 {
            let formant = if i % 2 == 0 { 600.0 } else { 1400.0 };
            moments.push(Moments::of_audio(&voice(
                110.0 + i as f32,
                formant,
                2.6,
                i as u32,
            )));
            vectors.extend(normalized(vectors_of(i).to_vec()));
        }
        (moments, vectors)
    }

    #[test]
    fn one_cluster_of_two_timbres_becomes_two_speakers() {
        // The embedder sees one voice; the cepstra see two.
        let (moments, vectors) = two_voice_items(|_| [1.0, 0.0]);
        let refs: Vec<&Moments> = moments.iter().collect();
        let weights = vec![4.0; 16];
        let clips: Vec<(usize, usize)> = (0..16).map(|c| (0, c)).collect();
        let mut labels = vec![0; 16];
        let options = Options::default();
        split_by_timbre(&mut labels, &refs, &vectors, 2, &weights, &clips, &options);
        for (i, &l) in labels.iter().enumerate() {
            assert_eq!(l, labels[i % 2], "piece {i}: {labels:?}");
        }
        assert_ne!(labels[0], labels[1]);
        // A hint of at most one speaker is kept.
        let mut labels = vec![0; 16];
        let one = Options {
            hints: CountHints {
                max: 1,
                ..CountHints::default()
            },
            ..Options::default()
        };
        split_by_timbre(&mut labels, &refs, &vectors, 2, &weights, &clips, &one);
        assert!(labels.iter().all(|&l| l == 0));
    }

    #[test]
    fn two_clusters_of_one_timbre_merge_and_two_timbres_stay_apart() {
        // One voice's pieces, which the embedder put in two clusters.
        let voice = crate::timbre::tests::voice;
        let own: Vec<Moments> = (0..16)
            .map(|i| Moments::of_audio(&voice(105.0 + i as f32, 600.0, 2.6, 50 + i)))
            .collect();
        let one_voice: Vec<&Moments> = own.iter().collect();
        let weights = vec![4.0; 16];
        let clips: Vec<(usize, usize)> = (0..16).map(|c| (0, c)).collect();
        let mut labels: Vec<usize> = (0..16).map(|i| usize::from(i >= 8)).collect();
        merge_by_timbre(
            &mut labels,
            &one_voice,
            &weights,
            &clips,
            &Options::default(),
        );
        assert!(labels.iter().all(|&l| l == 0), "{labels:?}");
        // Two voices, one per cluster, stay two.
        let (moments, _) = two_voice_items(|_| [1.0, 0.0]);
        let refs: Vec<&Moments> = moments.iter().collect();
        let mut labels: Vec<usize> = (0..16).map(|i| i % 2).collect();
        merge_by_timbre(&mut labels, &refs, &weights, &clips, &Options::default());
        assert_eq!(labels, (0..16).map(|i| i % 2).collect::<Vec<_>>());
    }

    #[test]
    fn reconstruction_joins_windows_and_unlabelled_locals() {
        // Two overlapping windows; speaker A (cluster 0) in the first half, B (cluster 1)
        // after. In the second window B is local speaker 0 and has no embedding.
        let step = 40_000;
        let mut w0 = vec![0u8; FRAMES];
        let mut w1 = vec![0u8; FRAMES];
        let boundary = 200_000 / 2; // samples
        for i in 0..FRAMES {
            let t0 = i * FRAME_STEP + FRAME_CENTER;
            w0[i] = if t0 < boundary { 0b001 } else { 0b010 };
            let t1 = step + t0;
            w1[i] = if t1 < boundary { 0b010 } else { 0b001 };
        }
        let unit = |v: Vec<f32>| normalized(v);
        let locals = vec![
            LocalSpeaker {
                window: 0,
                speaker: 0,
                frames: (0, FRAMES),
                clip: 0,
                vector: unit(vec![1.0, 0.0]),
                weight: 20.0,
            },
            LocalSpeaker {
                window: 0,
                speaker: 1,
                frames: (0, FRAMES),
                clip: 1,
                vector: unit(vec![0.0, 1.0]),
                weight: 20.0,
            },
            LocalSpeaker {
                window: 1,
                speaker: 1,
                frames: (0, FRAMES),
                clip: 2,
                vector: unit(vec![1.0, 0.1]),
                weight: 20.0,
            },
        ];
        let span = span_with(vec![(0, w0), (step, w1)], WINDOW_SAMPLES + step, locals);
        let d = finish(&[span], &Options::default());
        assert_eq!(d.speakers.len(), 2);
        let a: Vec<_> = d.turns.iter().filter(|t| t.speaker == 0).collect();
        let b: Vec<_> = d.turns.iter().filter(|t| t.speaker == 1).collect();
        assert_eq!((a.len(), b.len()), (1, 1), "{:?}", d.turns);
        let mid = 100.0 + boundary as f64 / 16_000.0;
        assert!(
            (a[0].end - mid).abs() < 0.05 && (b[0].start - mid).abs() < 0.05,
            "{:?}",
            d.turns
        );
        assert!(
            b[0].end > 100.0 + 12.0,
            "B carries on in the second window: {:?}",
            d.turns
        );
    }
}
