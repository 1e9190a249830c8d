//! Objects on keyframes: a COCO detector ONNX run by tract, a score threshold, per-class
//! non-maximum suppression, and a per-scene summary ("3 people, a laptop").
//!
//! The output contract (`Layout`), read from the model's output shapes:
//! - `Detections`: an output `[1, N, 6]` = x1, y1, x2, y2 (input pixels), score, class — the
//!   CenterNet in `../shared/models` and most exported "end-to-end" detectors.
//! - `Yolov8`: an output `[1, 4 + C, A]` (or `[1, A, 4 + C]`) = cx, cy, w, h (input pixels) and
//!   C class scores per anchor, no objectness — what `yolo export format=onnx` writes.
//!
//! The input is one RGB picture, `[1, H, W, 3]` (NHWC) or `[1, 3, H, W]` (NCHW) as the model
//! declares, stretched to H × W; values 0–255 for `Detections` and 0–1 for `Yolov8` unless
//! the options say otherwise. Boxes come back as fractions of the picture (0–1), so they hold
//! for the keyframe at any size.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{DimLike, Factoid};

use crate::EventsError;

/// A labelled box on a picture, corners as fractions of its width and height.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub label: String,
    pub score: f32,
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// How the model's answer is laid out (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Detections,
    Yolov8,
}

/// What range the model wants its pixels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelRange {
    /// 0–255.
    Bytes,
    /// 0–1.
    Unit,
}

#[derive(Debug, Clone)]
pub struct DetectorOptions {
    /// Boxes scoring below this are dropped.
    pub threshold: f32,
    /// Boxes of one class overlapping a better one by more than this IoU are dropped.
    pub iou: f32,
    /// Input side when the model leaves it open (a dynamic-shape YOLO export).
    pub default_side: usize,
    /// Override the layout's pixel range.
    pub pixel_range: Option<PixelRange>,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            // The shared CenterNet scores people 0.18-0.35 on a group photo, but at 0.2 it also
            // sees birds in a bar chart (0.2-0.3): 0.3 keeps 7 of the photo's 13 people and
            // leaves the corpus slides empty.
            threshold: 0.3,
            iou: 0.5,
            default_side: 640,
            pixel_range: None,
        }
    }
}

type Plan = std::sync::Arc<TypedRunnableModel>;

pub struct Detector {
    plan: Plan,
    labels: Vec<String>,
    layout: Layout,
    /// Which of the model's outputs carries the boxes.
    output: usize,
    nchw: bool,
    width: usize,
    height: usize,
    range: PixelRange,
    opts: DetectorOptions,
}

impl Detector {
    /// Load `model` (ONNX) with one label per line in `labels` (class index = line number).
    pub fn load(
        model: &Path,
        labels: &Path,
        opts: DetectorOptions,
    ) -> Result<Detector, EventsError> {
        let bad = |why: String| EventsError::Model {
            path: model.display().to_string(),
            why,
        };
        let labels = read_labels(labels)?;
        let mut graph = tract_onnx::onnx()
            .model_for_path(model)
            .map_err(|e| bad(format!("{e:#}")))?;
        let fact = graph
            .input_fact(0)
            .map_err(|e| bad(format!("{e:#}")))?
            .clone();
        let dims: Vec<Option<usize>> = fact
            .shape
            .dims()
            .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
            .collect();
        if dims.len() != 4 {
            return Err(bad(format!(
                "input has {} dimensions, want 4 (one RGB picture)",
                dims.len()
            )));
        }
        let nchw = dims[1] == Some(3);
        if !nchw && dims[3] != Some(3) {
            return Err(bad(format!(
                "input {dims:?} is neither [1, H, W, 3] nor [1, 3, H, W]"
            )));
        }
        let (h, w) = if nchw {
            (dims[2], dims[3])
        } else {
            (dims[1], dims[2])
        };
        let (height, width) = (
            h.unwrap_or(opts.default_side),
            w.unwrap_or(opts.default_side),
        );
        let shape = if nchw {
            [1, 3, height, width]
        } else {
            [1, height, width, 3]
        };
        graph
            .set_input_fact(0, f32::fact(shape).into())
            .map_err(|e| bad(format!("{e:#}")))?;
        let typed = graph
            .into_typed()
            .and_then(|m| m.into_decluttered())
            .map_err(|e| bad(format!("{e:#}")))?;
        let (output, layout) = find_layout(&typed, labels.len()).map_err(bad)?;
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| bad(format!("{e:#}")))?;
        let range = opts.pixel_range.unwrap_or(match layout {
            Layout::Detections => PixelRange::Bytes,
            Layout::Yolov8 => PixelRange::Unit,
        });
        Ok(Detector {
            plan,
            labels,
            layout,
            output,
            nchw,
            width,
            height,
            range,
            opts,
        })
    }

    /// The picture size the model takes (width, height): `detect`'s input.
    pub fn input_size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Objects on one picture given as packed RGB bytes of `input_size()`.
    pub fn detect(&self, rgb: &[u8]) -> Result<Vec<Detection>, EventsError> {
        let (w, h) = (self.width, self.height);
        if rgb.len() != w * h * 3 {
            return Err(EventsError::Input(format!(
                "picture has {} bytes, want {w}×{h} RGB = {}",
                rgb.len(),
                w * h * 3
            )));
        }
        let scale = match self.range {
            PixelRange::Bytes => 1.0,
            PixelRange::Unit => 1.0 / 255.0,
        };
        let input = if self.nchw {
            tract_ndarray::Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
                rgb[(y * w + x) * 3 + c] as f32 * scale
            })
        } else {
            tract_ndarray::Array4::from_shape_fn((1, h, w, 3), |(_, y, x, c)| {
                rgb[(y * w + x) * 3 + c] as f32 * scale
            })
        };
        let out = self
            .plan
            .run(tvec!(Tensor::from(input).into()))
            .map_err(|e| EventsError::Inference(format!("{e:#}")))?;
        let view = out[self.output]
            .to_plain_array_view::<f32>()
            .map_err(|e| EventsError::Inference(format!("{e:#}")))?;
        let shape = view.shape().to_vec();
        let data: Vec<f32> = view.iter().copied().collect();
        let raw = match self.layout {
            Layout::Detections => decode_detections(&data, self.opts.threshold),
            Layout::Yolov8 => decode_yolov8(&data, &shape, self.labels.len(), self.opts.threshold),
        };
        let kept = nms(raw, self.opts.iou);
        Ok(kept
            .into_iter()
            .filter_map(|b| {
                let label = self.labels.get(b.class)?.clone();
                let (fw, fh) = (w as f32, h as f32);
                Some(Detection {
                    label,
                    score: b.score,
                    x1: (b.x1 / fw).clamp(0.0, 1.0),
                    y1: (b.y1 / fh).clamp(0.0, 1.0),
                    x2: (b.x2 / fw).clamp(0.0, 1.0),
                    y2: (b.y2 / fh).clamp(0.0, 1.0),
                })
            })
            .collect())
    }
}

fn read_labels(path: &Path) -> Result<Vec<String>, EventsError> {
    let text = std::fs::read_to_string(path).map_err(|e| EventsError::Model {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    let labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if labels.iter().all(String::is_empty) {
        return Err(EventsError::Model {
            path: path.display().to_string(),
            why: "no labels (want one class name per line)".into(),
        });
    }
    Ok(labels)
}

/// The output that carries boxes, and its layout.
fn find_layout(model: &TypedModel, classes: usize) -> Result<(usize, Layout), String> {
    let mut seen = Vec::new();
    for (i, outlet) in model
        .output_outlets()
        .map_err(|e| e.to_string())?
        .iter()
        .enumerate()
    {
        let fact = model.outlet_fact(*outlet).map_err(|e| e.to_string())?;
        let dims: Vec<Option<usize>> = fact.shape.iter().map(|d| d.to_usize().ok()).collect();
        match dims.as_slice() {
            [Some(1), Some(_), Some(6)] => return Ok((i, Layout::Detections)),
            [Some(1), Some(a), Some(b)] if *a == 4 + classes || *b == 4 + classes => {
                return Ok((i, Layout::Yolov8));
            }
            _ => seen.push(format!("{dims:?}")),
        }
    }
    Err(format!(
        "no output in a known layout: want [1, N, 6] (x1, y1, x2, y2, score, class) or YOLOv8's \
         [1, 4 + {classes}, anchors] for the {classes} labels; outputs are {}",
        seen.join(", ")
    ))
}

/// A box in input pixels with its class index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
    pub class: usize,
}

/// Rows of x1, y1, x2, y2, score, class.
pub fn decode_detections(data: &[f32], threshold: f32) -> Vec<RawBox> {
    data.chunks_exact(6)
        .filter(|r| r[4] >= threshold && r[5] >= 0.0 && r[5].is_finite())
        .map(|r| RawBox {
            x1: r[0].min(r[2]),
            y1: r[1].min(r[3]),
            x2: r[0].max(r[2]),
            y2: r[1].max(r[3]),
            score: r[4],
            class: r[5].round() as usize,
        })
        .collect()
}

/// YOLOv8: per anchor cx, cy, w, h then one score per class, stored channel-major
/// (`[1, 4 + C, A]`) or anchor-major (`[1, A, 4 + C]`).
pub fn decode_yolov8(data: &[f32], shape: &[usize], classes: usize, threshold: f32) -> Vec<RawBox> {
    let rows = 4 + classes;
    let (anchors, channel_major) = match shape {
        [1, a, b] if *a == rows && *b != rows => (*b, true),
        [1, a, b] if *b == rows => (*a, false),
        _ => return Vec::new(),
    };
    let at = |anchor: usize, ch: usize| {
        if channel_major {
            data[ch * anchors + anchor]
        } else {
            data[anchor * rows + ch]
        }
    };
    (0..anchors)
        .filter_map(|a| {
            let (class, score) = (0..classes)
                .map(|c| (c, at(a, 4 + c)))
                .max_by(|x, y| x.1.total_cmp(&y.1))?;
            if score < threshold {
                return None;
            }
            let (cx, cy, w, h) = (at(a, 0), at(a, 1), at(a, 2), at(a, 3));
            Some(RawBox {
                x1: cx - w / 2.0,
                y1: cy - h / 2.0,
                x2: cx + w / 2.0,
                y2: cy + h / 2.0,
                score,
                class,
            })
        })
        .collect()
}

fn iou(a: &RawBox, b: &RawBox) -> f32 {
    let iw = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let ih = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = iw * ih;
    let area = |r: &RawBox| (r.x2 - r.x1).max(0.0) * (r.y2 - r.y1).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy per-class non-maximum suppression, best score first; the result is sorted by score.
pub fn nms(mut boxes: Vec<RawBox>, max_iou: f32) -> Vec<RawBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<RawBox> = Vec::new();
    for b in boxes {
        if kept
            .iter()
            .all(|k| k.class != b.class || iou(k, &b) <= max_iou)
        {
            kept.push(b);
        }
    }
    kept
}

/// What a scene shows, from its keyframes' objects: per label the most seen on any one
/// keyframe (the same people are on every keyframe of a scene; counting them per keyframe
/// and summing would multiply them). Sorted by count, then label.
pub fn scene_objects(keyframes: &[Vec<Detection>]) -> Vec<(String, usize)> {
    let mut most: Vec<(String, usize)> = Vec::new();
    for frame in keyframes {
        let mut here: Vec<(String, usize)> = Vec::new();
        for d in frame {
            match here.iter_mut().find(|(l, _)| *l == d.label) {
                Some((_, n)) => *n += 1,
                None => here.push((d.label.clone(), 1)),
            }
        }
        for (label, n) in here {
            match most.iter_mut().find(|(l, _)| *l == label) {
                Some((_, m)) => *m = (*m).max(n),
                None => most.push((label, n)),
            }
        }
    }
    most.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    most
}

/// "3 people, a laptop, 2 chairs" (empty when nothing was seen).
pub fn summary_text(objects: &[(String, usize)]) -> String {
    objects
        .iter()
        .map(|(label, n)| match n {
            1 if label == "person" => "a person".to_string(),
            1 => format!("{} {label}", article(label)),
            n => format!("{n} {}", plural(label)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

fn plural(label: &str) -> String {
    match label {
        "person" => "people".into(),
        "mouse" => "mice".into(),
        "knife" => "knives".into(),
        "sheep" | "skis" | "scissors" | "skis " => label.into(),
        l if l.ends_with('s') || l.ends_with("ch") || l.ends_with('x') => format!("{l}es"),
        l => format!("{l}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(x1: f32, y1: f32, x2: f32, y2: f32, score: f32, class: usize) -> RawBox {
        RawBox {
            x1,
            y1,
            x2,
            y2,
            score,
            class,
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_of_one_class_only() {
        let boxes = vec![
            raw(0.0, 0.0, 10.0, 10.0, 0.6, 0),
            raw(1.0, 1.0, 11.0, 11.0, 0.9, 0), // IoU 0.68 with the first: it wins
            raw(1.0, 1.0, 11.0, 11.0, 0.5, 3), // same place, another class: kept
            raw(20.0, 20.0, 30.0, 30.0, 0.4, 0), // elsewhere: kept
        ];
        let kept = nms(boxes, 0.5);
        let scores: Vec<f32> = kept.iter().map(|b| b.score).collect();
        assert_eq!(scores, vec![0.9, 0.5, 0.4]);
    }

    #[test]
    fn detections_rows_below_the_threshold_are_dropped_and_corners_ordered() {
        let data = [
            10.0, 20.0, 5.0, 40.0, 0.8, 2.0, // x2 < x1: reordered
            0.0, 0.0, 1.0, 1.0, 0.1, 0.0, // too weak
        ];
        let b = decode_detections(&data, 0.2);
        assert_eq!(b, vec![raw(5.0, 20.0, 10.0, 40.0, 0.8, 2)]);
    }

    #[test]
    fn yolov8_reads_both_orders() {
        // Two classes, three anchors; anchor 1 is a class-1 box at (50, 60) 20×10.
        let classes = 2;
        let anchors = [
            [0.0, 0.0, 1.0, 1.0, 0.05, 0.01],
            [50.0, 60.0, 20.0, 10.0, 0.1, 0.7],
            [5.0, 5.0, 2.0, 2.0, 0.15, 0.0],
        ];
        let want = vec![raw(40.0, 55.0, 60.0, 65.0, 0.7, 1)];
        let anchor_major: Vec<f32> = anchors.iter().flatten().copied().collect();
        assert_eq!(
            decode_yolov8(&anchor_major, &[1, 3, 6], classes, 0.25),
            want
        );
        let channel_major: Vec<f32> = (0..6)
            .flat_map(|c| anchors.iter().map(move |a| a[c]))
            .collect();
        assert_eq!(
            decode_yolov8(&channel_major, &[1, 6, 3], classes, 0.25),
            want
        );
        assert!(decode_yolov8(&channel_major, &[1, 7, 3], classes, 0.25).is_empty());
    }

    fn det(label: &str) -> Detection {
        Detection {
            label: label.into(),
            score: 0.5,
            x1: 0.0,
            y1: 0.0,
            x2: 0.1,
            y2: 0.1,
        }
    }

    #[test]
    fn a_scene_counts_the_most_seen_on_one_keyframe_not_the_sum() {
        let frames = vec![
            vec![det("person"), det("person"), det("laptop")],
            vec![det("person"), det("person"), det("person")],
            vec![det("chair"), det("chair"), det("umbrella")],
        ];
        let objects = scene_objects(&frames);
        assert_eq!(
            objects,
            vec![
                ("person".to_string(), 3),
                ("chair".to_string(), 2),
                ("laptop".to_string(), 1),
                ("umbrella".to_string(), 1)
            ]
        );
        assert_eq!(
            summary_text(&objects),
            "3 people, 2 chairs, a laptop, an umbrella"
        );
        assert_eq!(
            summary_text(&[("person".into(), 1), ("bus".into(), 2)]),
            "a person, 2 buses"
        );
        assert_eq!(summary_text(&[]), "");
    }
}
