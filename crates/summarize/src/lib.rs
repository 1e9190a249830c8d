//! Summaries as map-reduce over a meeting transcript, as pure functions.
//!
//! L1 (map): each window of transcript that fits the model's context becomes notes — cleaned
//! text plus candidate decisions and action items with timestamps. L2 (reduce): the notes of all
//! windows become the meeting summary. When the notes do not fit one reduce prompt, they are
//! reduced in groups first (hierarchically). Nothing is truncated: every split is recorded in
//! the plan and ends up in the summary's `splits`.
//!
//! The engine (local llama worker, Ollama, OpenAI-compatible server) is not known here: prompts
//! are chat messages and outputs are constrained by the JSON schemas below.

pub mod dates;
pub mod explicit;
pub mod names;
mod plan;
mod prompts;
pub mod refine;
mod schema;

pub use plan::{MapWindow, ReduceGroup, estimate_tokens, plan_map_windows, plan_reduce};
pub use prompts::{MeetingMeta, Message, l1_messages, l2_messages, one_step_messages};
pub use schema::{
    L1Notes, SummaryOut, TimedAction, TimedItem, l1_schema, l1_schema_for, l2_schema,
    l2_schema_for, max_output_chars, max_tokens_for, parse_l1, parse_l2,
};
