//! Write the tiny synthetic vision projector of `nightshift_eval::tiny_vlm`, to try the local
//! vision path by hand without vision weights:
//! `cargo run --release -p nightshift-eval --example tiny_mmproj -- OUT.gguf [N_EMBD_TEXT]`
//! (576 = SmolLM2-135M's embedding width, the default).

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: tiny_mmproj OUT.gguf [N_EMBD_TEXT]");
        std::process::exit(2);
    };
    let n_embd = match args.next().map(|a| a.parse::<u64>()) {
        None => 576,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("error: N_EMBD_TEXT must be a positive number");
            std::process::exit(2);
        }
    };
    if let Err(e) = nightshift_eval::tiny_vlm::write_mmproj(std::path::Path::new(&out), n_embd) {
        eprintln!("error: {out}: {e}");
        std::process::exit(1);
    }
}
