//! An item's messages → the model's prompt, through the GGUF's own chat template.

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use nightshift_worker_protocol::CompleteItem;

/// Render and tokenize the item's prompt. Exactly one of `messages` and `prompt` is used.
pub fn render_prompt(
    model: &LlamaModel,
    template: Option<&LlamaChatTemplate>,
    item: &CompleteItem,
) -> Result<Vec<LlamaToken>, String> {
    let text = render_text(model, template, item, None)?;
    let vocab = model.vocab();
    let mut tokens = vocab.tokenize(text.as_bytes(), true, true);
    // A template that writes the BOS text itself plus the tokenizer's own BOS would give two.
    if tokens.len() >= 2 && tokens[0] == vocab.bos() && tokens[1] == vocab.bos() {
        tokens.remove(0);
    }
    Ok(tokens)
}

/// The item's prompt as text. With `media_marker`, the last user message (or a raw prompt)
/// starts with one marker line per image, where a vision model's image embeddings go.
pub fn render_text(
    model: &LlamaModel,
    template: Option<&LlamaChatTemplate>,
    item: &CompleteItem,
    media_marker: Option<&str>,
) -> Result<String, String> {
    let markers: String = media_marker
        .map(|m| format!("{m}\n").repeat(item.images.len()))
        .unwrap_or_default();
    match (&item.prompt, item.messages.is_empty()) {
        (Some(_), false) => Err("give either messages or prompt, not both".into()),
        (None, true) => Err("nothing to complete: messages and prompt are empty".into()),
        (Some(p), true) => Ok(format!("{markers}{p}")),
        (None, false) => {
            let template = template.ok_or(
                "the model has no chat template: send a raw `prompt` instead of `messages`",
            )?;
            let last_user = item.messages.iter().rposition(|m| m.role == "user");
            if !markers.is_empty() && last_user.is_none() {
                return Err("images need a user message to go with".into());
            }
            let chat = item
                .messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let content = if Some(i) == last_user {
                        format!("{markers}{}", m.content)
                    } else {
                        m.content.clone()
                    };
                    LlamaChatMessage::new(m.role.clone(), content)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("bad chat message: {e}"))?;
            model
                .apply_chat_template(template, &chat, true)
                .map_err(|e| format!("cannot apply the model's chat template: {e}"))
        }
    }
}
