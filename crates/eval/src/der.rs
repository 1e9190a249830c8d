//! Diarization error rate, the way md-eval scores it: 10 ms frames, a no-score collar around
//! every reference turn boundary, overlapping speech scored (each speaker counts), and the
//! one-to-one speaker mapping that maximises the agreed time.

/// One speaker turn, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerTurn {
    pub speaker: String,
    pub start: f64,
    pub end: f64,
}

/// Each hypothesis speaker's reference person: the one it overlaps most in time (at least
/// half of its speech), so a summary that names an owner by a speaker label can be scored as
/// the person behind it. Labels without such a person are left out.
pub fn label_people(
    reference: &[SpeakerTurn],
    hypothesis: &[SpeakerTurn],
) -> std::collections::HashMap<String, String> {
    let mut overlap: std::collections::HashMap<(&str, &str), f64> = Default::default();
    let mut total: std::collections::HashMap<&str, f64> = Default::default();
    for h in hypothesis {
        *total.entry(h.speaker.as_str()).or_default() += (h.end - h.start).max(0.0);
        for r in reference {
            let o = h.end.min(r.end) - h.start.max(r.start);
            if o > 0.0 {
                *overlap
                    .entry((h.speaker.as_str(), r.speaker.as_str()))
                    .or_default() += o;
            }
        }
    }
    let mut best: std::collections::HashMap<&str, (&str, f64)> = Default::default();
    for ((h, r), o) in overlap {
        let e = best.entry(h).or_insert((r, 0.0));
        if o > e.1 || (o == e.1 && r < e.0) {
            *e = (r, o);
        }
    }
    best.into_iter()
        .filter(|(h, (_, o))| *o >= 0.5 * total[h])
        .map(|(h, (r, _))| (h.to_string(), r.to_string()))
        .collect()
}

/// Turns from RTTM text (`SPEAKER file 1 start duration <NA> <NA> name <NA> <NA>`).
pub fn parse_rttm(text: &str) -> Vec<SpeakerTurn> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.first() != Some(&"SPEAKER") || f.len() < 8 {
                return None;
            }
            let start: f64 = f[3].parse().ok()?;
            let dur: f64 = f[4].parse().ok()?;
            Some(SpeakerTurn {
                speaker: f[7].to_string(),
                start,
                end: start + dur,
            })
        })
        .collect()
}

/// The error components in seconds of scored speaker time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Der {
    pub missed_s: f64,
    pub false_alarm_s: f64,
    pub confusion_s: f64,
    /// Reference speaker time in the scored region (overlap counted per speaker).
    pub total_s: f64,
}

impl Der {
    pub fn rate(&self) -> f64 {
        if self.total_s > 0.0 {
            (self.missed_s + self.false_alarm_s + self.confusion_s) / self.total_s
        } else {
            0.0
        }
    }
}

const FRAME_S: f64 = 0.01;

pub fn der(reference: &[SpeakerTurn], hypothesis: &[SpeakerTurn], collar_s: f64) -> Der {
    let end = reference
        .iter()
        .chain(hypothesis)
        .map(|t| t.end)
        .fold(0.0, f64::max);
    let frames = (end / FRAME_S).ceil() as usize + 1;
    let (ref_names, ref_act) = activity(reference, frames);
    let (hyp_names, hyp_act) = activity(hypothesis, frames);
    let mut scored = vec![true; frames];
    for t in reference {
        for edge in [t.start, t.end] {
            let a = ((edge - collar_s) / FRAME_S).round().max(0.0) as usize;
            let b = (((edge + collar_s) / FRAME_S).round() as usize).min(frames);
            scored[a..b].iter_mut().for_each(|s| *s = false);
        }
    }
    // Agreed frames for every (reference, hypothesis) pair.
    let (nr, nh) = (ref_names.len(), hyp_names.len());
    let mut agree = vec![vec![0usize; nh]; nr];
    for f in 0..frames {
        if !scored[f] {
            continue;
        }
        for r in 0..nr {
            if ref_act[r][f] {
                for h in 0..nh {
                    if hyp_act[h][f] {
                        agree[r][h] += 1;
                    }
                }
            }
        }
    }
    let mapping = best_mapping(&agree, nh);
    let (mut missed, mut fa, mut conf, mut total) = (0usize, 0usize, 0usize, 0usize);
    for f in 0..frames {
        if !scored[f] {
            continue;
        }
        let r_on: Vec<usize> = (0..nr).filter(|&r| ref_act[r][f]).collect();
        let h_count = (0..nh).filter(|&h| hyp_act[h][f]).count();
        let correct = r_on
            .iter()
            .filter(|&&r| mapping[r].is_some_and(|h| hyp_act[h][f]))
            .count();
        total += r_on.len();
        missed += r_on.len().saturating_sub(h_count);
        fa += h_count.saturating_sub(r_on.len());
        conf += r_on.len().min(h_count) - correct;
    }
    Der {
        missed_s: missed as f64 * FRAME_S,
        false_alarm_s: fa as f64 * FRAME_S,
        confusion_s: conf as f64 * FRAME_S,
        total_s: total as f64 * FRAME_S,
    }
}

/// Distinct speaker names and a per-frame activity row for each.
fn activity(turns: &[SpeakerTurn], frames: usize) -> (Vec<String>, Vec<Vec<bool>>) {
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<bool>> = Vec::new();
    for t in turns {
        let i = match names.iter().position(|n| *n == t.speaker) {
            Some(i) => i,
            None => {
                names.push(t.speaker.clone());
                rows.push(vec![false; frames]);
                names.len() - 1
            }
        };
        let a = (t.start / FRAME_S).round().max(0.0) as usize;
        let b = ((t.end / FRAME_S).round() as usize).min(frames);
        if a < b {
            rows[i][a..b].iter_mut().for_each(|v| *v = true);
        }
    }
    (names, rows)
}

/// The one-to-one mapping reference → hypothesis with the most agreed frames: exact dynamic
/// programming over subsets of hypothesis speakers (there are few), greedy beyond 14.
fn best_mapping(agree: &[Vec<usize>], nh: usize) -> Vec<Option<usize>> {
    let nr = agree.len();
    if nh > 14 {
        let mut used = vec![false; nh];
        let mut pairs: Vec<(usize, usize, usize)> = (0..nr)
            .flat_map(|r| (0..nh).map(move |h| (agree[r][h], r, h)))
            .collect();
        pairs.sort_by(|a, b| b.cmp(a));
        let mut out = vec![None; nr];
        for (v, r, h) in pairs {
            if v > 0 && out[r].is_none() && !used[h] {
                out[r] = Some(h);
                used[h] = true;
            }
        }
        return out;
    }
    let masks = 1usize << nh;
    // best[r][mask]: most agreement for references r.. with hypotheses in mask still free.
    let mut best = vec![vec![0usize; masks]; nr + 1];
    for r in (0..nr).rev() {
        for mask in 0..masks {
            let mut v = best[r + 1][mask];
            for h in 0..nh {
                if mask & (1 << h) != 0 {
                    v = v.max(agree[r][h] + best[r + 1][mask & !(1 << h)]);
                }
            }
            best[r][mask] = v;
        }
    }
    let mut out = vec![None; nr];
    let mut mask = masks - 1;
    for r in 0..nr {
        if best[r][mask] == best[r + 1][mask] {
            continue;
        }
        for h in 0..nh {
            if mask & (1 << h) != 0 && best[r][mask] == agree[r][h] + best[r + 1][mask & !(1 << h)]
            {
                out[r] = Some(h);
                mask &= !(1 << h);
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_map_to_the_person_they_overlap_most() {
        let t = |s: &str, a: f64, b: f64| SpeakerTurn {
            speaker: s.into(),
            start: a,
            end: b,
        };
        let reference = [t("DIANA", 0.0, 10.0), t("GRACE", 10.0, 20.0)];
        let hyp = [
            t("SPEAKER_3", 1.0, 9.0),
            t("SPEAKER_1", 9.0, 20.0),
            t("SPEAKER_2", 30.0, 40.0),
        ];
        let m = label_people(&reference, &hyp);
        assert_eq!(m.get("SPEAKER_3").map(String::as_str), Some("DIANA"));
        assert_eq!(m.get("SPEAKER_1").map(String::as_str), Some("GRACE"));
        assert_eq!(m.get("SPEAKER_2"), None, "no reference speech under it");
    }

    fn t(s: &str, a: f64, b: f64) -> SpeakerTurn {
        SpeakerTurn {
            speaker: s.into(),
            start: a,
            end: b,
        }
    }

    #[test]
    fn renamed_speakers_score_zero() {
        let r = [t("A", 0.0, 5.0), t("B", 5.0, 10.0)];
        let h = [t("x", 0.0, 5.0), t("y", 5.0, 10.0)];
        assert!(der(&r, &h, 0.0).rate() < 1e-9);
    }

    #[test]
    fn components() {
        let r = [t("A", 0.0, 10.0), t("B", 10.0, 20.0)];
        // B's second half labelled as A, and a false alarm after the end.
        let h = [
            t("x", 0.0, 10.0),
            t("y", 10.0, 15.0),
            t("x", 15.0, 20.0),
            t("x", 20.0, 22.0),
        ];
        let d = der(&r, &h, 0.0);
        assert!((d.confusion_s - 5.0).abs() < 0.02, "{d:?}");
        assert!((d.false_alarm_s - 2.0).abs() < 0.02, "{d:?}");
        assert!(d.missed_s < 0.02 && (d.total_s - 20.0).abs() < 0.02);
        // A collar of 0.25 s removes 0.5 s around 10 s, and 0.25 s inside each end.
        let c = der(&r, &h, 0.25);
        assert!((c.total_s - 19.0).abs() < 0.03, "{c:?}");
    }

    #[test]
    fn overlap_counts_each_speaker() {
        let r = [t("A", 0.0, 10.0), t("B", 5.0, 10.0)];
        let h = [t("x", 0.0, 10.0)];
        let d = der(&r, &h, 0.0);
        assert!((d.total_s - 15.0).abs() < 0.02 && (d.missed_s - 5.0).abs() < 0.02);
    }

    #[test]
    fn parses_rttm() {
        let turns = parse_rttm("SPEAKER m 1 1.000 2.500 <NA> <NA> ANNA <NA> <NA>\n\nnoise\n");
        assert_eq!(turns, vec![t("ANNA", 1.0, 3.5)]);
    }
}
