//! The agent loop: observe, build the context (MEM1 or full), let the policy write a turn, parse
//! it, act; with per-turn metrics and a trace of every prompt, output, memory and action.
use super::context::{Context, Mode};
use super::policy::{Drafts, Policy, TurnRequest};
use super::protocol::Protocol;
use crate::engine::{now, Transfers};
use crate::observe::Observation;
use crate::shop::StepResult;
use crate::tokenizer::Tokenizer;
use crate::Result;
use serde::Serialize;

/// What the loop needs from a shop: the live page and a way to act on it. The in-process
/// [`crate::shop::Env`] implements it (natively over parsed HTML, in the browser over the live
/// document it renders into); an extension would wrap a real tab's DOM.
#[allow(async_fn_in_trait)]
pub trait Shop {
    fn instruction(&self) -> String;
    /// Goals the task asks for: more than one for a shopping list.
    fn items(&self) -> usize;
    fn observation(&self) -> Observation;
    /// Takes an action; a live page (the extension) answers when the page has settled.
    async fn act(&mut self, action: &str) -> StepResult;
    fn reward(&self) -> f64;
    /// Each item's reward (a shopping list's goals; one goal's reward otherwise).
    fn item_rewards(&self) -> Vec<f64>;
    fn is_done(&self) -> bool;
    /// A short name of the current page kind, for the trace.
    fn page(&self) -> String {
        String::new()
    }
}

impl Shop for crate::shop::Env {
    fn instruction(&self) -> String {
        self.task().instruction_text.clone()
    }
    fn items(&self) -> usize {
        self.task().items()
    }
    fn observation(&self) -> Observation {
        self.observe().clone()
    }
    async fn act(&mut self, action: &str) -> StepResult {
        self.step(action)
    }
    fn reward(&self) -> f64 {
        crate::shop::Env::reward(self)
    }
    fn item_rewards(&self) -> Vec<f64> {
        crate::shop::Env::item_rewards(self)
    }
    fn is_done(&self) -> bool {
        crate::shop::Env::is_done(self)
    }
    fn page(&self) -> String {
        self.view().kind().to_string()
    }
}

/// Settings of one episode.
#[derive(Debug, Clone)]
pub struct EpisodeConfig {
    pub protocol: Protocol,
    pub mode: Mode,
    pub max_turns: usize,
    /// Keep every prompt's text in the trace (large in full mode).
    pub trace_prompts: bool,
    /// Also keep each turn's prompt and output as token ids (training data, issue 9).
    pub trace_ids: bool,
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        EpisodeConfig { protocol: Protocol::webshop(), mode: Mode::Mem1, max_turns: 10, trace_prompts: true, trace_ids: false }
    }
}

/// Metrics and trace of one turn.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TurnRecord {
    pub turn: usize,
    /// Tokens of this turn's prompt (the context the model conditions on).
    pub prompt_tokens: usize,
    /// Tokens in context at the end of the turn (prompt + output).
    pub context_tokens: usize,
    /// KV-cache bytes holding `context_tokens`.
    pub kv_bytes: usize,
    pub prefill_tokens: usize,
    pub decode_tokens: usize,
    pub forced_tokens: usize,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    pub seconds: f64,
    /// Forward passes that generated tokens: decode steps and draft checks (0 for a served policy).
    pub decode_passes: usize,
    /// Draft tokens checked and taken, by part of the turn.
    pub drafts: Drafts,
    /// GPU submissions and bytes read back while the turn was generated (`None` off the GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfers: Option<Transfers>,
    /// The same while its prompt was prefilled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_transfers: Option<Transfers>,
    /// The prompt text (when traced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The prompt's token ids (with [`EpisodeConfig::trace_ids`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_ids: Option<Vec<u32>>,
    /// The output's token ids as the tokenizer encodes it, then the end-of-turn token (with
    /// [`EpisodeConfig::trace_ids`]): what a model is trained to write after `prompt_ids`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_ids: Option<Vec<u32>>,
    pub output: String,
    pub memory: String,
    pub action: String,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    pub reward: f64,
    pub page: String,
    /// Malformed-output findings (`missing_memory`, ...) and repairs (`forced_action`, ...).
    pub problems: Vec<String>,
}

/// One episode's result.
#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    pub instruction: String,
    pub mode: Mode,
    pub reward: f64,
    /// Items the task asks for (1 for a WebShop goal) and each one's reward.
    pub items: usize,
    pub item_rewards: Vec<f64>,
    pub success: bool,
    pub done: bool,
    pub turns: usize,
    /// Prompt tokens of each turn.
    pub per_turn: Vec<usize>,
    /// Tokens in context at the end of each turn (prompt + output): what the demo's and the
    /// extension's chart plot as "tokens in context".
    pub context_per_turn: Vec<usize>,
    /// Most tokens in context at any point (prompt + output).
    pub peak_context_tokens: usize,
    pub peak_kv_bytes: usize,
    /// KV-cache size allocated (capacity × bytes per token); 0 without a model.
    pub kv_capacity_bytes: usize,
    pub prefix_tokens: usize,
    pub prefill_tokens: usize,
    pub decode_tokens: usize,
    /// GPU submissions and bytes read back while turns were generated, summed (`None` off the GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfers: Option<Transfers>,
    pub invalid_actions: usize,
    /// Turns whose raw output lacked a tag, had an empty memory or needed a repair.
    pub bad_outputs: usize,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub trace: Vec<TurnRecord>,
}

/// The page as the protocol shows it. A list's instruction, long and already in the task text,
/// is not repeated from the page (the store's pages show it, as WebShop's do); one goal's page is
/// shown whole, as the shipped policy was trained.
fn state_of(p: &Protocol, turns_left: usize, obs: &Observation, list: Option<&str>) -> String {
    match list {
        Some(instruction) => {
            let page = obs.text.replace(&format!("Instruction: [SEP] {instruction}"), "Instruction: [SEP] (the shopping list above)");
            p.state_text(turns_left, &page, &obs.available_actions())
        }
        None => p.state_text(turns_left, &obs.text, &obs.available_actions()),
    }
}

/// A turn's output as training targets: its tokens, then the end-of-turn token.
fn output_ids(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let mut v = tok.encode(text)?;
    if let Some(end) = tok.token_to_id("<|im_end|>").or_else(|| tok.stop.first().copied()) {
        v.push(end);
    }
    Ok(v)
}

/// Runs one episode. Errors of the policy (e.g. a context overflow) end the episode and are
/// recorded in [`Episode::error`]; only tokenizer failures propagate.
pub async fn run_episode<P: Policy, S: Shop>(policy: &mut P, tok: &Tokenizer, shop: &mut S, cfg: &EpisodeConfig) -> Result<Episode> {
    run_episode_with(policy, tok, shop, cfg, |_| {}).await
}

/// [`run_episode`], calling `on_turn` after every turn (progress, a live view in the browser).
pub async fn run_episode_with<P: Policy, S: Shop>(
    policy: &mut P,
    tok: &Tokenizer,
    shop: &mut S,
    cfg: &EpisodeConfig,
    mut on_turn: impl FnMut(&TurnRecord),
) -> Result<Episode> {
    let t0 = now();
    let p = &cfg.protocol.for_items(shop.items());
    let obs = shop.observation();
    let instruction = shop.instruction();
    let list = (shop.items() > 1).then_some(instruction.as_str());
    let mut ctx = Context::new(tok, p.clone(), cfg.mode, &instruction, &state_of(p, cfg.max_turns, &obs, list))?;
    let bpt = policy.kv_bytes_per_token();
    let mut ep = Episode {
        instruction: shop.instruction(),
        mode: cfg.mode,
        reward: 0.0,
        items: 1,
        item_rewards: Vec::new(),
        success: false,
        done: false,
        turns: 0,
        per_turn: Vec::new(),
        context_per_turn: Vec::new(),
        peak_context_tokens: 0,
        peak_kv_bytes: 0,
        kv_capacity_bytes: policy.kv_capacity() * bpt,
        prefix_tokens: ctx.prefix_len(),
        prefill_tokens: 0,
        decode_tokens: 0,
        transfers: None,
        invalid_actions: 0,
        bad_outputs: 0,
        seconds: 0.0,
        error: None,
        trace: Vec::new(),
    };
    let mut obs = obs;
    for turn in 1..=cfg.max_turns {
        let ts = now();
        let ids = ctx.ids();
        let actions = obs.available_actions();
        let req = TurnRequest { context: &ids, messages: ctx.messages(), actions: &actions, turn, observation: &obs };
        let reply = match policy.act(&req).await {
            Ok(r) => r,
            Err(e) => {
                ep.error = Some(format!("turn {turn}: {e}"));
                break;
            }
        };
        let parsed = p.parse(&reply.text);
        let mut problems = parsed.problems.clone();
        problems.extend(reply.repairs.iter().cloned());
        let memory = parsed.memory.clone().unwrap_or_default();
        let action = parsed.action.clone().unwrap_or_default();
        let page = shop.page();
        let step = shop.act(&action).await;
        obs = shop.observation();
        // A served policy's tokens are the server's count; a local one's, the engine's.
        let prompt_tokens = reply.usage.map(|u| u.prompt_tokens).unwrap_or(ids.len());
        let out_tokens = match reply.usage {
            Some(u) => u.completion_tokens,
            None if reply.kv_tokens > 0 => reply.kv_tokens.saturating_sub(ids.len()),
            None => 0,
        };
        let output_tokens = if out_tokens > 0 { out_tokens } else { tok.encode(&reply.text)?.len() };
        let context_tokens = prompt_tokens + output_tokens;
        let rec = TurnRecord {
            turn,
            prompt_tokens,
            context_tokens,
            kv_bytes: context_tokens * bpt,
            prefill_tokens: reply.prefill_tokens,
            decode_tokens: reply.decode_tokens,
            forced_tokens: reply.forced_tokens,
            prefill_seconds: reply.prefill_seconds,
            decode_seconds: reply.decode_seconds,
            seconds: now() - ts,
            decode_passes: reply.decode_passes,
            drafts: reply.drafts,
            transfers: reply.transfers,
            prompt_transfers: reply.prompt_transfers,
            prompt: cfg.trace_prompts.then(|| ctx.text()),
            prompt_ids: cfg.trace_ids.then(|| ids.clone()),
            output_ids: if cfg.trace_ids { Some(output_ids(tok, &reply.text)?) } else { None },
            output: reply.text.clone(),
            memory: memory.clone(),
            action: action.clone(),
            valid: step.valid,
            invalid_reason: step.reason.clone(),
            reward: step.reward,
            page,
            problems: problems.clone(),
        };
        ep.turns = turn;
        ep.per_turn.push(prompt_tokens);
        ep.context_per_turn.push(context_tokens);
        ep.peak_context_tokens = ep.peak_context_tokens.max(context_tokens);
        ep.peak_kv_bytes = ep.peak_kv_bytes.max(rec.kv_bytes);
        ep.prefill_tokens += reply.prefill_tokens;
        ep.decode_tokens += reply.decode_tokens;
        if let Some(x) = reply.transfers {
            ep.transfers = Some(ep.transfers.unwrap_or_default() + x);
        }
        ep.invalid_actions += usize::from(!step.valid);
        ep.bad_outputs += usize::from(!problems.is_empty());
        on_turn(&rec);
        ep.trace.push(rec);
        if step.done || shop.is_done() {
            ep.done = true;
            break;
        }
        if turn < cfg.max_turns {
            ctx.push_turn(&reply.text, &memory, &action, &state_of(p, cfg.max_turns - turn, &obs, list))?;
        }
    }
    ep.reward = shop.reward();
    ep.item_rewards = shop.item_rewards();
    ep.items = ep.item_rewards.len();
    ep.success = ep.done && ep.reward >= 1.0 - 1e-9;
    ep.seconds = now() - t0;
    Ok(ep)
}

/// Totals over episodes (the final summary line of `mem1 run`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub episodes: usize,
    /// Mean reward of an item × 100 (WebShop's score; over every item of every list).
    pub score: f64,
    /// Items per task, on average (1: WebShop goals).
    pub mean_items: f64,
    pub success_rate: f64,
    pub mean_turns: f64,
    pub mean_context_tokens: f64,
    pub mean_peak_context_tokens: f64,
    pub peak_context_tokens: usize,
    pub seconds_per_episode: f64,
    pub invalid_actions: usize,
    pub bad_outputs: usize,
    pub errors: usize,
    /// GPU submissions per generated token, forced tokens' prefills included (absent off the GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submissions_per_token: Option<f64>,
    /// Bytes read back from the GPU per generated token (absent off the GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readback_bytes_per_token: Option<f64>,
    /// Seconds per turn, and its prefill (the prompt) and decode (what the model wrote) parts.
    pub seconds_per_turn: f64,
    pub prefill_seconds_per_turn: f64,
    pub decode_seconds_per_turn: f64,
    /// Generated tokens per forward pass that generated them (decode steps and draft checks):
    /// above 1 where drafts were taken (absent for a served policy, which reports no passes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_forward: Option<f64>,
    /// Share of draft tokens the model chose itself (absent where nothing was drafted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_acceptance: Option<f64>,
    /// Draft tokens checked and taken in each part of the turns.
    pub drafts: Drafts,
}

impl Episode {
    /// (submissions, bytes read back) per generated token, on the GPU.
    pub fn per_token(&self) -> Option<(f64, f64)> {
        self.transfers.map(|x| x.per_token(self.decode_tokens))
    }
}

pub fn summarize(eps: &[Episode]) -> Summary {
    let n = eps.len().max(1) as f64;
    let ctx_all: Vec<usize> = eps.iter().flat_map(|e| e.per_turn.iter().copied()).collect();
    let moved = eps.iter().filter_map(|e| e.transfers).reduce(|a, b| a + b);
    let tokens = eps.iter().filter(|e| e.transfers.is_some()).map(|e| e.decode_tokens).sum();
    let rates = moved.map(|x| x.per_token(tokens));
    let turns: Vec<&TurnRecord> = eps.iter().flat_map(|e| &e.trace).collect();
    let per_turn = |f: fn(&TurnRecord) -> f64| turns.iter().map(|t| f(t)).sum::<f64>() / turns.len().max(1) as f64;
    let total = |f: fn(&TurnRecord) -> usize| turns.iter().map(|t| f(t)).sum::<usize>();
    let passes = total(|t| t.decode_passes);
    let drafts = turns.iter().fold(Drafts::default(), |a, t| a + t.drafts);
    let [drafted, taken] = drafts.total();
    let items: usize = eps.iter().map(|e| e.item_rewards.len()).sum();
    Summary {
        episodes: eps.len(),
        score: 100.0 * eps.iter().flat_map(|e| &e.item_rewards).sum::<f64>() / items.max(1) as f64,
        mean_items: items as f64 / n,
        success_rate: eps.iter().filter(|e| e.success).count() as f64 / n,
        mean_turns: eps.iter().map(|e| e.turns as f64).sum::<f64>() / n,
        mean_context_tokens: ctx_all.iter().sum::<usize>() as f64 / ctx_all.len().max(1) as f64,
        mean_peak_context_tokens: eps.iter().map(|e| e.peak_context_tokens as f64).sum::<f64>() / n,
        peak_context_tokens: eps.iter().map(|e| e.peak_context_tokens).max().unwrap_or(0),
        seconds_per_episode: eps.iter().map(|e| e.seconds).sum::<f64>() / n,
        invalid_actions: eps.iter().map(|e| e.invalid_actions).sum(),
        bad_outputs: eps.iter().map(|e| e.bad_outputs).sum(),
        errors: eps.iter().filter(|e| e.error.is_some()).count(),
        submissions_per_token: rates.map(|r| r.0),
        readback_bytes_per_token: rates.map(|r| r.1),
        seconds_per_turn: per_turn(|t| t.seconds),
        prefill_seconds_per_turn: per_turn(|t| t.prefill_seconds),
        decode_seconds_per_turn: per_turn(|t| t.decode_seconds),
        tokens_per_forward: (passes > 0).then(|| total(|t| t.decode_tokens) as f64 / passes as f64),
        draft_acceptance: (drafted > 0).then(|| taken as f64 / drafted as f64),
        drafts,
    }
}
