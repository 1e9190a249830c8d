//! How one item picks its tokens: repeat penalty, top-k, top-p, temperature and the draw, with
//! the output held to a grammar when the item has one (its own or its JSON schema's).
//!
//! Greedy items check the grammar on the chosen token first and mask the whole vocabulary only
//! when it rejects that token, as llama.cpp's own `common_sampler` does: masking every candidate
//! costs a grammar walk per vocabulary entry per token (150 k entries for Qwen), most of a small
//! model's generation time, and the result is the same token (the best one the grammar allows).
//! Sampled items keep the grammar first in the chain: checking first draws from another
//! distribution, and on the corpus meetings that moved the notes' action-item recall from 0.85
//! to 0.62 on one seed, so the exact distribution stays until several seeds say otherwise.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use nightshift_worker_protocol::CompleteItem;

/// The sampling state of one item: for a greedy item with a grammar, the chain without the
/// grammar and the grammar; otherwise one chain (grammar first when there is one).
pub struct TokenSampler {
    grammar: Option<LlamaSampler>,
    chain: LlamaSampler,
}

impl TokenSampler {
    /// Draw the next token from output `idx` of the last decode (-1: the last) and accept it.
    pub fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        let Some(grammar) = self.grammar.as_mut() else {
            return self.chain.sample(ctx, idx);
        };
        let mut cur = ctx.token_data_array_ith(idx);
        cur.apply_sampler(&mut self.chain);
        let drawn = cur.selected_token();
        let token = match drawn.filter(|&t| allows(grammar, t)) {
            Some(t) => t,
            None => {
                // Rejected: mask the vocabulary with the grammar, then draw again.
                let mut cur = ctx.token_data_array_ith(idx);
                cur.apply_sampler(grammar);
                cur.apply_sampler(&mut self.chain);
                cur.selected_token()
                    .expect("the sampler chain ends in a draw that selects a token")
            }
        };
        grammar.accept(token);
        self.chain.accept(token);
        token
    }
}

/// Whether the grammar, in its current state, allows `token` next.
fn allows(grammar: &mut LlamaSampler, token: LlamaToken) -> bool {
    let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
    one.apply_sampler(grammar);
    one.data[0].logit() != f32::NEG_INFINITY
}

/// Build the sampling state for `item`. A schema or grammar llama.cpp rejects is a per-item
/// error.
pub fn build_sampler(model: &LlamaModel, item: &CompleteItem) -> Result<TokenSampler, String> {
    let s = &item.sampling;
    let mut grammar = match grammar_for(item)? {
        Some(g) => Some(
            LlamaSampler::grammar(model, &g, "root")
                .map_err(|e| format!("llama.cpp rejected the grammar: {e}"))?,
        ),
        None => None,
    };
    let greedy = s.temperature <= 0.0;
    let mut chain = Vec::new();
    if !greedy && let Some(g) = grammar.take() {
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
    if greedy {
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
    Ok(TokenSampler {
        grammar,
        chain: LlamaSampler::chain(chain, true),
    })
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
