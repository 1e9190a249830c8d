//! Several sources mixed into one (`record --system-audio`: the microphone plus what the
//! machine plays, so both sides of a call are in the recording). Every source is already
//! 16 kHz mono; samples are summed in step and clipped to [-1, 1]. A source that ends stops
//! holding the others back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::Duration;

use crate::CaptureError;
use crate::source::{Block, Source, SourceHandle, start_source};

/// Start every source and mix them. The returned handle stops them all.
pub fn start_mixed(sources: &[Source], speed: f64) -> Result<SourceHandle, CaptureError> {
    let mut inner = sources
        .iter()
        .map(|s| start_source(s, speed))
        .collect::<Result<Vec<_>, _>>()?;
    let inputs: Vec<Receiver<Block>> = inner
        .iter_mut()
        .map(|h| std::mem::replace(&mut h.rx, sync_channel(1).1))
        .collect();
    let inner_overruns: Vec<Arc<AtomicU64>> =
        inner.iter().map(|h| Arc::clone(&h.overruns)).collect();
    let (tx, rx) = sync_channel(64);
    let overruns = Arc::new(AtomicU64::new(0));
    let total = Arc::clone(&overruns);
    let mixer = std::thread::spawn(move || {
        let mut bufs: Vec<VecDeque<f32>> = vec![VecDeque::new(); inputs.len()];
        let mut ended = vec![false; inputs.len()];
        loop {
            for (i, input) in inputs.iter().enumerate() {
                while !ended[i] {
                    match input.try_recv() {
                        Ok(Block::Samples(s)) => bufs[i].extend(s),
                        Ok(Block::End) | Err(TryRecvError::Disconnected) => ended[i] = true,
                        Ok(Block::Failed(e)) => {
                            let _ = tx.send(Block::Failed(e));
                            return;
                        }
                        Err(TryRecvError::Empty) => break,
                    }
                }
            }
            total.store(
                inner_overruns
                    .iter()
                    .map(|o| o.load(Ordering::Relaxed))
                    .sum(),
                Ordering::Relaxed,
            );
            let active: Vec<usize> = (0..bufs.len()).filter(|&i| !ended[i]).collect();
            let n = if active.is_empty() {
                bufs.iter().map(VecDeque::len).max().unwrap_or(0)
            } else {
                active.iter().map(|&i| bufs[i].len()).min().unwrap_or(0)
            };
            if n > 0 {
                let mixed: Vec<f32> = (0..n)
                    .map(|_| {
                        bufs.iter_mut()
                            .map(|b| b.pop_front().unwrap_or(0.0))
                            .sum::<f32>()
                            .clamp(-1.0, 1.0)
                    })
                    .collect();
                if tx.send(Block::Samples(mixed)).is_err() {
                    return;
                }
            } else if active.is_empty() {
                let _ = tx.send(Block::End);
                return;
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    Ok(SourceHandle::mixed(rx, overruns, inner, mixer))
}
