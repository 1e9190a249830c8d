//! From patch probabilities to labelled event spans: AudioSet classes pooled into the groups a
//! meeting's reader cares about (music, applause, laughter, …), each with its own threshold,
//! runs of patches over it merged across short gaps, runs shorter than the group's minimum
//! dropped.

use serde::{Deserialize, Serialize};

use crate::frontend::PATCH_S;
use crate::yamnet::PatchScores;

/// A stretch of the meeting where a kind of sound was heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSpan {
    /// The group's label (`music`, `applause`, …).
    pub label: String,
    pub start: f64,
    pub end: f64,
    /// The highest pooled probability inside the span.
    pub score: f32,
}

/// A group of AudioSet classes reported under one label.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub label: &'static str,
    /// AudioSet display names (`yamnet_class_map.csv`); the group's score is their maximum.
    pub classes: &'static [&'static str],
    /// A patch belongs to the group when its score reaches this.
    pub threshold: f32,
    /// Fewest consecutive patches (after merging) for a span.
    pub min_patches: usize,
}

/// The groups reported, with thresholds set on the corpus meetings (speech alone must stay
/// below them) and on synthetic events (see the crate's tests).
pub const GROUPS: &[Group] = &[
    Group {
        label: "music",
        classes: &[
            "Music",
            "Musical instrument",
            "Piano",
            "Keyboard (musical)",
            "Guitar",
            "Singing",
            "Background music",
            "Electronic music",
            "Pop music",
        ],
        threshold: 0.35,
        min_patches: 2,
    },
    Group {
        label: "applause",
        classes: &["Applause", "Clapping"],
        threshold: 0.3,
        min_patches: 2,
    },
    Group {
        label: "laughter",
        classes: &[
            "Laughter",
            "Giggle",
            "Chuckle, chortle",
            "Belly laugh",
            "Snicker",
        ],
        threshold: 0.3,
        min_patches: 1,
    },
    Group {
        label: "cheering",
        classes: &["Cheering", "Crowd"],
        threshold: 0.35,
        min_patches: 2,
    },
    Group {
        label: "typing",
        classes: &["Typing", "Computer keyboard", "Typewriter"],
        threshold: 0.3,
        min_patches: 2,
    },
    Group {
        label: "phone ringing",
        classes: &[
            "Telephone bell ringing",
            "Ringtone",
            "Telephone",
            "Dial tone",
            "Busy signal",
        ],
        threshold: 0.3,
        min_patches: 1,
    },
    Group {
        label: "alarm",
        classes: &[
            "Alarm",
            "Alarm clock",
            "Smoke detector, smoke alarm",
            "Siren",
            "Buzzer",
            "Beep, bleep",
        ],
        threshold: 0.35,
        min_patches: 1,
    },
    Group {
        label: "knocking",
        classes: &["Knock", "Door", "Slam"],
        threshold: 0.35,
        min_patches: 1,
    },
    Group {
        label: "coughing",
        classes: &["Cough", "Sneeze", "Throat clearing"],
        threshold: 0.4,
        min_patches: 1,
    },
];

/// Gaps of at most this many patches below threshold do not split a span.
const BRIDGE_PATCHES: usize = 2;

/// A group's class indices in `class_names`; a name the map lacks is an error (the wrong map).
pub fn group_indices(group: &Group, class_names: &[String]) -> Result<Vec<usize>, String> {
    group
        .classes
        .iter()
        .map(|c| {
            class_names
                .iter()
                .position(|n| n == c)
                .ok_or_else(|| format!("class map has no {c:?} (group {})", group.label))
        })
        .collect()
}

/// Event spans of every group, sorted by start. Patches are `PATCH_HOP_S` apart in order;
/// a run of patches i..=j covers the middle halves of its patches, [t_i + ¼, t_j + ¾] of a
/// patch, which is where a patch's evidence sits when it straddles an onset.
pub fn spans(patches: &[PatchScores], groups: &[(Group, Vec<usize>)]) -> Vec<EventSpan> {
    // One label per patch: of the groups over their thresholds, the one most above it (a
    // ringing telephone also scores as an alarm; it is reported once).
    let pooled = |p: &PatchScores, idx: &[usize]| {
        idx.iter()
            .filter_map(|&i| p.probs.get(i).copied())
            .fold(0f32, f32::max)
    };
    let best: Vec<(&str, f32)> = patches
        .iter()
        .map(|p| {
            groups
                .iter()
                .map(|(g, idx)| (g.label, pooled(p, idx) / g.threshold))
                .fold(("", 1.0f32), |a, b| if b.1 >= a.1 { b } else { a })
        })
        .collect();
    let mut out = Vec::new();
    for (group, idx) in groups {
        let score = |p: &PatchScores| pooled(p, idx);
        let on: Vec<Option<f32>> = patches
            .iter()
            .zip(&best)
            .map(|(p, &(winner, _))| {
                Some(score(p)).filter(|&s| s >= group.threshold && winner == group.label)
            })
            .collect();
        let mut i = 0;
        while i < on.len() {
            if on[i].is_none() {
                i += 1;
                continue;
            }
            // Extend over positives and gaps of at most BRIDGE_PATCHES.
            let mut j = i;
            let mut k = i + 1;
            while k < on.len() && k <= j + BRIDGE_PATCHES + 1 {
                if on[k].is_some() {
                    j = k;
                }
                k += 1;
            }
            let best = on[i..=j].iter().flatten().fold(0f32, |a, &b| a.max(b));
            let positives = on[i..=j].iter().flatten().count();
            if positives >= group.min_patches {
                out.push(EventSpan {
                    label: group.label.to_string(),
                    start: patches[i].start_s + PATCH_S / 4.0,
                    end: patches[j].start_s + PATCH_S * 3.0 / 4.0,
                    score: best,
                });
            }
            i = j + 1;
        }
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.label.cmp(&b.label)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::PATCH_HOP_S;

    fn patches(scores: &[f32]) -> Vec<PatchScores> {
        scores
            .iter()
            .enumerate()
            .map(|(k, &s)| PatchScores {
                start_s: k as f64 * PATCH_HOP_S,
                probs: vec![s, 0.0],
            })
            .collect()
    }

    fn group(min_patches: usize) -> (Group, Vec<usize>) {
        (
            Group {
                label: "music",
                classes: &["Music"],
                threshold: 0.5,
                min_patches,
            },
            vec![0],
        )
    }

    #[test]
    fn a_run_of_patches_becomes_one_span_over_their_middle_halves() {
        let s = spans(
            &patches(&[0.1, 0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1]),
            &[group(2)],
        );
        assert_eq!(s.len(), 1);
        assert!((s[0].start - (0.48 + 0.24)).abs() < 1e-9, "{}", s[0].start);
        assert!(
            (s[0].end - (3.0 * 0.48 + 0.72)).abs() < 1e-9,
            "{}",
            s[0].end
        );
        assert_eq!(s[0].score, 0.9);
    }

    #[test]
    fn short_gaps_are_bridged_long_ones_split() {
        let s = spans(&patches(&[0.9, 0.9, 0.1, 0.1, 0.9, 0.9]), &[group(2)]);
        assert_eq!(s.len(), 1, "a two-patch dip is bridged");
        let s = spans(&patches(&[0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9]), &[group(2)]);
        assert_eq!(s.len(), 2, "a three-patch dip splits");
    }

    #[test]
    fn runs_shorter_than_the_minimum_are_dropped() {
        assert!(spans(&patches(&[0.1, 0.9, 0.1, 0.1, 0.1]), &[group(2)]).is_empty());
        assert_eq!(
            spans(&patches(&[0.1, 0.9, 0.1, 0.1, 0.1]), &[group(1)]).len(),
            1
        );
    }

    #[test]
    fn every_group_names_classes_of_the_yamnet_map() {
        // The names as the map spells them (the file itself is checked in the model tests).
        let names: Vec<String> = GROUPS
            .iter()
            .flat_map(|g| g.classes.iter().map(|c| c.to_string()))
            .collect();
        for g in GROUPS {
            assert_eq!(group_indices(g, &names).unwrap().len(), g.classes.len());
        }
        let e = group_indices(&GROUPS[0], &["Speech".to_string()]).unwrap_err();
        assert!(e.contains("Music"), "{e}");
    }
}
