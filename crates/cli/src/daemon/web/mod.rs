//! The web app `nightshift serve` also answers: the meetings list with live progress, a page per
//! meeting (player, transcript that follows playback, summary, scenes, renaming speakers,
//! retrying failed jobs, downloads) and search. Server-rendered HTML, assets embedded; it needs
//! no model and no GPU — every page is read from the queue database on a blocking thread.
//!
//! `auth.rs` who may use it (one-time link → session cookie, same-origin only), `pages.rs` the
//! HTML, `media.rs` byte ranges of the recording for the player.

pub mod auth;
mod media;
pub mod pages;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, header};
use nightshift_core::JobStatus;
use nightshift_export::{Format, Part};
use nightshift_pipeline::Home;
use nightshift_queue::{MeetingRow, Queue};

use super::http::Answer;

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");
/// Largest form body the app accepts (a rename or a retry is a few bytes).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What the web app needs: the home it shows, and who may see it.
pub struct Web {
    pub home: Home,
    pub sessions: auth::Sessions,
    pub loopback_only: bool,
    pub token: Option<String>,
    /// Opened on the first search, then kept (model and embeddings stay loaded).
    pub searcher: std::sync::Mutex<Option<nightshift_pipeline::search::Searcher>>,
}

/// A request refused before its body was read (the server drains it and closes).
pub type Refused = (Answer, Incoming);

/// Whether a path belongs to the web app (everything but the API the daemon had before).
pub fn owns(path: &str) -> bool {
    !matches!(path, "/health" | "/status") && !path.starts_with("/v1/")
}

pub async fn route(web: &Arc<Web>, head: &Parts, body: Incoming) -> Result<Answer, Refused> {
    let path = head.uri.path().to_string();
    let query = head.uri.query().unwrap_or_default().to_string();
    let get = head.method == Method::GET || head.method == Method::HEAD;
    match path.as_str() {
        "/app.css" if get => return Ok(asset(APP_CSS, "text/css; charset=utf-8")),
        "/app.js" if get => return Ok(asset(APP_JS, "text/javascript; charset=utf-8")),
        "/open" if get => return Ok(open(web, &query)),
        _ => {}
    }
    match auth::check(
        &head.headers,
        web.loopback_only,
        web.token.as_deref(),
        &web.sessions,
    ) {
        Ok(()) => {}
        Err(auth::Refusal::Foreign(why)) => return Err((Answer::error(403, &why), body)),
        Err(auth::Refusal::SignedOut) => return Err((signed_out(), body)),
    }
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let range = head
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let web = Arc::clone(web);
    let answer = match (get, parts.as_slice()) {
        (true, [""]) => blocking(move || list_page(&web, &query)).await,
        (true, ["api", "meetings"]) => blocking(move || live(&web)).await,
        (true, ["search"]) => blocking(move || search_page(&web, &query)).await,
        (true, ["m", id]) => {
            let id = id.to_string();
            blocking(move || meeting_page(&web, &id, &query)).await
        }
        (true, ["m", id, "media"]) => {
            let id = id.to_string();
            blocking(move || recording(&web, &id, range.as_deref())).await
        }
        (true, ["m", id, "export", fmt]) => {
            let (id, fmt) = (id.to_string(), fmt.to_string());
            blocking(move || export(&web, &id, &fmt)).await
        }
        (true, ["keyframes", file]) => {
            let file = file.to_string();
            blocking(move || keyframe(&web, &file)).await
        }
        (false, ["m", id, action]) if head.method == Method::POST => {
            let form = match read_form(body).await {
                Ok(form) => form,
                Err(a) => return Ok(a.closing_answer()),
            };
            let (id, action) = (id.to_string(), action.to_string());
            blocking(move || post(&web, &id, &action, &form)).await
        }
        _ => return Err((not_found("No such page."), body)),
    };
    Ok(answer)
}

/// Run database work off the HTTP threads; an error becomes a page.
async fn blocking(f: impl FnOnce() -> Result<Answer> + Send + 'static) -> Answer {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            let text = format!("{e:#}");
            let status = if text.contains("no meeting") {
                404
            } else {
                500
            };
            html(
                status,
                pages::message("Something went wrong", &pages::esc(&text)),
            )
        }
        Err(_) => html(
            500,
            pages::message("Something went wrong", "internal error"),
        ),
    }
}

fn html(status: u16, body: String) -> Answer {
    let mut a = Answer::with_type(status, body, "text/html; charset=utf-8");
    a.headers.push(("cache-control".into(), "no-store".into()));
    a.headers.push((
        "content-security-policy".into(),
        "default-src 'self'; img-src 'self'; media-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'".into(),
    ));
    a.headers
        .push(("x-content-type-options".into(), "nosniff".into()));
    a.headers
        .push(("referrer-policy".into(), "same-origin".into()));
    a
}

fn asset(body: &str, ctype: &str) -> Answer {
    let mut a = Answer::with_type(200, body.to_string(), ctype);
    a.headers
        .push(("x-content-type-options".into(), "nosniff".into()));
    a
}

fn not_found(text: &str) -> Answer {
    html(404, pages::message("Not found", &pages::esc(text)))
}

fn signed_out() -> Answer {
    html(
        401,
        pages::message(
            "Open nightshift from your terminal",
            "This page needs the link that <code>nightshift open</code> prints (it signs this \
             browser in for as long as the daemon runs).",
        ),
    )
}

/// `/open?code=…`: a link from `nightshift open` signs this browser in.
fn open(web: &Web, query: &str) -> Answer {
    web.sessions.sweep_codes();
    let code = param(query, "code").unwrap_or_default();
    match web.sessions.redeem(&code) {
        Some(id) => {
            let mut a = Answer::redirect("/");
            a.headers
                .push(("set-cookie".into(), web.sessions.set_cookie(&id)));
            a.headers
                .push(("referrer-policy".into(), "same-origin".into()));
            a
        }
        None => html(
            403,
            pages::message(
                "This link has expired",
                "Links from <code>nightshift open</code> work once, for 10 minutes. Run it again.",
            ),
        ),
    }
}

fn queue(web: &Web) -> Result<Queue> {
    Ok(Queue::open_existing(web.home.db_url()?)?)
}

fn meeting_row(queue: &Queue, id: &str) -> Result<MeetingRow> {
    queue
        .resolve_meeting(id)
        .with_context(|| format!("no meeting {id:?}"))
}

fn entries(web: &Web) -> Result<Vec<pages::ListEntry>> {
    let queue = queue(web)?;
    let mut out = Vec::new();
    for m in queue.meetings()? {
        let jobs = queue.jobs_of(&m.meeting_id)?;
        let finished = |s: JobStatus| {
            matches!(
                s,
                JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
            )
        };
        let date = nightshift_pipeline::transcript::meeting_date(&m, &[])
            .map(|(d, _)| d.to_string())
            .unwrap_or_else(|| {
                nightshift_summarize::dates::Date::from_days(
                    (m.created_at / 86_400.0).floor() as i64
                )
                .to_string()
            });
        out.push(pages::ListEntry {
            state: nightshift_pipeline::transcript::meeting_state(&m, &jobs).to_string(),
            done: jobs.iter().filter(|j| finished(j.status)).count() as i64,
            total: jobs.len() as i64,
            id: m.meeting_id,
            title: m.title,
            date,
            kind: m.kind,
            duration_s: m.duration_s,
        });
    }
    // Newest first; the database's order breaks ties.
    out.sort_by(|a, b| b.date.cmp(&a.date));
    Ok(out)
}

fn list_page(web: &Web, query: &str) -> Result<Answer> {
    let mut all = entries(web)?;
    let filter = param(query, "q").unwrap_or_default();
    let mut note = None;
    if !filter.trim().is_empty() {
        let hits = search::meeting_ids(web, &filter)?;
        all.retain(|e| hits.contains(&e.id));
        note = Some(format!("Meetings that mention “{}”.", filter.trim()));
    }
    Ok(html(200, pages::meetings(&all, &filter, note.as_deref())))
}

fn live(web: &Web) -> Result<Answer> {
    let mut a = Answer::json(200, &pages::live_json(&entries(web)?));
    a.headers.push(("cache-control".into(), "no-store".into()));
    Ok(a)
}

fn meeting_page(web: &Web, id: &str, query: &str) -> Result<Answer> {
    let queue = queue(web)?;
    let m = meeting_row(&queue, id)?;
    let config = nightshift_pipeline::config::Config::load(&web.home)?;
    let doc = nightshift_pipeline::transcript::build_doc(&queue, &m, &config.speakers)?;
    let jobs = queue.jobs_of(&m.meeting_id)?;
    let failed = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Failed)
        .map(|j| (j.job_id, j.last_error.clone().unwrap_or_default()))
        .collect();
    let extras = pages::MeetingExtras {
        kind: m.kind.clone(),
        state: nightshift_pipeline::transcript::meeting_state(&m, &jobs).to_string(),
        media_ok: std::path::Path::new(&m.source_path).is_file()
            || queue.media(&m.source_path)?.is_some(),
        failed,
        start_at: param(query, "t")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t >= 0.0),
    };
    Ok(html(200, pages::meeting(&doc, &extras)))
}

fn recording(web: &Web, id: &str, range: Option<&str>) -> Result<Answer> {
    let queue = queue(web)?;
    let m = meeting_row(&queue, id)?;
    // Added on another host sharing the database: played from the media store's copy.
    let path = nightshift_pipeline::media_store::readable(&web.home, &queue, &m.source_path);
    Ok(media::serve_file(&path, range))
}

fn export(web: &Web, id: &str, fmt: &str) -> Result<Answer> {
    let Ok(format) = fmt.parse::<Format>() else {
        return Ok(not_found("No such format (md, txt, srt, vtt or json)."));
    };
    let queue = queue(web)?;
    let m = meeting_row(&queue, id)?;
    let config = nightshift_pipeline::config::Config::load(&web.home)?;
    let doc = nightshift_pipeline::transcript::build_doc(&queue, &m, &config.speakers)?;
    let part = if matches!(format, Format::Srt | Format::Vtt) {
        Part::Transcript
    } else {
        Part::All
    };
    let text = nightshift_export::render(&doc, format, part)?;
    let ctype = match format {
        Format::Json => "application/json",
        Format::Vtt => "text/vtt; charset=utf-8",
        Format::Md => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    let mut a = Answer::with_type(200, text, ctype);
    a.headers.push((
        "content-disposition".into(),
        format!(
            "attachment; filename=\"{}.{}\"",
            m.meeting_id,
            format.as_str()
        ),
    ));
    Ok(a)
}

/// A keyframe PNG, by file name only (content-hash names in the home's keyframes dir).
fn keyframe(web: &Web, file: &str) -> Result<Answer> {
    let ok_name = file.len() <= 128
        && file.ends_with(".png")
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !file.starts_with('.');
    if !ok_name {
        return Ok(not_found("No such keyframe."));
    }
    let path: PathBuf = web.home.keyframes_dir().join(file);
    let mut a = media::serve_file(&path, None);
    a.headers
        .push(("cache-control".into(), "private, max-age=86400".into()));
    Ok(a)
}

/// A form posted from a meeting page: `speakers` (rename) or `retry`.
fn post(web: &Web, id: &str, action: &str, form: &[(String, String)]) -> Result<Answer> {
    let mut queue = queue(web)?;
    let m = meeting_row(&queue, id)?;
    let back = format!("/m/{}", pages::enc(&m.meeting_id));
    match action {
        "speakers" => {
            let label = field(form, "label").unwrap_or_default();
            let name = field(form, "name").unwrap_or_default();
            let config = nightshift_pipeline::config::Config::load(&web.home)?;
            match nightshift_pipeline::transcript::rename_speaker(
                &mut queue,
                &m,
                &config.speakers,
                &label,
                &name,
            ) {
                Ok(_) => Ok(Answer::redirect(&back)),
                Err(e) => Ok(html(
                    400,
                    pages::message(
                        "The speaker was not renamed",
                        &format!(
                            "{} <a href=\"{back}\">Back to the meeting</a>",
                            pages::esc(&format!("{e:#}"))
                        ),
                    ),
                )),
            }
        }
        "retry" => {
            queue.retry_meeting(&m.meeting_id)?;
            Ok(Answer::redirect(&back))
        }
        _ => Ok(not_found("No such action.")),
    }
}

fn search_page(web: &Web, query: &str) -> Result<Answer> {
    let q = param(query, "q").unwrap_or_default();
    let (hits, note) = search::hits(web, &q, query)?;
    Ok(html(200, pages::search(&q, &hits, note.as_deref())))
}

/// A small urlencoded form body (bounded in size and time).
async fn read_form(body: Incoming) -> Result<Vec<(String, String)>, Answer> {
    let limited = http_body_util::Limited::new(body, MAX_FORM_BYTES);
    let collected = tokio::time::timeout(std::time::Duration::from_secs(10), limited.collect())
        .await
        .map_err(|_| Answer::error(408, "the form did not arrive in time"))?
        .map_err(|_| Answer::error(413, "the form is too large"))?;
    let bytes: Bytes = collected.to_bytes();
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

fn field(form: &[(String, String)], key: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// One query-string parameter, decoded.
pub fn param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl Answer {
    fn closing_answer(mut self) -> Answer {
        self.close = true;
        self
    }
}

mod search {
    //! The search page and the list's filter, on the pipeline's `Searcher` (kept loaded
    //! between requests: the embedder and the cached embeddings).
    use super::*;
    use nightshift_pipeline::search::{Query, Searcher, Semantic, parse_since};

    fn with_searcher<T>(
        web: &Web,
        f: impl FnOnce(&mut Searcher, &mut Queue) -> Result<T>,
    ) -> Result<T> {
        let mut queue = queue(web)?;
        let mut slot = web
            .searcher
            .lock()
            .map_err(|_| anyhow::anyhow!("the search engine failed earlier; restart the daemon"))?;
        if slot.is_none() {
            *slot = Some(Searcher::open(&web.home)?);
        }
        f(slot.as_mut().expect("opened above"), &mut queue)
    }

    /// Meetings with any hit for `q` (the list's filter).
    pub fn meeting_ids(web: &Web, q: &str) -> Result<Vec<String>> {
        let mut query = Query::new(q);
        query.limit = 500;
        let hits = with_searcher(web, |s, queue| s.search(queue, &query))?;
        let mut ids: Vec<String> = hits.into_iter().map(|h| h.meeting_id).collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The hits for the search page's query string (`q`, `meeting`, `speaker`, `since`).
    pub fn hits(web: &Web, q: &str, params: &str) -> Result<(Vec<pages::HitView>, Option<String>)> {
        if q.trim().is_empty() {
            return Ok((Vec::new(), Some("Type words to search for.".into())));
        }
        let mut query = Query::new(q);
        query.limit = 50;
        query.meeting = param(params, "meeting").filter(|m| !m.is_empty());
        query.speaker = param(params, "speaker").filter(|m| !m.is_empty());
        if let Some(since) = param(params, "since").filter(|m| !m.is_empty()) {
            query.since = Some(parse_since(&since)?);
        }
        let (hits, semantic) = with_searcher(web, |s, queue| {
            Ok((s.search(queue, &query)?, s.semantic().clone()))
        })?;
        let note = match semantic {
            Semantic::On => None,
            Semantic::Off(why) => Some(format!("Matching words only: {why}")),
        };
        let views = hits
            .into_iter()
            .map(|h| pages::HitView {
                snippet_html: marked(&h.snippet, &h.marks),
                meeting_id: h.meeting_id,
                meeting_title: h.title,
                start: Some(h.start),
                speaker: h.speaker,
                source: h.source.as_str().to_string(),
                score: h.score,
            })
            .collect();
        Ok((views, note))
    }

    /// The snippet escaped, with the matched `[start, end)` char ranges in `<mark>`.
    pub fn marked(snippet: &str, marks: &[(usize, usize)]) -> String {
        let chars: Vec<char> = snippet.chars().collect();
        let mut out = String::new();
        let mut at = 0;
        let mut marks = marks.to_vec();
        marks.sort();
        for (a, b) in marks {
            let (a, b) = (a.min(chars.len()), b.min(chars.len()));
            if a < at || b <= a {
                continue;
            }
            out.push_str(&pages::esc(&chars[at..a].iter().collect::<String>()));
            out.push_str("<mark>");
            out.push_str(&pages::esc(&chars[a..b].iter().collect::<String>()));
            out.push_str("</mark>");
            at = b;
        }
        out.push_str(&pages::esc(&chars[at..].iter().collect::<String>()));
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn marks_wrap_matches_and_escape_the_rest() {
            assert_eq!(
                super::marked("a <b> migration now", &[(6, 15)]),
                "a &lt;b&gt; <mark>migration</mark> now"
            );
            assert_eq!(super::marked("x", &[(0, 9), (0, 1)]), "<mark>x</mark>");
        }
    }
}
