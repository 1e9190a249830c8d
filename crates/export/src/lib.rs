//! Transcript assembly and the `show` writers (DESIGN §2).
//!
//! [`assemble()`] turns the whisper worker's chunk-local results into one meeting transcript;
//! [`render`] writes a [`MeetingDoc`] as md, txt, srt, vtt or json, whole or one part. Both are
//! pure: the CLI reads the queue and writes stdout.

pub mod assemble;
mod doc;
#[cfg(test)]
mod render_tests;
mod subtitles;
mod text;
mod timefmt;

pub use assemble::{AssembleOptions, ChunkTranscript, assemble};
pub use doc::{ExportError, Format, Gap, MeetingDoc, Part, SpeakerName};
pub use subtitles::{render_srt, render_vtt, with_event_cues};

/// Write `part` of `doc` in `format`.
///
/// SRT and WebVTT hold only timed text: they accept `transcript` and `all` (which prints the
/// transcript) and refuse `summary` and `scenes` with [`ExportError::TranscriptOnly`].
pub fn render(doc: &MeetingDoc, format: Format, part: Part) -> Result<String, ExportError> {
    if matches!(format, Format::Srt | Format::Vtt) && !part.has_transcript() {
        return Err(ExportError::TranscriptOnly { format, part });
    }
    Ok(match format {
        Format::Json => doc::render_json(doc, part)?,
        Format::Md => text::render_md(doc, part),
        Format::Txt => text::render_txt(doc, part),
        Format::Srt => subtitles::render_srt(&doc.segments),
        Format::Vtt => subtitles::render_vtt(&doc.segments),
    })
}
