//! Helpers shared by the agent tests: a model-free byte-level ChatML tokenizer, a mock engine,
//! a scripted shopper, and where to find the real models.
#![allow(dead_code)]
use mem1::agent::TurnRequest;
use mem1::engine::Engine;
use mem1::model::{Arch, Config, RopeStyle};
use mem1::sample::{SamplerParams, TokenMask};
use mem1::tokenizer::Tokenizer;
use std::path::PathBuf;

/// GPT-2's byte → printable character table.
fn byte_chars() -> Vec<char> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut extra = 0;
    (0u32..256)
        .map(|b| {
            if printable.contains(&b) {
                char::from_u32(b).unwrap()
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap()
            }
        })
        .collect()
}

/// A byte-level tokenizer with no merges (one token per byte, ids = byte values) plus the
/// ChatML specials: real token ids without any model file.
pub fn byte_tokenizer() -> Tokenizer {
    let mut vocab = serde_json::Map::new();
    for (b, c) in byte_chars().into_iter().enumerate() {
        vocab.insert(c.to_string(), b.into());
    }
    vocab.insert("<|im_start|>".into(), 256.into());
    vocab.insert("<|im_end|>".into(), 257.into());
    let bl = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true});
    let spec = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [
            {"id": 256, "content": "<|im_start|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 257, "content": "<|im_end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": null, "pre_tokenizer": bl, "post_processor": null, "decoder": bl,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": []}
    });
    Tokenizer::from_json(&spec.to_string(), None).expect("byte tokenizer")
}

/// An engine without a model: it tracks positions and prefills, and its logits always favour
/// `favourite` (by default the stop token, so every free generation ends at once).
pub struct MockEngine {
    pub cfg: Config,
    pub pos: usize,
    pub prefilled: usize,
    pub max_pos: usize,
    pub truncations: Vec<usize>,
    pub favourite: u32,
}

impl MockEngine {
    pub fn new(vocab: usize, favourite: u32) -> MockEngine {
        let cfg = Config {
            arch: Arch::Llama,
            n_layers: 2,
            d_model: 8,
            n_heads: 1,
            n_kv_heads: 1,
            head_dim: 8,
            d_ff: 8,
            vocab,
            ctx_len: 1 << 20,
            rope_base: 10000.0,
            rope_style: RopeStyle::Adjacent,
            rms_eps: 1e-5,
            qkv_bias: false,
            output: "output.weight".into(),
        };
        MockEngine { cfg, pos: 0, prefilled: 0, max_pos: 0, truncations: Vec::new(), favourite }
    }
    fn logits_now(&self) -> Vec<f32> {
        let mut v = vec![0.0; self.cfg.vocab];
        v[self.favourite as usize] = 10.0;
        v
    }
}

impl Engine for MockEngine {
    fn config(&self) -> &Config {
        &self.cfg
    }
    fn pos(&self) -> usize {
        self.pos
    }
    fn truncate(&mut self, pos: usize) -> mem1::Result<()> {
        self.truncations.push(pos);
        self.pos = self.pos.min(pos);
        Ok(())
    }
    async fn prefill(&mut self, tokens: &[u32]) -> mem1::Result<()> {
        self.pos += tokens.len();
        self.prefilled += tokens.len();
        self.max_pos = self.max_pos.max(self.pos);
        Ok(())
    }
    async fn logits(&mut self) -> mem1::Result<Vec<f32>> {
        Ok(self.logits_now())
    }
    async fn sample_masked(&mut self, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> mem1::Result<Option<u32>> {
        Ok(mem1::sample::sample_masked(&self.logits_now(), mask, p, u))
    }
}

/// A shopper that searches, opens the first product, goes back, opens it again, ... so an
/// episode lasts all its turns; its summary has a steady length.
pub fn wandering_script(req: &TurnRequest<'_>) -> String {
    let acts = req.actions;
    let action = if acts.iter().any(|a| a == "search[...]") {
        "search[loose fit women tops short sleeve]".to_string()
    } else if let Some(p) = acts.iter().find(|a| a.len() == "click[b000000000]".len() && a.starts_with("click[b0")) {
        p.clone()
    } else if acts.iter().any(|a| a == "click[< prev]") {
        "click[< prev]".to_string()
    } else {
        "click[back to search]".to_string()
    };
    format!(
        "<think>Turn {}: the page offers {} actions; I will take {action} next.</think>\
         <summary>Goal: loose fit women's top, purple, x-large, under $50. Searched once; now at turn {:02}.</summary>\
         <answer>{action}</answer>",
        req.turn,
        acts.len(),
        req.turn
    )
}

/// A model file from `.cache/models/` in the repo root (or `$MEM1_MODELS`). A missing model fails
/// the test: the README's test command fetches the models first.
pub fn model(name: &str) -> PathBuf {
    let dir = std::env::var("MEM1_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/models"));
    let p = dir.join(name);
    assert!(p.exists(), "{} is missing: run scripts/fetch-models.sh first", p.display());
    p
}
