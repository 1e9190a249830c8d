//! Scene-boundary scoring, the acceptance rule: a hard cut matches a detection within ±2
//! frames; a gradual transition matches a detection anywhere in its span ±2 frames; each
//! detection matches at most one transition (manifest `transitions` entries).

use serde_json::Value;

/// (F1, true positives) of `detections` (frame numbers) against manifest `transitions`.
pub fn scene_f1(detections: &[usize], transitions: &[Value]) -> (f64, usize) {
    let mut used = vec![false; detections.len()];
    let mut tp = 0;
    for t in transitions {
        let (lo, hi) = if t["type"] == "cut" {
            let f = t["frame"].as_i64().unwrap_or(0);
            (f - 2, f + 2)
        } else {
            (
                t["start_frame"].as_i64().unwrap_or(0) - 2,
                t["end_frame"].as_i64().unwrap_or(0) - 1 + 2,
            )
        };
        if let Some(i) =
            (0..detections.len()).find(|&i| !used[i] && (lo..=hi).contains(&(detections[i] as i64)))
        {
            used[i] = true;
            tp += 1;
        }
    }
    let p = tp as f64 / detections.len().max(1) as f64;
    let r = tp as f64 / transitions.len().max(1) as f64;
    (
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        },
        tp,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_detection_matches_one_transition_at_most() {
        let t = [
            json!({"type": "cut", "frame": 100}),
            json!({"type": "dissolve", "start_frame": 200, "end_frame": 230}),
        ];
        assert_eq!(scene_f1(&[101, 215], &t), (1.0, 2));
        assert_eq!(
            scene_f1(&[103, 231], &t).1,
            1,
            "a cut needs ±2; a span ±2 past its last frame"
        );
        let (f, tp) = scene_f1(&[100, 101], &t[..1]);
        assert_eq!(tp, 1);
        assert!((f - 2.0 / 3.0).abs() < 1e-9);
    }
}
