//! The loaded models and the two kinds of item.

use std::path::Path;
use std::time::Instant;

use nightshift_diarize::{CountHints, Diarization, Diarizer, Options, Segmenter};
use nightshift_worker_protocol::{
    DiarizeItem, DiarizeLoad, DiarizeMetrics, DiarizeResponse, EmbedItem, FoundSpeaker,
    SpeakerHints, SpeakerTurn,
};

use nightshift_diarize::campplus::CamPlus;

pub struct Engine {
    diarizer: Diarizer,
    embedder: CamPlus,
}

impl Engine {
    pub fn load(load: &DiarizeLoad) -> Result<Self, String> {
        let threads = load.threads.max(1) as usize;
        let embedder =
            CamPlus::open(Path::new(&load.embedder_path), threads).map_err(|e| e.to_string())?;
        let segmenter =
            Segmenter::open(Path::new(&load.segmentation_path)).map_err(|e| e.to_string())?;
        let options = Options {
            threads,
            ..Options::default()
        };
        Ok(Engine {
            diarizer: Diarizer::new(segmenter, options),
            embedder,
        })
    }

    /// The pipeline options for a meeting's hints.
    fn options(&self, hints: &SpeakerHints) -> Options {
        let mut o = self.diarizer.options().clone();
        if let Some(t) = hints.threshold {
            o.threshold = t;
        }
        if hints.timbre == Some(false) {
            o.split_score = f32::INFINITY;
            o.merge_score = f32::NEG_INFINITY;
        }
        o.hints = CountHints {
            exact: hints.num_speakers,
            min: hints.min_speakers.unwrap_or(1),
            max: hints.max_speakers.unwrap_or(usize::MAX),
        };
        o
    }

    /// Diarize spans of 16 kHz mono samples placed at their meeting offsets. Spans are taken
    /// one at a time, so only one span's samples are in memory.
    pub fn diarize_spans(
        &mut self,
        spans: impl IntoIterator<Item = Result<(Vec<f32>, f64), String>>,
        hints: &SpeakerHints,
    ) -> Result<(Diarization, DiarizeMetrics), String> {
        let t0 = Instant::now();
        let diarizer = self.diarizer.with_options(self.options(hints));
        let mut analysed = Vec::new();
        let mut metrics = DiarizeMetrics::default();
        for span in spans {
            let (samples, offset_s) = span?;
            metrics.audio_s += samples.len() as f64 / 16_000.0;
            let a = diarizer
                .analyse(&mut self.embedder, &samples, offset_s)
                .map_err(|e| e.to_string())?;
            metrics.segmentation_s += a.segmentation_s;
            metrics.embedding_s += a.embedding_s;
            metrics.windows += a.window_count();
            metrics.embeddings += a.embedding_count();
            analysed.push(a);
        }
        let t_cluster = Instant::now();
        let d = diarizer.finish(&analysed);
        metrics.clustering_s = t_cluster.elapsed().as_secs_f64();
        metrics.wall_s = t0.elapsed().as_secs_f64();
        Ok((d, metrics))
    }

    pub fn diarize(&mut self, item: &DiarizeItem) -> Result<DiarizeResponse, String> {
        // A chunk that cannot be read (damaged, deleted) is left out with a warning: its
        // transcript job fails on its own, and the other chunks still get their speakers.
        let mut unreadable = 0usize;
        let spans =
            item.spans.iter().filter_map(|span| {
                match nightshift_media::chunk_io::read_chunk(Path::new(&span.path)) {
                    Ok(samples) => Some(Ok((samples, span.offset_s))),
                    Err(e) => {
                        tracing::warn!("{}: left out of diarization: {e}", span.path);
                        unreadable += 1;
                        None
                    }
                }
            });
        // When none can be read the meeting keeps its transcript without speakers: failing
        // here would only leave a job that no retry can make succeed (the audio is gone).
        let (d, mut metrics) = self.diarize_spans(spans, &item.hints)?;
        metrics.unreadable_chunks = unreadable;
        tracing::info!(
            job_id = item.job_id,
            speakers = d.speakers.len(),
            turns = d.turns.len(),
            unreadable_chunks = unreadable,
            audio_s = metrics.audio_s,
            wall_s = metrics.wall_s,
            "diarized"
        );
        Ok(DiarizeResponse::Diarized {
            job_id: item.job_id,
            turns: d
                .turns
                .iter()
                .map(|t| SpeakerTurn {
                    start: t.start,
                    end: t.end,
                    speaker: t.speaker,
                })
                .collect(),
            speakers: d
                .speakers
                .into_iter()
                .map(|s| FoundSpeaker {
                    embedding: s.centroid,
                    speech_s: s.speech_s,
                })
                .collect(),
            metrics,
        })
    }

    pub fn embed(&mut self, item: &EmbedItem) -> Result<DiarizeResponse, String> {
        let samples = nightshift_media::chunk_io::read_chunk(Path::new(&item.audio_path))
            .map_err(|e| format!("{}: {e}", item.audio_path))?;
        let span = self
            .diarizer
            .analyse(&mut self.embedder, &samples, 0.0)
            .map_err(|e| e.to_string())?;
        let d = self.diarizer.finish(std::slice::from_ref(&span));
        let main = d
            .speakers
            .iter()
            .max_by(|a, b| a.speech_s.total_cmp(&b.speech_s))
            .ok_or_else(|| format!("{}: no speech found", item.audio_path))?;
        Ok(DiarizeResponse::Embedded {
            job_id: item.job_id,
            embedding: main.centroid.clone(),
            speech_s: main.speech_s,
            speakers_found: d.speakers.len(),
        })
    }
}
