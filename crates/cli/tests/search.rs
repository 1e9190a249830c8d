//! `nightshift search` on a home with real processed corpus meetings (tiny.en, diarization):
//! full-text and semantic hits, ranking, filters (meeting, speaker after a rename, since), hostile
//! queries (stop words only, 10 KB, FTS/SQL syntax), the JSON shape, and an index rebuilt for a
//! home whose passages were marked stale. Needs `../shared` and the embedding model that
//! `scripts/fetch-embedding-model.sh` fetches (test.sh does); fails, never skips, without them.

mod common;

use common::{Env, THREE_CLIPS, corpus, joined_clips, stderr, stdout};
use serde_json::Value;

fn search(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&out)))
}

fn hits(v: &Value) -> &Vec<Value> {
    v["hits"].as_array().expect("hits array")
}

fn snippets(v: &Value) -> Vec<String> {
    hits(v)
        .iter()
        .map(|h| h["snippet"].as_str().unwrap().to_lowercase())
        .collect()
}

#[test]
fn search_finds_by_words_and_meaning_with_filters_and_hostile_queries() {
    let env = Env::new();
    // The embedder is found through the same variable the fetch script uses.
    nightshift_embed::embedding_model_dir().unwrap_or_else(|e| panic!("{e}"));
    let standup = env.add(&corpus("meetings/meeting_01.wav"));
    let other = env.add(&joined_clips(env.dir.path(), &THREE_CLIPS));
    env.run_audio_until_idle();

    // `run` embedded the passages it stored once it ran out of work: no search has to.
    let home = nightshift_pipeline::Home::at(env.home());
    let queue = nightshift_queue::Queue::open_existing(home.db_path()).unwrap();
    let sources = nightshift_pipeline::search::semantic::EMBEDDED_SOURCES;
    let model = nightshift_embed::MODEL_NAME;
    assert_eq!(queue.count_without_vectors(model, &sources).unwrap(), 0);
    assert!(
        queue.vectors_stamp(model).unwrap().0 > 0,
        "nothing embedded"
    );
    drop(queue);

    // Full text: stemmed ("migrating" finds "migration"), the match marked, meeting + time.
    let v = search(&env, &["migrating production"]);
    assert_eq!(v["semantic"], true, "the embedding model is installed");
    let first = &hits(&v)[0];
    assert_eq!(first["meeting_id"], standup.as_str());
    assert_eq!(first["title"], "meeting_01");
    for key in ["start", "end", "score"] {
        assert!(first[key].is_number(), "{key} in {first}");
    }
    assert!(first["speaker"].is_string(), "speaker in {first}");
    assert_eq!(first["source"], "transcript");
    let snippet: Vec<char> = first["snippet"].as_str().unwrap().chars().collect();
    let marks = first["marks"].as_array().unwrap();
    assert!(!marks.is_empty(), "{first}");
    let marked: Vec<String> = marks
        .iter()
        .map(|m| {
            let (a, b) = (
                m[0].as_u64().unwrap() as usize,
                m[1].as_u64().unwrap() as usize,
            );
            snippet[a..b].iter().collect::<String>().to_lowercase()
        })
        .collect();
    assert!(
        marked
            .iter()
            .all(|w| w.starts_with("migrat") || w == "production"),
        "{marked:?}"
    );
    // Ranking: the meeting that says it comes first; the other has no word of it.
    assert!(
        hits(&v)
            .iter()
            .all(|h| h["meeting_id"] == standup.as_str() || h["text_rank"].is_null())
    );

    // Meaning: no word of the question is in the sentence that answers it.
    let v = search(
        &env,
        &["when is the database switched over", "--limit", "5"],
    );
    let answer = hits(&v)
        .iter()
        .position(|h| {
            let s = h["snippet"].as_str().unwrap().to_lowercase();
            s.contains("production migration") && s.contains("saturday")
        })
        .unwrap_or_else(|| panic!("the answer is not in the top 5: {:?}", snippets(&v)));
    assert!(hits(&v)[answer]["cosine"].as_f64().unwrap() > 0.0);
    assert!(
        hits(&v)[answer]["text_rank"].is_null(),
        "found by meaning alone"
    );

    // --meeting: the other meeting does not say it.
    let v = search(&env, &["\"production migration\"", "--meeting", &other]);
    assert!(
        hits(&v)
            .iter()
            .all(|h| h["meeting_id"] == other.as_str() && h["text_rank"].is_null())
    );
    let v = search(
        &env,
        &["\"production migration\"", "--meeting", &standup[..6]],
    );
    assert!(!hits(&v).is_empty() && hits(&v).iter().all(|h| h["meeting_id"] == standup.as_str()));
    let out = env.run(&["search", "migration", "--meeting", "ffffffffffff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ffffffffffff"), "{}", stderr(&out));

    // --speaker after a rename: the new name filters, and names the hits.
    let all = search(&env, &["production migration"]);
    let speaker_of_decision = hits(&all)[0]["speaker"].as_str().unwrap().to_string();
    let show = env.json(&["show", &standup, "--format", "json", "--part", "transcript"]);
    let label = show["speakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == speaker_of_decision.as_str())
        .map(|s| s["label"].as_str().unwrap().to_string())
        .expect("the hit's speaker is one of the meeting's");
    let out = env.run(&["speakers", "rename", &standup, &label, "Zelda Quartermain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = search(
        &env,
        &["production migration", "--speaker", "zelda quartermain"],
    );
    assert!(!hits(&v).is_empty());
    assert!(hits(&v).iter().all(|h| h["speaker"] == "Zelda Quartermain"));
    let v = search(
        &env,
        &["production migration", "--speaker", &speaker_of_decision],
    );
    assert!(
        hits(&v).is_empty() || speaker_of_decision == "Zelda Quartermain",
        "old name still matches: {v}"
    );
    // The speaker's name itself is searchable.
    let v = search(&env, &["quartermain"]);
    assert!(hits(&v).iter().any(|h| h["source"] == "speaker"), "{v}");

    // --since: every meeting was added today.
    assert!(!hits(&search(&env, &["migration", "--since", "2000-01-01"])).is_empty());
    assert!(hits(&search(&env, &["migration", "--since", "2999-01-01"])).is_empty());
    let out = env.run(&["search", "migration", "--since", "March 3rd"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Hostile queries: no error, no injection, nothing changed.
    for q in ["the and of to", "?!... ,;", "\"\"", "-"] {
        // `--`: a query may start with `-`, as for any command line.
        assert!(hits(&search(&env, &["--", q])).is_empty(), "{q:?}");
    }
    let huge = "migration ".repeat(1100);
    assert!(huge.len() > 10_000);
    assert!(!hits(&search(&env, &[&huge])).is_empty());
    for q in [
        "\" * ( ) : ^ NEAR OR AND - '",
        "migration\" OR \"",
        "migration'; DROP TABLE jobs; --",
        "text:migration NEAR(migration production, 2) ^migration",
        "(migration OR",
        "migr*",
        "-migration demo",
    ] {
        let v = search(&env, &["--", q]);
        assert!(v["hits"].is_array(), "{q:?}");
    }
    assert!(!hits(&search(&env, &["migr*"])).is_empty());
    let v = search(&env, &["--", "-migration demo"]);
    assert!(!hits(&v).is_empty());
    assert!(snippets(&v).iter().all(|s| !s.contains("migration")));
    let status = env.json(&["status", "--json"]);
    assert!(status.to_string().contains(&standup), "jobs table intact");

    // A home whose index is marked stale (as a migration from v2 leaves it) is rebuilt on search.
    let db = env.home().join("nightshift.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DELETE FROM search_passages; INSERT INTO search_stale SELECT meeting_id FROM meetings;",
    )
    .unwrap();
    drop(conn);
    let v = search(&env, &["migrating production"]);
    assert_eq!(hits(&v)[0]["meeting_id"], standup.as_str());

    // Text output: one line per hit with meeting, time and speaker, the match marked.
    let out = env.run(&["search", "production migration", "--limit", "1"]);
    let text = stdout(&out);
    assert!(
        text.contains(&standup) && text.contains("[production]"),
        "{text}"
    );

    // Without the model: full text only, said once on stderr.
    let out = env
        .cmd()
        .args(["search", "production migration"])
        .env("NIGHTSHIFT_EMBEDDING_MODEL", env.dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("semantic search is off").count(), 1);
    assert!(stdout(&out).contains("[production]"));
}
