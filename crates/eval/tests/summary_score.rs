//! The summary scorer with the real embedder on the dev corpus's meetings: hand-made summaries
//! (perfect, one item missing, reworded, an invented item, a duplicate, wrong owner and due) and
//! the threshold calibration its module doc reports. Needs the model that
//! `scripts/fetch-embedding-model.sh` fetches and `../shared/corpus`; fails, never skips,
//! without them.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use nightshift_eval::{
    Embedder, MATCH_THRESHOLD, MeetingTruth, ProducedAction, ProducedDecision, ProducedSummary,
    Score, ScoreOptions, cosine, embedding_model_dir, load_corpus, score_summary, score_table,
};
use serde::Deserialize;

const MEETINGS: [&str; 3] = ["meeting_01", "meeting_02", "meeting_03"];

fn embedder() -> &'static Embedder {
    static E: OnceLock<Embedder> = OnceLock::new();
    E.get_or_init(|| {
        let dir = embedding_model_dir().unwrap_or_else(|e| panic!("{e}"));
        Embedder::load(&dir).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Each dev meeting's truth and transcript sentences.
fn meetings() -> &'static Vec<(String, MeetingTruth, Vec<String>)> {
    static M: OnceLock<Vec<(String, MeetingTruth, Vec<String>)>> = OnceLock::new();
    M.get_or_init(|| {
        let manifest = load_corpus().unwrap_or_else(|e| panic!("{e}"));
        MEETINGS
            .iter()
            .map(|id| {
                let case = manifest
                    .case(id)
                    .unwrap_or_else(|| panic!("{id} not in the manifest"));
                let truth = case
                    .meeting_truth()
                    .unwrap_or_else(|| panic!("{id}: no meeting truth"));
                let sentences = case
                    .turns()
                    .into_iter()
                    .flat_map(|t| t.sentences.into_iter().map(|s| s.text))
                    .collect();
                (id.to_string(), truth, sentences)
            })
            .collect()
    })
}

fn truth(id: &str) -> &'static MeetingTruth {
    &meetings().iter().find(|m| m.0 == id).expect("meeting").1
}

#[derive(Deserialize)]
struct Fixtures {
    meetings: BTreeMap<String, MeetingFixture>,
}

#[derive(Deserialize)]
struct MeetingFixture {
    /// True item id → summary-style rewordings.
    paraphrases: BTreeMap<String, Vec<String>>,
    /// True item id → a bare label of it.
    labels: BTreeMap<String, String>,
    invented: Invented,
}

#[derive(Deserialize)]
struct Invented {
    decisions: Vec<String>,
    action_items: Vec<String>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/summary_paraphrases.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

/// The summary that says exactly what the manifest says, owners as the manifest's names in
/// title case.
fn perfect(t: &MeetingTruth) -> ProducedSummary {
    ProducedSummary {
        decisions: t
            .decisions
            .iter()
            .map(|d| ProducedDecision {
                text: d.decision.clone(),
            })
            .collect(),
        action_items: t
            .action_items
            .iter()
            .map(|a| ProducedAction {
                task: a.task.clone(),
                owner: Some(title_case(&a.owner)),
                due: a.due.clone(),
            })
            .collect(),
    }
}

fn title_case(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn score(id: &str, produced: &ProducedSummary) -> Score {
    score_summary(
        embedder(),
        id,
        truth(id),
        produced,
        &ScoreOptions::default(),
    )
}

fn assert_all_one(s: &Score) {
    let figures = [
        s.decisions.recall(),
        s.decisions.precision(),
        s.action_items.recall(),
        s.action_items.precision(),
        s.owner_accuracy(),
        s.due_accuracy(),
    ];
    assert_eq!(figures, [1.0; 6], "{}: {:?}", s.meeting, s.notes);
    assert_eq!((s.duplicates(), s.unmatched()), (0, 0), "{:?}", s.notes);
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn the_manifest_itself_scores_one_everywhere() {
    let scores: Vec<Score> = MEETINGS
        .iter()
        .map(|id| score(id, &perfect(truth(id))))
        .collect();
    println!("{}", score_table(&scores));
    for s in &scores {
        assert_all_one(s);
        assert!(s.dues_checked >= 4, "every dev action item has a due");
    }
}

#[test]
fn a_missing_item_lowers_recall_only() {
    let t = truth("meeting_01");
    let mut p = perfect(t);
    p.decisions.remove(1);
    p.action_items.remove(2);
    let s = score("meeting_01", &p);
    assert_eq!(s.decisions.recall(), 2.0 / 3.0, "{:?}", s.notes);
    assert_eq!(s.action_items.recall(), 3.0 / 4.0);
    assert_eq!(
        (s.decisions.precision(), s.action_items.precision()),
        (1.0, 1.0)
    );
    assert_eq!(s.decisions.missed(), vec![1]);
    assert_eq!(s.action_items.missed(), vec![2]);
    assert!(
        s.notes.iter().any(|n| n.starts_with("D2 missed")),
        "{:?}",
        s.notes
    );
}

#[test]
fn reworded_items_still_match() {
    // The first rewording of every item: other words, owners named in the task, dates spelled
    // differently.
    for id in MEETINGS {
        let t = truth(id);
        let words = &fixtures().meetings[id].paraphrases;
        let mut p = perfect(t);
        for (d, item) in p.decisions.iter_mut().zip(&t.decisions) {
            d.text = words[&item.id][0].clone();
        }
        for (a, item) in p.action_items.iter_mut().zip(&t.action_items) {
            a.task = words[&item.id][0].clone();
        }
        // Shuffled order must not matter.
        p.decisions.reverse();
        p.action_items.rotate_left(1);
        assert_all_one(&score(id, &p));
    }
}

#[test]
fn an_invented_item_lowers_precision_only() {
    let t = truth("meeting_02");
    let inv = &fixtures().meetings["meeting_02"].invented;
    let mut p = perfect(t);
    p.decisions.push(ProducedDecision {
        text: inv.decisions[0].clone(),
    });
    p.action_items.push(ProducedAction {
        task: inv.action_items[0].clone(),
        owner: Some("Henry".into()),
        due: None,
    });
    let s = score("meeting_02", &p);
    assert_eq!((s.decisions.recall(), s.action_items.recall()), (1.0, 1.0));
    assert_eq!(s.decisions.precision(), 3.0 / 4.0, "{:?}", s.notes);
    assert_eq!(s.action_items.precision(), 4.0 / 5.0, "{:?}", s.notes);
    assert_eq!((s.unmatched(), s.duplicates()), (2, 0));
}

#[test]
fn a_repeated_item_is_a_duplicate() {
    let t = truth("meeting_03");
    let words = &fixtures().meetings["meeting_03"].paraphrases;
    let mut p = perfect(t);
    // D3 said twice, D4 left out: the second D3 (close to D4's topic) must not stand in for D4.
    p.decisions.retain(|d| d.text != t.decisions[3].decision);
    p.decisions.push(ProducedDecision {
        text: words["D3"][1].clone(),
    });
    p.action_items.push(ProducedAction {
        task: words["A1"][1].clone(),
        owner: Some("Marcus".into()),
        due: Some("2025-07-03".into()),
    });
    let s = score("meeting_03", &p);
    println!("{}\n{:#?}", score_table(std::slice::from_ref(&s)), s.notes);
    assert_eq!(s.decisions.duplicates.len(), 1, "{:?}", s.notes);
    assert_eq!(s.action_items.duplicates.len(), 1, "{:?}", s.notes);
    assert_eq!(s.decisions.missed(), vec![3], "{:?}", s.notes);
    assert_eq!(s.decisions.precision(), 3.0 / 4.0);
    assert_eq!(s.action_items.precision(), 5.0 / 6.0);
    assert_eq!(s.action_items.recall(), 1.0);
}

#[test]
fn owners_by_label_and_wrong_owner_or_due() {
    let t = truth("meeting_01");
    let mut p = perfect(t);
    // A1 is Carlos's, named by his diarization label; A2 given to the wrong person; A3's date
    // off by a day; A4 without a date.
    p.action_items[0].owner = Some("SPEAKER_02".into());
    p.action_items[1].owner = Some("Carlos".into());
    p.action_items[2].due = Some("2025-03-19".into());
    p.action_items[3].due = None;
    let options = ScoreOptions {
        speaker_names: HashMap::from([("SPEAKER_02".to_string(), "Carlos".to_string())]),
        ..ScoreOptions::default()
    };
    let s = score_summary(embedder(), "meeting_01", t, &p, &options);
    assert_eq!(s.action_items.recall(), 1.0);
    assert_eq!(s.owners_correct, 3, "{:?}", s.notes);
    assert_eq!((s.dues_correct, s.dues_checked), (2, 4), "{:?}", s.notes);
    assert!(
        s.notes.iter().any(|n| n.starts_with("A2 owner")),
        "{:?}",
        s.notes
    );
    // Without the label map the label is not a name.
    let plain = score("meeting_01", &p);
    assert_eq!(plain.owners_correct, 2);
}

/// Min and max of a list of similarities.
fn range(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// The figures in `summary_score`'s module doc: positives (rewordings, spoken evidence) and
/// negatives (other items, invented items, unrelated sentences) against the threshold.
#[test]
fn threshold_calibration() {
    // Every text embedded once.
    let mut cache: HashMap<String, Vec<f32>> = HashMap::new();
    let mut emb = |s: &str| -> Vec<f32> {
        cache
            .entry(s.to_string())
            .or_insert_with(|| embedder().embed(&[s]).remove(0))
            .clone()
    };
    // (meeting, is_decision, id, text, embedding)
    let mut items = Vec::new();
    for (id, t, _) in meetings() {
        for d in &t.decisions {
            items.push((
                id.as_str(),
                true,
                d.id.as_str(),
                d.decision.as_str(),
                emb(&d.decision),
            ));
        }
        for a in &t.action_items {
            items.push((
                id.as_str(),
                false,
                a.id.as_str(),
                a.task.as_str(),
                emb(&a.task),
            ));
        }
    }
    let (mut reword, mut labels, mut evidence, mut sentence) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut reword_other = Vec::new();
    let (mut same_meeting, mut other_meeting, mut invented, mut unrelated) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (m, is_dec, id, _, v) in &items {
        let fx = &fixtures().meetings[*m];
        let (_, t, sentences) = meetings().iter().find(|x| x.0 == *m).unwrap();
        for text in &fx.paraphrases[*id] {
            let w = emb(text);
            reword.push(cosine(v, &w));
            // Every rewording is closest to its own item among its meeting's items of its kind.
            let best = items
                .iter()
                .filter(|o| o.0 == *m && o.1 == *is_dec)
                .max_by(|a, b| cosine(&a.4, &w).total_cmp(&cosine(&b.4, &w)))
                .unwrap();
            assert_eq!(best.2, *id, "{text:?} is closer to {} than to {id}", best.2);
            reword_other.extend(
                items
                    .iter()
                    .filter(|o| o.0 == *m && o.1 == *is_dec && o.2 != *id)
                    .map(|o| cosine(&o.4, &w)),
            );
        }
        labels.push(cosine(v, &emb(&fx.labels[*id])));
        let ev = if *is_dec {
            t.decisions
                .iter()
                .find(|d| d.id == *id)
                .unwrap()
                .evidence
                .clone()
        } else {
            t.action_items
                .iter()
                .find(|a| a.id == *id)
                .unwrap()
                .evidence
                .clone()
        }
        .expect("evidence");
        evidence.push(cosine(v, &emb(&ev)));
        let full = sentences
            .iter()
            .find(|s| s.to_lowercase().contains(&ev.to_lowercase()))
            .expect("evidence sentence");
        sentence.push(cosine(v, &emb(full)));
        for (m2, d2, id2, _, w) in &items {
            if d2 != is_dec || (m2 == m && id2 == id) {
                continue;
            }
            if m2 == m {
                &mut same_meeting
            } else {
                &mut other_meeting
            }
            .push(cosine(v, w));
        }
        for mf in fixtures().meetings.values() {
            let list = if *is_dec {
                &mf.invented.decisions
            } else {
                &mf.invented.action_items
            };
            invented.extend(list.iter().map(|s| cosine(v, &emb(s))));
        }
        for (m2, _, other_sentences) in meetings() {
            if m2 != m {
                unrelated.extend(other_sentences.iter().map(|s| cosine(v, &emb(s))));
            }
        }
    }
    let report = [
        ("rewordings (positives)", &reword),
        ("bare labels", &labels),
        ("rewording, other item", &reword_other),
        ("own evidence fragment", &evidence),
        ("own evidence sentence", &sentence),
        ("other items, same meeting", &same_meeting),
        ("items of other meetings", &other_meeting),
        ("invented items", &invented),
        ("other meetings' sentences", &unrelated),
    ];
    for (name, v) in report {
        let (lo, hi) = range(v);
        println!("{name:28} n={:4}  {lo:.3} .. {hi:.3}", v.len());
    }
    let mut lowest = reword.clone();
    lowest.sort_by(f32::total_cmp);
    println!("lowest rewordings: {:.3?}", &lowest[..4]);
    let below = reword.iter().filter(|&&s| s < MATCH_THRESHOLD).count();
    println!(
        "rewordings below {MATCH_THRESHOLD}: {below} of {}",
        reword.len()
    );
    let labels_below = labels.iter().filter(|&&s| s < MATCH_THRESHOLD).count();
    println!(
        "labels below {MATCH_THRESHOLD}: {labels_below} of {}",
        labels.len()
    );
    assert!(below <= 1, "{below} rewordings below the threshold");
    // Items of the same meeting are kept apart by the assignment (each produced item counts
    // for its most similar true item), the others by the threshold alone.
    for (name, v, margin) in [
        ("same meeting", &same_meeting, 0.0),
        ("other meeting", &other_meeting, 0.15),
        ("invented", &invented, 0.05),
        ("unrelated sentences", &unrelated, 0.04),
    ] {
        let hi = range(v).1;
        assert!(
            hi < MATCH_THRESHOLD - margin,
            "{name} negatives reach {hi:.3}, threshold {MATCH_THRESHOLD}"
        );
    }
}
