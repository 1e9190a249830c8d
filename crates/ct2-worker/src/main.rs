//! `nightshift-ct2-worker`: the only process that links CTranslate2 (and oneDNN).
//!
//! Speaks the whisper worker's protocol (`nightshift-worker-protocol`: one `load` naming a
//! converted model folder, then `transcribe` items, answered one by one on stdout; exits at
//! stdin EOF) so the Foreman runs either engine the same way (`asr.engine` in the profile).
//! Exit status and failure injection (`NIGHTSHIFT_WORKER_FAIL`) as for the whisper worker.
//!
//! Logging: `NIGHTSHIFT_WORKER_LOG` (an `EnvFilter`, default `info`).

mod engine;
mod mel;
mod pool;
mod vocab;

fn main() {
    keep_freed_memory();
    use_avx512_kernels();
    nightshift_worker_runtime::worker_main(
        "nightshift-ct2-worker",
        "info",
        nightshift_asr::serve::<engine::Engine>,
        nightshift_asr::send_fatal,
    )
}

/// Keep memory the engine frees in the process for its next allocation instead of handing it
/// back to the kernel. Without MKL (whose allocator caches), CTranslate2 allocates every
/// activation with `posix_memalign`, and glibc serves blocks over its mmap threshold (the
/// encoder's attention scores are tens of MB a window) with a fresh `mmap` that the kernel
/// zero-fills page by page, then unmaps at `free`: perf on corpus meeting_03 put 17 % of the
/// worker's time in the kernel (page faults, zeroing, unmapping). With mmap off for the heap
/// and no trimming, freed blocks are reused: ASR 3.18 → 2.84 s on meeting_03 (median of 3,
/// 2 threads). The worker exits after its batch, which is when the memory goes back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// glibc's allocator only; another C library keeps its own policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Run CTranslate2's own kernels (softmax, layer norm, quantization, …) in their AVX-512
/// build where the CPU has AVX-512: CTranslate2 picks it only on Intel CPUs and takes AVX2 on
/// an AMD one that has AVX-512 too. On an AMD EPYC (2 threads, `scripts/bench-asr.sh`, median
/// of 3) the corpus meetings took 1.72 / 2.01 / 2.64 s against 1.81 / 2.07 / 2.79 s, at a
/// pooled WER of 11.6 % either way (the transcripts differ in a few words). A
/// `CT2_FORCE_CPU_ISA` set by the user is left alone.
fn use_avx512_kernels() {
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl");
        if avx512 && std::env::var_os("CT2_FORCE_CPU_ISA").is_none() {
            // SAFETY: no other thread exists yet to read the environment concurrently.
            unsafe { std::env::set_var("CT2_FORCE_CPU_ISA", "AVX512") };
        }
    }
}
