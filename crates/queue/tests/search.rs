//! The search index's storage: passages written with the result, FTS5 (porter stemming, BM25,
//! phrases, prefixes) over them, removal with their meeting, and the v2 → v3 migration marking
//! existing meetings for a rebuild.

mod common;

use common::{Kind, ManualClock, TestDb, audio_jobs, meeting, open_manual};
use nightshift_queue::{ClaimFilter, FtsFilter, Passage, Queue, QueueError};
use serde_json::json;
use tempfile::TempDir;

fn passage(start: f64, text: &str) -> Passage {
    Passage {
        source: "transcript".into(),
        start_s: start,
        end_s: start + 2.0,
        text: text.into(),
    }
}

fn all(q: &Queue, expr: &str) -> Vec<String> {
    let filter = FtsFilter {
        meetings: None,
        limit: 10,
    };
    q.fts_search(expr, &filter)
        .unwrap()
        .into_iter()
        .map(|m| m.passage.text)
        .collect()
}

fn passages_are_stored_with_the_result_and_found_by_stem_phrase_and_prefix(kind: Kind) {
    let db = TestDb::new(kind);
    let clock = ManualClock::at(1_000.0);
    let mut q = db.open(&clock);
    q.insert_meeting(&meeting("m1"), &audio_jobs(2)).unwrap();
    let any = ClaimFilter::default();
    let a = q.claim("r", &any).unwrap().unwrap();
    let texts = [
        passage(1.0, "The production migration happens on Saturday."),
        passage(4.0, "We migrated the billing database last year."),
    ];
    // Only the lease holder stores a result, and its passages with it.
    assert!(matches!(
        q.complete_indexed(a.job_id, "other", &json!({}), &json!({}), &[], &texts),
        Err(QueueError::LeaseLost { .. })
    ));
    assert!(all(&q, "\"migration\"").is_empty());
    q.complete_indexed(a.job_id, "r", &json!({}), &json!({}), &[], &texts)
        .unwrap();
    // porter: "migrating" finds both "migration" and "migrated".
    assert_eq!(all(&q, "\"migrating\"").len(), 2);
    assert_eq!(
        all(&q, "\"production migration\""),
        vec!["The production migration happens on Saturday."]
    );
    assert_eq!(all(&q, "\"bill\" *").len(), 1);
    let m = &q
        .fts_search(
            "\"saturday\"",
            &FtsFilter {
                meetings: Some(&["m1".into()]),
                limit: 5,
            },
        )
        .unwrap()[0];
    assert!(m.marked.contains("\u{2}Saturday\u{3}"), "{:?}", m.marked);
    assert!(
        q.fts_search(
            "\"saturday\"",
            &FtsFilter {
                meetings: Some(&["m2".into()]),
                limit: 5
            }
        )
        .unwrap()
        .is_empty()
    );
    // Removing the meeting removes its passages from the full-text index too.
    q.remove_meeting("m1").unwrap();
    assert!(all(&q, "\"migrating\"").is_empty());
}

#[test]
fn a_v2_database_is_migrated_with_its_meetings_marked_for_rebuilding() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nightshift.db");
    {
        // A v2 home: the first two migrations only.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../queries/sqlite/schema_v1.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../queries/sqlite/schema_v2.sql"))
            .unwrap();
        conn.execute(
            "INSERT INTO meetings (meeting_id, title, source_path, source_sha256, kind, duration_s, created_at)
             VALUES ('old1', 't', '/x.wav', 'abc', 'audio', 10.0, 0)",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    let clock = ManualClock::at(1_000.0);
    let mut q = open_manual(&path, &clock);
    assert_eq!(q.search_stale_meetings().unwrap(), vec!["old1".to_string()]);
    q.reindex_meeting("old1", &[]).unwrap();
    assert!(q.search_stale_meetings().unwrap().is_empty());
    assert_eq!(q.mark_search_stale(None).unwrap(), 1);
}

fn the_cheap_marks_see_new_passages_and_new_embeddings(kind: Kind) {
    let db = TestDb::new(kind);
    let clock = ManualClock::at(1_000.0);
    let mut q = db.open(&clock);
    q.insert_meeting(&meeting("m1"), &audio_jobs(2)).unwrap();
    let sources = ["transcript"];
    assert!(!q.has_passages_after_vectors("m", &sources).unwrap());
    assert_eq!(q.vectors_mark("m").unwrap(), (0, 0));
    let a = q.claim("r", &ClaimFilter::default()).unwrap().unwrap();
    let texts = [passage(1.0, "one two three"), passage(4.0, "four five six")];
    q.complete_indexed(a.job_id, "r", &json!({}), &json!({}), &[], &texts)
        .unwrap();
    assert!(q.has_passages_after_vectors("m", &sources).unwrap());
    // Only other sources waiting: nothing to embed.
    assert!(!q.has_passages_after_vectors("m", &["decision"]).unwrap());
    let ids: Vec<i64> = q
        .passages_without_vectors("m", &sources, 10)
        .unwrap()
        .iter()
        .map(|p| p.passage_id)
        .collect();
    assert_eq!(q.vectors_mark("m").unwrap(), (ids[1], 0));
    q.put_vectors("m", &[(ids[0], vec![1, 2, 3, 4, 5])])
        .unwrap();
    assert!(q.has_passages_after_vectors("m", &sources).unwrap());
    assert_eq!(q.vectors_mark("m").unwrap(), (ids[1], ids[0]));
    assert_eq!(q.vectors_after("m", 0).unwrap().len(), 1);
    q.put_vectors("m", &[(ids[1], vec![1, 2, 3, 4, 5])])
        .unwrap();
    assert!(!q.has_passages_after_vectors("m", &sources).unwrap());
    assert_eq!(q.count_without_vectors("m", &sources).unwrap(), 0);
    assert_eq!(q.vectors_after("m", ids[0]).unwrap()[0].passage_id, ids[1]);
    // Another model's embeddings are not this one's.
    assert!(q.has_passages_after_vectors("other", &sources).unwrap());
}

on_both_backends!(
    passages_are_stored_with_the_result_and_found_by_stem_phrase_and_prefix,
    the_cheap_marks_see_new_passages_and_new_embeddings,
);
