//! A decoded segment as the engine produced it, in the time of the buffer it decoded: what
//! `remap` and the guards take, whichever engine made it.

/// A token of a segment, in buffer time.
#[derive(Debug, Clone)]
pub struct RawToken {
    pub bytes: Vec<u8>,
    pub t0: f64,
    pub t1: f64,
    /// The token's probability.
    pub p: f32,
}

/// A segment as whisper produced it, in buffer time (seconds).
#[derive(Debug, Clone)]
pub struct RawSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub no_speech_prob: f32,
    /// Mean log-probability of the text tokens (whisper's own confidence).
    pub avg_logprob: f32,
    /// Text tokens only (special and timestamp tokens dropped).
    pub tokens: Vec<RawToken>,
}
