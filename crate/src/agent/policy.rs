//! Policies: who writes each turn. [`LlmPolicy`] runs a language model on any [`Engine`]
//! (KV-cache reuse by common prefix, constrained action decoding); [`ScriptedPolicy`] returns
//! fixed text, for tests that need no model.
use super::constrain::{ActionSet, Vocab};
use super::repeat;
use super::protocol::Protocol;
use crate::engine::{now, Engine, Transfers};
use crate::sample::{Rng, SamplerParams, TokenMask};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use serde::Serialize;
use std::sync::Arc;

/// What a policy is asked each turn.
pub struct TurnRequest<'a> {
    /// The whole prompt of this turn (token ids, ending with the generation prompt).
    pub context: &'a [u32],
    /// The same prompt as chat messages (for a served policy, whose server applies its template).
    pub messages: &'a [crate::tokenizer::Message],
    /// The page's available actions (`search[...]`, `click[x]`).
    pub actions: &'a [String],
    /// 1-based turn number.
    pub turn: usize,
    /// The page as observed (what the context's last state shows).
    pub observation: &'a crate::observe::Observation,
}

/// What a policy answered, with its costs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TurnReply {
    /// The whole assistant turn, forced tags and constrained action included.
    pub text: String,
    /// Prompt tokens actually run through the model this turn (the rest came from the KV cache).
    pub prefill_tokens: usize,
    /// Tokens generated (free and constrained).
    pub decode_tokens: usize,
    /// Tokens of the output that were forced rather than chosen (tags, completions).
    pub forced_tokens: usize,
    /// Tokens in the KV cache at the end of the turn (prompt + generated).
    pub kv_tokens: usize,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    /// What had to be repaired: `forced_action`, `forced_memory`, `max_tokens`, `action_budget`,
    /// `repetition` (a phrase about to be written a third time in a row), ...
    pub repairs: Vec<String>,
    /// What crossed between host and GPU while the prompt was prefilled (`None` off the GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_transfers: Option<Transfers>,
    /// What crossed while the turn was generated, forced tokens included (`None` off the GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfers: Option<Transfers>,
    /// The prompt and completion tokens a server reported (a served policy); `None`: counted here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<super::remote::Usage>,
}

#[allow(async_fn_in_trait)]
pub trait Policy {
    /// Writes one assistant turn.
    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply>;
    /// Bytes of KV cache per token in context (0 for policies without a model).
    fn kv_bytes_per_token(&self) -> usize {
        0
    }
    /// KV-cache capacity in tokens (0 when unbounded or without a model).
    fn kv_capacity(&self) -> usize {
        0
    }
}

/// Returns text from a function of the request: no model.
pub struct ScriptedPolicy<F: FnMut(&TurnRequest<'_>) -> String> {
    pub script: F,
}

impl<F: FnMut(&TurnRequest<'_>) -> String> ScriptedPolicy<F> {
    pub fn new(script: F) -> Self {
        ScriptedPolicy { script }
    }
}

impl<F: FnMut(&TurnRequest<'_>) -> String> Policy for ScriptedPolicy<F> {
    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply> {
        let text = (self.script)(req);
        Ok(TurnReply { text, prefill_tokens: req.context.len(), kv_tokens: req.context.len(), ..Default::default() })
    }
}

/// Generation limits of [`LlmPolicy`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Free tokens per turn (reasoning + memory + the start of the action).
    pub max_tokens: usize,
    /// Extra tokens for a forced memory block when the model wrote none.
    pub memory_tokens: usize,
    /// Tokens for the constrained action (a search query of the instruction's words and options
    /// takes up to about 70); then it is completed deterministically.
    pub action_tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_tokens: 128, memory_tokens: 48, action_tokens: 96 }
    }
}

/// A language-model policy on any engine.
pub struct LlmPolicy<'t, E: Engine> {
    pub engine: E,
    tok: &'t Tokenizer,
    vocab: Arc<Vocab>,
    pub protocol: Protocol,
    pub params: SamplerParams,
    pub limits: Limits,
    /// Restrict the action to the page's available actions and force the tag structure.
    pub constrain: bool,
    rng: Rng,
    /// The ids in the engine's KV cache, in order (mirrors `engine.pos()`).
    kv: Vec<u32>,
    capacity: usize,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn note_repetition(r: &mut TurnReply) {
    if !r.repairs.iter().any(|x| x == "repetition") {
        r.repairs.push("repetition".into());
    }
}

/// Appends `tag`, completing it when `out` already ends with a cut-off start of it (`…</thi`).
pub fn close_tag(out: &mut Vec<u8>, tag: &[u8]) {
    let k = (1..tag.len()).rev().find(|&k| out.ends_with(&tag[..k])).unwrap_or(0);
    out.extend_from_slice(&tag[k..]);
}

impl<'t, E: Engine> LlmPolicy<'t, E> {
    /// `capacity` is the KV-cache size the engine was loaded with (tokens); `vocab` may be
    /// shared between policies of the same tokenizer.
    pub fn new(engine: E, tok: &'t Tokenizer, vocab: Arc<Vocab>, protocol: Protocol, capacity: usize) -> Self {
        let capacity = capacity.min(engine.config().ctx_len);
        LlmPolicy {
            kv: Vec::new(),
            engine,
            tok,
            vocab,
            protocol,
            params: SamplerParams::greedy(),
            limits: Limits::default(),
            constrain: true,
            rng: Rng::new(0),
            capacity,
        }
    }

    pub fn seed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// Makes the KV cache hold exactly `target`, reusing the longest common prefix; afterwards
    /// the logits are those of `target`'s last token. Returns the number of tokens prefilled.
    pub async fn sync(&mut self, target: &[u32]) -> Result<usize> {
        if target.is_empty() {
            return Err(Error::usage("empty prompt"));
        }
        if target.len() > self.capacity {
            return Err(Error::usage(format!("context of {} tokens exceeds the KV cache ({} tokens)", target.len(), self.capacity)));
        }
        if self.engine.pos() != self.kv.len() {
            self.kv.clear();
            self.engine.truncate(0)?;
        }
        let mut lcp = self.kv.iter().zip(target).take_while(|(a, b)| a == b).count();
        // Re-run at least the last token so its logits are current.
        lcp = lcp.min(target.len() - 1);
        self.engine.truncate(lcp)?;
        self.kv.truncate(lcp);
        self.engine.prefill(&target[lcp..]).await?;
        self.kv.extend_from_slice(&target[lcp..]);
        Ok(target.len() - lcp)
    }

    /// Room left in the KV cache.
    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.kv.len())
    }

    /// Free generation from the current logits until a stop token, `budget` tokens, or one of
    /// `until` appears in the bytes. Returns the bytes and whether a stop/until ended it; the
    /// token that completed an `until` string is not fed to the engine.
    async fn free(&mut self, bytes: &mut Vec<u8>, budget: usize, until: &[Vec<u8>], r: &mut TurnReply) -> Result<Option<usize>> {
        let mut gen = Vec::new();
        let mut next = self.engine.sample(&self.params, self.rng.uniform()).await?;
        let mut n = 0;
        loop {
            let tok = self.unloop(&gen, next, r).await?;
            if self.tok.stop.contains(&tok) {
                return Ok(None);
            }
            if n >= budget || self.room() <= 1 {
                r.repairs.push("max_tokens".into());
                return Ok(None);
            }
            let start = bytes.len();
            bytes.extend_from_slice(self.vocab.get(tok));
            n += 1;
            r.decode_tokens += 1;
            gen.push(tok);
            let from = start.saturating_sub(16);
            if let Some(k) = until.iter().position(|u| find(&bytes[from..], u).is_some()) {
                return Ok(Some(k));
            }
            next = self.engine.decode(tok, &self.params, self.rng.uniform()).await?;
            self.kv.push(tok);
        }
    }

    /// `next`, unless writing it after `gen` would repeat a phrase a third time in a row
    /// ([`repeat::loops`]): then the sampler's choice among the other tokens (see [`Self::guard`]).
    async fn unloop(&mut self, gen: &[u32], next: u32, r: &mut TurnReply) -> Result<u32> {
        if !repeat::loops(gen, next, &self.vocab) {
            return Ok(next);
        }
        let mask = TokenMask::all(self.engine.config().vocab);
        let u = self.rng.uniform();
        Ok(self.guard(gen, Some(next), mask, u, r).await?.unwrap_or(next))
    }

    /// The repetition guard on a sampled token: while `picked` would repeat a phrase after `gen`
    /// a third time in a row, it joins `mask`'s forbidden tokens and the sampler chooses again
    /// from the same logits (one small submission, only the id read back); `None` when the mask
    /// has nothing left.
    async fn guard(&mut self, gen: &[u32], mut picked: Option<u32>, mut mask: TokenMask, u: f32, r: &mut TurnReply) -> Result<Option<u32>> {
        while let Some(t) = picked.filter(|&t| repeat::loops(gen, t, &self.vocab)) {
            note_repetition(r);
            mask.forbid(t);
            picked = self.engine.sample_masked(Some(&mask), &self.params, u).await?;
        }
        Ok(picked)
    }

    async fn sync_text(&mut self, context: &[u32], text: &[u8], r: &mut TurnReply) -> Result<()> {
        let mut target = context.to_vec();
        target.extend(self.tok.encode(&String::from_utf8_lossy(text))?);
        r.prefill_tokens += self.sync(&target).await?;
        Ok(())
    }
}

impl<E: Engine> Policy for LlmPolicy<'_, E> {
    fn kv_bytes_per_token(&self) -> usize {
        let c = self.engine.config();
        // K and V, f32, every layer (both backends keep the cache in f32).
        2 * c.n_layers * c.kv_dim() * 4
    }
    fn kv_capacity(&self) -> usize {
        self.capacity
    }

    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply> {
        let mut r = TurnReply::default();
        let t0 = now();
        let x0 = self.engine.transfers();
        r.prefill_tokens = self.sync(req.context).await?;
        r.prefill_seconds = now() - t0;
        let t1 = now();
        let x1 = self.engine.transfers();
        r.prompt_transfers = Transfers::between(x0, x1);
        let p = self.protocol.clone();
        let (aopen, aclose) = (p.action.open().into_bytes(), p.action.close().into_bytes());
        let (mopen, mclose) = (p.memory.open().into_bytes(), p.memory.close().into_bytes());
        let set = ActionSet::new(req.actions, &p.action.close());
        let constrain = self.constrain && !set.is_empty();
        let mut out: Vec<u8> = Vec::new();
        let budget = self.limits.max_tokens;
        if !constrain {
            // Free text up to the end of the action (or a stop token / the budget).
            self.free(&mut out, budget, &[aclose.clone()], &mut r).await?;
            if let Some(i) = find(&out, &aclose) {
                out.truncate(i + aclose.len());
            }
            r.decode_seconds = now() - t1;
            r.transfers = Transfers::between(x1, self.engine.transfers());
            r.text = String::from_utf8_lossy(&out).into_owned();
            r.kv_tokens = self.kv.len();
            return Ok(r);
        }
        let hit = self.free(&mut out, budget, &[aopen.clone()], &mut r).await?;
        let free_len = out.len();
        if hit.is_some() {
            // Drop the action tag (and whatever its token carried after it): re-added below.
            let i = rfind(&out, &aopen).unwrap_or(out.len());
            out.truncate(i);
        }
        // Close an unfinished reasoning block; make sure a memory block exists and is closed.
        let has = |t: &[u8], s: &[u8]| rfind(t, s);
        if let Some(rt) = &p.reasoning {
            let (ro, rc) = (rt.open().into_bytes(), rt.close().into_bytes());
            if let Some(o) = has(&out, &ro) {
                if has(&out[o..], &rc).is_none() && has(&out[o..], &mopen).is_none() {
                    close_tag(&mut out, &rc);
                }
            }
        }
        match has(&out, &mopen) {
            Some(o) if has(&out[o..], &mclose).is_none() => {
                close_tag(&mut out, &mclose);
                r.repairs.push("closed_memory".into());
            }
            Some(_) => {}
            None => {
                out.extend_from_slice(&mopen);
                r.repairs.push("forced_memory".into());
                self.sync_text(req.context, &out, &mut r).await?;
                let before = out.len();
                let ended = self.free(&mut out, self.limits.memory_tokens, &[mclose.clone(), aopen.clone()], &mut r).await?;
                match ended {
                    Some(0) => {
                        let i = rfind(&out, &mclose).unwrap_or(out.len());
                        out.truncate(i);
                    }
                    Some(_) => {
                        let i = rfind(&out, &aopen).unwrap_or(out.len());
                        out.truncate(i.max(before));
                    }
                    None => {}
                }
                close_tag(&mut out, &mclose);
            }
        }
        if hit.is_none() {
            r.repairs.push("forced_action".into());
        }
        out.extend_from_slice(&aopen);
        r.forced_tokens += self.tok.encode(&String::from_utf8_lossy(&out[free_len.min(out.len())..]))?.len();
        self.sync_text(req.context, &out, &mut r).await?;
        // The action, token by token among the allowed continuations: each step's allowed tokens
        // go to the sampler as a mask, in the same submission as the forward pass of the token
        // before (fed once the next step's mask is known).
        let mut st = set.start();
        let mut action = Vec::new();
        let mut pending: Option<u32> = None;
        let n_logits = self.engine.config().vocab;
        while st != super::constrain::State::Done {
            if action.len() >= self.limits.action_tokens || self.room() <= 1 + pending.is_some() as usize {
                if let Some(t) = pending.take() {
                    self.engine.prefill(&[t]).await?;
                    self.kv.push(t);
                }
                let rest = set.completion(st);
                r.forced_tokens += self.tok.encode(&String::from_utf8_lossy(&rest))?.len();
                out.extend_from_slice(&rest);
                r.repairs.push("action_budget".into());
                break;
            }
            let mask = set.mask(st, &self.vocab, n_logits);
            let u = self.rng.uniform();
            let picked = match pending.take() {
                Some(t) => {
                    self.kv.push(t);
                    self.engine.decode_masked(t, Some(&mask), &self.params, u).await?
                }
                None => self.engine.sample_masked(Some(&mask), &self.params, u).await?,
            };
            let picked = self.guard(&action, picked, mask, u, &mut r).await?;
            let Some((tok, next)) = picked.and_then(|t| Some((t, set.advance(st, self.vocab.get(t))?))) else {
                let rest = set.completion(st);
                out.extend_from_slice(&rest);
                r.repairs.push("action_dead_end".into());
                break;
            };
            out.extend_from_slice(self.vocab.get(tok));
            action.push(tok);
            st = next;
            r.decode_tokens += 1;
            if st != super::constrain::State::Done {
                pending = Some(tok);
            }
        }
        r.decode_seconds = now() - t1;
        r.transfers = Transfers::between(x1, self.engine.transfers());
        r.text = String::from_utf8_lossy(&out).into_owned();
        r.kv_tokens = self.kv.len();
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::close_tag;

    #[test]
    fn cut_off_tags_are_completed_not_doubled() {
        for (text, want) in [("x</thi", "x</think>"), ("x", "x</think>"), ("x<", "x</think>"), ("x</think", "x</think>"), ("</", "</think>")] {
            let mut v = text.as_bytes().to_vec();
            close_tag(&mut v, b"</think>");
            assert_eq!(String::from_utf8(v).unwrap(), want);
        }
    }
}
