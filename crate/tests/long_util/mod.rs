//! Shared by the long-run tests, native (`long_run.rs`) and in the browser (`web_long_run.rs`):
//! a small random model of the llama architecture over a byte-level tokenizer (every byte a
//! token, so each turn's context is a couple of thousand tokens) in the real agent loop
//! (constant-memory context, KV-cache prefix reuse, constrained actions) on the built-in store,
//! purchases refused so the episode lasts all its turns; a counting allocator for the heap.
#![allow(dead_code)]
use mem1::agent::guard::is_purchase;
use mem1::agent::{run_episode_with, EpisodeConfig, Limits, LlmPolicy, Mode, Protocol, Shop, Vocab};
use mem1::engine::{now, Engine};
use mem1::observe::Observation;
use mem1::quant::GgmlType;
use mem1::shop::goal::{dev_goals, Goal};
use mem1::shop::{Env, StepResult, Store};
use mem1::synthetic::{synthetic_gguf, Shape};
use mem1::tokenizer::Tokenizer;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

/// The system allocator, counting live bytes.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}
#[global_allocator]
static A: Counting = Counting;

/// Live heap bytes.
pub fn heap() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The store, with every purchase refused (so the episode never ends early).
struct NoBuy(Env);

impl Shop for NoBuy {
    fn instruction(&self) -> String {
        self.0.instruction()
    }
    fn observation(&self) -> Observation {
        self.0.observation()
    }
    async fn act(&mut self, action: &str) -> StepResult {
        // In a browser, let the page's event loop run between turns (the test runner's driver
        // gives up on a page that does not answer for minutes).
        #[cfg(target_arch = "wasm32")]
        mem1::web::pause(0).await;
        if action.strip_prefix("click[").is_some_and(is_purchase) {
            return StepResult { reward: 0.0, done: false, valid: false, reason: Some("no purchases in this test".into()) };
        }
        self.0.act(action).await
    }
    fn items(&self) -> usize {
        self.0.items()
    }
    fn reward(&self) -> f64 {
        self.0.reward()
    }
    fn item_rewards(&self) -> Vec<f64> {
        self.0.item_rewards()
    }
    fn is_done(&self) -> bool {
        self.0.is_done()
    }
    fn page(&self) -> String {
        self.0.page()
    }
}

/// What a test measures after a turn, besides the heap: GPU buffers and their bytes, and the
/// process's memory (RSS natively, the wasm memory in a browser).
#[derive(Clone, Copy, Default)]
pub struct Probe {
    pub buffers: i64,
    pub buffer_bytes: i64,
    pub memory: i64,
}

/// One turn's figures.
#[derive(Clone, Copy)]
pub struct Row {
    pub turn: usize,
    pub probe: Probe,
    pub heap: isize,
    pub context_tokens: usize,
    /// The turn's seconds: all of it, and in prefill and decode.
    pub seconds: [f64; 3],
}

pub const CTX: usize = 8192;

pub fn tiny_model(tok: &Tokenizer) -> Vec<u8> {
    let shape = Shape { arch: "llama", layers: 1, d: 32, heads: 2, kv: 1, ff: 64, vocab: tok.vocab_size(), tied: true };
    synthetic_gguf(&shape, GgmlType::Q8_0, CTX)
}

/// The built-in store and the goal the episodes shop for (`Env::new` natively,
/// `Env::in_document` in a browser).
pub fn store_and_goal() -> (Arc<Store>, Goal) {
    (Arc::new(Store::builtin(0).unwrap()), dev_goals().unwrap()[2].clone())
}

/// A `turns`-turn MEM1 episode of `engine` in `env` (purchases refused), `probe` called after
/// each turn; the rows, the seconds it took, and a report (the trace's size, selected turns).
pub async fn episode<E: Engine>(engine: E, tok: &Tokenizer, env: Env, turns: usize, mut probe: impl FnMut() -> Probe) -> (Vec<Row>, f64, Vec<String>) {
    let vocab = Arc::new(Vocab::new(tok));
    let mut policy = LlmPolicy::new(engine, tok, vocab, Protocol::webshop(), CTX);
    policy.limits = Limits { max_tokens: 24, memory_tokens: 16, action_tokens: 24 };
    let mut shop = NoBuy(env);
    let cfg = EpisodeConfig { protocol: Protocol::webshop(), mode: Mode::Mem1, max_turns: turns, trace_prompts: false, trace_ids: false };
    let mut rows: Vec<Row> = Vec::with_capacity(turns + 1);
    let t0 = now();
    let ep = run_episode_with(&mut policy, tok, &mut shop, &cfg, |t| {
        // The tokenizer's word cache (up to 10,000 words, filled by each new page) is not ours.
        tok.clear_cache();
        rows.push(Row {
            turn: t.turn,
            probe: probe(),
            heap: heap(),
            context_tokens: t.context_tokens,
            seconds: [t.seconds, t.prefill_seconds, t.decode_seconds],
        });
    })
    .await
    .unwrap();
    assert_eq!(ep.turns, turns, "{:?}", ep.error);
    let secs = now() - t0;
    let trace = serde_json::to_string(&ep.trace).unwrap().len();
    let mut report = vec![format!("the episode's trace: {trace} bytes as JSON, {} a turn", trace / turns)];
    for r in rows.iter().filter(|r| [1, 2, 10, 25, 50, 75, 100].contains(&r.turn) || r.turn == turns) {
        report.push(format!(
            "turn {:3}: GPU {} buffers, {:.2} MB; heap {:.2} MB live; memory {:.1} MB; {} tokens in context; {:.2} s ({:.2} prefill, {:.2} decode)",
            r.turn,
            r.probe.buffers,
            r.probe.buffer_bytes as f64 / 1e6,
            r.heap as f64 / 1e6,
            r.probe.memory as f64 / 1e6,
            r.context_tokens,
            r.seconds[0],
            r.seconds[1],
            r.seconds[2]
        ));
    }
    (rows, secs, report)
}

/// The heap's growth a turn from turn 10 on (the first turns fill caches and pools): the mean of
/// the turns' changes with the largest and smallest tenth left out. A leak adds to every turn;
/// a buffer that grows to a new largest page (a one-off step of a few hundred KB, at whichever
/// turn first brings such a page) or a Vec's doubling is an outlier, not a trend.
pub fn heap_per_turn(rows: &[Row]) -> f64 {
    let mut steps: Vec<isize> = rows[9..].windows(2).map(|w| w[1].heap - w[0].heap).collect();
    steps.sort_unstable();
    let cut = steps.len() / 10;
    let kept = &steps[cut..steps.len() - cut];
    kept.iter().sum::<isize>() as f64 / kept.len() as f64
}

/// The trace's records take about 0.7 KB a turn; one turn's context kept by mistake would add
/// 6-15 KB (1,500-3,800 token ids).
pub const HEAP_PER_TURN_MAX: f64 = 4096.0;

/// MEM1: the page, not the history, sets the context (1,400 to 3,800 tokens here).
pub fn assert_context_flat(rows: &[Row]) {
    let ctx: Vec<usize> = rows.iter().map(|r| r.context_tokens).collect();
    assert!(*ctx.iter().max().unwrap() < 2 * ctx[..4].iter().max().unwrap() + 512, "{ctx:?}");
}
