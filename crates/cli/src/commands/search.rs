//! `nightshift search QUERY`: hits across meetings (see `nightshift_pipeline::search`).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use nightshift_pipeline::home::Home;
use nightshift_pipeline::search::{Hit, Query, Searcher, Semantic, query};
use serde_json::json;

use crate::args::SearchArgs;

pub fn run(home: &Home, args: &SearchArgs) -> Result<ExitCode> {
    let mut queue = super::open_existing(home)?;
    let mut searcher = Searcher::open(home)?;
    if let Semantic::Off(why) = searcher.semantic() {
        eprintln!("note: semantic search is off (full text only): {why}");
    }
    let pending = searcher.pending_embeddings(&queue)?;
    if pending >= 200 {
        eprintln!("embedding {pending} passages for semantic search (once: they are kept)");
    }
    searcher.prepare(&mut queue, |done, total| {
        if total >= 200 && (done % 1000 < 32 || done == total) {
            eprintln!("  {done}/{total}");
        }
    })?;
    if query::parse(&args.query).fts_expr().is_none() {
        eprintln!("note: nothing to search for (only stop words or punctuation)");
    }
    let q = Query {
        text: args.query.clone(),
        meeting: args.meeting.clone(),
        speaker: args.speaker.clone(),
        since: args.since,
        limit: args.limit as usize,
    };
    let hits = searcher.search(&mut queue, &q)?;
    if args.json {
        let out = json!({
            "semantic": *searcher.semantic() == Semantic::On,
            "hits": hits,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if hits.is_empty() {
        eprintln!("no hits");
    } else {
        let bold = std::io::stdout().is_terminal();
        for h in &hits {
            print_hit(h, bold);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_hit(h: &Hit, bold: bool) {
    println!(
        "{}  {}  {}  {}  [{}]  {:.4}",
        h.meeting_id,
        h.title,
        clock(h.start),
        h.speaker.as_deref().unwrap_or("-"),
        h.source.as_str(),
        h.score
    );
    println!("    {}", marked(&h.snippet, &h.marks, bold));
}

/// The snippet with its matches in bold on a terminal, else between `[` and `]`.
fn marked(text: &str, marks: &[(usize, usize)], bold: bool) -> String {
    let (open, close) = if bold {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    let mut out = String::with_capacity(text.len() + marks.len() * 8);
    for (i, c) in text.chars().enumerate() {
        if marks.iter().any(|&(a, _)| a == i) {
            out.push_str(open);
        }
        out.push(c);
        if marks.iter().any(|&(_, b)| b == i + 1) {
            out.push_str(close);
        }
    }
    out
}

fn clock(s: f64) -> String {
    let t = s.max(0.0).round() as u64;
    if t >= 3600 {
        format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    } else {
        format!("{:02}:{:02}", t / 60, t % 60)
    }
}
