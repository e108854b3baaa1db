//! What both backends offer the tokenizer/agent layers: feed tokens, read logits, sample.
use crate::model::Config;
use crate::sample::SamplerParams;
use crate::Result;

#[allow(async_fn_in_trait)]
pub trait Engine {
    fn config(&self) -> &Config;
    /// Tokens currently in the KV cache.
    fn pos(&self) -> usize;
    /// Forgets cache entries from `pos` on (keeps a shared prefix, e.g. MEM1's static prompt).
    fn truncate(&mut self, pos: usize) -> Result<()>;
    /// Runs `tokens` at positions `pos()..`; afterwards the logits are those of the last token.
    async fn prefill(&mut self, tokens: &[u32]) -> Result<()>;
    /// The current logits (copied back: for tests and the `logits` command, not the decode loop).
    async fn logits(&mut self) -> Result<Vec<f32>>;
    /// Samples a token from the current logits.
    async fn sample(&mut self, p: &SamplerParams, u: f32) -> Result<u32>;
    /// Feeds `token` and samples the next one: one GPU submission, only the id read back.
    async fn decode(&mut self, token: u32, p: &SamplerParams, u: f32) -> Result<u32> {
        self.prefill(&[token]).await?;
        self.sample(p, u).await
    }
}

/// The checks every backend's `prefill` makes: tokens to run, room in the cache, ids in the vocabulary.
pub fn check_prefill(tokens: &[u32], pos: usize, ctx: usize, vocab: usize) -> Result<()> {
    if tokens.is_empty() {
        return Err(crate::Error::usage("prefill of zero tokens"));
    }
    if pos + tokens.len() > ctx {
        return Err(crate::Error::usage(format!(
            "context full: {pos} + {} tokens exceed the {ctx}-token KV cache",
            tokens.len()
        )));
    }
    if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(crate::Error::usage(format!("token id {bad} is outside the vocabulary ({vocab})")));
    }
    Ok(())
}

/// `truncate`'s contract: the cache can only shrink.
pub fn check_truncate(to: usize, held: usize) -> Result<()> {
    if to > held {
        return Err(crate::Error::usage(format!("cannot truncate the cache to {to}: it holds {held}")));
    }
    Ok(())
}

/// Throughput of one generation.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Timing {
    pub prefill_tokens: usize,
    pub prefill_seconds: f64,
    pub decode_tokens: usize,
    pub decode_seconds: f64,
}

impl Timing {
    pub fn prefill_tok_s(&self) -> f64 {
        self.prefill_tokens as f64 / self.prefill_seconds.max(1e-9)
    }
    pub fn decode_tok_s(&self) -> f64 {
        self.decode_tokens as f64 / self.decode_seconds.max(1e-9)
    }
}

/// Prefills `prompt`, then generates up to `max_tokens`, stopping after any of `stop` (included).
pub async fn generate<E: Engine>(
    e: &mut E,
    prompt: &[u32],
    max_tokens: usize,
    stop: &[u32],
    p: &SamplerParams,
    rng: &mut crate::sample::Rng,
    mut on_token: impl FnMut(u32),
) -> Result<(Vec<u32>, Timing)> {
    let mut t = Timing { prefill_tokens: prompt.len(), ..Default::default() };
    let t0 = now();
    e.prefill(prompt).await?;
    let mut out = Vec::new();
    if max_tokens == 0 {
        t.prefill_seconds = now() - t0;
        return Ok((out, t));
    }
    let mut tok = e.sample(p, rng.uniform()).await?;
    t.prefill_seconds = now() - t0;
    let t1 = now();
    loop {
        out.push(tok);
        on_token(tok);
        if out.len() >= max_tokens || stop.contains(&tok) || e.pos() >= e.config().ctx_len {
            break;
        }
        tok = e.decode(tok, p, rng.uniform()).await?;
        t.decode_tokens += 1;
    }
    t.decode_seconds = now() - t1;
    Ok((out, t))
}

/// Seconds on a monotonic clock (performance.now() in the browser).
pub fn now() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
    }
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() / 1000.0
    }
}
