//! An item's messages → the model's prompt tokens, through the GGUF's own chat template.

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use nightshift_worker_protocol::CompleteItem;

/// Render and tokenize the item's prompt. Exactly one of `messages` and `prompt` is used.
pub fn render_prompt(
    model: &LlamaModel,
    template: Option<&LlamaChatTemplate>,
    item: &CompleteItem,
) -> Result<Vec<LlamaToken>, String> {
    let text = match (&item.prompt, item.messages.is_empty()) {
        (Some(_), false) => return Err("give either messages or prompt, not both".into()),
        (None, true) => return Err("nothing to complete: messages and prompt are empty".into()),
        (Some(p), true) => p.clone(),
        (None, false) => {
            let template = template.ok_or(
                "the model has no chat template: send a raw `prompt` instead of `messages`",
            )?;
            let chat = item
                .messages
                .iter()
                .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("bad chat message: {e}"))?;
            model
                .apply_chat_template(template, &chat, true)
                .map_err(|e| format!("cannot apply the model's chat template: {e}"))?
        }
    };
    let vocab = model.vocab();
    let mut tokens = vocab.tokenize(text.as_bytes(), true, true);
    // A template that writes the BOS text itself plus the tokenizer's own BOS would give two.
    if tokens.len() >= 2 && tokens[0] == vocab.bos() && tokens[1] == vocab.bos() {
        tokens.remove(0);
    }
    Ok(tokens)
}
