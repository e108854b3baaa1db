//! [`Demo`]: the agent as the pages hold it. At most one loaded model; for the demo the store
//! over the shipped catalog rendered into a live document, and every goal WebShop's templates
//! make for it (the extension's agent, [`Demo::for_live_pages`], has no store: it shops on the
//! shopper's page, see [`super::live`]).
use super::remote::Fetch;
use super::report::{Announced, ServedTurns, Tap, TurnEvent, Watched};
use super::{call, from_js, js_err, to_js, Busy};
use crate::agent::remote::{self, Endpoint, RemotePolicy, ServerKind};
use crate::agent::{run_episode_with, Episode, EpisodeConfig, Limits, LlmPolicy, Mode, Protocol, Shop, Vocab};
use crate::engine::{now, Engine};
use crate::gguf::{self, ByteSource};
use crate::loader::{AnyEngine, Backend};
use crate::lora::{self, Adapter};
use crate::sample::SamplerParams;
use crate::shop::goal::{generate_goals, sample_weighted, Rng};
use crate::shop::task::MAX_ITEMS;
use crate::shop::{Env, Goal, Store, Task, View};
use crate::tokenizer::Tokenizer;
use crate::web::{BlobSource, HttpSource};
use crate::{Error, Result};
use js_sys::{Function, Promise};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

type JsResult = std::result::Result<JsValue, JsValue>;

/// What a loaded model is, as `loadModel*` resolve and every episode's result repeats.
#[derive(Serialize, Clone)]
pub struct ModelInfo {
    pub arch: String,
    pub layers: usize,
    pub ctx_len: usize,
    pub vocab: usize,
    pub d_model: usize,
    /// The LoRA adapter's name (`general.name`), if one was merged.
    pub adapter: Option<String>,
    /// Which backend runs and why (the engine's name).
    pub backend: String,
    /// The KV cache's size in tokens.
    pub ctx: usize,
    pub seconds: f64,
}

/// A policy served by an OpenAI-compatible server: where, and a local tokenizer that counts the
/// trace's tokens where the server reports none (a streamed reply of llama-cpp-python's).
#[derive(Clone)]
pub(crate) struct Served {
    endpoint: Endpoint,
    tok: Rc<Tokenizer>,
    info: ModelInfo,
}

/// Which server to use, as `useRemote` takes it: `{url, model, key, kind}` (model: the first it
/// serves when absent; kind: auto when absent).
#[derive(Deserialize, Default)]
struct RemoteSpec {
    url: String,
    model: Option<String>,
    key: Option<String>,
    kind: Option<String>,
}

/// A loaded model: tokenizer, engine and the vocabulary's bytes (for constrained actions).
pub(crate) struct Model {
    tok: Rc<Tokenizer>,
    engine: AnyEngine,
    vocab: Arc<Vocab>,
    ctx: usize,
    info: ModelInfo,
}

pub(crate) struct Inner {
    /// The built-in store (the demo); `None` for an agent that shops on live pages only.
    store: Option<Arc<Store>>,
    goals: Vec<Goal>,
    model: RefCell<Option<Model>>,
    /// A served policy in its place ([`Demo::use_remote`]).
    remote: RefCell<Option<Served>>,
    /// The loaded model's GPU device (a handle that stays here while an episode holds the model).
    device: RefCell<Option<wgpu::Device>>,
    pub(crate) stop: Rc<Cell<bool>>,
    pub(crate) busy: Cell<bool>,
}

#[wasm_bindgen]
pub struct Demo {
    pub(crate) inner: Rc<Inner>,
}

/// Which goal to run: `{index}` (a template goal), `{indices}` (a shopping list of template
/// goals) or `{text}` (typed; no target product).
#[derive(Deserialize, Default)]
struct GoalSpec {
    index: Option<usize>,
    indices: Option<Vec<usize>>,
    text: Option<String>,
}

/// An episode's settings, as `mem1 run`'s flags: `{mode: "mem1"|"full", maxTurns, maxTokens,
/// memoryTokens, actionTokens, constrain, speculate, seed}` (`speculate: false` is
/// `--no-speculate`); the memory and action budgets default to
/// min(their default, maxTokens). On live pages also `{autoConfirm, demoStore}`: buy without
/// asking, on the demo store at that origin only ([`crate::agent::guard::is_demo_store`]).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RunOptions {
    mode: Option<String>,
    pub(crate) max_turns: Option<usize>,
    max_tokens: Option<usize>,
    memory_tokens: Option<usize>,
    action_tokens: Option<usize>,
    constrain: Option<bool>,
    speculate: Option<bool>,
    seed: Option<u64>,
    pub(crate) auto_confirm: bool,
    pub(crate) demo_store: Option<String>,
}

/// A goal as the page shows it: the store's goal fields, its `index` among the template goals
/// (none when typed) and whether a purchase is `scored` (a typed goal has no target product).
#[derive(Serialize)]
struct GoalView {
    #[serde(flatten)]
    goal: Value,
    index: Option<usize>,
    scored: bool,
}

fn goal_view(index: Option<usize>, g: &Goal) -> GoalView {
    GoalView { goal: g.to_json(), index, scored: !g.asin.is_empty() }
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

/// What was bought on the store's done page (or one item of a checked-out cart).
#[derive(Serialize)]
struct Purchase<'a> {
    asin: &'a str,
    title: String,
    options: &'a [(String, String)],
}

impl<'a> Purchase<'a> {
    fn of(store: &Store, asin: &'a str, options: &'a [(String, String)]) -> Purchase<'a> {
        Purchase { asin, title: store.product(asin).map(|p| p.title.clone()).unwrap_or_default(), options }
    }
}

/// A shopping list as the page shows it: its instruction, its goals and their `indices`.
#[derive(Serialize)]
struct ListView {
    instruction_text: String,
    indices: Vec<usize>,
    items: Vec<Value>,
    scored: bool,
}

/// An episode on the store, as `run` resolves it.
#[derive(Serialize)]
struct StoreResult<'a> {
    episode: &'a Episode,
    goal: GoalView,
    /// `None` when the goal is typed (nothing to score against).
    reward: Option<f64>,
    scored: bool,
    reward_info: Option<Value>,
    purchased: Option<Purchase<'a>>,
    /// A shopping list's checked-out cart, and each item's reward (`episode.item_rewards`).
    cart: Option<Vec<Purchase<'a>>>,
    stopped: bool,
    error: Option<&'a str>,
    model: &'a ModelInfo,
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
        let inner = Inner {
            store,
            goals,
            model: RefCell::new(None),
            remote: RefCell::new(None),
            device: RefCell::new(None),
            stop: Rc::new(Cell::new(false)),
            busy: Cell::new(false),
        };
        Demo { inner: Rc::new(inner) }
    }

    #[wasm_bindgen(js_name = goalCount)]
    pub fn goal_count(&self) -> usize {
        self.inner.goals.len()
    }

    /// A goal drawn as `mem1 run --sample` draws them (weighted by WebShop's attribute weights);
    /// `null` without a store.
    #[wasm_bindgen(js_name = randomGoal)]
    pub fn random_goal(&self, seed: f64) -> JsResult {
        if self.inner.goals.is_empty() {
            return Ok(JsValue::NULL);
        }
        let i = sample_weighted(&self.inner.goals, &mut Rng::new(seed as u64));
        to_js(&goal_view(Some(i), &self.inner.goals[i]))
    }

    /// A shopping list of `items` goals drawn as [`Demo::random_goal`] draws one (distinct
    /// products): `{instruction_text, indices, items, scored}`; `null` without a store.
    #[wasm_bindgen(js_name = randomList)]
    pub fn random_list(&self, seed: f64, items: usize) -> JsResult {
        if self.inner.goals.is_empty() {
            return Ok(JsValue::NULL);
        }
        if !(2..=MAX_ITEMS).contains(&items) {
            return Err(js_err(format!("a shopping list has 2 to {MAX_ITEMS} items, not {items}")));
        }
        let mut rng = Rng::new(seed as u64);
        let mut indices: Vec<usize> = Vec::with_capacity(items);
        // Distinct products: a list that asks twice for one product reads as a mistake.
        for _ in 0..items * 20 {
            let i = sample_weighted(&self.inner.goals, &mut rng);
            if !indices.iter().any(|&j| self.inner.goals[j].asin == self.inner.goals[i].asin) {
                indices.push(i);
            }
            if indices.len() == items {
                break;
            }
        }
        self.list(indices)
    }

    /// The shopping list of goals `indices` (as `randomList` gives them).
    pub fn list(&self, indices: Vec<usize>) -> JsResult {
        let task = self.inner.list_task(&indices).map_err(js_err)?;
        let items = indices.iter().zip(&task.goals).map(|(&i, g)| serde_json::to_value(goal_view(Some(i), g)).unwrap_or_default()).collect();
        to_js(&ListView { instruction_text: task.instruction_text, indices, items, scored: true })
    }

    /// Goal `index` (as in `randomGoal`), or an error when out of range.
    pub fn goal(&self, index: usize) -> JsResult {
        let g = self.inner.template_goal(index).map_err(js_err)?;
        to_js(&goal_view(Some(index), g))
    }

    /// Shows the goal's start page (the search page) in `doc` without running anything:
    /// `{observation, actions}`.
    #[wasm_bindgen(js_name = showStart)]
    pub fn show_start(&self, doc: web_sys::Document, goal: JsValue) -> JsResult {
        let g = self.inner.pick_goal(&goal).map_err(js_err)?;
        let env = Env::in_document(self.inner.store().map_err(js_err)?.clone(), g, doc).map_err(js_err)?;
        let obs = env.observe();
        to_js(&serde_json::json!({"observation": obs.text, "actions": obs.available_actions()}))
    }

    /// Loads a GGUF from a `Blob` (a downloaded or cached file, or a picked one). `backend` is
    /// `auto` (a hardware WebGPU adapter that can hold the model, else the CPU backend, also on
    /// CPU-emulated adapters such as SwiftShader), or any name [`Backend::parse`] knows (`gpu`,
    /// `cpu`). `ctx` is the KV-cache size in tokens (clamped to the model's). `progress(done,
    /// total)` is called as tensors are loaded. `adapter`, if given, is a LoRA adapter GGUF merged
    /// into the weights as they load ([`crate::lora`]). Resolves to a [`ModelInfo`].
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
            to_js(&r.await.map_err(js_err)?)
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
            to_js(&r.await.map_err(js_err)?)
        })
    }

    /// Runs one episode, rendering every page into `doc`.
    ///
    /// `goal`: `{index}` (a template goal) or `{text}` (typed; its purchase is not scored).
    /// `opts`: `{mode: "mem1"|"full", maxTurns, maxTokens, memoryTokens, actionTokens, constrain, seed}`.
    /// `on_event` gets each [`super::report::Event`]: `{type: "turn_start", turn, prompt_tokens,
    /// actions}`, `{type: "prefill", turn, done, tokens}`, `{type: "token", turn, tokens, tok_s}`
    /// and `{type: "turn", ...}` ([`TurnEvent`]). Resolves to `{episode, goal, reward, scored,
    /// reward_info, purchased, stopped, error, model}`.
    pub fn run(&self, doc: web_sys::Document, goal: JsValue, opts: JsValue, on_event: Function) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.run(doc, &goal, &opts, on_event).await.map_err(js_err)? })
    }

    /// Asks a running episode to stop (at the next generated token).
    pub fn stop(&self) {
        self.inner.stop.set(true);
    }

    /// Plays with a policy served by an OpenAI-compatible server instead of a loaded model:
    /// `spec` is `{url, model, key, kind}` (url: the server's OpenAI-compatible base, e.g.
    /// `http://127.0.0.1:8080/v1`; kind: `llamacpp`, `vllm`, `ollama`, `openai`, or detected),
    /// `tokenizer` a GGUF (a `Blob`, or the URL of one served with HTTP Range: only its header is
    /// read) whose tokenizer counts the trace's tokens when the server does not.
    /// Asks the server for its models first: an unreachable server, a refused key or a missing
    /// model is a clear error. Resolves to a [`ModelInfo`] (its backend says which server and how
    /// actions are constrained). The key is kept in this object only, never in what it returns.
    #[wasm_bindgen(js_name = useRemote)]
    pub fn use_remote(&self, spec: JsValue, tokenizer: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let r = async {
                let _busy = Busy::take(&inner.busy)?;
                let t0 = now();
                let spec: RemoteSpec = from_js(&spec, "the server")?;
                let kind = match spec.kind.as_deref().filter(|k| !k.is_empty() && *k != "auto") {
                    None => None,
                    Some(k) => Some(ServerKind::parse(k).ok_or_else(|| Error::usage(format!("unknown kind of server '{k}'")))?),
                };
                let mut fetch = Fetch { timeout_ms: 30_000 };
                let key = spec.key.as_deref().filter(|k| !k.is_empty());
                let endpoint = remote::connect(&mut fetch, &spec.url, spec.model.as_deref().filter(|m| !m.is_empty()), key, kind).await?;
                let g = match tokenizer.as_string() {
                    Some(url) => gguf::read_header(&mut HttpSource::open(&url).await?).await?,
                    None => gguf::read_header(&mut BlobSource::new(tokenizer.dyn_into().map_err(|_| Error::usage("the tokenizer is neither a Blob nor a URL"))?)).await?,
                };
                let tok = Tokenizer::from_gguf(&g)?;
                let constraint = RemotePolicy::new(fetch, endpoint.clone(), Protocol::webshop()).constraint();
                let info = ModelInfo {
                    arch: "served".into(),
                    layers: 0,
                    ctx_len: 0,
                    vocab: tok.vocab_size(),
                    d_model: 0,
                    adapter: None,
                    backend: format!("served {:?} at {} ({}, constraint {})", endpoint.model, endpoint.base, endpoint.kind.name(), constraint.name()),
                    ctx: 0,
                    seconds: now() - t0,
                };
                // The local model's memory is given back: one policy at a time.
                inner.model.borrow_mut().take();
                inner.device.borrow_mut().take();
                *inner.remote.borrow_mut() = Some(Served { endpoint, tok: Rc::new(tok), info: info.clone() });
                Ok::<_, Error>(info)
            };
            to_js(&r.await.map_err(js_err)?)
        })
    }

    /// Whether a model is loaded (or a served policy chosen).
    #[wasm_bindgen(js_name = hasModel)]
    pub fn has_model(&self) -> bool {
        self.inner.model.borrow().is_some() || self.inner.remote.borrow().is_some()
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

impl Inner {
    fn store(&self) -> Result<&Arc<Store>> {
        self.store.as_ref().ok_or_else(|| Error::usage("this agent has no built-in store (it shops on live pages)"))
    }

    fn pick_goal(&self, goal: &JsValue) -> Result<Task> {
        let spec: GoalSpec = from_js(goal, "goal")?;
        if let Some(t) = spec.text {
            if t.trim().is_empty() {
                return Err(Error::usage("the typed goal is empty"));
            }
            return Ok(typed_goal(&t).into());
        }
        if let Some(indices) = spec.indices {
            return self.list_task(&indices);
        }
        let i = spec.index.ok_or_else(|| Error::usage("goal: give {index}, {indices} or {text}"))?;
        self.template_goal(i).map(|g| Task::from(g.clone()))
    }

    fn list_task(&self, indices: &[usize]) -> Result<Task> {
        let goals = indices.iter().map(|&i| self.template_goal(i).cloned()).collect::<Result<Vec<Goal>>>()?;
        Task::list(goals)
    }

    /// Template goal `i`, or an error when out of range.
    fn template_goal(&self, i: usize) -> Result<&Goal> {
        self.goals.get(i).ok_or_else(|| Error::usage(format!("no goal {i} (0..{})", self.goals.len())))
    }

    async fn load<S: ByteSource>(&self, src: &mut S, backend: &str, ctx: usize, progress: Function, adapter: Option<Adapter>) -> Result<ModelInfo> {
        let _busy = Busy::take(&self.busy)?;
        let t0 = now();
        // Free the old model's GPU buffers before allocating the new one's.
        self.model.borrow_mut().take();
        self.remote.borrow_mut().take();
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
        let c = engine.config();
        let ctx = ctx.min(c.ctx_len);
        let info = ModelInfo {
            arch: format!("{:?}", c.arch),
            layers: c.n_layers,
            ctx_len: c.ctx_len,
            vocab: c.vocab,
            d_model: c.d_model,
            adapter: adapter_name,
            backend: engine.name(),
            ctx,
            seconds: now() - t0,
        };
        *self.device.borrow_mut() = match &engine {
            AnyEngine::Gpu(g) => Some(g.device().dev.clone()),
            AnyEngine::Cpu(_) => None,
        };
        let vocab = Arc::new(Vocab::new(&tok));
        *self.model.borrow_mut() = Some(Model { tok: Rc::new(tok), engine, vocab, ctx, info: info.clone() });
        Ok(info)
    }

    async fn run(&self, doc: web_sys::Document, goal: &JsValue, opts: &JsValue, on_event: Function) -> Result<JsResult> {
        let _busy = Busy::take(&self.busy)?;
        let task = self.pick_goal(goal)?;
        let store = self.store()?;
        let env = Env::in_document(store.clone(), task.clone(), doc)?;
        let (shop, ep, info) = self.episode(Tap::new(env), &from_js(opts, "options")?, on_event).await?;
        let stopped = self.stop.replace(false);
        let scored = task.goals.iter().all(|g| !g.asin.is_empty());
        let (reward_info, purchased, cart) = match shop.inner.view() {
            View::Done { asin, options, info, .. } => (scored.then(|| info.to_json()), Some(Purchase::of(store, asin, options)), None),
            View::Receipt { items, .. } => (None, None, Some(items.iter().map(|c| Purchase::of(store, &c.asin, &c.options)).collect())),
            _ => (None, None, None),
        };
        Ok(to_js(&StoreResult {
            episode: &ep,
            goal: goal_view(None, &task.goals[0]),
            cart,
            reward: scored.then_some(ep.reward),
            scored,
            reward_info,
            purchased,
            stopped,
            error: ep.error.as_deref(),
            model: &info,
        }))
    }

    /// One episode of the loaded model on `shop`, with `o` as in [`Demo::run`]; gives the shop,
    /// the episode and the model's description back.
    pub(crate) async fn episode<S: Shop>(&self, mut shop: Tap<S>, o: &RunOptions, on_event: Function) -> Result<(Tap<S>, Episode, ModelInfo)> {
        let mode = Mode::parse(o.mode.as_deref().unwrap_or("mem1")).ok_or_else(|| Error::usage("mode is mem1 or full"))?;
        let max_turns = o.max_turns.unwrap_or(10).max(1);
        let max_tokens = o.max_tokens.unwrap_or(224);
        let d = Limits::default();
        // A small turn budget shrinks the forced memory and action budgets with it (the action is
        // still completed to a valid one when its budget runs out).
        let limits = Limits {
            max_tokens,
            memory_tokens: o.memory_tokens.unwrap_or(d.memory_tokens.min(max_tokens)),
            action_tokens: o.action_tokens.unwrap_or(d.action_tokens.min(max_tokens)),
        };
        let served = self.remote.borrow().clone();
        if let Some(served) = served {
            return self.served_episode(shop, o, on_event, served, mode, max_turns, limits).await;
        }
        let model = self.model.borrow_mut().take().ok_or_else(|| Error::usage("load a model first"))?;
        self.stop.set(false);
        let Model { tok, engine, vocab, ctx, info } = model;
        let events = Rc::new(on_event);
        let engine = Watched::new(engine, self.stop.clone(), events.clone());
        let mut policy = LlmPolicy::new(engine, &tok, vocab.clone(), Protocol::webshop(), ctx);
        policy.constrain = o.constrain.unwrap_or(true);
        policy.speculate = o.speculate.unwrap_or(true);
        policy.limits = limits;
        policy.params = SamplerParams::greedy();
        policy.seed(o.seed.unwrap_or(0));
        let mut policy = Announced { inner: policy, events: events.clone() };
        let seen = shop.seen.clone();
        let cfg = EpisodeConfig { protocol: Protocol::webshop(), mode, max_turns, trace_prompts: false, trace_ids: false };
        let result = run_episode_with(&mut policy, &tok, &mut shop, &cfg, |t| {
            call(&events, &super::report::Event::Turn(TurnEvent::new(t, seen.borrow().clone())));
        })
        .await;
        let engine = policy.inner.engine.inner;
        // A model whose GPU device was lost is dropped (its buffers with it): `hasModel` turns
        // false and the next run loads it again, on a new device, in the same page.
        if engine.is_lost() {
            self.device.borrow_mut().take();
        } else {
            *self.model.borrow_mut() = Some(Model { tok: tok.clone(), engine, vocab, ctx, info: info.clone() });
        }
        Ok((shop, result?, info))
    }

    /// One episode of a served policy: as [`Inner::episode`], each turn one streamed chat
    /// completion, its tokens reported as they arrive.
    #[allow(clippy::too_many_arguments)]
    async fn served_episode<S: Shop>(
        &self,
        mut shop: Tap<S>,
        o: &RunOptions,
        on_event: Function,
        served: Served,
        mode: Mode,
        max_turns: usize,
        limits: Limits,
    ) -> Result<(Tap<S>, Episode, ModelInfo)> {
        self.stop.set(false);
        let events = Rc::new(on_event);
        let mut policy = RemotePolicy::new(Fetch { timeout_ms: 120_000 }, served.endpoint.clone(), Protocol::webshop());
        policy.constrain = o.constrain.unwrap_or(true);
        policy.max_tokens = limits.max_tokens + limits.memory_tokens + limits.action_tokens;
        policy.seed = o.seed.unwrap_or(0);
        policy.stream = true;
        let mut policy = ServedTurns::new(policy, events.clone(), self.stop.clone());
        let seen = shop.seen.clone();
        let cfg = EpisodeConfig { protocol: Protocol::webshop(), mode, max_turns, trace_prompts: false, trace_ids: false };
        let result = run_episode_with(&mut policy, &served.tok, &mut shop, &cfg, |t| {
            call(&events, &super::report::Event::Turn(TurnEvent::new(t, seen.borrow().clone())));
        })
        .await;
        Ok((shop, result?, served.info))
    }
}
