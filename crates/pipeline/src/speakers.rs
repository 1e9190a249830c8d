//! Speakers in a meeting: the diarization job (queued with the audio), where its models are,
//! what it stores, how speakers get their names (hand-given names ← enrolled voices ←
//! `SPEAKER_n`), and the labelling of transcript segments.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use nightshift_core::{JobStatus, Segment, TaskType};
use nightshift_queue::{JobRow, NewJob, Queue, VoiceProfile};
use nightshift_worker_protocol::{DiarizeLoad, SpeakerHints};
use serde::{Deserialize, Serialize};

use crate::config::SpeakersConfig;
use crate::home::Home;
use crate::job::{DIARIZE_SEQ, JobKind, model_key};

/// Files the diarization worker needs, as `scripts/fetch-diarization-models.sh` names them.
const SEGMENTATION_FILE: &str = "segmentation-3.0.safetensors";
const EMBEDDER_FILE: &str = "campplus.safetensors";

/// The meeting's diarization job, when `[speakers] enabled` (the default).
pub fn diarize_jobs(config: &SpeakersConfig, hints: &SpeakerHints) -> Vec<NewJob> {
    if config.enabled {
        vec![diarize_job(hints)]
    } else {
        Vec::new()
    }
}

/// The diarization job of a meeting; it is queued once every chunk job of the meeting is
/// (its `seq` sorts it after them) and reads the chunks from their jobs at run time.
fn diarize_job(hints: &SpeakerHints) -> NewJob {
    let kind = JobKind::Diarize {
        hints: hints.clone(),
    };
    kind.new_job(0, DIARIZE_SEQ)
}

/// An AUDIO job that transcribes a chunk (every AUDIO job but the diarization). By task type
/// and model key alone, so it never fails; [`JobKind::of_row`] reads the payload.
pub fn is_chunk_job(job: &JobRow) -> bool {
    job.task_type == TaskType::Audio && job.model_key.as_deref() == Some(model_key::WHISPER)
}

fn is_diarize_job(job: &JobRow) -> bool {
    job.task_type == TaskType::Audio && job.model_key.as_deref() == Some(model_key::DIARIZE)
}

/// Directories searched for the diarization models, in order.
fn model_dirs(home: &Home, config: &SpeakersConfig) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = &config.models_dir {
        dirs.push(d.clone());
    }
    if let Some(d) = std::env::var_os("NIGHTSHIFT_DIARIZATION_MODELS") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(home.root.join("models").join("diarization"));
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(Path::new(&h).join(".cache/nightshift-models/diarization"));
    }
    dirs
}

/// The worker's load message, from the first directory that holds all three files.
pub fn load_message(home: &Home, config: &SpeakersConfig, threads: u32) -> Result<DiarizeLoad> {
    let dirs = model_dirs(home, config);
    let files = [SEGMENTATION_FILE, EMBEDDER_FILE];
    match dirs
        .iter()
        .find(|d| files.iter().all(|f| d.join(f).is_file()))
    {
        Some(d) => Ok(DiarizeLoad {
            segmentation_path: d.join(SEGMENTATION_FILE).to_string_lossy().into_owned(),
            embedder_path: d.join(EMBEDDER_FILE).to_string_lossy().into_owned(),
            threads,
        }),
        None => {
            let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            bail!(
                "diarization models not found (need {} in one of: {}); fetch them with scripts/fetch-diarization-models.sh",
                files.join(", "),
                searched.join(", ")
            )
        }
    }
}

/// What the diarization job stores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DiarizeResult {
    pub turns: Vec<StoredTurn>,
    pub speakers: Vec<StoredSpeaker>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTurn {
    pub start: f64,
    pub end: f64,
    /// `SPEAKER_n` label.
    pub speaker: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSpeaker {
    pub label: String,
    pub embedding: Vec<f32>,
    pub speech_s: f64,
}

/// Labels are numbered from 1 in order of first speech.
pub fn label(index: usize) -> String {
    format!("SPEAKER_{}", index + 1)
}

/// The stored diarization of a meeting, if its job completed.
pub fn diarization(jobs: &[JobRow]) -> Result<Option<DiarizeResult>> {
    match jobs
        .iter()
        .find(|j| is_diarize_job(j) && j.status == JobStatus::Completed)
    {
        Some(j) => Ok(crate::job::stored_result(j)?),
        None => Ok(None),
    }
}

/// Display name of each of the meeting's speakers, by label: a name given with
/// `speakers rename` first, then the best-matching enrolled voice at or above `threshold`
/// (each voice names at most one speaker: the one it matches best), else the label.
pub fn speaker_names(
    result: &DiarizeResult,
    renamed: &[(String, String)],
    profiles: &[VoiceProfile],
    threshold: f32,
) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = result
        .speakers
        .iter()
        .map(|s| (s.label.clone(), s.label.clone()))
        .collect();
    // Candidate (similarity, speaker, profile) pairs, best first; greedy one-to-one.
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (si, s) in result.speakers.iter().enumerate() {
        for (pi, p) in profiles.iter().enumerate() {
            if p.embedding.len() == s.embedding.len() {
                let sim = cosine(&s.embedding, &p.embedding);
                if sim >= threshold {
                    pairs.push((sim, si, pi));
                }
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut speaker_done, mut profile_done) = (
        vec![false; result.speakers.len()],
        vec![false; profiles.len()],
    );
    for (_, si, pi) in pairs {
        if !speaker_done[si] && !profile_done[pi] {
            names[si].1 = profiles[pi].name.clone();
            speaker_done[si] = true;
            profile_done[pi] = true;
        }
    }
    for (label, name) in renamed {
        if let Some(entry) = names.iter_mut().find(|(l, _)| l == label) {
            entry.1 = name.clone();
        }
    }
    names
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

/// Speaker of each segment, and segments split where the speaker changes inside them.
///
/// With word times (every segment the whisper worker gives now), each word takes the speaker
/// whose turn covers most of it, and the segment is split where that changes (`by_words`).
/// Without them (results stored before word times), a segment takes the speaker with the most
/// overlap; when a second speaker holds at least 1 s and a third of it, the segment is split
/// at the turn change and its words divided in proportion to the time on each side.
pub fn label_segments(
    segments: Vec<Segment>,
    turns: &[StoredTurn],
    names: &[(String, String)],
) -> Vec<Segment> {
    let name_of = |label: &str| {
        names
            .iter()
            .find(|(l, _)| l == label)
            .map_or_else(|| label.to_string(), |(_, n)| n.clone())
    };
    let mut out = Vec::with_capacity(segments.len());
    for seg in segments {
        if !seg.words.is_empty() {
            out.extend(by_words(seg, turns, &name_of));
            continue;
        }
        let pieces = speaker_pieces(seg.start, seg.end, turns);
        if pieces.is_empty() {
            out.push(seg);
            continue;
        }
        if pieces.len() == 1 {
            out.push(Segment {
                speaker: Some(name_of(&pieces[0].2)),
                ..seg
            });
            continue;
        }
        let words: Vec<&str> = seg.text.split_whitespace().collect();
        let total = seg.end - seg.start;
        let mut taken = 0usize;
        for (i, (a, b, label)) in pieces.iter().enumerate() {
            let upto = if i + 1 == pieces.len() {
                words.len()
            } else {
                (((b - seg.start) / total) * words.len() as f64).round() as usize
            }
            .clamp(taken, words.len());
            let text = words[taken..upto].join(" ");
            taken = upto;
            if text.is_empty() {
                continue;
            }
            out.push(Segment {
                start: *a,
                end: *b,
                speaker: Some(name_of(label)),
                text: if seg.text.starts_with(' ') {
                    format!(" {text}")
                } else {
                    text
                },
                words: Vec::new(),
            });
        }
    }
    out
}

/// A run of words shorter than both of these is not a speaker change of its own: word times
/// are ±0.1–0.2 s and turn edges ±0.3 s, so the word or two at a segment's edge ("Go ahead,
/// | Henry.") or alone inside it is noise far more often than a real interjection.
const MIN_RUN_WORDS: usize = 3;
const MIN_RUN_S: f64 = 1.0;

/// One segment labelled word by word: runs of words with one speaker become segments.
fn by_words(seg: Segment, turns: &[StoredTurn], name_of: &dyn Fn(&str) -> String) -> Vec<Segment> {
    let near: Vec<&StoredTurn> = turns
        .iter()
        .filter(|t| t.start < seg.end + 2.0 && t.end > seg.start - 2.0)
        .collect();
    let mut labels: Vec<Option<&str>> = seg
        .words
        .iter()
        .map(|w| word_speaker(w.start, w.end, &near))
        .collect();
    // Words in no turn (a pause inside a segment) join the speaker before them, or after.
    for i in 1..labels.len() {
        if labels[i].is_none() {
            labels[i] = labels[i - 1];
        }
    }
    for i in (0..labels.len().saturating_sub(1)).rev() {
        if labels[i].is_none() {
            labels[i] = labels[i + 1];
        }
    }
    if labels.iter().all(Option::is_none) {
        return vec![seg];
    }
    let runs = merge_short_runs(&seg.words, &labels);
    runs.into_iter()
        .enumerate()
        .map(|(k, (from, to, label))| {
            let words = seg.words[from..to].to_vec();
            Segment {
                start: if k == 0 { seg.start } else { words[0].start },
                end: if to == seg.words.len() {
                    seg.end.max(words[words.len() - 1].end)
                } else {
                    words[words.len() - 1].end
                },
                speaker: label.map(name_of),
                text: words
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                words,
            }
        })
        .collect()
}

/// Runs of one label as `(first word, past the last word, label)`, short runs merged into a
/// neighbour until none is left (the shortest first; inside a segment into the neighbour with
/// more words).
fn merge_short_runs<'a>(
    words: &[nightshift_core::Word],
    labels: &[Option<&'a str>],
) -> Vec<(usize, usize, Option<&'a str>)> {
    let mut runs: Vec<(usize, usize, Option<&str>)> = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        match runs.last_mut() {
            Some(r) if r.2 == *l => r.1 = i + 1,
            _ => runs.push((i, i + 1, *l)),
        }
    }
    let short = |r: &(usize, usize, Option<&str>)| {
        r.1 - r.0 < MIN_RUN_WORDS && words[r.1 - 1].end - words[r.0].start < MIN_RUN_S
    };
    while runs.len() > 1 {
        let Some(k) = (0..runs.len())
            .filter(|&k| short(&runs[k]))
            .min_by_key(|&k| runs[k].1 - runs[k].0)
        else {
            break;
        };
        let into = match (k.checked_sub(1), runs.get(k + 1)) {
            (Some(p), Some(next)) if next.1 - next.0 > runs[p].1 - runs[p].0 => k + 1,
            (Some(p), _) => p,
            (None, _) => k + 1,
        };
        let (a, b) = (k.min(into), k.max(into));
        let label = runs[into].2;
        runs[a] = (runs[a].0, runs[b].1, label);
        runs.remove(b);
        // Neighbours that now share a label become one run.
        let mut i = 1;
        while i < runs.len() {
            if runs[i].2 == runs[i - 1].2 {
                runs[i - 1].1 = runs[i].1;
                runs.remove(i);
            } else {
                i += 1;
            }
        }
    }
    runs
}

/// The speaker whose turn covers most of `start..end`; for a word in no turn, the turn that
/// ends or starts within 0.5 s of it, else none.
fn word_speaker<'a>(start: f64, end: f64, turns: &[&'a StoredTurn]) -> Option<&'a str> {
    let mid = (start + end) / 2.0;
    let covered = turns
        .iter()
        .map(|t| {
            let overlap = t.end.min(end) - t.start.max(start);
            let contains_mid = t.start <= mid && mid < t.end;
            (overlap.max(0.0) + if contains_mid { 1e-6 } else { 0.0 }, t)
        })
        .filter(|(o, _)| *o > 0.0)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, t)) = covered {
        return Some(t.speaker.as_str());
    }
    turns
        .iter()
        .map(|t| ((t.start - mid).abs().min((t.end - mid).abs()), t))
        .filter(|(d, _)| *d <= 0.5)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, t)| t.speaker.as_str())
}

/// The speakers of `start..end` in time order as `(from, to, label)`: one piece per speaker
/// change worth splitting at, or one piece (the dominant speaker) otherwise; none when no turn
/// overlaps.
fn speaker_pieces(start: f64, end: f64, turns: &[StoredTurn]) -> Vec<(f64, f64, String)> {
    // The meeting's turns that touch this segment, looked up once.
    let turns: Vec<&StoredTurn> = turns
        .iter()
        .filter(|t| t.start < end && t.end > start)
        .collect();
    // Dominant speaker per slice of 0.1 s, then runs.
    let step = 0.1;
    let slices = (((end - start) / step).ceil() as usize).max(1);
    let mut owner: Vec<Option<&str>> = Vec::with_capacity(slices);
    for i in 0..slices {
        let (a, b) = (
            start + i as f64 * step,
            (start + (i + 1) as f64 * step).min(end),
        );
        let best = turns
            .iter()
            .filter(|t| t.start < b && t.end > a)
            .map(|t| (t.end.min(b) - t.start.max(a), t.speaker.as_str()))
            .max_by(|x, y| x.0.total_cmp(&y.0));
        owner.push(best.map(|(_, s)| s));
    }
    // Total time per speaker: the dominant one labels the segment if no split is worth it.
    let mut totals: Vec<(&str, usize)> = Vec::new();
    for s in owner.iter().flatten() {
        match totals.iter_mut().find(|(n, _)| n == s) {
            Some(e) => e.1 += 1,
            None => totals.push((s, 1)),
        }
    }
    let Some(&(dominant, _)) = totals.iter().max_by_key(|(_, n)| *n) else {
        return Vec::new();
    };
    let worth = |n: usize| n as f64 * step >= 1.0 && n as f64 >= slices as f64 / 3.0;
    if totals.len() < 2 || totals.iter().filter(|(_, n)| worth(*n)).count() < 2 {
        return vec![(start, end, dominant.to_string())];
    }
    // Runs of the speakers worth splitting for; others' slices join the run before them.
    let mut runs: Vec<(f64, f64, String)> = Vec::new();
    for (i, o) in owner.iter().enumerate() {
        let who = o
            .filter(|s| totals.iter().any(|(n, c)| n == s && worth(*c)))
            .map(str::to_string);
        let (a, b) = (
            start + i as f64 * step,
            (start + (i + 1) as f64 * step).min(end),
        );
        match (runs.last_mut(), who) {
            (Some(last), Some(w)) if last.2 == w => last.1 = b,
            (Some(last), None) => last.1 = b,
            (_, Some(w)) => runs.push((a, b, w)),
            (None, None) => {}
        }
    }
    if let Some(first) = runs.first_mut() {
        first.0 = start;
    }
    runs
}

/// The meeting's speaker names for `show` and the summary.
pub fn names_for(
    queue: &Queue,
    meeting_id: &str,
    result: &DiarizeResult,
    config: &SpeakersConfig,
) -> Result<Vec<(String, String)>> {
    let renamed = queue.speaker_names(meeting_id)?;
    let profiles = queue.voice_profiles()?;
    Ok(speaker_names(
        result,
        &renamed,
        &profiles,
        config.match_threshold,
    ))
}

/// The meeting's speakers with the names shown for them: hand-given or enrolled (`given`),
/// else proposed from how the others address them in `labelled` — segments carrying their
/// `SPEAKER_n` labels — (`speech`), else the label.
pub fn meeting_names(
    queue: &Queue,
    meeting: &nightshift_queue::MeetingRow,
    result: &DiarizeResult,
    config: &SpeakersConfig,
    labelled: &[Segment],
) -> Result<Vec<nightshift_export::SpeakerName>> {
    let given = names_for(queue, &meeting.meeting_id, result, config)?;
    let lines: Vec<(Option<&str>, &str)> = labelled
        .iter()
        .map(|s| (s.speaker.as_deref(), s.text.as_str()))
        .collect();
    let proposed = nightshift_summarize::names::propose(&lines);
    let taken: Vec<String> = given
        .iter()
        .filter(|(l, n)| l != n)
        .map(|(_, n)| n.to_lowercase())
        .collect();
    Ok(given
        .into_iter()
        .map(|(label, name)| {
            let (name, source) = if name != label {
                (name, "given")
            } else {
                match proposed
                    .get(&label)
                    .filter(|p| !taken.contains(&p.name.to_lowercase()))
                {
                    Some(p) => (p.name.clone(), "speech"),
                    None => (name, "label"),
                }
            };
            nightshift_export::SpeakerName {
                label,
                name,
                source: source.to_string(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(a: f64, b: f64, text: &str) -> Segment {
        Segment {
            start: a,
            end: b,
            speaker: None,
            text: text.into(),
            words: Vec::new(),
        }
    }

    fn turn(a: f64, b: f64, s: &str) -> StoredTurn {
        StoredTurn {
            start: a,
            end: b,
            speaker: s.into(),
        }
    }

    #[test]
    fn segments_take_the_dominant_speaker_and_split_at_changes() {
        let turns = [turn(0.0, 5.2, "SPEAKER_1"), turn(5.3, 12.0, "SPEAKER_2")];
        let names = vec![
            ("SPEAKER_1".to_string(), "Dana".to_string()),
            ("SPEAKER_2".to_string(), "SPEAKER_2".to_string()),
        ];
        let out = label_segments(
            vec![
                seg(0.5, 4.0, "one two three"),
                // 5 s of speaker 1 and 5 s of speaker 2: split, words in proportion
                seg(0.2, 10.2, "a b c d e f g h i j"),
                // a short touch of speaker 2 does not split
                seg(4.0, 5.6, "short"),
                seg(20.0, 21.0, "nobody"),
            ],
            &turns,
            &names,
        );
        let got: Vec<(Option<&str>, &str)> = out
            .iter()
            .map(|s| (s.speaker.as_deref(), s.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("Dana"), "one two three"),
                (Some("Dana"), "a b c d e"),
                (Some("SPEAKER_2"), "f g h i j"),
                (Some("Dana"), "short"),
                (None, "nobody"),
            ]
        );
        assert!((out[1].end - 5.3).abs() < 0.11 && (out[2].start - 5.3).abs() < 0.11);
    }

    fn result(embs: &[[f32; 2]]) -> DiarizeResult {
        DiarizeResult {
            turns: Vec::new(),
            speakers: embs
                .iter()
                .enumerate()
                .map(|(i, e)| StoredSpeaker {
                    label: label(i),
                    embedding: e.to_vec(),
                    speech_s: 10.0,
                })
                .collect(),
        }
    }

    fn profile(name: &str, e: [f32; 2]) -> VoiceProfile {
        VoiceProfile {
            name: name.into(),
            embedding: e.to_vec(),
            source: "clip".into(),
            speech_s: 5.0,
            created_at: 0.0,
        }
    }

    #[test]
    fn enrolled_voices_name_their_best_match_only() {
        let r = result(&[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]);
        let names = speaker_names(&r, &[], &[profile("Ana", [1.0, 0.02])], 0.75);
        let n: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(n, vec!["Ana", "SPEAKER_2", "SPEAKER_3"]);
        // A hand-given name wins over the enrolled voice.
        let renamed = vec![("SPEAKER_1".to_string(), "Dana".to_string())];
        let names = speaker_names(&r, &renamed, &[profile("Ana", [1.0, 0.0])], 0.75);
        assert_eq!(names[0].1, "Dana");
        // Below the threshold nobody is named.
        let names = speaker_names(&r, &[], &[profile("Bo", [0.6, 0.8])], 0.99);
        assert!(names.iter().all(|(l, n)| l == n));
    }
}
