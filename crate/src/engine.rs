//! What both backends offer the tokenizer/agent layers: feed tokens, read logits, sample.
use crate::model::Config;
use crate::sample::{SamplerParams, TokenMask};
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
    /// Samples a token from the current logits among those `mask` allows (all without one);
    /// `None` when the mask allows none.
    async fn sample_masked(&mut self, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>>;
    /// Feeds `token` and samples the next one among those `mask` allows: on the GPU one
    /// submission, the mask uploaded with it, only the id read back.
    async fn decode_masked(&mut self, token: u32, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        self.prefill(&[token]).await?;
        self.sample_masked(mask, p, u).await
    }
    /// Runs `tokens` at positions `pos()..`, as `prefill` does, and returns the greedy choice
    /// after each of them under `masks[i]` (no mask, or none given: every token): to the bit the
    /// token that feeding them one at a time and sampling at temperature 0 would give, which is
    /// what speculative decoding checks its drafts against. Afterwards the logits are the last
    /// token's. This default feeds them one at a time; see [`Engine::batched_verify`].
    async fn verify(&mut self, tokens: &[u32], masks: &[Option<&TokenMask>]) -> Result<Vec<Option<u32>>> {
        let greedy = SamplerParams::greedy();
        let mut out = Vec::with_capacity(tokens.len());
        for (i, &t) in tokens.iter().enumerate() {
            self.prefill(&[t]).await?;
            out.push(self.sample_masked(masks.get(i).copied().flatten(), &greedy, 0.0).await?);
        }
        Ok(out)
    }
    /// Whether `verify` runs its tokens in one forward pass, so that checking a draft costs about
    /// one decode step (otherwise drafting cannot pay and the agent does not draft).
    fn batched_verify(&self) -> bool {
        false
    }
    /// Samples a token from the current logits.
    async fn sample(&mut self, p: &SamplerParams, u: f32) -> Result<u32> {
        self.sample_masked(None, p, u).await?.ok_or_else(nothing_to_sample)
    }
    /// Feeds `token` and samples the next one: one GPU submission, only the id read back.
    async fn decode(&mut self, token: u32, p: &SamplerParams, u: f32) -> Result<u32> {
        self.decode_masked(token, None, p, u).await?.ok_or_else(nothing_to_sample)
    }
    /// What has crossed between host and device so far (a GPU's submissions and the bytes read
    /// back); `None` for engines without a device.
    fn transfers(&self) -> Option<Transfers> {
        None
    }
}

fn nothing_to_sample() -> crate::Error {
    crate::Error::Gpu("the sampler chose no token from unmasked logits".into())
}

/// Work handed to a GPU and bytes copied back from it, counted since the engine was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Transfers {
    /// Command buffers submitted to the queue.
    pub submissions: u64,
    /// Bytes mapped back to the host.
    pub readback_bytes: u64,
}

impl Transfers {
    /// What crossed between two readings of [`Engine::transfers`] (`None` off the GPU).
    pub fn between(earlier: Option<Transfers>, later: Option<Transfers>) -> Option<Transfers> {
        let (a, b) = (earlier?, later?);
        Some(Transfers { submissions: b.submissions - a.submissions, readback_bytes: b.readback_bytes - a.readback_bytes })
    }
    /// (submissions, bytes read back) per generated token.
    pub fn per_token(self, tokens: usize) -> (f64, f64) {
        let n = tokens.max(1) as f64;
        (self.submissions as f64 / n, self.readback_bytes as f64 / n)
    }
}

impl std::ops::Add for Transfers {
    type Output = Transfers;
    fn add(self, o: Transfers) -> Transfers {
        Transfers { submissions: self.submissions + o.submissions, readback_bytes: self.readback_bytes + o.readback_bytes }
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
    /// Tokens generated (the first, sampled from the prompt's logits, and the decoded ones).
    pub generated_tokens: usize,
    /// What crossed between host and GPU from the first sample on (`None` off the GPU).
    pub transfers: Option<Transfers>,
}

impl Timing {
    pub fn prefill_tok_s(&self) -> f64 {
        self.prefill_tokens as f64 / self.prefill_seconds.max(1e-9)
    }
    pub fn decode_tok_s(&self) -> f64 {
        self.decode_tokens as f64 / self.decode_seconds.max(1e-9)
    }
    /// GPU (submissions, bytes read back) per generated token.
    pub fn per_token(&self) -> Option<(f64, f64)> {
        self.transfers.map(|x| x.per_token(self.generated_tokens))
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
    let x0 = e.transfers();
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
    t.generated_tokens = out.len();
    t.transfers = Transfers::between(x0, e.transfers());
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
