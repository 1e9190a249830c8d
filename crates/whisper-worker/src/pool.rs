//! Decoding a chunk's windows on several whisper states at once (one loaded model, one state
//! per decoder thread). Each state takes the next window as soon as it is free, so a slow
//! window or the rest of a window whisper stopped early does not hold the others up.
//!
//! The transcript is read back in chunk order — each window, then the rest of it when whisper
//! stopped early, then the next window — whatever order the windows finished in, so it does
//! not depend on how many states ran (a test compares one state with three).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use nightshift_worker_protocol::LocalSegment;

use nightshift_asr::pack::Window;

/// What one window's decode gave once mapped to chunk time.
pub struct Done {
    pub segments: Vec<LocalSegment>,
    /// The language whisper heard in the window.
    pub language: Option<String>,
    /// What is left to decode when whisper stopped early.
    pub tail: Option<Window>,
}

/// One decoded window's place in the transcript.
#[derive(Default)]
struct Slot {
    segments: Vec<LocalSegment>,
    /// The window's length in samples and the language whisper heard in it.
    language: Option<(usize, String)>,
    /// The slot of the window's rest.
    tail: Option<usize>,
}

struct Work {
    pending: VecDeque<(usize, Window)>,
    in_flight: usize,
    slots: Vec<Slot>,
    error: Option<String>,
}

/// Decode `windows` with one thread per state (`decode(state, is_first, window)`); the first
/// planned window is the one the chunk's prompt conditions. Returns the segments in chunk order
/// and the language of the window with the most audio (the first such on a tie). The first
/// error stops the rest and is returned.
pub fn decode_all<S: Send>(
    states: &mut [S],
    windows: Vec<Window>,
    decode: impl Fn(&mut S, bool, &Window) -> Result<Done, String> + Sync,
) -> Result<(Vec<LocalSegment>, Option<String>), String> {
    let planned = windows.len();
    let work = Mutex::new(Work {
        slots: (0..planned).map(|_| Slot::default()).collect(),
        pending: windows.into_iter().enumerate().collect(),
        in_flight: 0,
        error: None,
    });
    let wake = Condvar::new();
    let run = |state: &mut S| {
        while let Some((slot, window)) = next(&work, &wake) {
            let done = decode(state, slot == 0, &window);
            let mut w = work.lock().unwrap_or_else(|p| p.into_inner());
            w.in_flight -= 1;
            match done {
                Ok(done) => settle(&mut w, slot, &window, done),
                Err(e) => {
                    w.error.get_or_insert(e);
                }
            }
            wake.notify_all();
        }
    };
    match states {
        [] => return Err("no whisper state".into()),
        [one] => run(one),
        many => std::thread::scope(|scope| {
            for state in many.iter_mut() {
                scope.spawn(|| run(state));
            }
        }),
    }
    let mut w = work.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = w.error {
        return Err(e);
    }
    let mut segments = Vec::new();
    let mut language: Option<(usize, String)> = None;
    for first in 0..planned {
        let mut at = Some(first);
        while let Some(k) = at {
            let slot = std::mem::take(&mut w.slots[k]);
            if let Some((n, lang)) = slot.language
                && language.as_ref().is_none_or(|(m, _)| n > *m)
            {
                language = Some((n, lang));
            }
            segments.extend(slot.segments);
            at = slot.tail;
        }
    }
    Ok((segments, language.map(|(_, l)| l)))
}

/// The next window to decode; `None` when all are done (or one failed). Waits while others
/// are decoding, since any of them may hand back the rest of its window.
fn next(work: &Mutex<Work>, wake: &Condvar) -> Option<(usize, Window)> {
    let mut w = work.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if w.error.is_some() {
            return None;
        }
        if let Some(job) = w.pending.pop_front() {
            w.in_flight += 1;
            return Some(job);
        }
        if w.in_flight == 0 {
            return None;
        }
        w = wake.wait(w).unwrap_or_else(|p| p.into_inner());
    }
}

fn settle(w: &mut Work, slot: usize, window: &Window, done: Done) {
    if let Some(tail) = done.tail {
        w.slots.push(Slot::default());
        let next = w.slots.len() - 1;
        w.slots[slot].tail = Some(next);
        // First in line: the rest of a window is decoded before windows not yet started.
        w.pending.push_front((next, tail));
    }
    w.slots[slot].segments = done.segments;
    w.slots[slot].language = done.language.map(|l| (window.len(), l));
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightshift_asr::pack::Piece;

    fn seg(text: &str) -> LocalSegment {
        LocalSegment {
            start: 0.0,
            end: 1.0,
            text: text.into(),
            no_speech_prob: 0.0,
            words: Vec::new(),
        }
    }

    fn window(start: usize, len: usize) -> Window {
        Window {
            pieces: vec![Piece {
                src_start: start,
                src_end: start + len,
                packed_start: 0,
            }],
        }
    }

    /// A fake decoder: a window of length > 100 stops early and hands back a rest of 100;
    /// windows finish in an order that depends on their length (sleep), not their place.
    fn fake(_: &mut (), first: bool, w: &Window) -> Result<Done, String> {
        let start = w.pieces[0].src_start;
        std::thread::sleep(std::time::Duration::from_millis((w.len() % 7) as u64));
        Ok(Done {
            segments: vec![seg(&format!("{start}{}", if first { "*" } else { "" }))],
            language: Some(if w.len() >= 300 { "de" } else { "en" }.into()),
            tail: (w.len() > 100).then(|| window(start + 1, 100)),
        })
    }

    #[test]
    fn order_and_language_do_not_depend_on_the_number_of_states() {
        let windows = || vec![window(0, 50), window(1000, 300), window(2000, 120)];
        let texts = |states: usize| {
            let mut s = vec![(); states];
            let (segs, lang) = decode_all(&mut s, windows(), fake).unwrap();
            (segs.into_iter().map(|s| s.text).collect::<Vec<_>>(), lang)
        };
        let one = texts(1);
        assert_eq!(
            one,
            (
                vec!["0*", "1000", "1001", "2000", "2001"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                Some("de".into())
            )
        );
        for n in [2, 3, 5] {
            assert_eq!(texts(n), one, "{n} states");
        }
    }

    #[test]
    fn the_first_error_is_returned() {
        let mut s = vec![(); 2];
        let err = decode_all(&mut s, vec![window(0, 10), window(10, 10)], |_, _, w| {
            if w.pieces[0].src_start == 10 {
                Err("boom".into())
            } else {
                fake(&mut (), false, w)
            }
        })
        .unwrap_err();
        assert_eq!(err, "boom");
    }
}
