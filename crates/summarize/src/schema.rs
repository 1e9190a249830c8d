//! Output schemas and parsing.
//!
//! Every string and array is bounded so that the largest document a schema allows fits the
//! step's `max_tokens` (see `max_output_chars`): a small model that rambles inside the schema
//! still ends with valid JSON instead of being cut off mid-string.

use nightshift_core::{ActionItem, Decision, Summary};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimedItem {
    pub text: String,
    /// `mm:ss` in meeting time, as written in the transcript lines.
    #[serde(default)]
    pub time: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimedAction {
    pub task: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub due: String,
    #[serde(default)]
    pub time: String,
}

/// What one L1 (map) step produces for its window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct L1Notes {
    pub notes: String,
    pub decisions: Vec<TimedItem>,
    pub action_items: Vec<TimedAction>,
    pub open_questions: Vec<String>,
}

/// What the L2 (reduce) step produces; also the shape of an intermediate reduce.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryOut {
    pub overview: String,
    pub decisions: Vec<TimedItem>,
    pub action_items: Vec<TimedAction>,
    pub open_questions: Vec<String>,
}

fn string(max: usize) -> Value {
    json!({"type": "string", "maxLength": max})
}

fn timed_items(max_items: usize) -> Value {
    json!({
        "type": "array", "maxItems": max_items,
        "items": {"type": "object", "additionalProperties": false,
                  "properties": {"text": string(150), "time": string(8)},
                  "required": ["text", "time"]}
    })
}

fn actions(max_items: usize) -> Value {
    json!({
        "type": "array", "maxItems": max_items,
        "items": {"type": "object", "additionalProperties": false,
                  "properties": {"task": string(150), "owner": string(30), "due": string(30), "time": string(8)},
                  "required": ["task", "owner", "due", "time"]}
    })
}

fn questions(max_items: usize) -> Value {
    json!({"type": "array", "maxItems": max_items, "items": string(150)})
}

/// The largest L1 (map) schema: for a full window.
pub fn l1_schema() -> Value {
    l1_schema_for(usize::MAX)
}

/// The largest L2 (summary) schema.
pub fn l2_schema() -> Value {
    l2_schema_for(usize::MAX)
}

/// How much a step may write, in proportion to what it reads: a few sentences cannot hold
/// eight action items and a 600-character overview, and a model that rambles to fill the
/// schema's bounds pays for every token (`max_tokens` follows the schema).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bounds {
    text_chars: usize,
    decisions: usize,
    actions: usize,
    questions: usize,
}

fn bounds(input_tokens: usize, full: Bounds) -> Bounds {
    let scaled = |per: usize, least: usize, most: usize| (input_tokens / per).clamp(least, most);
    Bounds {
        text_chars: input_tokens.saturating_mul(2).clamp(160, full.text_chars),
        decisions: scaled(120, 2, full.decisions),
        actions: scaled(100, 2, full.actions),
        questions: scaled(300, 1, full.questions),
    }
}

/// The L1 (map) schema for a window of `input_tokens`.
pub fn l1_schema_for(input_tokens: usize) -> Value {
    let b = bounds(
        input_tokens,
        Bounds {
            text_chars: 600,
            decisions: 4,
            actions: 5,
            questions: 3,
        },
    );
    json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            "notes": string(b.text_chars),
            "decisions": timed_items(b.decisions),
            "action_items": actions(b.actions),
            "open_questions": questions(b.questions)
        },
        "required": ["notes", "decisions", "action_items", "open_questions"]
    })
}

/// The L2 (summary) schema for inputs of `input_tokens`.
pub fn l2_schema_for(input_tokens: usize) -> Value {
    let b = bounds(
        input_tokens,
        Bounds {
            text_chars: 600,
            decisions: 6,
            actions: 8,
            questions: 4,
        },
    );
    json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            // At least a sentence: a tiny model once answered "" for a transcript with
            // speaker names, and an empty overview is no summary.
            "overview": {"type": "string", "minLength": 24, "maxLength": b.text_chars},
            "decisions": timed_items(b.decisions),
            "action_items": actions(b.actions),
            "open_questions": questions(b.questions)
        },
        "required": ["overview", "decisions", "action_items", "open_questions"]
    })
}

/// Generation limit for a schema: its largest document at a pessimistic 2 characters per
/// token plus room for the whitespace a small model puts between keys (SmolLM2 pretty-prints
/// with deep indentation), never above the limits the full schemas always had (1536 for L1
/// notes, 2048 for a summary). A model cut off mid-document fails its step, so the margin
/// errs high.
pub fn max_tokens_for(schema: &Value) -> u32 {
    let cap = if schema["properties"].get("notes").is_some() {
        1536
    } else {
        2048
    };
    ((max_output_chars(schema) as f64 / 2.0).ceil() as u32 + 256).min(cap)
}

/// The most characters of content a document of `schema` can hold (string bounds × array
/// bounds, plus keys and punctuation), for sizing `max_tokens`.
pub fn max_output_chars(schema: &Value) -> usize {
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => schema["maxLength"].as_u64().unwrap_or(0) as usize + 4,
        Some("array") => {
            let n = schema["maxItems"].as_u64().unwrap_or(0) as usize;
            2 + n * (max_output_chars(&schema["items"]) + 2)
        }
        Some("object") => schema["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .map(|(k, v)| k.len() + 6 + max_output_chars(v))
                    .sum::<usize>()
                    + 2
            })
            .unwrap_or(2),
        _ => 0,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("model output is not the expected JSON ({source}): {excerpt:?}")]
pub struct ParseError {
    pub excerpt: String,
    pub source: serde_json::Error,
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, ParseError> {
    serde_json::from_str(text.trim()).map_err(|source| ParseError {
        excerpt: text.chars().take(160).collect(),
        source,
    })
}

pub fn parse_l1(text: &str) -> Result<L1Notes, ParseError> {
    parse(text)
}

pub fn parse_l2(text: &str) -> Result<SummaryOut, ParseError> {
    parse(text)
}

/// `mm:ss` or `h:mm:ss` as seconds.
pub(crate) fn parse_time(t: &str) -> Option<f64> {
    let parts: Vec<f64> = t
        .trim()
        .split(':')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    match parts.as_slice() {
        [m, s] => Some(m * 60.0 + s),
        [h, m, s] => Some(h * 3600.0 + m * 60.0 + s),
        _ => None,
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl SummaryOut {
    /// The product's summary shape as the model wrote it, unchecked (see `refine.rs`
    /// for notes checked against the transcript); the model's `mm:ss` times are kept.
    pub fn into_summary(self) -> Summary {
        Summary {
            overview: self.overview.trim().to_string(),
            decisions: self
                .decisions
                .into_iter()
                .filter(|d| !d.text.trim().is_empty())
                .map(|d| Decision {
                    text: d.text.trim().to_string(),
                    time: parse_time(&d.time),
                    speaker: None,
                })
                .collect(),
            action_items: self
                .action_items
                .into_iter()
                .filter(|a| !a.task.trim().is_empty())
                .map(|a| ActionItem {
                    task: a.task.trim().to_string(),
                    owner: non_empty(&a.owner),
                    due: non_empty(&a.due),
                    due_spoken: None,
                    time: parse_time(&a.time),
                })
                .collect(),
            open_questions: self
                .open_questions
                .into_iter()
                .filter_map(|q| non_empty(&q))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_bound_every_string_and_array() {
        fn check(v: &Value, path: &str) {
            match v.get("type").and_then(Value::as_str) {
                Some("string") => assert!(v.get("maxLength").is_some(), "{path} unbounded"),
                Some("array") => {
                    assert!(v.get("maxItems").is_some(), "{path} unbounded");
                    check(&v["items"], &format!("{path}[]"));
                }
                Some("object") => {
                    for (k, p) in v["properties"].as_object().unwrap() {
                        check(p, &format!("{path}.{k}"));
                    }
                }
                other => panic!("{path}: unexpected type {other:?}"),
            }
        }
        check(&l1_schema(), "l1");
        check(&l2_schema(), "l2");
    }

    #[test]
    fn the_largest_documents_stay_small() {
        assert!(
            max_output_chars(&l1_schema()) < 3400,
            "{}",
            max_output_chars(&l1_schema())
        );
        assert!(
            max_output_chars(&l2_schema()) < 4800,
            "{}",
            max_output_chars(&l2_schema())
        );
    }

    #[test]
    fn short_inputs_get_small_schemas_and_generation_limits() {
        let small = l2_schema_for(40);
        assert_eq!(small["properties"]["action_items"]["maxItems"], 2);
        assert_eq!(small["properties"]["overview"]["maxLength"], 160);
        assert!(max_tokens_for(&small) < max_tokens_for(&l2_schema()) * 2 / 3);
        assert_eq!(l2_schema_for(100_000), l2_schema());
        assert_eq!(max_tokens_for(&l1_schema()), 1536);
        assert_eq!(max_tokens_for(&l2_schema()), 2048);
    }

    #[test]
    fn parsed_output_becomes_a_summary_with_owner_and_due() {
        let text = r#"{"overview":" Migration planned. ","decisions":[{"text":"Migrate on Saturday","time":"00:52"}],
            "action_items":[{"task":"Add the index","owner":"Carlos","due":"2025-03-12","time":"00:34"},
                            {"task":" ","owner":"","due":"","time":""}],
            "open_questions":["Record the demo?",""]}"#;
        let s = parse_l2(text).unwrap().into_summary();
        assert_eq!(s.overview, "Migration planned.");
        assert_eq!(s.decisions[0].text, "Migrate on Saturday");
        assert_eq!(s.decisions[0].time, Some(52.0));
        assert_eq!(s.action_items.len(), 1);
        assert_eq!(s.action_items[0].owner.as_deref(), Some("Carlos"));
        assert_eq!(s.open_questions, vec!["Record the demo?"]);
        let err = parse_l2("Sure! Here is the summary").unwrap_err();
        assert!(err.to_string().contains("not the expected JSON"));
    }
}
