//! The web app's pages, rendered on the server as plain HTML (one stylesheet, one small
//! script; both embedded in the binary). Everything that comes from a recording or a user is
//! escaped with `esc`.

use std::fmt::Write;

use nightshift_export::MeetingDoc;
use serde_json::Value;

/// One meeting in the list.
pub struct ListEntry {
    pub id: String,
    pub title: String,
    pub date: String,
    pub kind: String,
    pub duration_s: f64,
    pub state: String,
    pub done: i64,
    pub total: i64,
}

/// What the meeting page shows beside the document.
pub struct MeetingExtras {
    pub kind: String,
    pub state: String,
    pub media_ok: bool,
    pub failed: Vec<(i64, String)>,
    pub start_at: Option<f64>,
}

/// One search hit as the page shows it.
pub struct HitView {
    pub meeting_id: String,
    pub meeting_title: String,
    pub start: Option<f64>,
    pub speaker: Option<String>,
    pub source: String,
    /// The snippet as HTML: escaped, with the matches in `<mark>`.
    pub snippet_html: String,
    pub score: f64,
}

/// HTML-escape text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a path segment or query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `h:mm:ss` (or `m:ss` under an hour).
pub fn clock(t: f64) -> String {
    let s = t.max(0.0).floor() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn page(title: &str, body: &str, query: &str) -> String {
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · nightshift</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<nav aria-label="Main"><a class="brand" href="/">nightshift</a> <a href="/">Meetings</a></nav>
<form class="search" role="search" action="/search" method="get">
<label for="q" class="visually-hidden">Search all meetings</label>
<input id="q" name="q" type="search" placeholder="Search transcripts, notes, slides…" value="{query}">
<button type="submit">Search</button>
</form>
</header>
<main id="main">
{body}
</main>
</body>
</html>
"##,
        title = esc(title),
        query = esc(query),
    )
}

/// The meetings list, newest first, with live progress (`app.js` refreshes the state cells
/// from `/api/meetings`).
pub fn meetings(entries: &[ListEntry], filter: &str, hits_note: Option<&str>) -> String {
    let mut b = String::new();
    b.push_str("<h1>Meetings</h1>\n");
    if let Some(note) = hits_note {
        let _ = writeln!(
            b,
            r#"<p class="note">{} <a href="/">Show all</a></p>"#,
            esc(note)
        );
    }
    if entries.is_empty() {
        b.push_str(
            "<p>No meetings yet. Add one with <code>nightshift add FILE</code>, then \
             <code>nightshift run</code>.</p>\n",
        );
        return page("Meetings", &b, filter);
    }
    b.push_str(
        r#"<table class="meetings" id="meetings">
<caption class="visually-hidden">Meetings, newest first</caption>
<thead><tr><th scope="col">Title</th><th scope="col">Date</th><th scope="col">Length</th><th scope="col">State</th><th scope="col">Progress</th></tr></thead>
<tbody>
"#,
    );
    for e in entries {
        let pct = if e.total > 0 {
            (e.done * 100 / e.total).clamp(0, 100)
        } else {
            100
        };
        let _ = writeln!(
            b,
            r#"<tr data-meeting="{id}"><td><a href="/m/{idq}">{title}</a> <span class="kind">{kind}</span></td><td>{date}</td><td>{len}</td><td class="state">{state}</td><td><progress max="{total}" value="{done}" aria-label="jobs finished">{pct}%</progress> <span class="count">{done}/{total}</span></td></tr>"#,
            id = esc(&e.id),
            idq = enc(&e.id),
            title = esc(&e.title),
            kind = esc(&e.kind),
            date = esc(&e.date),
            len = clock(e.duration_s),
            state = esc(&state_words(&e.state)),
            total = e.total,
            done = e.done,
        );
    }
    b.push_str("</tbody></table>\n");
    page("Meetings", &b, filter)
}

/// A state as words for people.
pub fn state_words(state: &str) -> String {
    match state {
        "done_with_failures" => "done, with failures".into(),
        s => s.to_string(),
    }
}

/// A meeting: player, summary, scenes, speakers, transcript, downloads, jobs.
pub fn meeting(doc: &MeetingDoc, x: &MeetingExtras) -> String {
    let id = enc(&doc.meeting_id);
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(&doc.title));
    let mut facts = vec![clock(doc.duration_s), state_words(&x.state)];
    if let Some(d) = &doc.meeting_date {
        facts.insert(0, d.clone());
    }
    let _ = writeln!(b, r#"<p class="facts">{}</p>"#, esc(&facts.join(" · ")));
    player(&mut b, doc, x, &id);
    b.push_str(r#"<div class="columns"><div class="col-main">"#);
    transcript(&mut b, doc);
    b.push_str(r#"</div><div class="col-side">"#);
    summary(&mut b, doc);
    speakers(&mut b, doc, &id);
    downloads(&mut b, &id);
    jobs(&mut b, x, &id);
    b.push_str("</div></div>\n");
    scenes(&mut b, doc);
    page(&doc.title, &b, "")
}

fn player(b: &mut String, doc: &MeetingDoc, x: &MeetingExtras, id: &str) {
    let start = x.start_at.map(|t| format!(r#" data-start-at="{t:.2}""#));
    let start = start.unwrap_or_default();
    if !x.media_ok {
        let _ = writeln!(
            b,
            r#"<p class="note" id="player-missing"{start}>The recording is not at {} any more; the transcript is still here.</p>"#,
            esc(&doc.source)
        );
        return;
    }
    let tag = if x.kind == "video" { "video" } else { "audio" };
    let _ = writeln!(
        b,
        r#"<div class="player"><{tag} id="player" controls preload="metadata" src="/m/{id}/media"{start} aria-label="Recording of {title}"></{tag}></div>"#,
        title = esc(&doc.title)
    );
}

fn seek_button(t: f64) -> String {
    format!(
        r#"<button type="button" class="t" data-t="{t:.2}" title="Play from {c}">{c}</button>"#,
        c = clock(t)
    )
}

fn summary(b: &mut String, doc: &MeetingDoc) {
    b.push_str(r#"<section aria-labelledby="h-summary"><h2 id="h-summary">Summary</h2>"#);
    let Some(s) = &doc.summary else {
        b.push_str("<p>No summary yet.</p></section>\n");
        return;
    };
    if !s.overview.trim().is_empty() {
        let _ = writeln!(b, "<p>{}</p>", esc(&s.overview));
    }
    b.push_str(r#"<h3>Decisions</h3><ul class="items" id="decisions">"#);
    if s.decisions.is_empty() {
        b.push_str("<li>None recorded.</li>");
    }
    for d in &s.decisions {
        let t = d.time.map(seek_button).unwrap_or_default();
        let _ = write!(b, "<li>{t} {}</li>", esc(&d.text));
    }
    b.push_str(r#"</ul><h3>Action items</h3><ul class="items" id="actions">"#);
    if s.action_items.is_empty() {
        b.push_str("<li>None recorded.</li>");
    }
    for a in &s.action_items {
        let t = a.time.map(seek_button).unwrap_or_default();
        let mut who = Vec::new();
        if let Some(o) = &a.owner {
            who.push(format!("<strong>{}</strong>", esc(o)));
        }
        if let Some(d) = a.due.as_ref().or(a.due_spoken.as_ref()) {
            who.push(format!("due {}", esc(d)));
        }
        let who = if who.is_empty() {
            String::new()
        } else {
            format!(r#" <span class="who">— {}</span>"#, who.join(", "))
        };
        let _ = write!(b, "<li>{t} {}{who}</li>", esc(&a.task));
    }
    b.push_str("</ul>");
    if !s.open_questions.is_empty() {
        b.push_str("<h3>Open questions</h3><ul>");
        for q in &s.open_questions {
            let _ = write!(b, "<li>{}</li>", esc(q));
        }
        b.push_str("</ul>");
    }
    b.push_str("</section>\n");
}

/// The speaker's colour slot (0–7) by its position in the meeting's speakers.
fn colour_of(doc: &MeetingDoc, shown: Option<&str>) -> Option<usize> {
    let shown = shown?;
    doc.speakers
        .iter()
        .position(|s| s.name == shown || s.label == shown)
        .map(|i| i % 8)
}

fn transcript(b: &mut String, doc: &MeetingDoc) {
    b.push_str(r#"<section aria-labelledby="h-transcript"><h2 id="h-transcript">Transcript</h2>"#);
    if doc.segments.is_empty() {
        b.push_str("<p>No transcript yet.</p></section>\n");
        return;
    }
    b.push_str(r#"<ol class="transcript" id="transcript">"#);
    for s in &doc.segments {
        let colour = colour_of(doc, s.speaker.as_deref())
            .map(|c| format!(" s{c}"))
            .unwrap_or_default();
        let who = s
            .speaker
            .as_deref()
            .map(|n| format!(r#"<span class="who">{}</span> "#, esc(n)))
            .unwrap_or_default();
        let _ = writeln!(
            b,
            r#"<li class="line{colour}" data-start="{start:.2}" data-end="{end:.2}"><button type="button" class="t" data-t="{start:.2}" aria-label="Play from {c}">{c}</button> {who}<span class="text">{text}</span></li>"#,
            start = s.start,
            end = s.end,
            c = clock(s.start),
            text = esc(&s.text),
        );
    }
    b.push_str("</ol></section>\n");
}

fn speakers(b: &mut String, doc: &MeetingDoc, id: &str) {
    if doc.speakers.is_empty() {
        return;
    }
    b.push_str(r#"<section aria-labelledby="h-speakers"><h2 id="h-speakers">Speakers</h2><ul class="speakers">"#);
    for (i, s) in doc.speakers.iter().enumerate() {
        let field = format!("name-{}", esc(&s.label));
        let how = match s.source.as_str() {
            "given" => "named",
            "speech" => "heard in the meeting",
            _ => "no name yet",
        };
        let _ = writeln!(
            b,
            r#"<li class="s{c}"><form method="post" action="/m/{id}/speakers" class="rename"><input type="hidden" name="label" value="{label}"><label for="{field}">{label} <span class="how">({how})</span></label> <input id="{field}" name="name" value="{name}" required maxlength="100"> <button type="submit">Rename</button></form></li>"#,
            c = i % 8,
            label = esc(&s.label),
            name = esc(&s.name),
        );
    }
    b.push_str("</ul></section>\n");
}

fn downloads(b: &mut String, id: &str) {
    b.push_str(
        r#"<section aria-labelledby="h-dl"><h2 id="h-dl">Download</h2><p class="downloads">"#,
    );
    for (fmt, what) in [
        ("md", "Markdown"),
        ("txt", "Text"),
        ("srt", "SRT subtitles"),
        ("vtt", "WebVTT subtitles"),
        ("json", "JSON"),
    ] {
        let _ = write!(b, r#"<a href="/m/{id}/export/{fmt}" download>{what}</a> "#);
    }
    b.push_str("</p></section>\n");
}

fn jobs(b: &mut String, x: &MeetingExtras, id: &str) {
    if x.failed.is_empty() {
        return;
    }
    b.push_str(r#"<section aria-labelledby="h-jobs"><h2 id="h-jobs">Failed work</h2><ul>"#);
    for (job, err) in &x.failed {
        let _ = write!(b, "<li>job {job}: {}</li>", esc(err));
    }
    let _ = writeln!(
        b,
        r#"</ul><form method="post" action="/m/{id}/retry"><button type="submit">Retry failed jobs</button></form></section>"#
    );
}

fn scenes(b: &mut String, doc: &MeetingDoc) {
    if doc.scenes.is_empty() {
        return;
    }
    b.push_str(
        r#"<section aria-labelledby="h-scenes"><h2 id="h-scenes">Scenes</h2><ol class="scenes">"#,
    );
    for (i, s) in doc.scenes.iter().enumerate() {
        let img = s
            .keyframes
            .first()
            .and_then(|k| std::path::Path::new(k).file_name())
            .and_then(|f| f.to_str())
            .map(|f| {
                format!(
                    r#"<img src="/keyframes/{}" alt="Scene {} at {}" loading="lazy">"#,
                    enc(f),
                    i + 1,
                    clock(s.start)
                )
            })
            .unwrap_or_default();
        let text = if s.ocr_text.trim().is_empty() {
            String::new()
        } else {
            format!(r#"<p class="ocr">{}</p>"#, esc(s.ocr_text.trim()))
        };
        let desc = s
            .description
            .as_deref()
            .map(|d| format!(r#"<p class="desc">{}</p>"#, esc(d)))
            .unwrap_or_default();
        let _ = writeln!(
            b,
            r#"<li class="scene" data-start="{:.2}">{img}<div>{} – {}{desc}{text}</div></li>"#,
            s.start,
            seek_button(s.start),
            clock(s.end),
        );
    }
    b.push_str("</ol></section>\n");
}

/// Search results, each opening its meeting at the moment.
pub fn search(query: &str, hits: &[HitView], note: Option<&str>) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>Search: {}</h1>", esc(query));
    if let Some(n) = note {
        let _ = writeln!(b, r#"<p class="note">{}</p>"#, esc(n));
    }
    if hits.is_empty() {
        b.push_str("<p>Nothing found.</p>\n");
        return page("Search", &b, query);
    }
    b.push_str(r#"<ol class="hits" id="hits">"#);
    for h in hits {
        let at = h.start.map(|t| format!("?t={t:.2}")).unwrap_or_default();
        let when = h.start.map(clock).unwrap_or_default();
        let who = h
            .speaker
            .as_deref()
            .map(|s| format!(" · {}", esc(s)))
            .unwrap_or_default();
        let _ = writeln!(
            b,
            r#"<li><a class="hit" href="/m/{id}{at}"><span class="title">{title}</span> <span class="when">{when}</span>{who} <span class="src">{src}</span></a><p class="snippet">{snip}</p></li>"#,
            id = enc(&h.meeting_id),
            title = esc(&h.meeting_title),
            src = esc(&h.source),
            snip = h.snippet_html,
        );
        let _ = h.score;
    }
    b.push_str("</ol>\n");
    page("Search", &b, query)
}

/// A page for an error (not found, signed out, …).
pub fn message(title: &str, text_html: &str) -> String {
    page(
        title,
        &format!("<h1>{}</h1>\n<p>{text_html}</p>\n", esc(title)),
        "",
    )
}

/// The list's live document for `app.js`: per meeting, state words and job counts.
pub fn live_json(entries: &[ListEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "meeting_id": e.id, "state": state_words(&e.state),
                    "done": e.done, "total": e.total,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_clock() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(enc("a b/c?d"), "a+b%2Fc%3Fd");
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(75.9), "1:15");
        assert_eq!(clock(3725.0), "1:02:05");
    }

    #[test]
    fn a_title_with_markup_stays_text() {
        let e = ListEntry {
            id: "abc".into(),
            title: "<img src=x onerror=alert(1)>".into(),
            date: "2026-12-02".into(),
            kind: "audio".into(),
            duration_s: 61.0,
            state: "pending".into(),
            done: 1,
            total: 4,
        };
        let html = meetings(&[e], "", None);
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
