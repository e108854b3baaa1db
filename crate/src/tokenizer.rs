//! Text ↔ token ids through HuggingFace's `tokenizers` crate (built for wasm32 too), loaded from a
//! `tokenizer.json` or built from the byte-level BPE vocabulary and merges embedded in the GGUF;
//! and ChatML chat templates rendered exactly as the models' Jinja templates render them.
use crate::gguf::{Gguf, Value};
use crate::{Error, Result};
use serde_json::json;
use std::sync::OnceLock;
use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::{PreTokenizedString, PreTokenizer};

/// Qwen2's pre-tokenizer split (from its tokenizer.json; llama.cpp's `qwen2` pre-type).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split (llama.cpp `llama-bpe`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

type Inner = tokenizers::TokenizerImpl<ModelWrapper, NormalizerWrapper, Pre, PostProcessorWrapper, DecoderWrapper>;

/// The pre-tokenizer: the one a `tokenizer.json` describes, or a built-in one (the GGUF
/// `tokenizer.ggml.pre` kinds) built once per process and shared. Compiling the Qwen2 / Llama 3
/// split regexes costs more than the rest of loading a small vocabulary, so a second load (a model
/// reloaded after a lost device, the fuzzer's millions) does not pay for it again.
enum Pre {
    Own(PreTokenizerWrapper),
    Shared(&'static PreTokenizerWrapper),
}

impl PreTokenizer for Pre {
    fn pre_tokenize(&self, s: &mut PreTokenizedString) -> tokenizers::Result<()> {
        match self {
            Pre::Own(p) => p.pre_tokenize(s),
            Pre::Shared(p) => p.pre_tokenize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Pre {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        PreTokenizerWrapper::deserialize(d).map(Pre::Own)
    }
}

/// The built-in pre-tokenizer `spec` (a constant), deserialized the first time it is asked for.
fn built_in(cell: &'static OnceLock<PreTokenizerWrapper>, spec: impl FnOnce() -> serde_json::Value) -> Pre {
    Pre::Shared(cell.get_or_init(|| serde_json::from_value(spec()).expect("a built-in pre-tokenizer spec deserializes")))
}

pub struct Tokenizer {
    inner: Inner,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub add_bos: bool,
    pub chat: Option<ChatTemplate>,
    /// Ids that end a turn: EOS and the ChatML `<|im_end|>` when present.
    pub stop: Vec<u32>,
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

impl Tokenizer {
    /// Loads a HuggingFace `tokenizer.json`; special ids and the template still come from the GGUF.
    pub fn from_json(json: &str, g: Option<&Gguf>) -> Result<Tokenizer> {
        // Syntax first: `tokenizers` panics on some malformed JSON inside its decoder section
        // (found by fuzzing), never on a well-formed value.
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| Error::Tokenizer(format!("tokenizer.json: {e}")))?;
        let inner: Inner = serde_json::from_value(value).map_err(tok_err)?;
        Self::finish(inner, g)
    }

    /// Builds the byte-level BPE described by the GGUF's `tokenizer.ggml.*` metadata.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer> {
        let model = g.get("tokenizer.ggml.model").and_then(Value::as_str).unwrap_or("");
        if model != "gpt2" {
            return Err(Error::Unsupported(format!(
                "tokenizer model '{model}' (only byte-level BPE, 'gpt2', is built from GGUF; pass a tokenizer.json)"
            )));
        }
        let strings = |k: &str| -> Result<Vec<&str>> {
            g.get(k)
                .and_then(Value::as_array)
                .ok_or_else(|| Error::Tokenizer(format!("missing {k}")))?
                .iter()
                .map(|v| v.as_str().ok_or_else(|| Error::Tokenizer(format!("{k} holds a non-string"))))
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<u64> = g
            .get("tokenizer.ggml.token_type")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
            .unwrap_or_default();
        // Control (3) and user-defined (4) tokens are matched whole, before the BPE sees the text.
        let mut vocab = serde_json::Map::new();
        let mut added = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            vocab.insert(t.to_string(), json!(i));
            let ty = types.get(i).copied().unwrap_or(1);
            if ty == 3 || ty == 4 {
                added.push(json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": ty == 3}));
            }
        }
        let pre = g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
        static QWEN2: OnceLock<PreTokenizerWrapper> = OnceLock::new();
        static LLAMA3: OnceLock<PreTokenizerWrapper> = OnceLock::new();
        static STARCODER: OnceLock<PreTokenizerWrapper> = OnceLock::new();
        static GPT2: OnceLock<PreTokenizerWrapper> = OnceLock::new();
        let split = |re: &str| json!({"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false});
        let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": use_regex});
        let (normalizer, pre_tokenizer) = match pre {
            "qwen2" => (
                json!({"type": "NFC"}),
                built_in(&QWEN2, || json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), byte_level(false)]})),
            ),
            "llama-bpe" | "llama3" => (
                json!(null),
                built_in(&LLAMA3, || json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_SPLIT), byte_level(false)]})),
            ),
            // StarCoder-style (SmolLM): every digit alone, then GPT-2's split.
            "smollm" | "starcoder" | "refact" => (
                json!(null),
                built_in(&STARCODER, || {
                    json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)]})
                }),
            ),
            "default" | "gpt2" | "gpt-2" => (json!(null), built_in(&GPT2, || byte_level(true))),
            other => return Err(Error::Unsupported(format!("pre-tokenizer '{other}' in tokenizer.ggml.pre"))),
        };
        let merges: Vec<serde_json::Value> = merges.iter().map(|m| json!(m)).collect();
        let spec = json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": added,
            "normalizer": normalizer,
            "pre_tokenizer": null,
            "post_processor": null,
            "decoder": byte_level(false),
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
                      "vocab": vocab, "merges": merges}
        });
        let mut inner: Inner = serde_json::from_value(spec).map_err(tok_err)?;
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        Self::finish(inner, Some(g))
    }

    fn finish(inner: Inner, g: Option<&Gguf>) -> Result<Tokenizer> {
        let id = |k: &str| g.and_then(|g| g.get(k)).and_then(Value::as_u64).map(|v| v as u32);
        let bos = id("tokenizer.ggml.bos_token_id");
        let eos = id("tokenizer.ggml.eos_token_id");
        let add_bos = g
            .and_then(|g| g.get("tokenizer.ggml.add_bos_token"))
            .and_then(Value::as_u64)
            .map(|v| v != 0)
            .unwrap_or(false);
        let chat = g
            .and_then(|g| g.get("tokenizer.chat_template"))
            .and_then(Value::as_str)
            .and_then(ChatTemplate::from_jinja);
        let mut stop: Vec<u32> = eos.into_iter().collect();
        if let Some(end) = inner.token_to_id("<|im_end|>") {
            if !stop.contains(&end) {
                stop.push(end);
            }
        }
        Ok(Tokenizer { inner, bos, eos, add_bos, chat, stop })
    }

    /// Token ids of `text`; special-token strings in it become their ids. No BOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.inner.encode(text, false).map_err(tok_err)?.get_ids().to_vec())
    }

    /// `encode`, with BOS first when the model asks for it (plain, non-chat prompts).
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if self.add_bos {
            ids.extend(self.bos);
        }
        ids.extend(self.encode(text)?);
        Ok(ids)
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(tok_err)
    }

    pub fn token_to_id(&self, s: &str) -> Option<u32> {
        self.inner.token_to_id(s)
    }

    /// The vocabulary entry of `id` (byte-level BPE: bytes mapped to printable characters).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Ids of added tokens (special/control tokens such as `<|im_start|>`), matched whole.
    pub fn added_token_ids(&self) -> Vec<u32> {
        self.inner.get_added_tokens_decoder().keys().copied().collect()
    }

    /// Empties the BPE model's word cache (HuggingFace `tokenizers` keeps up to 10,000 words it has
    /// encoded): memory measurements read the heap without it.
    pub fn clear_cache(&self) {
        if let ModelWrapper::BPE(bpe) = self.inner.get_model() {
            bpe.clear_cache();
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Renders a conversation with the model's chat template and a generation prompt.
    pub fn apply_chat(&self, messages: &[Message]) -> Result<String> {
        let t = self.chat.as_ref().ok_or_else(|| {
            Error::Unsupported("this model has no ChatML chat template (pass a plain prompt without --chat)".into())
        })?;
        Ok(t.render(messages, true))
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

/// A ChatML template (`<|im_start|>role\ncontent<|im_end|>\n`), as Qwen2.5 and SmolLM2 use, with
/// the system message the template inserts when the conversation has none.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTemplate {
    pub default_system: Option<String>,
}

impl ChatTemplate {
    /// Recognizes a ChatML Jinja template and extracts its literal default system message.
    pub fn from_jinja(src: &str) -> Option<ChatTemplate> {
        if !src.contains("<|im_start|>") {
            return None;
        }
        let marker = "<|im_start|>system";
        let default_system = src.match_indices(marker).find_map(|(i, _)| {
            let rest = &src[i + marker.len()..];
            let rest = rest.strip_prefix("\\n").or_else(|| rest.strip_prefix('\n'))?;
            let end = rest.find("<|im_end|>")?;
            let text = &rest[..end];
            // A literal message, not an expression splicing in messages[0].
            (!text.is_empty() && !text.contains(['\'', '"', '{', '}', '+'])).then(|| text.replace("\\n", "\n"))
        });
        Some(ChatTemplate { default_system })
    }

    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> String {
        let mut s = String::new();
        let turn = |s: &mut String, role: &str, content: &str| {
            s.push_str("<|im_start|>");
            s.push_str(role);
            s.push('\n');
            s.push_str(content);
            s.push_str("<|im_end|>\n");
        };
        if messages.first().is_none_or(|m| m.role != "system") {
            if let Some(sys) = &self.default_system {
                turn(&mut s, "system", sys);
            }
        }
        for m in messages {
            turn(&mut s, &m.role, &m.content);
        }
        if add_generation_prompt {
            s.push_str("<|im_start|>assistant\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_default_system_from_both_template_styles() {
        let smol = "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are SmolLM<|im_end|>\n' }}";
        assert_eq!(ChatTemplate::from_jinja(smol).unwrap().default_system.as_deref(), Some("You are SmolLM"));
        let qwen = r"{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }} {{- '<|im_start|>system\nYou are Qwen.<|im_end|>\n' }}";
        let t = ChatTemplate::from_jinja(qwen).unwrap();
        assert_eq!(t.default_system.as_deref(), Some("You are Qwen."));
        assert_eq!(
            t.render(&[Message::new("user", "hi")], true),
            "<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(ChatTemplate::from_jinja("[INST] {{ m }} [/INST]").is_none());
    }
}
