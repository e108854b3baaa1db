//! Policies: who writes each turn. [`LlmPolicy`] runs a language model on any [`Engine`]
//! (KV-cache reuse by common prefix, constrained action decoding); [`ScriptedPolicy`] returns
//! fixed text, for tests that need no model.
use super::constrain::{ActionSet, State, Vocab};
use super::repeat;
use super::protocol::Protocol;
use crate::engine::{now, Engine, Transfers};
use crate::sample::{Rng, SamplerParams, TokenMask};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::VecDeque;
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
    /// Forward passes that generated tokens (a decode step, or the check of a draft).
    pub decode_passes: usize,
    /// Draft tokens checked and those the model chose itself, by where they were written (see
    /// [`LlmPolicy::speculate`]).
    pub drafts: Drafts,
}

/// Draft tokens checked (`[0]`) and taken (`[1]`) in each part of a turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Drafts {
    pub think: [usize; 2],
    pub memory: [usize; 2],
    pub action: [usize; 2],
}

impl Drafts {
    pub fn total(&self) -> [usize; 2] {
        [self.think[0] + self.memory[0] + self.action[0], self.think[1] + self.memory[1] + self.action[1]]
    }
}

impl std::ops::Add for Drafts {
    type Output = Drafts;
    fn add(self, o: Drafts) -> Drafts {
        let add = |a: [usize; 2], b: [usize; 2]| [a[0] + b[0], a[1] + b[1]];
        Drafts { think: add(self.think, o.think), memory: add(self.memory, o.memory), action: add(self.action, o.action) }
    }
}

/// Which part of a turn a draft was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Think,
    Memory,
    Action,
}

/// What drafting costs and brings on this engine, measured as turns run: a decode step's seconds,
/// the seconds each draft token adds to a check, and the share of draft tokens taken in each part
/// (moving averages). A draft token pays where its chance of being taken times a decode step
/// exceeds what it adds: on the 2-core test machine natively a draft token adds about a third of
/// a decode step, in wasm more (README).
#[derive(Debug, Clone, Default)]
pub struct DraftCost {
    decode: Option<f64>,
    extra: Option<f64>,
    taken: [Option<f64>; 3],
    /// Drafts passed over since the last one checked (every [`EXPLORE`]th is checked anyway, so
    /// that a part's share is measured again).
    skipped: usize,
}

/// Weight of a new measurement in [`DraftCost`]'s averages.
const NEW: f64 = 0.2;
/// Of the drafts that do not pay, one in this many is checked all the same.
const EXPLORE: usize = 8;

fn average(old: &mut Option<f64>, x: f64) {
    *old = Some(old.map_or(x, |o| o + NEW * (x - o)));
}

impl DraftCost {
    /// Whether to check a draft in `part` now (unmeasured: yes).
    fn pays(&mut self, part: Part) -> bool {
        let taken = self.taken[part as usize].unwrap_or(0.5);
        let pays = match (self.decode, self.extra) {
            (Some(d), Some(x)) => taken * d > x,
            _ => true,
        };
        if pays {
            return true;
        }
        self.skipped += 1;
        self.skipped % EXPLORE == 0
    }
    fn decoded(&mut self, seconds: f64) {
        average(&mut self.decode, seconds);
    }
    /// A check that fed `fed` draft tokens after the token before them took `seconds`; of the
    /// `drafted` tokens it checked, `taken` were the model's own choices.
    fn checked(&mut self, part: Part, seconds: f64, fed: usize, drafted: usize, taken: usize) {
        if let (Some(d), true) = (self.decode, fed > 0) {
            average(&mut self.extra, ((seconds - d) / fed as f64).max(0.0));
        }
        average(&mut self.taken[part as usize], taken as f64 / drafted.max(1) as f64);
    }
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
    /// Draft tokens and check them in one forward pass (greedy decoding on an engine that checks
    /// a batch at once): in free text the tokens that followed the last few tokens' latest earlier
    /// occurrence in the context (prompt lookup: a memory block repeats much of the last one), in
    /// the action the bytes every allowed action continues with (jump-forward). A draft token
    /// counts only where it is the model's own greedy choice, so turns are the same tokens
    /// either way.
    pub speculate: bool,
    /// Check a draft only where it pays on this engine ([`DraftCost`]); off: wherever there is one
    /// (the tests' way to count what drafts do, the same on every machine).
    pub draft_when_paying: bool,
    pub draft_cost: DraftCost,
    /// Prompt-lookup draft length: grows after a draft taken whole, shrinks after a rejection.
    draft_len: usize,
    rng: Rng,
    /// The ids in the engine's KV cache, in order (mirrors `engine.pos()`).
    kv: Vec<u32>,
    capacity: usize,
}

/// Prompt-lookup draft lengths: the first, and the bounds it adapts within.
const DRAFT_START: usize = 4;
const DRAFT_MIN: usize = 2;
const DRAFT_MAX: usize = 16;
/// Longest jump-forward draft (an action's forced rest: a product id and the close tag).
const FORCED_MAX: usize = 24;

/// Prompt lookup: after `seq` + `next`, the tokens that followed the latest earlier occurrence of
/// its last three (else two) tokens in `seq`, at most `max`.
fn lookup(seq: &[u32], next: u32, max: usize) -> Vec<u32> {
    let at = |i: usize| if i < seq.len() { seq[i] } else { next };
    let len = seq.len() + 1;
    for n in [3] {
        if len <= n || max == 0 {
            continue;
        }
        let tail = len - n;
        if let Some(start) = (0..tail).rev().find(|&s| (0..n).all(|j| at(s + j) == at(tail + j))) {
            let from = start + n;
            return (from..(from + max).min(len)).map(at).collect();
        }
    }
    Vec::new()
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
            speculate: true,
            draft_when_paying: true,
            draft_cost: DraftCost::default(),
            draft_len: DRAFT_START,
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
    /// token that completed an `until` string is not left in the KV cache.
    async fn free(&mut self, bytes: &mut Vec<u8>, budget: usize, until: &[Vec<u8>], r: &mut TurnReply) -> Result<Option<usize>> {
        let mut gen = Vec::new();
        let mut next = self.engine.sample(&self.params, self.rng.uniform()).await?;
        // Draft tokens the model chose itself, fed beyond `kv`, each with its choice after it.
        let mut ahead: VecDeque<(u32, Option<u32>)> = VecDeque::new();
        let mut n = 0;
        let ended = loop {
            if self.speculating() && repeat::loops(&gen, next, &self.vocab) {
                ahead.clear();
                self.realign(r).await?;
            }
            let tok = self.unloop(&gen, next, r).await?;
            if self.tok.stop.contains(&tok) {
                break None;
            }
            if n >= budget || self.room() <= 1 {
                r.repairs.push("max_tokens".into());
                break None;
            }
            let start = bytes.len();
            bytes.extend_from_slice(self.vocab.get(tok));
            n += 1;
            r.decode_tokens += 1;
            gen.push(tok);
            let from = start.saturating_sub(16);
            if let Some(k) = until.iter().position(|u| find(&bytes[from..], u).is_some()) {
                break Some(k);
            }
            next = match ahead.pop_front() {
                Some((d, c)) if d == tok => {
                    self.kv.push(tok);
                    c.ok_or_else(|| Error::usage("no choice after a draft token"))?
                }
                _ => {
                    ahead.clear();
                    self.engine.truncate(self.kv.len())?;
                    let part = self.part_of(bytes);
                    self.feed(tok, &mut ahead, budget - n, part, r).await?
                }
            };
        };
        self.engine.truncate(self.kv.len())?;
        Ok(ended)
    }

    /// Whether to check a draft in `part` now: always, or where it pays ([`DraftCost`]).
    fn pays(&mut self, part: Part) -> bool {
        !self.draft_when_paying || self.draft_cost.pays(part)
    }

    /// Whether drafts are checked this turn: asked for, greedy, and on an engine that checks a
    /// draft in one pass.
    fn speculating(&self) -> bool {
        self.speculate && self.params.temperature == 0.0 && self.engine.batched_verify()
    }

    /// Makes the engine's logits those after `kv`'s last token again (a draft's check leaves
    /// them at its last token): one pass, before the repetition guard samples from them.
    async fn realign(&mut self, r: &mut TurnReply) -> Result<()> {
        let last = *self.kv.last().ok_or_else(|| Error::usage("realign on an empty cache"))?;
        self.engine.truncate(self.kv.len() - 1)?;
        self.engine.prefill(&[last]).await?;
        r.decode_passes += 1;
        Ok(())
    }

    /// Feeds `tok` (the engine holds exactly `kv`) and returns the model's choice after it: one
    /// decode step, or, when drafting, one pass over `tok` and a prompt-lookup draft of at most
    /// `left` tokens, whose leading tokens the model chose itself stay fed, in `ahead`.
    async fn feed(&mut self, tok: u32, ahead: &mut VecDeque<(u32, Option<u32>)>, left: usize, part: Part, r: &mut TurnReply) -> Result<u32> {
        // No drafts in the reasoning: the shipped policy's <think> takes a third of its lookups'
        // tokens (README), below what a check's extra tokens cost.
        let draft = match self.speculating() && part != Part::Think {
            true => lookup(&self.kv, tok, self.draft_len.min(left).min(self.room().saturating_sub(2))),
            false => Vec::new(),
        };
        let draft = if !draft.is_empty() && self.pays(part) { draft } else { Vec::new() };
        r.decode_passes += 1;
        let t0 = now();
        if draft.is_empty() {
            let next = self.engine.decode(tok, &self.params, self.rng.uniform()).await?;
            self.draft_cost.decoded(now() - t0);
            self.kv.push(tok);
            return Ok(next);
        }
        let fed: Vec<u32> = std::iter::once(tok).chain(draft.iter().copied()).collect();
        let choices = self.engine.verify(&fed, &[]).await?;
        self.kv.push(tok);
        let kept = self.keep(&draft, &choices, ahead, part, r)?;
        self.draft_cost.checked(part, now() - t0, draft.len(), draft.len(), kept);
        self.draft_len = if kept == draft.len() { (self.draft_len + 2).min(DRAFT_MAX) } else { (kept + 1).max(DRAFT_MIN) };
        choices[0].ok_or_else(|| Error::usage("the model chose no token"))
    }

    /// After a check of `[token, draft…]` (`choices[i]` follows its i-th token): keeps the draft's
    /// leading tokens that the model chose itself in `ahead` and in the cache, drops the rest from
    /// the cache; returns how many it kept.
    fn keep(&mut self, draft: &[u32], choices: &[Option<u32>], ahead: &mut VecDeque<(u32, Option<u32>)>, part: Part, r: &mut TurnReply) -> Result<usize> {
        let kept = draft.iter().zip(choices).take_while(|(d, c)| Some(**d) == **c).count();
        // Only tokens that were fed stay (a draft's last token may be checked without being fed).
        let fed = kept.min(choices.len() - 1);
        self.engine.truncate(self.kv.len() + fed)?;
        ahead.extend(draft[..fed].iter().zip(&choices[1..]).map(|(&d, &c)| (d, c)));
        let tally = match part {
            Part::Think => &mut r.drafts.think,
            Part::Memory => &mut r.drafts.memory,
            Part::Action => &mut r.drafts.action,
        };
        tally[0] += draft.len();
        tally[1] += kept;
        Ok(kept)
    }

    /// The part of the turn free text is in: inside an open reasoning block, or after it.
    fn part_of(&self, bytes: &[u8]) -> Part {
        match &self.protocol.reasoning {
            Some(t) if find(bytes, t.open().as_bytes()).is_some() && find(bytes, t.close().as_bytes()).is_none() => Part::Think,
            _ => Part::Memory,
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

    /// The action's draft after `t` from state `st` (`t` already taken into it): the bytes every
    /// allowed action continues with, as tokens (jump-forward), else a prompt lookup (a query
    /// copies the goal's words), cut at the first token no action allows; with the mask the choice
    /// after each fed draft token is made under (the caller holds the one after `t`). `None` when
    /// not drafting, nothing is drafted, or drafting does not pay.
    fn jump_draft(&mut self, set: &ActionSet, st: State, t: u32, n_logits: usize) -> Option<(Vec<u32>, Vec<TokenMask>)> {
        if !self.speculating() {
            return None;
        }
        let forced = set.forced(st);
        let room = self.room().saturating_sub(2);
        let guess = match forced.is_empty() {
            false => self.tok.encode(&String::from_utf8_lossy(&forced)).ok()?.into_iter().take(FORCED_MAX.min(room)).collect(),
            true => lookup(&self.kv, t, self.draft_len.min(room)),
        };
        // The draft's tokens, each an allowed step, and the states after those that are fed (all
        // but one that ends the action: nothing follows it to choose).
        let (mut draft, mut states, mut s) = (Vec::new(), Vec::new(), st);
        for d in guess {
            let Some(next) = set.advance(s, self.vocab.get(d)) else { break };
            draft.push(d);
            s = next;
            if s == State::Done {
                break;
            }
            states.push(s);
        }
        // Asked only now, of a real draft; its masks (a pass over the vocabulary each) only then.
        if draft.is_empty() || !self.pays(Part::Action) {
            return None;
        }
        Some((draft, states.iter().map(|&s| set.mask(s, &self.vocab, n_logits)).collect()))
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
        let mut ahead: VecDeque<(u32, Option<u32>)> = VecDeque::new();
        let n_logits = self.engine.config().vocab;
        while st != State::Done {
            if action.len() >= self.limits.action_tokens || self.room() <= 1 + pending.is_some() as usize {
                self.engine.truncate(self.kv.len())?;
                if let Some(t) = pending.take() {
                    self.engine.prefill(&[t]).await?;
                    self.kv.push(t);
                    r.decode_passes += 1;
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
                Some(t) if ahead.front().is_some_and(|a| a.0 == t) => {
                    self.kv.push(t);
                    ahead.pop_front().unwrap().1
                }
                Some(t) => {
                    ahead.clear();
                    self.engine.truncate(self.kv.len())?;
                    r.decode_passes += 1;
                    let draft = self.jump_draft(&set, st, t, n_logits);
                    let t0 = now();
                    match draft {
                        Some((draft, masks)) => {
                            let fed: Vec<u32> = std::iter::once(t).chain(draft[..masks.len()].iter().copied()).collect();
                            let masks: Vec<Option<&TokenMask>> = std::iter::once(&mask).chain(&masks).map(Some).collect();
                            let choices = self.engine.verify(&fed, &masks).await?;
                            self.kv.push(t);
                            let kept = self.keep(&draft, &choices, &mut ahead, Part::Action, &mut r)?;
                            self.draft_cost.checked(Part::Action, now() - t0, fed.len() - 1, draft.len(), kept);
                            choices[0]
                        }
                        None => {
                            self.kv.push(t);
                            let next = self.engine.decode_masked(t, Some(&mask), &self.params, u).await?;
                            self.draft_cost.decoded(now() - t0);
                            next
                        }
                    }
                }
                None => self.engine.sample_masked(Some(&mask), &self.params, u).await?,
            };
            if self.speculating() && picked.is_some_and(|t| repeat::loops(&action, t, &self.vocab)) {
                ahead.clear();
                self.realign(&mut r).await?;
            }
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
            if st != State::Done {
                pending = Some(tok);
            }
        }
        self.engine.truncate(self.kv.len())?;
        r.decode_seconds = now() - t1;
        r.transfers = Transfers::between(x1, self.engine.transfers());
        r.text = String::from_utf8_lossy(&out).into_owned();
        r.kv_tokens = self.kv.len();
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::{close_tag, DraftCost, Part, EXPLORE};

    #[test]
    fn drafts_are_checked_where_they_pay_and_measured_again_now_and_then() {
        let mut c = DraftCost::default();
        assert!(c.pays(Part::Memory), "unmeasured: drafts are tried");
        c.decoded(0.010);
        // A check of 4 draft tokens took 30 ms, 20 ms beyond a step: 5 ms a token; 3 of 4 taken.
        c.checked(Part::Memory, 0.030, 4, 4, 3);
        assert!(c.pays(Part::Memory), "0.75 × 10 ms > 5 ms");
        // The action's drafts were taken at 1 in 4: 2.5 ms < 5 ms.
        c.checked(Part::Action, 0.030, 4, 4, 1);
        let checked = (0..2 * EXPLORE).filter(|_| c.pays(Part::Action)).count();
        assert_eq!(checked, 2, "one in {EXPLORE} drafts that do not pay is checked");
        assert!(c.pays(Part::Memory));
    }

    #[test]
    fn cut_off_tags_are_completed_not_doubled() {
        for (text, want) in [("x</thi", "x</think>"), ("x", "x</think>"), ("x<", "x</think>"), ("x</think", "x</think>"), ("</", "</think>")] {
            let mut v = text.as_bytes().to_vec();
            close_tag(&mut v, b"</think>");
            assert_eq!(String::from_utf8(v).unwrap(), want);
        }
    }
}
