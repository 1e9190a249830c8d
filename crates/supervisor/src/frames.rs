//! The frames worker (`nightshift-frames-worker`): one video in, its frames' raw signatures out
//! on stdout ([`nightshift_worker_protocol::frames`] is the contract), run as a
//! [`StreamingChild`] with every batch worker's hygiene and a time limit.

use std::path::Path;

use crate::SupervisorError;
use crate::locate::find_worker_binary;
use crate::stream::{StreamOptions, StreamingChild};

pub use nightshift_worker_protocol::frames::FRAMES_WORKER;

/// Start the frames worker (found as every worker is) on `video`, frame k placed at k / `fps`.
/// Read the signatures from the returned child, then [`StreamingChild::finish`] it for its exit
/// status and peak memory.
pub fn spawn_frames_worker(
    video: &Path,
    fps: f64,
    opts: &StreamOptions,
) -> Result<StreamingChild, SupervisorError> {
    let bin = find_worker_binary(FRAMES_WORKER)?;
    let args = vec![
        "--fps".into(),
        format!("{fps}").into(),
        video.as_os_str().to_owned(),
    ];
    StreamingChild::spawn(&bin, args, opts)
}
