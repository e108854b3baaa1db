//! An episode reported to JavaScript as it runs: [`Event`]s for a turn's start, the prompt's
//! progress, each generated token and each finished turn. [`Tap`] wraps a shop to remember the
//! page each action was taken on; [`Announced`] and [`Watched`] wrap the policy and its engine.
use super::call;
use super::remote::Fetch;
use crate::agent::remote::RemotePolicy;
use crate::agent::{LlmPolicy, Policy, Shop, TurnRecord, TurnReply, TurnRequest};
use crate::engine::{now, Engine, Transfers};
use crate::loader::AnyEngine;
use crate::model::Config;
use crate::observe::Observation;
use crate::sample::{SamplerParams, TokenMask};
use crate::shop::StepResult;
use crate::{Error, Result};
use js_sys::Function;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// What `on_event` gets, tagged by `type`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    TurnStart { turn: usize, prompt_tokens: usize, actions: &'a [String] },
    Prefill { turn: usize, done: usize, tokens: usize },
    Token { turn: usize, tokens: usize, tok_s: f64 },
    Turn(TurnEvent<'a>),
    /// Something the shopper should know that is not a turn (a setting ignored on this site).
    Note { text: String },
}

/// A finished turn: what the model read (`observation`, on the `page` it acted on) and wrote
/// (`output`, its internal state `summary` and its `action`), with the turn's figures.
/// `context_tokens` is what the pages plot as "tokens in context" (prompt + output).
#[derive(Serialize)]
pub struct TurnEvent<'a> {
    pub turn: usize,
    pub action: &'a str,
    pub valid: bool,
    pub invalid_reason: Option<&'a str>,
    pub summary: &'a str,
    pub output: &'a str,
    pub page: String,
    pub observation: String,
    pub prompt_tokens: usize,
    pub context_tokens: usize,
    pub prefill_tokens: usize,
    pub decode_tokens: usize,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub seconds: f64,
    /// GPU submissions and bytes read back per generated token this turn (absent on the CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submissions_per_token: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readback_bytes_per_token: Option<f64>,
    /// Generated tokens per forward pass that generated them (above 1 where drafts were taken;
    /// absent for a served policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_pass: Option<f64>,
    /// Draft tokens checked this turn, and those taken.
    pub drafted: usize,
    pub taken: usize,
    pub problems: &'a [String],
    pub reward: f64,
}

impl<'a> TurnEvent<'a> {
    pub fn new(t: &'a TurnRecord, seen: Option<(String, Observation)>) -> TurnEvent<'a> {
        let (page, obs) = seen.unwrap_or_default();
        let tps = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        TurnEvent {
            turn: t.turn,
            action: &t.action,
            valid: t.valid,
            invalid_reason: t.invalid_reason.as_deref(),
            summary: &t.memory,
            output: &t.output,
            page,
            observation: obs.text,
            prompt_tokens: t.prompt_tokens,
            context_tokens: t.context_tokens,
            prefill_tokens: t.prefill_tokens,
            decode_tokens: t.decode_tokens,
            prefill_tok_s: tps(t.prefill_tokens, t.prefill_seconds),
            decode_tok_s: tps(t.decode_tokens, t.decode_seconds),
            seconds: t.seconds,
            submissions_per_token: t.transfers.map(|x| x.per_token(t.decode_tokens).0),
            readback_bytes_per_token: t.transfers.map(|x| x.per_token(t.decode_tokens).1),
            tokens_per_pass: (t.decode_passes > 0).then(|| t.decode_tokens as f64 / t.decode_passes as f64),
            drafted: t.drafts.total()[0],
            taken: t.drafts.total()[1],
            problems: &t.problems,
            reward: t.reward,
        }
    }
}

/// Wraps a shop and records the page kind and observation each action was taken on (the turn
/// report shows them).
pub struct Tap<S> {
    pub inner: S,
    pub seen: Rc<RefCell<Option<(String, Observation)>>>,
}

impl<S> Tap<S> {
    pub fn new(inner: S) -> Tap<S> {
        Tap { inner, seen: Rc::new(RefCell::new(None)) }
    }
}

impl<S: Shop> Shop for Tap<S> {
    fn instruction(&self) -> String {
        self.inner.instruction()
    }
    fn observation(&self) -> Observation {
        self.inner.observation()
    }
    async fn act(&mut self, action: &str) -> StepResult {
        *self.seen.borrow_mut() = Some((self.inner.page(), self.inner.observation()));
        self.inner.act(action).await
    }
    fn items(&self) -> usize {
        self.inner.items()
    }
    fn reward(&self) -> f64 {
        self.inner.reward()
    }
    fn item_rewards(&self) -> Vec<f64> {
        self.inner.item_rewards()
    }
    fn is_done(&self) -> bool {
        self.inner.is_done()
    }
    fn page(&self) -> String {
        self.inner.page()
    }
}

/// Tells JavaScript when a turn starts.
pub struct Announced<'t> {
    pub inner: LlmPolicy<'t, Watched>,
    pub events: Rc<Function>,
}

impl Policy for Announced<'_> {
    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply> {
        self.inner.engine.start_turn(req.turn);
        call(&self.events, &Event::TurnStart { turn: req.turn, prompt_tokens: req.context.len(), actions: req.actions });
        self.inner.act(req).await
    }
    fn kv_bytes_per_token(&self) -> usize {
        self.inner.kv_bytes_per_token()
    }
    fn kv_capacity(&self) -> usize {
        self.inner.kv_capacity()
    }
}

/// Tells JavaScript when a served policy's turn starts and, as its streamed reply arrives, how
/// many tokens it has written (an event of the stream is a token); stops between turns when asked.
pub struct ServedTurns {
    inner: RemotePolicy<Fetch>,
    events: Rc<Function>,
    stop: Rc<Cell<bool>>,
    turn: Rc<Cell<usize>>,
}

impl ServedTurns {
    pub fn new(mut inner: RemotePolicy<Fetch>, events: Rc<Function>, stop: Rc<Cell<bool>>) -> ServedTurns {
        let turn = Rc::new(Cell::new(0));
        let (ev, t, t0) = (events.clone(), turn.clone(), Cell::new(None::<f64>));
        let mut last = 0;
        inner.on_text = Some(Box::new(move |so_far: &str| {
            let tokens = so_far.matches("data:").count();
            if tokens <= 1 || tokens < last {
                t0.set(Some(now()));
            }
            if tokens != last {
                last = tokens;
                let dt = now() - t0.get().unwrap_or_else(now);
                call(&ev, &Event::Token { turn: t.get(), tokens, tok_s: if dt > 0.0 { tokens as f64 / dt } else { 0.0 } });
            }
        }));
        ServedTurns { inner, events, stop, turn }
    }
}

impl Policy for ServedTurns {
    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply> {
        if self.stop.get() {
            return Err(Error::usage("stopped on request"));
        }
        self.turn.set(req.turn);
        call(&self.events, &Event::TurnStart { turn: req.turn, prompt_tokens: req.context.len(), actions: req.actions });
        self.inner.act(req).await
    }
}

/// Prompt tokens per prefill call in the browser (see [`Watched`]'s `prefill`).
const PREFILL_PIECE: usize = 32;

/// An engine that reports each generated token to JavaScript (count, tokens/s this turn) and
/// stops when asked.
pub struct Watched {
    pub inner: AnyEngine,
    pub stop: Rc<Cell<bool>>,
    pub events: Rc<Function>,
    turn: usize,
    tokens: usize,
    /// When this turn's first generated token was asked for (after the prompt's prefill).
    t0: Option<f64>,
}

impl Watched {
    pub fn new(inner: AnyEngine, stop: Rc<Cell<bool>>, events: Rc<Function>) -> Watched {
        Watched { inner, stop, events, turn: 0, tokens: 0, t0: None }
    }
    fn start_turn(&mut self, turn: usize) {
        self.turn = turn;
        self.tokens = 0;
        self.t0 = None;
    }
    fn check(&self) -> Result<()> {
        if self.stop.get() {
            return Err(Error::usage("stopped on request"));
        }
        Ok(())
    }
    fn generated(&mut self) {
        self.tokens += 1;
        let dt = now() - *self.t0.get_or_insert_with(now);
        let tok_s = if dt > 0.0 { self.tokens as f64 / dt } else { 0.0 };
        call(&self.events, &Event::Token { turn: self.turn, tokens: self.tokens, tok_s });
    }
}

impl Engine for Watched {
    fn config(&self) -> &Config {
        self.inner.config()
    }
    fn pos(&self) -> usize {
        self.inner.pos()
    }
    fn truncate(&mut self, pos: usize) -> Result<()> {
        self.inner.truncate(pos)
    }
    async fn prefill(&mut self, tokens: &[u32]) -> Result<()> {
        self.check()?;
        if tokens.len() == 1 {
            self.inner.prefill(tokens).await?;
            self.generated();
            return Ok(());
        }
        // A long prompt in pieces, each but the last waited for (a sampled id read back, 4
        // bytes; the last is waited for by the sample that follows) so the page can show real
        // progress and a visitor's Stop takes effect between pieces; the KV cache and the logits
        // end the same.
        let mut done = 0;
        for piece in tokens.chunks(PREFILL_PIECE) {
            self.check()?;
            self.inner.prefill(piece).await?;
            done += piece.len();
            if done < tokens.len() {
                self.inner.sample(&SamplerParams::greedy(), 0.0).await?;
            }
            call(&self.events, &Event::Prefill { turn: self.turn, done, tokens: tokens.len() });
        }
        if self.tokens == 0 {
            self.t0 = Some(now());
        }
        Ok(())
    }
    async fn logits(&mut self) -> Result<Vec<f32>> {
        self.inner.logits().await
    }
    async fn sample_masked(&mut self, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        self.inner.sample_masked(mask, p, u).await
    }
    async fn decode_masked(&mut self, token: u32, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        self.check()?;
        let t = self.inner.decode_masked(token, mask, p, u).await?;
        self.generated();
        Ok(t)
    }
    async fn verify(&mut self, tokens: &[u32], masks: &[Option<&TokenMask>]) -> Result<Vec<Option<u32>>> {
        self.check()?;
        let choices = self.inner.verify(tokens, masks).await?;
        // Under greedy decoding the agent keeps the first token and each draft token the model
        // chose itself, up to the first it did not.
        let kept = 1 + tokens[1..].iter().zip(&choices).take_while(|(d, c)| Some(**d) == **c).count();
        for _ in 0..kept {
            self.generated();
        }
        Ok(choices)
    }
    fn batched_verify(&self) -> bool {
        self.inner.batched_verify()
    }
    fn transfers(&self) -> Option<Transfers> {
        self.inner.transfers()
    }
}
