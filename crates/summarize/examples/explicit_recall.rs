//! How many of a corpus's true decisions and action items the explicit readers
//! ([`nightshift_summarize::explicit`]) find on the *reference* transcripts, without ASR or a
//! model: the part of the notes that rests on phrasing alone. Generated corpora phrase things
//! differently from the shared one, so this shows which phrasings the readers miss.
//!
//! ```text
//! cargo run --release -p nightshift-summarize --example explicit_recall -- CORPUS_DIR [CORPUS_DIR…]
//! ```
//! A true item counts as found when an item read from the line holding its `evidence` (or the
//! line after, where an announcement reaches) exists; an action item's owner is right when the
//! addressee, or the speaker of a volunteered task, is the true owner. `SHOW=1` prints misses.

use std::path::Path;

use nightshift_summarize::explicit::{assignments, decisions};
use serde_json::Value;

/// `(speaker, text)` of each `[start - end] SPEAKER: text` line.
fn transcript(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| {
            let (_, rest) = l.split_once("] ")?;
            let (who, text) = rest.split_once(": ")?;
            Some((who.to_string(), text.to_string()))
        })
        .collect()
}

/// Index of the line holding `evidence` (case-insensitive).
fn evidence_line(lines: &[(String, String)], evidence: &str) -> Option<usize> {
    let e = evidence.to_lowercase();
    lines
        .iter()
        .position(|(_, t)| t.to_lowercase().contains(&e))
}

fn main() {
    let show = std::env::var("SHOW").is_ok_and(|v| v == "1");
    let (mut d_true, mut d_hit, mut a_true, mut a_hit, mut a_owner) = (0, 0, 0, 0, 0);
    let (mut d_made, mut a_made) = (0, 0);
    for dir in std::env::args().skip(1) {
        let dir = Path::new(&dir);
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json reads"),
        )
        .expect("manifest.json parses");
        let cases = manifest["cases"].as_array().cloned().unwrap_or_default();
        for case in cases {
            let e = &case["expected"];
            let Some(file) = e["transcript_file"].as_str() else {
                continue;
            };
            if e["decisions"].is_null() {
                continue;
            }
            let id = case["id"].as_str().unwrap_or("?");
            let lines = transcript(&dir.join(file));
            let texts: Vec<&str> = lines.iter().map(|(_, t)| t.as_str()).collect();
            let found_d = decisions(&texts);
            let found_a = assignments(&texts);
            d_made += found_d.len();
            a_made += found_a.len();
            for d in e["decisions"].as_array().into_iter().flatten() {
                d_true += 1;
                let ev = d["evidence"].as_str().unwrap_or_default();
                let line = evidence_line(&lines, ev);
                let hit =
                    line.is_some_and(|l| found_d.iter().any(|f| f.line == l || f.line == l + 1));
                d_hit += usize::from(hit);
                if !hit && show {
                    println!("{id} D miss: {}", line.map_or(ev, |l| lines[l].1.as_str()));
                }
            }
            for a in e["action_items"].as_array().into_iter().flatten() {
                a_true += 1;
                let ev = a["evidence"].as_str().unwrap_or_default();
                let owner = a["owner"].as_str().unwrap_or_default().to_lowercase();
                let line = evidence_line(&lines, ev);
                // A line can hold two assignments ("Ben, please …. And I will …"): the one
                // for this owner, if any.
                let owners: Vec<String> = line
                    .map(|l| {
                        found_a
                            .iter()
                            .filter(|f| f.line == l)
                            .map(|f| match &f.addressee {
                                Some(n) => n.to_lowercase(),
                                None => lines[l].0.to_lowercase(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                match line {
                    Some(l) if !owners.is_empty() => {
                        a_hit += 1;
                        if owners.contains(&owner) {
                            a_owner += 1;
                        } else if show {
                            println!("{id} A owner {owners:?} != {owner}: {}", lines[l].1);
                        }
                    }
                    _ if show => {
                        println!("{id} A miss: {}", line.map_or(ev, |l| lines[l].1.as_str()))
                    }
                    _ => {}
                }
            }
        }
    }
    let r = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    println!(
        "decisions found {d_hit}/{d_true} ({:.2}), {d_made} read; action items found {a_hit}/{a_true} ({:.2}), {a_made} read, owner right {a_owner}/{a_hit}",
        r(d_hit, d_true),
        r(a_hit, a_true)
    );
}
