//! Scoring a meeting summary against the corpus truth by meaning: every true decision and action
//! item (`expected.decisions` / `expected.action_items`) should be in the summary, nothing
//! should be invented, and an action item should name the right owner and due date.
//!
//! Items are compared by the cosine similarity of their [`Embedder`] sentence embeddings: a true
//! decision's `decision` paraphrase against a produced decision's text, a true action's `task`
//! against a produced action's `task` (owner and due are checked separately, never embedded).
//! Decisions and action items are matched separately.
//!
//! **Matching.** Each produced item counts for the true item it is most similar to, if that
//! similarity reaches the threshold; each true item keeps the most similar of the produced items
//! that count for it (a match), and the others are *duplicates*. A produced item below the
//! threshold for every true item is *unmatched* (invented, or too vague to recognise). A global
//! greedy assignment would instead hand a second wording of one decision to another, still
//! unmatched decision of the same topic (a wording of "the demo uses synthetic data only" is
//! 0.61 similar to "the demo will be recorded"), counting a duplicate as a hit.
//!
//! Recall = matched true items / true items; precision = matched produced items / produced
//! items (duplicates and unmatched items both lower it). An empty side counts as 1.0 (nothing
//! missed, or nothing claimed).
//!
//! **Owner** is right when the produced owner is the true owner's name ignoring case and
//! spelling (`Carlos` for `CARLOS`, `Sophia` for `SOFIA`: a transcript spells a name as it
//! sounds), or is a speaker label that [`ScoreOptions::speaker_names`] maps to that name.
//! **Due** is right when the produced ISO date equals the true one; only matched items whose
//! truth has a due are checked.
//!
//! **Threshold [`MATCH_THRESHOLD`] = 0.55**, calibrated on the dev corpus with
//! all-MiniLM-L6-v2 (`tests/summary_score.rs::threshold_calibration` prints and checks these
//! figures; the held-out corpus has other texts, so the threshold sits inside the gap rather
//! than on an edge of it):
//!
//! | pairs (same kind: decision–decision, task–task) | n | cosine |
//! | --- | --- | --- |
//! | true item vs a hand-written summary-style rewording (`tests/fixtures`) | 46 | 0.49 – 0.99; all but one ≥ 0.66 |
//! | true item vs a bare label of it ("Chart colors") | 23 | 0.38 – 0.86; 20 ≥ 0.55 |
//! | true item vs its own `evidence` fragment, as spoken | 23 | 0.23 – 0.95 |
//! | true item vs the whole transcript sentence holding that evidence | 23 | 0.23 – 0.95 |
//! | true item vs another true item of the same meeting | 68 | ≤ 0.53 |
//! | true item vs a rewording of another item of the same meeting | 136 | ≤ 0.61 |
//! | true item vs a true item of another meeting | 178 | ≤ 0.35 |
//! | true item vs a plausible invented item (`tests/fixtures`) | 138 | ≤ 0.47 |
//! | true item vs the transcript sentences of the other meetings | 2664 | ≤ 0.50 |
//!
//! Spoken evidence is a poor positive: an utterance is often anaphoric ("Please order it this
//! week, Tom" for "Order the internet connection for the new office": 0.23) or carries names
//! and dates that the paraphrase lacks; a summary rewords the item instead, and rewordings sit
//! above every negative. The one rewording below the threshold ("Ben regenerates the demo
//! data" for "Refresh the (synthetic) demo data set", 0.49) is a miss, and so are the vaguest
//! labels ("Email support" 0.38, "Note to staff" 0.41, "Add the index" 0.45). Nothing
//! unrelated reaches 0.55 (the nearest: "Marketing wanted that data." to the synthetic-data
//! decision, 0.50). Items of the same meeting can come close (0.53 between the conference
//! venue and the conference date; 0.61 from a rewording of one demo decision to the other),
//! which is why the assignment, not the threshold, keeps those apart: every rewording is most
//! similar to its own true item.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::manifest::MeetingTruth;
use nightshift_embed::{Embedder, cosine};

/// Similarity from which a produced item counts as a rendering of a true item.
pub const MATCH_THRESHOLD: f32 = 0.55;

/// The part of a summary that is scored. Reads the JSON of `nightshift_core::Summary` as it is
/// (`decisions[].text`, `action_items[].task/owner/due`); other fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ProducedSummary {
    #[serde(default)]
    pub decisions: Vec<ProducedDecision>,
    #[serde(default)]
    pub action_items: Vec<ProducedAction>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ProducedDecision {
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ProducedAction {
    pub task: String,
    #[serde(default)]
    pub owner: Option<String>,
    /// ISO date (`YYYY-MM-DD`).
    #[serde(default)]
    pub due: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Similarity from which a produced item counts (default [`MATCH_THRESHOLD`]).
    pub threshold: f32,
    /// Speaker label → person name (`SPEAKER_01` → `Carlos`), for summaries that name owners
    /// by diarization label. Compared ignoring case.
    pub speaker_names: HashMap<String, String>,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            threshold: MATCH_THRESHOLD,
            speaker_names: HashMap::new(),
        }
    }
}

/// How the produced items of one kind map onto the true ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matching {
    pub true_count: usize,
    pub produced_count: usize,
    /// `(true index, produced index, similarity)`, one per matched true item.
    pub pairs: Vec<(usize, usize, f32)>,
    /// `(produced index, true index it repeats, similarity)`.
    pub duplicates: Vec<(usize, usize, f32)>,
    /// Produced items below the threshold for every true item: `(index, best similarity)`.
    pub unmatched: Vec<(usize, f32)>,
}

impl Matching {
    pub fn recall(&self) -> f64 {
        ratio(self.pairs.len(), self.true_count)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.pairs.len(), self.produced_count)
    }

    /// True indices no produced item matched, ascending.
    pub fn missed(&self) -> Vec<usize> {
        (0..self.true_count)
            .filter(|t| !self.pairs.iter().any(|p| p.0 == *t))
            .collect()
    }
}

/// The score of one meeting's summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub meeting: String,
    pub decisions: Matching,
    pub action_items: Matching,
    /// Matched action items whose owner is right.
    pub owners_correct: usize,
    /// Matched action items whose truth has a due date, and of those the ones whose produced due
    /// equals it.
    pub dues_checked: usize,
    pub dues_correct: usize,
    /// One line per miss, duplicate, unmatched item, wrong owner or wrong due, for test messages.
    pub notes: Vec<String>,
}

impl Score {
    /// Owners right among matched action items; 1.0 with none matched.
    pub fn owner_accuracy(&self) -> f64 {
        ratio(self.owners_correct, self.action_items.pairs.len())
    }

    /// Dues right among matched action items that have one; 1.0 with none.
    pub fn due_accuracy(&self) -> f64 {
        ratio(self.dues_correct, self.dues_checked)
    }

    /// Duplicates of decisions and action items together.
    pub fn duplicates(&self) -> usize {
        self.decisions.duplicates.len() + self.action_items.duplicates.len()
    }

    /// Unmatched (invented or unrecognisable) decisions and action items together.
    pub fn unmatched(&self) -> usize {
        self.decisions.unmatched.len() + self.action_items.unmatched.len()
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

/// Match produced items to `true_count` true ones from their similarities,
/// `sim[produced][true]` (see the module doc). Pure; ties go to the lower index.
pub fn match_items(sim: &[Vec<f32>], true_count: usize, threshold: f32) -> Matching {
    let mut claims: Vec<(usize, usize, f32)> = Vec::new();
    let mut unmatched = Vec::new();
    for (p, row) in sim.iter().enumerate() {
        assert_eq!(row.len(), true_count, "similarity row {p}");
        let best = row
            .iter()
            .copied()
            .enumerate()
            .fold(None, |b: Option<(usize, f32)>, (t, s)| match b {
                Some((_, bs)) if bs >= s => b,
                _ => Some((t, s)),
            });
        match best {
            Some((t, s)) if s >= threshold => claims.push((t, p, s)),
            Some((_, s)) => unmatched.push((p, s)),
            None => unmatched.push((p, f32::NEG_INFINITY)),
        }
    }
    // Strongest claim first: it wins its true item, later claims on it are duplicates.
    claims.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
    let mut pairs: Vec<(usize, usize, f32)> = Vec::new();
    let mut duplicates = Vec::new();
    for (t, p, s) in claims {
        if pairs.iter().any(|m| m.0 == t) {
            duplicates.push((p, t, s));
        } else {
            pairs.push((t, p, s));
        }
    }
    pairs.sort_by_key(|m| m.0);
    duplicates.sort_by_key(|d| d.0);
    Matching {
        true_count,
        produced_count: sim.len(),
        pairs,
        duplicates,
        unmatched,
    }
}

/// Score `produced` against a meeting's truth (`Case::meeting_truth`); `meeting` names the row.
pub fn score_summary(
    embedder: &Embedder,
    meeting: &str,
    truth: &MeetingTruth,
    produced: &ProducedSummary,
    options: &ScoreOptions,
) -> Score {
    let true_d: Vec<&str> = truth
        .decisions
        .iter()
        .map(|d| d.decision.as_str())
        .collect();
    let prod_d: Vec<&str> = produced.decisions.iter().map(|d| d.text.as_str()).collect();
    let true_a: Vec<&str> = truth.action_items.iter().map(|a| a.task.as_str()).collect();
    let prod_a: Vec<&str> = produced
        .action_items
        .iter()
        .map(|a| a.task.as_str())
        .collect();
    let decisions = match_items(
        &similarities(embedder, &prod_d, &true_d),
        true_d.len(),
        options.threshold,
    );
    let action_items = match_items(
        &similarities(embedder, &prod_a, &true_a),
        true_a.len(),
        options.threshold,
    );

    let mut score = Score {
        meeting: meeting.to_string(),
        ..Score::default()
    };
    let ids_d: Vec<&str> = truth.decisions.iter().map(|d| d.id.as_str()).collect();
    let ids_a: Vec<&str> = truth.action_items.iter().map(|a| a.id.as_str()).collect();
    note_matching(
        &mut score.notes,
        "decision",
        &decisions,
        &ids_d,
        &true_d,
        &prod_d,
    );
    note_matching(
        &mut score.notes,
        "action",
        &action_items,
        &ids_a,
        &true_a,
        &prod_a,
    );
    for &(t, p, _) in &action_items.pairs {
        let (want, got) = (&truth.action_items[t], &produced.action_items[p]);
        if owner_matches(got.owner.as_deref(), &want.owner, &options.speaker_names) {
            score.owners_correct += 1;
        } else {
            score.notes.push(format!(
                "{} owner {:?}, expected {}",
                want.id, got.owner, want.owner
            ));
        }
        if let Some(due) = &want.due {
            score.dues_checked += 1;
            if got.due.as_deref().map(str::trim) == Some(due.trim()) {
                score.dues_correct += 1;
            } else {
                score
                    .notes
                    .push(format!("{} due {:?}, expected {due}", want.id, got.due));
            }
        }
    }
    score.decisions = decisions;
    score.action_items = action_items;
    score
}

/// `sim[produced][true]`.
fn similarities(embedder: &Embedder, produced: &[&str], truth: &[&str]) -> Vec<Vec<f32>> {
    let p = embedder.embed(produced);
    let t = embedder.embed(truth);
    p.iter()
        .map(|a| t.iter().map(|b| cosine(a, b)).collect())
        .collect()
}

fn note_matching(
    notes: &mut Vec<String>,
    kind: &str,
    m: &Matching,
    ids: &[&str],
    truth: &[&str],
    produced: &[&str],
) {
    for t in m.missed() {
        notes.push(format!("{} missed: {:?}", ids[t], truth[t]));
    }
    for &(p, t, s) in &m.duplicates {
        notes.push(format!(
            "{kind} {:?} repeats {} ({s:.2})",
            produced[p], ids[t]
        ));
    }
    for &(p, s) in &m.unmatched {
        notes.push(format!(
            "{kind} {:?} matches nothing (best {s:.2})",
            produced[p]
        ));
    }
}

fn owner_matches(produced: Option<&str>, owner: &str, names: &HashMap<String, String>) -> bool {
    let Some(p) = produced.map(str::trim) else {
        return false;
    };
    let same = |a: &str, b: &str| a.to_lowercase() == b.trim().to_lowercase();
    same_name(p, owner)
        || names
            .iter()
            .any(|(label, name)| same(p, label) && same(owner, name))
}

/// Two spellings of one spoken name: equal ignoring case, or with the same [`sound_key`]
/// ("Sophia" / "SOFIA", "Jon" / "John", "Katherine" / "Catherine"). A transcript can only
/// spell a name as it sounds, so a name heard right is the right person.
fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim()) || {
        let (ka, kb) = (sound_key(a), sound_key(b));
        !ka.is_empty() && ka == kb
    }
}

/// A spelling-free key of a name: letters that spell one sound are folded into one (ph → f,
/// c → k or s, q → k, z → s, y → i, ck → k, x → ks), an h after a consonant or before one is
/// silent, and doubled letters count once.
fn sound_key(name: &str) -> String {
    let s: Vec<char> = name
        .trim()
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect();
    let mut out = String::new();
    for (i, &c) in s.iter().enumerate() {
        let next = s.get(i + 1).copied();
        let prev = i.checked_sub(1).map(|j| s[j]);
        let folded: Option<&str> = match c {
            'p' if next == Some('h') => Some("f"),
            'h' if prev.is_some_and(|p| !"aeiou".contains(p))
                || !next.is_some_and(|n| "aeiouy".contains(n)) =>
            {
                Some("")
            }
            'c' if next == Some('k') => Some(""),
            'c' if next.is_some_and(|n| "eiy".contains(n)) => Some("s"),
            'c' | 'q' => Some("k"),
            'z' => Some("s"),
            'y' => Some("i"),
            'x' => Some("ks"),
            _ => None,
        };
        let piece = folded.map_or_else(|| c.to_string(), str::to_string);
        for f in piece.chars() {
            if !out.ends_with(f) {
                out.push(f);
            }
        }
    }
    out
}

/// A fixed-width table, one row per score: recall and precision of decisions and action items,
/// owner and due accuracy as counts, duplicates and unmatched items.
pub fn score_table(scores: &[Score]) -> String {
    let mut out = String::new();
    let w = scores
        .iter()
        .map(|s| s.meeting.len())
        .chain(["meeting".len()])
        .max()
        .unwrap_or(7);
    let _ = writeln!(
        out,
        "{:w$}  {:>6} {:>6}  {:>6} {:>6}  {:>5}  {:>5}  {:>3}  {:>8}",
        "meeting", "dec R", "dec P", "act R", "act P", "owner", "due", "dup", "unmatched"
    );
    for s in scores {
        let _ = writeln!(
            out,
            "{:w$}  {:>6.2} {:>6.2}  {:>6.2} {:>6.2}  {:>5}  {:>5}  {:>3}  {:>8}",
            s.meeting,
            s.decisions.recall(),
            s.decisions.precision(),
            s.action_items.recall(),
            s.action_items.precision(),
            format!("{}/{}", s.owners_correct, s.action_items.pairs.len()),
            format!("{}/{}", s.dues_correct, s.dues_checked),
            s.duplicates(),
            s.unmatched(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_claim_wins_and_the_rest_are_duplicates_or_unmatched() {
        // 4 produced × 2 true: p0 and p2 both claim t0 (p2 stronger), p1 is t1, p3 is below.
        let sim = vec![
            vec![0.8, 0.6],
            vec![0.1, 0.7],
            vec![0.9, 0.2],
            vec![0.3, 0.4],
        ];
        let m = match_items(&sim, 2, 0.5);
        assert_eq!(m.pairs, vec![(0, 2, 0.9), (1, 1, 0.7)]);
        assert_eq!(m.duplicates, vec![(0, 0, 0.8)]);
        assert_eq!(m.unmatched, vec![(3, 0.4)]);
        assert_eq!((m.recall(), m.precision()), (1.0, 0.5));
    }

    #[test]
    fn a_duplicate_is_not_handed_to_another_unmatched_item() {
        // p1 is a second wording of t0 that is also fairly close to t1: greedy would pair it
        // with t1; here it stays a duplicate and t1 is missed.
        let sim = vec![vec![0.9, 0.3], vec![0.8, 0.6]];
        let m = match_items(&sim, 2, 0.5);
        assert_eq!(m.pairs, vec![(0, 0, 0.9)]);
        assert_eq!(m.duplicates, vec![(1, 0, 0.8)]);
        assert_eq!(m.missed(), vec![1]);
    }

    #[test]
    fn empty_sides() {
        let none = match_items(&[], 0, 0.5);
        assert_eq!((none.recall(), none.precision()), (1.0, 1.0));
        let missed = match_items(&[], 2, 0.5);
        assert_eq!((missed.recall(), missed.precision()), (0.0, 1.0));
        assert_eq!(missed.missed(), vec![0, 1]);
        // Items claimed where nothing was decided are all unmatched.
        let invented = match_items(&[vec![], vec![]], 0, 0.5);
        assert_eq!((invented.recall(), invented.precision()), (1.0, 0.0));
        assert_eq!(invented.unmatched.len(), 2);
    }

    #[test]
    fn owners_by_name_or_mapped_label() {
        let names = HashMap::from([("SPEAKER_01".to_string(), "Carlos".to_string())]);
        assert!(owner_matches(Some(" carlos "), "CARLOS", &names));
        assert!(owner_matches(Some("speaker_01"), "CARLOS", &names));
        assert!(!owner_matches(Some("SPEAKER_02"), "CARLOS", &names));
        assert!(!owner_matches(Some("Ben"), "CARLOS", &names));
        assert!(!owner_matches(None, "CARLOS", &names));
        // A name spelled as it sounds is the same person; another name is not.
        assert!(owner_matches(Some("Sophia"), "SOFIA", &names));
        assert!(owner_matches(Some("Jon"), "JOHN", &names));
        assert!(owner_matches(Some("Katherine"), "CATHERINE", &names));
        assert!(!owner_matches(Some("Sophie"), "SOFIA", &names));
        assert!(!owner_matches(Some("Tim"), "TOM", &names));
        assert!(!owner_matches(Some("Dan"), "DIANA", &names));
    }

    #[test]
    fn reads_a_core_summary_as_json() {
        let s: ProducedSummary = serde_json::from_str(
            r#"{"overview": "x", "open_questions": [],
                "decisions": [{"text": "Ship in May", "time": 12.5, "speaker": "GRACE"}],
                "action_items": [{"task": "Add the index", "owner": "Carlos",
                                  "due": "2025-03-12", "due_spoken": null, "time": 34.0},
                                 {"task": "Email support", "owner": null, "due": null}]}"#,
        )
        .unwrap();
        assert_eq!(s.decisions[0].text, "Ship in May");
        assert_eq!(s.action_items[0].owner.as_deref(), Some("Carlos"));
        assert_eq!(s.action_items[1].due, None);
    }

    #[test]
    fn table_has_a_row_per_meeting() {
        let s = Score {
            meeting: "meeting_01".into(),
            decisions: match_items(&[vec![0.9]], 1, 0.5),
            ..Score::default()
        };
        let t = score_table(&[s]);
        assert_eq!(t.lines().count(), 2);
        assert!(t.lines().nth(1).unwrap().starts_with("meeting_01"), "{t}");
    }
}
