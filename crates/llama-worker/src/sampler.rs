//! The sampler chain for one item: grammar first (so every later stage only sees tokens the
//! grammar allows), then repeat penalty, top-k, top-p, temperature, and the draw.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use nightshift_worker_protocol::CompleteItem;

/// Build the chain for `item`. A schema or grammar llama.cpp rejects is a per-item error.
pub fn build_sampler(model: &LlamaModel, item: &CompleteItem) -> Result<LlamaSampler, String> {
    let s = &item.sampling;
    let mut chain = Vec::new();
    if let Some(grammar) = grammar_for(item)? {
        let g = LlamaSampler::grammar(model, &grammar, "root")
            .map_err(|e| format!("llama.cpp rejected the grammar: {e}"))?;
        chain.push(g);
    }
    if s.repeat_penalty != 1.0 {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            s.repeat_last_n,
            s.repeat_penalty,
            0.0,
            0.0,
        ));
    }
    if s.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if s.top_k > 0 {
            chain.push(LlamaSampler::top_k(s.top_k));
        }
        if s.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(s.top_p, 1));
        }
        chain.push(LlamaSampler::temp(s.temperature));
        chain.push(LlamaSampler::dist(s.seed));
    }
    Ok(LlamaSampler::chain(chain, true))
}

/// The GBNF grammar the output must follow, if any: the item's own, or its JSON schema's.
fn grammar_for(item: &CompleteItem) -> Result<Option<String>, String> {
    match (&item.json_schema, &item.grammar) {
        (Some(_), Some(_)) => Err("give either json_schema or grammar, not both".into()),
        (None, None) => Ok(None),
        (None, Some(g)) => Ok(Some(g.clone())),
        (Some(schema), None) => llama_cpp_2::json_schema_to_grammar(&schema.to_string())
            .map(Some)
            .map_err(|e| format!("cannot turn the JSON schema into a grammar: {e}")),
    }
}
