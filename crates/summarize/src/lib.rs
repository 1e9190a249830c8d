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

mod plan;
mod prompts;
mod schema;

pub use plan::{MapWindow, ReduceGroup, estimate_tokens, plan_map_windows, plan_reduce};
pub use prompts::{MeetingMeta, Message, l1_messages, l2_messages};
pub use schema::{
    L1Notes, SummaryOut, TimedAction, TimedItem, l1_schema, l2_schema, max_output_chars, parse_l1,
    parse_l2,
};
