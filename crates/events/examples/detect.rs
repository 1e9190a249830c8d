//! Objects on pictures, and keyframes/s: `detect MODEL LABELS THREADS PICTURE...` prints each
//! picture's summary, then the rate (pictures spread over THREADS threads, each decoding its
//! pictures through ffmpeg, as the pipeline's objects job does).
use nightshift_events::detect::{scene_objects, summary_text};
use nightshift_events::{Detector, DetectorOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: detect MODEL LABELS THREADS PICTURE...");
        std::process::exit(2);
    }
    // DETECT_THRESHOLD: try another score threshold than the default.
    let opts = DetectorOptions {
        threshold: std::env::var("DETECT_THRESHOLD")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(DetectorOptions::default().threshold),
        ..DetectorOptions::default()
    };
    let d = Detector::load(args[1].as_ref(), args[2].as_ref(), opts).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let threads: usize = args[3].parse().unwrap_or(2);
    let pictures = &args[4..];
    let (w, h) = d.input_size();
    let t = std::time::Instant::now();
    let per = pictures.len().div_ceil(threads.max(1));
    let found: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = pictures
            .chunks(per.max(1))
            .map(|mine| {
                let d = &d;
                s.spawn(move || {
                    mine.iter()
                        .map(|p| {
                            let rgb = nightshift_events::image::load_rgb(p.as_ref(), w, h)
                                .expect("picture");
                            let objects = d.detect(&rgb).expect("detect");
                            (p.clone(), summary_text(&scene_objects(&[objects])))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let secs = t.elapsed().as_secs_f64();
    for (p, summary) in &found {
        println!("{p}: {summary}");
    }
    eprintln!(
        "{} pictures in {secs:.2} s on {threads} threads: {:.1} keyframes/s",
        pictures.len(),
        pictures.len() as f64 / secs
    );
}
