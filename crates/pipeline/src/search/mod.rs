//! Search across meetings: transcripts, summaries (decisions, action items, open questions),
//! on-screen text and speaker names. Two signals fused by reciprocal rank:
//!
//! - full text: SQLite FTS5 over the passages the queue stores with each result (porter
//!   stemming, BM25, phrases, prefixes; the query parsed into safe pieces by [`query`]);
//! - meaning: all-MiniLM-L6-v2 embeddings of transcript passages and summary items
//!   ([`semantic`]), computed once per passage and cached in the database.
//!
//! ```no_run
//! # fn demo(home: &nightshift_pipeline::Home) -> anyhow::Result<()> {
//! use nightshift_pipeline::search::{Query, Searcher};
//! let mut queue = nightshift_queue::Queue::open_existing(home.db_url()?)?;
//! let mut searcher = Searcher::open(home)?; // loads the embedder once (keep it for later queries)
//! searcher.prepare(&mut queue, |_, _| {})?; // rebuild stale meetings, embed new passages
//! let hits = searcher.search(&mut queue, &Query::new("production migration"))?;
//! # Ok(()) }
//! ```

pub mod hits;
pub mod index;
pub mod query;
pub mod semantic;

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Result, bail};
use nightshift_embed::Embedder;
use nightshift_queue::{FtsFilter, MeetingRow, PassageRow, Queue};
pub use nightshift_summarize::dates::Date;
use serde::Serialize;

use crate::config::SpeakersConfig;
use crate::home::Home;
use hits::{SNIPPET_WORDS, SpeakerCache, meeting_day, snippet};
use semantic::VectorCache;

pub use index::complete;

/// Reciprocal rank fusion's constant (Cormack et al.; the usual 60).
const RRF_K: f64 = 60.0;
/// Candidates taken from each signal before fusing (more when a speaker filter drops some).
const CANDIDATES: usize = 200;
const CANDIDATES_FILTERED: usize = 5000;
/// Cosine under which a passage is not considered related to the query at all. all-MiniLM-L6-v2
/// puts unrelated sentences around 0–0.2 and paraphrases at 0.5 and above.
pub const MIN_COSINE: f32 = 0.25;

/// Where a hit's text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Transcript,
    Decision,
    Action,
    Question,
    Screen,
    Speaker,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Transcript => "transcript",
            Source::Decision => "decision",
            Source::Action => "action",
            Source::Question => "question",
            Source::Screen => "screen",
            Source::Speaker => "speaker",
        }
    }

    fn parse(s: &str) -> Source {
        match s {
            "decision" => Source::Decision,
            "action" => Source::Action,
            "question" => Source::Question,
            "screen" => Source::Screen,
            _ => Source::Transcript,
        }
    }
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct Query {
    /// What the user typed (any text: see [`query`]).
    pub text: String,
    /// A meeting id or unique prefix.
    pub meeting: Option<String>,
    /// A speaker's current name (or `SPEAKER_n` label), case-insensitive.
    pub speaker: Option<String>,
    /// Meetings on or after this day ([`hits::meeting_day`]).
    pub since: Option<Date>,
    pub limit: usize,
}

impl Query {
    pub fn new(text: &str) -> Query {
        Query {
            text: text.to_string(),
            meeting: None,
            speaker: None,
            since: None,
            limit: 20,
        }
    }
}

/// One hit.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub meeting_id: String,
    pub title: String,
    /// Meeting seconds.
    pub start: f64,
    pub end: f64,
    /// The current name of who speaks there, if known.
    pub speaker: Option<String>,
    pub source: Source,
    /// The passage (or the part of it around the match).
    pub snippet: String,
    /// Matched words in `snippet` as `[start, end)` char offsets.
    pub marks: Vec<(usize, usize)>,
    /// Fused reciprocal-rank score: higher is better.
    pub score: f64,
    /// The full-text rank (1 = best BM25) and the cosine similarity, where the signal found it.
    pub text_rank: Option<usize>,
    pub cosine: Option<f32>,
}

/// Why semantic search is off, if it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Semantic {
    On,
    Off(String),
}

/// What [`Searcher::prepare`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    pub meetings_rebuilt: usize,
    pub passages_embedded: usize,
}

/// A search engine over one home; keep it to answer many queries (the web app): the embedder
/// and the embeddings stay loaded between queries.
pub struct Searcher {
    embedder: Option<Embedder>,
    semantic: Semantic,
    speakers: SpeakersConfig,
    cache: VectorCache,
    model_load_s: f64,
}

impl Searcher {
    /// Load the config's speaker settings and the embedding model; without the model the
    /// searcher works on full text only ([`Searcher::semantic`] says why).
    pub fn open(home: &Home) -> Result<Searcher> {
        let speakers = crate::config::Config::load(home)?.speakers;
        let started = Instant::now();
        let (embedder, semantic) = match semantic::model_dir(home) {
            Ok(dir) => match Embedder::load(&dir) {
                Ok(e) => (Some(e), Semantic::On),
                Err(e) => (None, Semantic::Off(e.to_string())),
            },
            Err(why) => (None, Semantic::Off(why)),
        };
        Ok(Searcher {
            embedder,
            semantic,
            speakers,
            cache: VectorCache::default(),
            model_load_s: started.elapsed().as_secs_f64(),
        })
    }

    /// Full text only, whatever models are installed.
    pub fn full_text_only(home: &Home, why: &str) -> Result<Searcher> {
        Ok(Searcher {
            embedder: None,
            semantic: Semantic::Off(why.to_string()),
            speakers: crate::config::Config::load(home)?.speakers,
            cache: VectorCache::default(),
            model_load_s: 0.0,
        })
    }

    pub fn semantic(&self) -> &Semantic {
        &self.semantic
    }

    /// Seconds the embedding model took to load.
    pub fn model_load_s(&self) -> f64 {
        self.model_load_s
    }

    /// Passages that still need an embedding (0 without a model).
    pub fn pending_embeddings(&self, queue: &Queue) -> Result<i64> {
        match self.embedder {
            Some(_) => semantic::pending(queue),
            None => Ok(0),
        }
    }

    /// Bring the index up to date: rebuild meetings marked stale (a home from before search),
    /// then embed passages stored since the last search (`progress`: done, total). Cheap when
    /// there is nothing to do; [`Searcher::search`] calls it too.
    pub fn prepare(
        &mut self,
        queue: &mut Queue,
        progress: impl FnMut(usize, usize),
    ) -> Result<Prepared> {
        let meetings_rebuilt = index::rebuild_stale(queue)?;
        let passages_embedded = match &self.embedder {
            Some(e) => semantic::embed_pending(queue, e, progress)?,
            None => 0,
        };
        Ok(Prepared {
            meetings_rebuilt,
            passages_embedded,
        })
    }

    /// The hits for `q`, best first. A query with nothing searchable in it (only stop words
    /// or punctuation) has no hits; an unknown `--meeting` is an error.
    pub fn search(&mut self, queue: &mut Queue, q: &Query) -> Result<Vec<Hit>> {
        self.prepare(queue, |_, _| {})?;
        let parsed = query::parse(&q.text);
        let Some(expr) = parsed.fts_expr() else {
            return Ok(Vec::new());
        };
        let meetings = scope(queue, q)?;
        let by_id: HashMap<&str, &MeetingRow> = meetings
            .iter()
            .map(|m| (m.meeting_id.as_str(), m))
            .collect();
        let ids: Vec<String> = meetings.iter().map(|m| m.meeting_id.clone()).collect();
        let scoped = q.meeting.is_some() || q.since.is_some();
        let candidates = if q.speaker.is_some() {
            CANDIDATES_FILTERED
        } else {
            CANDIDATES
        };
        let fts = queue.fts_search(
            &expr,
            &FtsFilter {
                meetings: scoped.then_some(ids.as_slice()),
                limit: candidates,
            },
        )?;
        let near = match &self.embedder {
            Some(e) if !parsed.plain.is_empty() => {
                let qv = e.embed(&[parsed.plain.as_str()]).remove(0);
                self.cache.refresh(queue)?;
                self.cache
                    .nearest(&qv, candidates, MIN_COSINE, |m| by_id.contains_key(m))
            }
            _ => Vec::new(),
        };
        // `-word` excludes passages found by meaning too.
        let excluded: std::collections::HashSet<i64> = match parsed.excluded_expr() {
            Some(neg) if !near.is_empty() => queue
                .fts_search(
                    &neg,
                    &FtsFilter {
                        meetings: scoped.then_some(ids.as_slice()),
                        limit: usize::MAX >> 1,
                    },
                )?
                .into_iter()
                .map(|m| m.passage.passage_id)
                .collect(),
            _ => Default::default(),
        };
        let near: Vec<(i64, f32)> = near
            .into_iter()
            .filter(|(id, _)| !excluded.contains(id))
            .collect();
        let mut speakers = SpeakerCache::new(&self.speakers);
        let fused = fuse(&fts, &near);
        let mut rows: HashMap<i64, PassageRow> = fts
            .iter()
            .map(|m| (m.passage.passage_id, m.passage.clone()))
            .collect();
        let missing: Vec<i64> = near
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !rows.contains_key(id))
            .collect();
        for p in queue.passages_by_id(&missing)? {
            rows.insert(p.passage_id, p);
        }
        let marked: HashMap<i64, &str> = fts
            .iter()
            .map(|m| (m.passage.passage_id, m.marked.as_str()))
            .collect();
        let mut out = Vec::new();
        for c in fused {
            let Some(p) = rows.get(&c.passage_id) else {
                continue;
            };
            let Some(m) = by_id.get(p.meeting_id.as_str()) else {
                continue;
            };
            let source = Source::parse(&p.source);
            let speaker = match source {
                Source::Transcript => speakers.of(queue, m)?.speaker_at(p.start_s, p.end_s),
                _ => None,
            };
            if !speaker_matches(q.speaker.as_deref(), speaker.as_deref()) {
                continue;
            }
            let (snippet, marks) = snippet(
                marked.get(&p.passage_id).copied().unwrap_or(&p.text),
                SNIPPET_WORDS,
            );
            out.push(Hit {
                meeting_id: p.meeting_id.clone(),
                title: m.title.clone(),
                start: p.start_s,
                end: p.end_s,
                speaker,
                source,
                snippet,
                marks,
                score: c.score,
                text_rank: c.text_rank,
                cosine: c.cosine,
            });
            if out.len() >= q.limit {
                break;
            }
        }
        // Speakers whose current name is searched for: one hit per meeting and speaker.
        let speaker_hits = speaker_hits(queue, &mut speakers, &parsed, &meetings, q)?;
        out.extend(speaker_hits);
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.truncate(q.limit);
        Ok(out)
    }
}

/// The meetings a query may return, after `--meeting` and `--since`.
fn scope(queue: &Queue, q: &Query) -> Result<Vec<MeetingRow>> {
    let mut meetings = match &q.meeting {
        Some(m) => vec![queue.resolve_meeting(m)?],
        None => queue.meetings()?,
    };
    if let Some(since) = q.since {
        meetings.retain(|m| meeting_day(m).days() >= since.days());
    }
    Ok(meetings)
}

fn speaker_matches(wanted: Option<&str>, got: Option<&str>) -> bool {
    match (wanted, got) {
        (None, _) => true,
        (Some(w), Some(g)) => w.trim().eq_ignore_ascii_case(g.trim()),
        (Some(_), None) => false,
    }
}

/// A fused candidate.
struct Fused {
    passage_id: i64,
    score: f64,
    text_rank: Option<usize>,
    cosine: Option<f32>,
}

/// Reciprocal rank fusion of the full-text ranking and the semantic ranking.
fn fuse(fts: &[nightshift_queue::FtsMatch], near: &[(i64, f32)]) -> Vec<Fused> {
    let mut by_id: HashMap<i64, Fused> = HashMap::new();
    for (rank, m) in fts.iter().enumerate() {
        let f = by_id.entry(m.passage.passage_id).or_insert(Fused {
            passage_id: m.passage.passage_id,
            score: 0.0,
            text_rank: None,
            cosine: None,
        });
        f.score += 1.0 / (RRF_K + rank as f64 + 1.0);
        f.text_rank = Some(rank + 1);
    }
    for (rank, (id, cos)) in near.iter().enumerate() {
        let f = by_id.entry(*id).or_insert(Fused {
            passage_id: *id,
            score: 0.0,
            text_rank: None,
            cosine: None,
        });
        f.score += 1.0 / (RRF_K + rank as f64 + 1.0);
        f.cosine = Some(*cos);
    }
    let mut out: Vec<Fused> = by_id.into_values().collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.passage_id.cmp(&b.passage_id))
    });
    out
}

/// Hits for speakers named by a query word: hand-given names of the meetings in scope and
/// enrolled voices (only meetings where a searched name is a speaker's current name).
fn speaker_hits(
    queue: &Queue,
    speakers: &mut SpeakerCache<'_>,
    parsed: &query::Parsed,
    meetings: &[MeetingRow],
    q: &Query,
) -> Result<Vec<Hit>> {
    let words: Vec<&str> = parsed.all_words().collect();
    let named = |name: &str| {
        name.split(|c: char| !c.is_alphanumeric())
            .any(|w| !w.is_empty() && words.contains(&w.to_lowercase().as_str()))
            || parsed
                .prefixes
                .iter()
                .any(|p| name.to_lowercase().starts_with(p.as_str()))
    };
    let enrolled = queue.voice_profiles()?.iter().any(|p| named(&p.name));
    let mut out = Vec::new();
    for m in meetings {
        let given = queue.speaker_names(&m.meeting_id)?;
        if !enrolled && !given.iter().any(|(_, n)| named(n)) {
            continue;
        }
        let ms = speakers.of(queue, m)?;
        for (label, name) in ms.names.iter().filter(|(l, n)| l != n && named(n)) {
            if !speaker_matches(q.speaker.as_deref(), Some(name)) {
                continue;
            }
            let (start, end) = ms.first_turn(label).unwrap_or((0.0, 0.0));
            let chars = name.chars().count();
            out.push(Hit {
                meeting_id: m.meeting_id.clone(),
                title: m.title.clone(),
                start,
                end,
                speaker: Some(name.clone()),
                source: Source::Speaker,
                snippet: name.clone(),
                marks: vec![(0, chars)],
                // Ranked as a first-place full-text match.
                score: 1.0 / (RRF_K + 1.0),
                text_rank: Some(1),
                cosine: None,
            });
        }
    }
    Ok(out)
}

/// `YYYY-MM-DD` for `--since`; the error names the value.
pub fn parse_since(s: &str) -> Result<Date> {
    match Date::parse_iso(s.trim()) {
        Some(d) if s.trim().len() == 10 => Ok(d),
        _ => bail!("--since {s:?}: not a date (expected YYYY-MM-DD)"),
    }
}
