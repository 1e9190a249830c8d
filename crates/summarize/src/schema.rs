//! Output schemas and parsing.
//!
//! Every string and array is bounded so that the largest document a schema allows fits the
//! step's `max_tokens` (see `max_output_chars`): a small model that rambles inside the schema
//! still ends with valid JSON instead of being cut off mid-string.

use nightshift_core::{ActionItem, Summary};
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

pub fn l1_schema() -> Value {
    json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            "notes": string(600),
            "decisions": timed_items(4),
            "action_items": actions(5),
            "open_questions": questions(3)
        },
        "required": ["notes", "decisions", "action_items", "open_questions"]
    })
}

pub fn l2_schema() -> Value {
    json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            // At least a sentence: a tiny model once answered "" for a transcript with
            // speaker names, and an empty overview is no summary.
            "overview": {"type": "string", "minLength": 24, "maxLength": 600},
            "decisions": timed_items(6),
            "action_items": actions(8),
            "open_questions": questions(4)
        },
        "required": ["overview", "decisions", "action_items", "open_questions"]
    })
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

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl SummaryOut {
    /// The product's summary shape; decision and question times are kept in the text as
    /// `(mm:ss)` so a reader can find the source.
    pub fn into_summary(self) -> Summary {
        let with_time = |i: TimedItem| match non_empty(&i.time) {
            Some(t) => format!("{} ({t})", i.text.trim()),
            None => i.text.trim().to_string(),
        };
        Summary {
            overview: self.overview.trim().to_string(),
            decisions: self
                .decisions
                .into_iter()
                .map(with_time)
                .filter(|s| !s.is_empty())
                .collect(),
            action_items: self
                .action_items
                .into_iter()
                .filter(|a| !a.task.trim().is_empty())
                .map(|a| ActionItem {
                    task: a.task.trim().to_string(),
                    owner: non_empty(&a.owner),
                    due: non_empty(&a.due),
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
    fn parsed_output_becomes_a_summary_with_owner_and_due() {
        let text = r#"{"overview":" Migration planned. ","decisions":[{"text":"Migrate on Saturday","time":"00:52"}],
            "action_items":[{"task":"Add the index","owner":"Carlos","due":"2025-03-12","time":"00:34"},
                            {"task":" ","owner":"","due":"","time":""}],
            "open_questions":["Record the demo?",""]}"#;
        let s = parse_l2(text).unwrap().into_summary();
        assert_eq!(s.overview, "Migration planned.");
        assert_eq!(s.decisions, vec!["Migrate on Saturday (00:52)"]);
        assert_eq!(s.action_items.len(), 1);
        assert_eq!(s.action_items[0].owner.as_deref(), Some("Carlos"));
        assert_eq!(s.open_questions, vec!["Record the demo?"]);
        let err = parse_l2("Sure! Here is the summary").unwrap_err();
        assert!(err.to_string().contains("not the expected JSON"));
    }
}
