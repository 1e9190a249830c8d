//! Speaker names on PostgreSQL.

use super::rows;
use super::{NOW, PgQueue};
use crate::backend::{Meetings, Speakers};
use crate::{QueueError, VoiceProfile};

impl Speakers for PgQueue {
    fn put_voice_profile(
        &mut self,
        name: &str,
        embedding: &[f32],
        source: &str,
        speech_s: f64,
    ) -> Result<(), QueueError> {
        let now = self.clock_param();
        let json = serde_json::Value::from(embedding.to_vec()).to_string();
        self.write(|tx| {
            tx.execute(
                &format!(
                    "INSERT INTO voice_profiles (name, embedding, source, speech_s, created_at)
                     VALUES ($2, $3, $4, $5, {NOW})
                     ON CONFLICT (name) DO UPDATE SET embedding = $3, source = $4,
                         speech_s = $5, created_at = {NOW}"
                ),
                &[&now, &name, &json, &source, &speech_s],
            )
            .map(|_| ())
        })
    }

    fn voice_profiles(&self) -> Result<Vec<VoiceProfile>, QueueError> {
        let found = self.read(|c| {
            c.query(
                "SELECT name, embedding, source, speech_s, created_at FROM voice_profiles
                 ORDER BY name",
                &[],
            )
        })?;
        rows::all(&found, &self.url, rows::voice_profile)
    }

    fn remove_voice_profile(&mut self, name: &str) -> Result<bool, QueueError> {
        self.write(|tx| {
            tx.execute("DELETE FROM voice_profiles WHERE name = $1", &[&name])
                .map(|n| n > 0)
        })
    }

    fn set_speaker_name(
        &mut self,
        meeting_id: &str,
        label: &str,
        name: &str,
    ) -> Result<(), QueueError> {
        self.require_meeting(meeting_id)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO speaker_names (meeting_id, label, name) VALUES ($1, $2, $3)
                 ON CONFLICT (meeting_id, label) DO UPDATE SET name = $3",
                &[&meeting_id, &label, &name],
            )
            .map(|_| ())
        })
    }

    fn speaker_names(&self, meeting_id: &str) -> Result<Vec<(String, String)>, QueueError> {
        self.read(|c| {
            c.query(
                "SELECT label, name FROM speaker_names WHERE meeting_id = $1 ORDER BY label",
                &[&meeting_id],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }
}
