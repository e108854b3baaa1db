//! The browser demo's API (wasm-bindgen): the WebShop-style store rendered into a live document
//! (an iframe the visitor watches), a model loaded from a `Blob` or an HTTP URL, and MEM1 episodes
//! run by [`crate::agent::run_episode_with`] with every turn reported to JavaScript.
//!
//! Values cross to JavaScript as plain objects (JSON-shaped); errors as `Error`s whose message is
//! the crate's [`crate::Error`] text.
use crate::agent::guard::{self, Verdict};
use crate::agent::{run_episode_with, EpisodeConfig, Limits, LlmPolicy, Mode, Policy, Protocol, Shop, TurnReply, TurnRequest, Vocab};
use crate::engine::{now, Engine};
use crate::gguf::{self, ByteSource};
use crate::loader::{AnyEngine, Backend};
use crate::lora::{self, Adapter};
use crate::model::Config;
use crate::observe::{Observation, LIVE_BUDGET};
use crate::sample::SamplerParams;
use crate::shop::goal::{generate_goals, sample_weighted, Rng};
use crate::shop::{Env, Goal, StepResult, Store, View};
use crate::tokenizer::Tokenizer;
use crate::web::{BlobSource, HttpSource};
use crate::{Error, Result};
use js_sys::{Function, Promise};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

fn js_err(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// A JSON value as a JavaScript object.
fn to_js(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap_or(JsValue::NULL)
}

fn from_js(v: &JsValue) -> Result<Value> {
    if v.is_undefined() || v.is_null() {
        return Ok(Value::Null);
    }
    let s: String = js_sys::JSON::stringify(v).map_err(|_| Error::usage("options are not JSON-like"))?.into();
    serde_json::from_str(&s).map_err(|e| Error::usage(format!("options: {e}")))
}

/// Calls a JavaScript callback; an exception in it is reported on the console, not propagated
/// (a broken display must not kill the episode).
fn call(f: &Function, v: &Value) {
    if let Err(e) = f.call1(&JsValue::NULL, &to_js(v)) {
        web_sys::console::error_2(&"mem1: callback failed:".into(), &e);
    }
}

/// A loaded model: tokenizer, engine and the vocabulary's bytes (for constrained actions).
struct Model {
    tok: Rc<Tokenizer>,
    engine: AnyEngine,
    vocab: Arc<Vocab>,
    ctx: usize,
    backend: String,
    info: Value,
}

struct Inner {
    /// The built-in store (the demo); `None` for an agent that shops on live pages only.
    store: Option<Arc<Store>>,
    goals: Vec<Goal>,
    model: RefCell<Option<Model>>,
    /// The loaded model's GPU device (a handle that stays here while an episode holds the model).
    device: RefCell<Option<wgpu::Device>>,
    stop: Rc<Cell<bool>>,
    busy: Cell<bool>,
}

/// The browser API: at most one loaded model, and for the demo one store with the goals made from
/// WebShop's templates (the extension's agent has no store: it shops on the shopper's page).
#[wasm_bindgen]
pub struct Demo {
    inner: Rc<Inner>,
}

fn goal_json(i: Option<usize>, g: &Goal) -> Value {
    let mut v = g.to_json();
    if let Some(o) = v.as_object_mut() {
        o.insert("index".into(), i.map(Value::from).unwrap_or(Value::Null));
        o.insert("scored".into(), (!g.asin.is_empty()).into());
    }
    v
}

/// A goal the visitor typed: no target product, so a purchase cannot be scored.
fn typed_goal(text: &str) -> Goal {
    Goal {
        asin: String::new(),
        instruction_text: text.trim().to_string(),
        attributes: Vec::new(),
        goal_options: Vec::new(),
        price_upper: 1_000_000.0,
        category: String::new(),
        query: String::new(),
        name: String::new(),
        product_category: String::new(),
        weight: 1.0,
    }
}

fn model_info(c: &Config) -> Value {
    json!({"arch": format!("{:?}", c.arch), "layers": c.n_layers, "ctx_len": c.ctx_len, "vocab": c.vocab, "d_model": c.d_model})
}

#[wasm_bindgen]
impl Demo {
    /// The store over the shipped catalog (prices drawn with `store_seed`, as `mem1 run --store-seed`)
    /// and every goal WebShop's templates make for it.
    #[wasm_bindgen(constructor)]
    pub fn new(store_seed: u32) -> std::result::Result<Demo, JsValue> {
        let store = Arc::new(Store::builtin(store_seed as u64).map_err(js_err)?);
        let goals = generate_goals(&store.catalog, &store.prices, &mut Rng::new(0)).map_err(js_err)?;
        Ok(Demo::with(Some(store), goals))
    }

    /// An agent for live pages ([`Demo::run_live`]): no built-in store.
    #[wasm_bindgen(js_name = forLivePages)]
    pub fn for_live_pages() -> Demo {
        Demo::with(None, Vec::new())
    }

    fn with(store: Option<Arc<Store>>, goals: Vec<Goal>) -> Demo {
        Demo { inner: Rc::new(Inner { store, goals, model: RefCell::new(None), device: RefCell::new(None), stop: Rc::new(Cell::new(false)), busy: Cell::new(false) }) }
    }

    #[wasm_bindgen(js_name = goalCount)]
    pub fn goal_count(&self) -> usize {
        self.inner.goals.len()
    }

    /// A goal drawn as `mem1 run --sample` draws them (weighted by WebShop's attribute weights).
    #[wasm_bindgen(js_name = randomGoal)]
    pub fn random_goal(&self, seed: f64) -> JsValue {
        if self.inner.goals.is_empty() {
            return JsValue::NULL;
        }
        let i = sample_weighted(&self.inner.goals, &mut Rng::new(seed as u64));
        to_js(&goal_json(Some(i), &self.inner.goals[i]))
    }

    /// Goal `index` (as in `randomGoal`), or an error when out of range.
    pub fn goal(&self, index: usize) -> std::result::Result<JsValue, JsValue> {
        let g = self.inner.goals.get(index).ok_or_else(|| js_err(format!("no goal {index} (0..{})", self.inner.goals.len())))?;
        Ok(to_js(&goal_json(Some(index), g)))
    }

    /// Shows the goal's start page (the search page) in `doc` without running anything.
    #[wasm_bindgen(js_name = showStart)]
    pub fn show_start(&self, doc: web_sys::Document, goal: JsValue) -> std::result::Result<JsValue, JsValue> {
        let g = self.inner.pick_goal(&goal).map_err(js_err)?;
        let env = Env::in_document(self.inner.store().map_err(js_err)?.clone(), g, doc).map_err(js_err)?;
        Ok(to_js(&json!({"observation": env.observe().text, "actions": env.observe().available_actions()})))
    }

    /// Loads a GGUF from a `Blob` (a downloaded or cached file, or a picked one). `backend` is
    /// `auto` (a hardware WebGPU adapter that can hold the model, else the CPU backend, also on
    /// CPU-emulated adapters such as SwiftShader), or any name [`Backend::parse`] knows (`gpu`, `cpu`). `ctx` is the KV-cache size in tokens (clamped to the
    /// model's). `progress(done, total)` is called as tensors are loaded. `adapter`, if given, is
    /// a LoRA adapter GGUF merged into the weights as they load ([`crate::lora`]). Resolves to
    /// `{backend, arch, layers, ctx_len, vocab, adapter, seconds}`.
    #[wasm_bindgen(js_name = loadModelBlob)]
    pub fn load_model_blob(&self, blob: web_sys::Blob, backend: String, ctx: u32, progress: Function, adapter: Option<web_sys::Blob>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let r = async {
                let adapter = match adapter {
                    Some(b) => Some(read_adapter(&mut BlobSource::new(b)).await?),
                    None => None,
                };
                inner.load(&mut BlobSource::new(blob), &backend, ctx as usize, progress, adapter).await
            };
            r.await.map(|v| to_js(&v)).map_err(js_err)
        })
    }

    /// Loads a GGUF streamed from `url` with HTTP Range requests (no whole-file download, no
    /// cache), with the LoRA adapter at `adapter_url` merged in if given.
    #[wasm_bindgen(js_name = loadModelUrl)]
    pub fn load_model_url(&self, url: String, backend: String, ctx: u32, progress: Function, adapter_url: Option<String>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let r = async {
                let adapter = match adapter_url {
                    Some(u) => Some(read_adapter(&mut HttpSource::open(&u).await?).await?),
                    None => None,
                };
                let mut src = HttpSource::open(&url).await?;
                inner.load(&mut src, &backend, ctx as usize, progress, adapter).await
            };
            r.await.map(|v| to_js(&v)).map_err(js_err)
        })
    }

    /// Runs one episode, rendering every page into `doc`.
    ///
    /// `goal`: `{index}` (a template goal) or `{text}` (typed; its purchase is not scored).
    /// `opts`: `{mode: "mem1"|"full", maxTurns, maxTokens, memoryTokens, actionTokens, constrain, seed}`
    /// (as `mem1 run`'s flags; memory and action budgets default to min(48, maxTokens)).
    /// `on_event` gets `{type: "turn_start", turn, prompt_tokens, actions}`, `{type: "prefill", turn,
    /// done, tokens}`, `{type: "token", turn, tokens, tok_s}` and `{type: "turn", turn, action, valid, invalid_reason, summary,
    /// output, page, prompt_tokens, context_tokens, prefill_tokens, decode_tokens, prefill_tok_s,
    /// decode_tok_s, seconds, problems, reward}`.
    /// Resolves to `{episode, goal, reward, scored, reward_info, purchased, stopped, error}`.
    pub fn run(&self, doc: web_sys::Document, goal: JsValue, opts: JsValue, on_event: Function) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.run(doc, &goal, &opts, on_event).await.map(|v| to_js(&v)).map_err(js_err) })
    }

    /// Runs one episode on a live page (the extension: the shopper's tab). `task` is what to buy;
    /// `page` the first snapshot `{html, url}` (HTML with `data-mem1-layout` and `data-mem1-id` on
    /// every element, as the content script takes it); `perform(cmd)` carries out
    /// `{kind: "click", node}` or `{kind: "search", node, text}` on the page and resolves to the
    /// next snapshot; `confirm({action, target, url})` asks the shopper before a purchase-like
    /// click and resolves to true or false. `opts` and `on_event` as in [`Demo::run`]. Resolves to
    /// `{episode, purchased, declined, stopped, url, error, model}`.
    #[wasm_bindgen(js_name = runLive)]
    pub fn run_live(&self, task: String, page: JsValue, opts: JsValue, perform: Function, confirm: Function, on_event: Function) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            inner.run_live(&task, &page, &opts, perform, confirm, on_event).await.map(|v| to_js(&v)).map_err(js_err)
        })
    }

    /// What the agent would do with `action` on a page snapshot at `url` (the rules of
    /// [`guard::check`]): `{refused: why}`, or `{command, purchase}` with the command `runLive`
    /// would hand to `perform`.
    #[wasm_bindgen(js_name = checkAction)]
    pub fn check_action(html: &str, url: &str, action: &str) -> std::result::Result<JsValue, JsValue> {
        let obs = crate::observe::web::observe_snapshot(html).map_err(js_err)?.clip(LIVE_BUDGET);
        let v = match command(guard::check(&obs, url, action)) {
            Err(why) => json!({"refused": why}),
            Ok((command, purchase)) => json!({"command": command, "purchase": purchase}),
        };
        Ok(to_js(&v))
    }

    /// The observation of a page snapshot (as `runLive` reads it): `{text, actions}`.
    #[wasm_bindgen(js_name = observeSnapshot)]
    pub fn observe_snapshot(html: &str) -> std::result::Result<JsValue, JsValue> {
        let o = crate::observe::web::observe_snapshot(html).map_err(js_err)?.clip(LIVE_BUDGET);
        Ok(to_js(&json!({"text": o.text, "actions": o.available_actions()})))
    }

    /// Asks a running episode to stop (at the next generated token).
    pub fn stop(&self) {
        self.inner.stop.set(true);
    }

    /// Whether a model is loaded.
    #[wasm_bindgen(js_name = hasModel)]
    pub fn has_model(&self) -> bool {
        self.inner.model.borrow().is_some()
    }

    /// Fault injection, as WebGL's `WEBGL_lose_context`: destroys the loaded model's GPU device,
    /// as a GPU process crash or a driver reset would, also in the middle of an episode. Returns
    /// whether there was one (false when the model runs on the CPU backend or none is loaded).
    #[wasm_bindgen(js_name = simulateDeviceLoss)]
    pub fn simulate_device_loss(&self) -> bool {
        self.inner.device.borrow().as_ref().map(|d| d.destroy()).is_some()
    }
}

async fn read_adapter<S: ByteSource>(src: &mut S) -> Result<Adapter> {
    Adapter::read(src).await.map_err(|e| Error::usage(format!("the LoRA adapter: {e}")))
}

/// Marks the demo busy for the lifetime of the guard (one load or episode at a time).
struct Busy<'a>(&'a Cell<bool>);

impl<'a> Busy<'a> {
    fn take(c: &'a Cell<bool>) -> Result<Busy<'a>> {
        if c.replace(true) {
            return Err(Error::usage("busy: a model is loading or an episode is running"));
        }
        Ok(Busy(c))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Inner {
    fn store(&self) -> Result<&Arc<Store>> {
        self.store.as_ref().ok_or_else(|| Error::usage("this agent has no built-in store (it shops on live pages)"))
    }

    fn pick_goal(&self, goal: &JsValue) -> Result<Goal> {
        let v = from_js(goal)?;
        if let Some(t) = v.get("text").and_then(Value::as_str) {
            if t.trim().is_empty() {
                return Err(Error::usage("the typed goal is empty"));
            }
            return Ok(typed_goal(t));
        }
        let i = v.get("index").and_then(Value::as_u64).ok_or_else(|| Error::usage("goal: give {index} or {text}"))? as usize;
        self.goals.get(i).cloned().ok_or_else(|| Error::usage(format!("no goal {i} (0..{})", self.goals.len())))
    }

    async fn load<S: ByteSource>(&self, src: &mut S, backend: &str, ctx: usize, progress: Function, adapter: Option<Adapter>) -> Result<Value> {
        let _busy = Busy::take(&self.busy)?;
        let t0 = now();
        // Free the old model's GPU buffers before allocating the new one's.
        self.model.borrow_mut().take();
        self.device.borrow_mut().take();
        let g = gguf::read_header(src).await?;
        let tok = Tokenizer::from_gguf(&g)?;
        let mut report = |done: u64, total: u64| {
            let _ = progress.call2(&JsValue::NULL, &(done as f64).into(), &(total as f64).into());
        };
        // `auto`: a hardware WebGPU adapter that can hold the model, else the CPU backend (the
        // engine's name says which runs and why).
        let backend = Backend::parse(backend)?;
        let adapter_name = adapter.as_ref().map(|a| a.name.clone().unwrap_or_else(|| "unnamed".into()));
        let engine = lora::load(backend, src, &g, adapter, ctx, &mut report).await?;
        let ctx = ctx.min(engine.config().ctx_len);
        let mut info = model_info(engine.config());
        info["adapter"] = adapter_name.into();
        let name = engine.name();
        let vocab = Arc::new(Vocab::new(&tok));
        info["backend"] = name.clone().into();
        info["ctx"] = ctx.into();
        info["seconds"] = (now() - t0).into();
        *self.device.borrow_mut() = match &engine {
            AnyEngine::Gpu(g) => Some(g.device().dev.clone()),
            AnyEngine::Cpu(_) => None,
        };
        *self.model.borrow_mut() = Some(Model { tok: Rc::new(tok), engine, vocab, ctx, backend: name, info: info.clone() });
        Ok(info)
    }

    async fn run(&self, doc: web_sys::Document, goal: &JsValue, opts: &JsValue, on_event: Function) -> Result<Value> {
        let _busy = Busy::take(&self.busy)?;
        let goal = self.pick_goal(goal)?;
        let store = self.store()?;
        let env = Env::in_document(store.clone(), goal.clone(), doc)?;
        let (shop, ep, info) = self.episode(Tap::new(env), &from_js(opts)?, on_event).await?;
        let stopped = self.stop.replace(false);
        let env = &shop.inner;
        let scored = !goal.asin.is_empty();
        let (reward_info, purchased) = match env.view() {
            View::Done { asin, options, info, .. } => {
                let title = store.product(asin).map(|p| p.title.clone()).unwrap_or_default();
                (if scored { info.to_json() } else { Value::Null }, json!({"asin": asin, "title": title, "options": options}))
            }
            _ => (Value::Null, Value::Null),
        };
        Ok(json!({
            "episode": serde_json::to_value(&ep).unwrap_or(Value::Null),
            "goal": goal_json(None, &goal),
            "reward": if scored { Value::from(ep.reward) } else { Value::Null },
            "scored": scored,
            "reward_info": reward_info,
            "purchased": purchased,
            "stopped": stopped,
            "error": ep.error,
            "model": info,
        }))
    }

    async fn run_live(&self, task: &str, page: &JsValue, opts: &JsValue, perform: Function, confirm: Function, on_event: Function) -> Result<Value> {
        let _busy = Busy::take(&self.busy)?;
        if task.trim().is_empty() {
            return Err(Error::usage("say what to buy"));
        }
        let live = LivePage::new(task.trim(), &from_js(page)?, perform, confirm)?;
        let (shop, ep, info) = self.episode(Tap::new(live), &from_js(opts)?, on_event).await?;
        let stopped = self.stop.replace(false);
        let live = shop.inner;
        Ok(json!({
            "episode": serde_json::to_value(&ep).unwrap_or(Value::Null),
            "purchased": live.purchased,
            "declined": live.declined,
            "stopped": stopped,
            "url": live.url,
            "error": ep.error.or(live.error),
            "model": info,
        }))
    }

    /// One episode of the loaded model on `shop`, with `opts` as in [`Demo::run`]; gives the shop,
    /// the episode and the model's description back.
    async fn episode<S: Shop>(&self, mut shop: Tap<S>, o: &Value, on_event: Function) -> Result<(Tap<S>, crate::agent::Episode, Value)> {
        let num = |k: &str, d: u64| o.get(k).and_then(Value::as_u64).unwrap_or(d);
        let mode = Mode::parse(o.get("mode").and_then(Value::as_str).unwrap_or("mem1"))
            .ok_or_else(|| Error::usage("mode is mem1 or full"))?;
        let max_turns = num("maxTurns", 10).max(1) as usize;
        let max_tokens = num("maxTokens", 224) as usize;
        let d = Limits::default();
        // A small turn budget shrinks the forced memory and action budgets with it (the action is
        // still completed to a valid one when its budget runs out).
        let limits = Limits {
            max_tokens,
            memory_tokens: num("memoryTokens", d.memory_tokens.min(max_tokens) as u64) as usize,
            action_tokens: num("actionTokens", d.action_tokens.min(max_tokens) as u64) as usize,
        };
        let constrain = o.get("constrain").and_then(Value::as_bool).unwrap_or(true);
        let model = self.model.borrow_mut().take().ok_or_else(|| Error::usage("load a model first"))?;
        self.stop.set(false);
        let Model { tok, engine, vocab, ctx, backend, info } = model;
        let events = Rc::new(on_event);
        let engine = Watched { inner: engine, stop: self.stop.clone(), events: events.clone(), turn: 0, tokens: 0, t0: None };
        let mut policy = LlmPolicy::new(engine, &tok, vocab.clone(), Protocol::webshop(), ctx);
        policy.constrain = constrain;
        policy.limits = limits;
        policy.params = SamplerParams::greedy();
        policy.seed(num("seed", 0));
        let mut policy = Announced { inner: policy, events: events.clone() };
        let seen = shop.seen.clone();
        let cfg = EpisodeConfig { protocol: Protocol::webshop(), mode, max_turns, trace_prompts: false, trace_ids: false };
        let result = run_episode_with(&mut policy, &tok, &mut shop, &cfg, |t| {
            let (page, obs) = seen.borrow().clone().unwrap_or_default();
            let tps = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
            call(
                &events,
                &json!({
                    "type": "turn", "turn": t.turn, "action": t.action, "valid": t.valid,
                    "invalid_reason": t.invalid_reason, "summary": t.memory, "output": t.output,
                    "page": page, "observation": obs.text,
                    "prompt_tokens": t.prompt_tokens, "context_tokens": t.context_tokens,
                    "prefill_tokens": t.prefill_tokens, "decode_tokens": t.decode_tokens,
                    "prefill_tok_s": tps(t.prefill_tokens, t.prefill_seconds),
                    "decode_tok_s": tps(t.decode_tokens, t.decode_seconds),
                    "seconds": t.seconds, "problems": t.problems, "reward": t.reward,
                }),
            );
        })
        .await;
        let engine = policy.inner.engine.inner;
        // A model whose GPU device was lost is dropped (its buffers with it): `hasModel` turns
        // false and the next run loads it again, on a new device, in the same page.
        if engine.is_lost() {
            self.device.borrow_mut().take();
        } else {
            *self.model.borrow_mut() = Some(Model { tok: tok.clone(), engine, vocab, ctx, backend, info: info.clone() });
        }
        Ok((shop, result?, info))
    }
}

/// Wraps a shop and records the page kind and observation each action was taken on (the turn
/// report shows them).
struct Tap<S> {
    inner: S,
    seen: Rc<RefCell<Option<(String, Observation)>>>,
}

impl<S> Tap<S> {
    fn new(inner: S) -> Tap<S> {
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
    fn reward(&self) -> f64 {
        self.inner.reward()
    }
    fn is_done(&self) -> bool {
        self.inner.is_done()
    }
    fn page(&self) -> String {
        self.inner.page()
    }
}

/// A page in the shopper's tab (the extension): seen through snapshots its content script takes
/// (HTML with each element's layout and id, see [`crate::observe::LAYOUT_ATTR`]), acted on through
/// JavaScript. `perform({kind: "click", node} | {kind: "search", node, text})` carries an action
/// out and resolves to the next snapshot `{html, url}`; `confirm({action, target, url})` asks the
/// shopper before a purchase-like click and resolves to a boolean.
///
/// The rules ([`guard`]): only the page's own clickables and search box are acted on; a link or
/// form that leads to another origin is refused; a purchase waits for a yes (a no ends the
/// episode); a page that ends up on another origin ends the episode.
struct LivePage {
    task: String,
    obs: Observation,
    url: String,
    /// Where the episode started; it never acts anywhere else.
    origin: Option<String>,
    perform: Function,
    confirm: Function,
    purchased: bool,
    declined: bool,
    error: Option<String>,
}

impl LivePage {
    fn new(task: &str, page: &Value, perform: Function, confirm: Function) -> Result<LivePage> {
        let (obs, url) = Self::read(page)?;
        let origin = guard::origin(&url);
        Ok(LivePage { task: task.to_string(), obs, url, origin, perform, confirm, purchased: false, declined: false, error: None })
    }

    /// A snapshot `{html, url}` → its observation (within [`LIVE_BUDGET`]) and URL.
    fn read(page: &Value) -> Result<(Observation, String)> {
        let html = page.get("html").and_then(Value::as_str).ok_or_else(|| Error::usage("page snapshot without html"))?;
        let url = page.get("url").and_then(Value::as_str).unwrap_or_default().to_string();
        Ok((crate::observe::web::observe_snapshot(html)?.clip(LIVE_BUDGET), url))
    }

    /// Calls a JavaScript callback that answers with a promise (or a plain value).
    async fn ask(f: &Function, arg: &Value) -> Result<JsValue> {
        let v = f.call1(&JsValue::NULL, &to_js(arg)).map_err(|e| Error::usage(format!("the page callback failed: {}", js_text(&e))))?;
        JsFuture::from(Promise::resolve(&v)).await.map_err(|e| Error::usage(js_text(&e)))
    }

    async fn try_act(&mut self, action: &str) -> Result<StepResult> {
        let (cmd, purchase) = match command(guard::check(&self.obs, &self.url, action)) {
            Err(why) => return Ok(StepResult { reward: 0.0, done: false, valid: false, reason: Some(why) }),
            Ok(c) => c,
        };
        if purchase {
            let ok = Self::ask(&self.confirm, &json!({"action": action, "target": cmd["key"], "url": self.url})).await?;
            if ok.as_bool() != Some(true) {
                self.declined = true;
                return Ok(StepResult { reward: 0.0, done: true, valid: false, reason: Some("the shopper declined the purchase".into()) });
            }
        }
        let next = Self::ask(&self.perform, &cmd).await?;
        let (obs, url) = Self::read(&from_js(&next)?)?;
        self.obs = obs;
        self.url = url;
        if guard::origin(&self.url) != self.origin {
            let why = format!("the page left the site for {}; the agent stopped there", self.url);
            self.error = Some(why.clone());
            return Ok(StepResult { reward: 0.0, done: true, valid: false, reason: Some(why) });
        }
        self.purchased |= purchase;
        Ok(StepResult { reward: 0.0, done: purchase, valid: true, reason: None })
    }
}

impl Shop for LivePage {
    fn instruction(&self) -> String {
        self.task.clone()
    }
    fn observation(&self) -> Observation {
        self.obs.clone()
    }
    async fn act(&mut self, action: &str) -> StepResult {
        match self.try_act(action).await {
            Ok(r) => r,
            Err(e) => {
                // The tab is gone, the page did not answer: the episode ends, saying why.
                self.error = Some(e.to_string());
                StepResult { reward: 0.0, done: true, valid: false, reason: Some(e.to_string()) }
            }
        }
    }
    fn reward(&self) -> f64 {
        0.0
    }
    /// Bought, declined, or stopped by an error (off the site, the tab gone).
    fn is_done(&self) -> bool {
        self.purchased || self.declined || self.error.is_some()
    }
    fn page(&self) -> String {
        self.url.clone()
    }
}

/// The content script's command for a verdict, and whether it is a purchase; or why it is refused.
/// A click carries the label and destination the agent saw: the content script clicks only if
/// the element still says `key` and leads to `target`.
fn command(v: Verdict) -> std::result::Result<(Value, bool), String> {
    match v {
        Verdict::Refused(why) => Err(why),
        Verdict::Search { node, text } => Ok((json!({"kind": "search", "node": node, "text": text}), false)),
        Verdict::Click { node, key, target, purchase } => Ok((json!({"kind": "click", "node": node, "key": key, "target": target}), purchase)),
    }
}

/// A JavaScript exception's message.
fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

/// Tells JavaScript when a turn starts.
struct Announced<'t> {
    inner: LlmPolicy<'t, Watched>,
    events: Rc<Function>,
}

impl Policy for Announced<'_> {
    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply> {
        self.inner.engine.start_turn(req.turn);
        call(&self.events, &json!({"type": "turn_start", "turn": req.turn, "prompt_tokens": req.context.len(), "actions": req.actions}));
        self.inner.act(req).await
    }
    fn kv_bytes_per_token(&self) -> usize {
        self.inner.kv_bytes_per_token()
    }
    fn kv_capacity(&self) -> usize {
        self.inner.kv_capacity()
    }
}

/// Prompt tokens per prefill call in the browser (see [`Watched`]'s `prefill`).
const PREFILL_PIECE: usize = 32;

/// An engine that reports each generated token to JavaScript (count, tokens/s this turn) and
/// stops when asked.
struct Watched {
    inner: AnyEngine,
    stop: Rc<Cell<bool>>,
    events: Rc<Function>,
    turn: usize,
    tokens: usize,
    /// When this turn's first generated token was asked for (after the prompt's prefill).
    t0: Option<f64>,
}

impl Watched {
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
        call(&self.events, &json!({"type": "token", "turn": self.turn, "tokens": self.tokens, "tok_s": tok_s}));
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
        // A long prompt in pieces, each waited for (a logits read-back) so the page can show real
        // progress and a visitor's Stop takes effect between pieces; the KV cache ends the same.
        let mut done = 0;
        for piece in tokens.chunks(PREFILL_PIECE) {
            self.check()?;
            self.inner.prefill(piece).await?;
            self.inner.logits().await?;
            done += piece.len();
            call(&self.events, &json!({"type": "prefill", "turn": self.turn, "done": done, "tokens": tokens.len()}));
        }
        if self.tokens == 0 {
            self.t0 = Some(now());
        }
        Ok(())
    }
    async fn logits(&mut self) -> Result<Vec<f32>> {
        self.inner.logits().await
    }
    async fn sample(&mut self, p: &SamplerParams, u: f32) -> Result<u32> {
        self.inner.sample(p, u).await
    }
    async fn decode(&mut self, token: u32, p: &SamplerParams, u: f32) -> Result<u32> {
        self.check()?;
        let t = self.inner.decode(token, p, u).await?;
        self.generated();
        Ok(t)
    }
}

/// SHA-256 over a stream of chunks (a model download is verified as it is written, never held
/// whole in memory).
#[wasm_bindgen]
pub struct Sha256(sha2::Sha256);

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        use sha2::Digest;
        Sha256(sha2::Sha256::new())
    }
    pub fn update(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        self.0.update(chunk);
    }
    /// The digest as lowercase hex; the hasher starts over.
    pub fn hex(&mut self) -> String {
        use sha2::Digest;
        self.0.finalize_reset().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}
