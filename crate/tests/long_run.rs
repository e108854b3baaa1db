//! Long episodes: a small random model of the llama architecture over a byte-level tokenizer
//! (every byte a token, so each turn's context is a couple of thousand tokens) in the real agent
//! loop (constant-memory context, KV-cache prefix reuse, constrained actions) on the built-in
//! store, purchases refused so the episode lasts all its turns.
//!
//! Measured per turn: GPU buffers and their memory (wgpu's internal counters), the Rust heap's
//! live bytes (a counting allocator), the process's RSS, tokens in context. GPU memory must not
//! move after loading; the heap may grow only by the episode's own trace.
mod agent_util;
use agent_util::byte_tokenizer;
use mem1::agent::guard::is_purchase;
use mem1::agent::{run_episode_with, EpisodeConfig, Limits, LlmPolicy, Mode, Protocol, Shop, Vocab};
use mem1::cpu::Cpu;
use mem1::engine::Engine;
use mem1::gpu::Gpu;
use mem1::tokenizer::Tokenizer;
use mem1::observe::Observation;
use mem1::quant::GgmlType;
use mem1::shop::goal::dev_goals;
use mem1::shop::{Env, StepResult, Store};
use mem1::synthetic::{synthetic_gguf, Shape};
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
        if action.strip_prefix("click[").is_some_and(is_purchase) {
            return StepResult { reward: 0.0, done: false, valid: false, reason: Some("no purchases in this test".into()) };
        }
        self.0.act(action).await
    }
    fn reward(&self) -> f64 {
        self.0.reward()
    }
    fn is_done(&self) -> bool {
        self.0.is_done()
    }
    fn page(&self) -> String {
        self.0.page()
    }
}

/// Per turn: (turn, GPU buffers, GPU buffer bytes, heap live bytes, process RSS bytes, tokens in context).
type Row = (usize, isize, isize, isize, usize, usize);

fn rss() -> usize {
    let pages: usize = std::fs::read_to_string("/proc/self/statm").ok().and_then(|s| s.split(' ').nth(1)?.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// A `turns`-turn MEM1 episode of `engine` on the store (purchases refused); `dev` gives GPU counters.
fn episode<E: Engine>(engine: E, tok: &Tokenizer, turns: usize, dev: Option<wgpu::Device>) -> (Vec<Row>, f64) {
    let vocab = Arc::new(Vocab::new(tok));
    let mut policy = LlmPolicy::new(engine, tok, vocab, Protocol::webshop(), CTX);
    policy.limits = Limits { max_tokens: 24, memory_tokens: 16, action_tokens: 24 };
    let store = Arc::new(Store::builtin(0).unwrap());
    let mut shop = NoBuy(Env::new(store, dev_goals().unwrap()[2].clone()).unwrap());
    let cfg = EpisodeConfig { protocol: Protocol::webshop(), mode: Mode::Mem1, max_turns: turns, trace_prompts: false };
    let mut rows: Vec<Row> = Vec::with_capacity(turns + 1);
    let t0 = std::time::Instant::now();
    let ep = pollster::block_on(run_episode_with(&mut policy, tok, &mut shop, &cfg, |t| {
        // The tokenizer's word cache (up to 10,000 words, filled by each new page) is not ours.
        tok.clear_cache();
        // Finished work's staging buffers (queue writes) are freed by a poll: count after one.
        if let Some(d) = &dev {
            d.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        }
        let (n, b) = dev.as_ref().map(|d| d.get_internal_counters().hal).map(|h| (h.buffers.read(), h.buffer_memory.read())).unwrap_or((0, 0));
        rows.push((t.turn, n, b, LIVE.load(Ordering::Relaxed), rss(), t.context_tokens));
    }))
    .unwrap();
    assert_eq!(ep.turns, turns, "{:?}", ep.error);
    let secs = t0.elapsed().as_secs_f64();
    let trace = serde_json::to_string(&ep.trace).unwrap().len();
    eprintln!("the episode's trace: {trace} bytes as JSON, {} a turn", trace / turns);
    for r in rows.iter().filter(|r| [1, 2, 10, 25, 50, 75, 100].contains(&r.0) || r.0 == turns) {
        eprintln!(
            "turn {:3}: GPU {} buffers, {:.2} MB; heap {:.2} MB live; RSS {:.0} MB; {} tokens in context",
            r.0,
            r.1,
            r.2 as f64 / 1e6,
            r.3 as f64 / 1e6,
            r.4 as f64 / 1e6,
            r.5
        );
    }
    (rows, secs)
}

const CTX: usize = 8192;

fn tiny_model(tok: &Tokenizer) -> Vec<u8> {
    let shape = Shape { arch: "llama", layers: 2, d: 64, heads: 4, kv: 2, ff: 128, vocab: tok.vocab_size(), tied: true };
    synthetic_gguf(&shape, GgmlType::Q8_0, CTX)
}

/// 100 turns on the quantized CPU backend: the heap grows only by the episode's trace, and the
/// context stays flat (MEM1: the page, not the history, sets it). The context's length follows
/// the page: 1,400 to 3,800 tokens here.
#[test]
fn hundred_turns_keep_the_heap_flat() {
    let turns: usize = std::env::var("TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let tok = byte_tokenizer();
    let mut file = tiny_model(&tok);
    let cpu = pollster::block_on(Cpu::load_quantized(&mut file, CTX, |_, _| {})).unwrap();
    drop(file);
    let (rows, secs) = episode(cpu, &tok, turns, None);
    let (first, last) = (rows[9], rows[turns - 1]);
    let per_turn = (last.3 - first.3) as f64 / (turns - 10) as f64;
    eprintln!("cpu: {turns} turns in {secs:.0} s; heap {:+} bytes from turn 10 to {turns} ({per_turn:.0} a turn: the episode's trace)", last.3 - first.3);
    // The trace's records (with its Vec's doublings) take 1-3 KB a turn; one turn's context kept
    // by mistake would add 6-15 KB (1,500-3,800 token ids).
    assert!(per_turn < 4096.0, "the heap grows {per_turn:.0} bytes a turn");
    let ctx: Vec<usize> = rows.iter().map(|r| r.5).collect();
    assert!(*ctx.iter().max().unwrap() < 2 * ctx[..4].iter().max().unwrap() + 512, "{ctx:?}");
}

/// A few turns on the GPU backend (Vulkan; lavapipe on machines without a GPU: its slow long
/// prefills keep this short): no GPU buffer is made or dropped after loading. (The process's RSS
/// is printed too: on lavapipe it grows by megabytes per decode step, inside the driver, while
/// wgpu's buffers and our heap stay flat.)
#[test]
fn gpu_turns_make_no_buffers() {
    let turns: usize = std::env::var("GPU_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let tok = byte_tokenizer();
    let mut file = tiny_model(&tok);
    let gpu = pollster::block_on(Gpu::load(&mut file, CTX, |_, _| {})).expect("GPU backend (Vulkan)");
    let dev = gpu.device().dev.clone();
    drop(file);
    let (rows, secs) = episode(gpu, &tok, turns, Some(dev));
    let (first, last) = (rows[0], rows[turns - 1]);
    assert!(first.2 > 0, "wgpu's counters are off (feature `counters`)");
    eprintln!(
        "gpu: {turns} turns in {secs:.0} s; GPU buffers {:+}, buffer memory {:+} bytes from turn 1 to {turns}; heap {:+} bytes; process RSS {:+.0} MB",
        last.1 - first.1,
        last.2 - first.2,
        last.3 - first.3,
        (last.4 as f64 - first.4 as f64) / 1e6
    );
    assert_eq!((last.1, last.2), (first.1, first.2), "GPU buffers were made or dropped during the episode");
}
