//! Cosine similarity of the first sentence with each of the others, by all-MiniLM-L6-v2:
//! `cargo run --release -p nightshift-embed --example similarity -- "QUERY" "TEXT"...`
//! (the model from `$NIGHTSHIFT_EMBEDDING_MODEL` or the default directory).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: similarity QUERY TEXT...");
        std::process::exit(2);
    }
    let model = nightshift_embed::embedding_model_dir()
        .and_then(|d| nightshift_embed::Embedder::load(&d).map_err(|e| e.to_string()));
    let model = match model {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let texts: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = model.embed(&texts);
    for (t, v) in texts.iter().zip(&e).skip(1) {
        println!("{:.4}  {t}", nightshift_embed::cosine(&e[0], v));
    }
}
