//! Speaker names: enrolled voice profiles, and names given to a meeting's speakers by hand.

use rusqlite::params;

use super::SqliteQueue;
use crate::backend::{Meetings, Speakers, Store};
use crate::{QueueError, VoiceProfile};

impl Speakers for SqliteQueue {
    /// Store (or replace) the voice profile `name`.
    fn put_voice_profile(
        &mut self,
        name: &str,
        embedding: &[f32],
        source: &str,
        speech_s: f64,
    ) -> Result<(), QueueError> {
        let now = self.now();
        let json = serde_json::Value::from(embedding.to_vec()).to_string();
        self.write(|tx, p| {
            tx.execute(
                "INSERT INTO voice_profiles (name, embedding, source, speech_s, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO UPDATE SET embedding = ?2, source = ?3, speech_s = ?4,
                     created_at = ?5",
                params![name, json, source, speech_s, now],
            )
            .map_err(|e| QueueError::sql(p, e))?;
            Ok(())
        })
    }

    fn voice_profiles(&self) -> Result<Vec<VoiceProfile>, QueueError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, embedding, source, speech_s, created_at FROM voice_profiles
                 ORDER BY name",
            )
            .map_err(|e| QueueError::sql(&self.url, e))?;
        let rows = stmt
            .query_map([], |r| {
                let json: String = r.get(1)?;
                let name: String = r.get(0)?;
                let embedding = super::jobs::parse_json(1, &json, || {
                    format!("voice profile {name}: embedding")
                })?;
                Ok(VoiceProfile {
                    name,
                    embedding,
                    source: r.get(2)?,
                    speech_s: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| QueueError::sql(&self.url, e))?;
        Ok(rows)
    }

    /// Remove a voice profile; false when there was none of that name.
    fn remove_voice_profile(&mut self, name: &str) -> Result<bool, QueueError> {
        self.write(|tx, p| {
            tx.execute("DELETE FROM voice_profiles WHERE name = ?1", params![name])
                .map(|n| n > 0)
                .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Name the speaker `label` (e.g. `SPEAKER_2`) of a meeting.
    fn set_speaker_name(
        &mut self,
        meeting_id: &str,
        label: &str,
        name: &str,
    ) -> Result<(), QueueError> {
        self.require_meeting(meeting_id)?;
        self.write(|tx, p| {
            tx.execute(
                "INSERT INTO speaker_names (meeting_id, label, name) VALUES (?1, ?2, ?3)
                 ON CONFLICT(meeting_id, label) DO UPDATE SET name = ?3",
                params![meeting_id, label, name],
            )
            .map_err(|e| QueueError::sql(p, e))?;
            Ok(())
        })
    }

    /// Names given by hand to a meeting's speakers: `(label, name)`.
    fn speaker_names(&self, meeting_id: &str) -> Result<Vec<(String, String)>, QueueError> {
        let mut stmt = self
            .conn
            .prepare("SELECT label, name FROM speaker_names WHERE meeting_id = ?1 ORDER BY label")
            .map_err(|e| QueueError::sql(&self.url, e))?;
        let rows = stmt
            .query_map(params![meeting_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| QueueError::sql(&self.url, e))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use crate::{NewMeeting, Queue};

    #[test]
    fn profiles_and_names_round_trip_and_go_with_their_meeting() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = Queue::open(dir.path().join("q.db")).unwrap();
        q.put_voice_profile("Ana", &[0.6, 0.8], "/clips/ana.wav", 12.5)
            .unwrap();
        q.put_voice_profile("Ana", &[0.8, 0.6], "/clips/ana2.wav", 9.0)
            .unwrap();
        let p = q.voice_profiles().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].embedding.clone(), p[0].speech_s),
            (vec![0.8, 0.6], 9.0)
        );
        assert!(q.remove_voice_profile("Ana").unwrap());
        assert!(!q.remove_voice_profile("Ana").unwrap());

        assert!(q.set_speaker_name("nope", "SPEAKER_1", "X").is_err());
        q.insert_meeting(
            &NewMeeting {
                meeting_id: "m1".into(),
                title: "t".into(),
                source_path: "/in.wav".into(),
                source_sha256: "abc".into(),
                kind: "audio".into(),
                duration_s: 1.0,
                info: serde_json::json!({}),
            },
            &[],
        )
        .unwrap();
        q.set_speaker_name("m1", "SPEAKER_2", "Dana").unwrap();
        q.set_speaker_name("m1", "SPEAKER_2", "Dana B.").unwrap();
        assert_eq!(
            q.speaker_names("m1").unwrap(),
            vec![("SPEAKER_2".to_string(), "Dana B.".to_string())]
        );
        q.remove_meeting("m1").unwrap();
        assert!(q.speaker_names("m1").unwrap().is_empty());
    }
}
