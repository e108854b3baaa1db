//! Long episodes, natively (the browser's run is `web_long_run.rs`; the episode and its figures
//! are in `long_util`).
//!
//! Measured per turn: GPU buffers and their memory (wgpu's internal counters), the Rust heap's
//! live bytes (a counting allocator), the process's RSS, tokens in context. GPU memory must not
//! move after loading; the heap may grow only by the episode's own trace.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod agent_util;
mod long_util;
use agent_util::byte_tokenizer;
use long_util::*;
use mem1::cpu::Cpu;
use mem1::gpu::Gpu;
use mem1::shop::Env;

fn env() -> Env {
    let (store, goal) = store_and_goal();
    Env::new(store, goal).unwrap()
}

fn rss() -> i64 {
    let pages: i64 = std::fs::read_to_string("/proc/self/statm").ok().and_then(|s| s.split(' ').nth(1)?.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// 100 turns on the quantized CPU backend: the heap grows only by the episode's trace, and the
/// context stays flat.
#[test]
fn hundred_turns_keep_the_heap_flat() {
    let turns: usize = std::env::var("TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let tok = byte_tokenizer();
    let mut file = tiny_model(&tok);
    let cpu = pollster::block_on(Cpu::load_quantized(&mut file, CTX, |_, _| {})).unwrap();
    drop(file);
    let (rows, secs, report) = pollster::block_on(episode(cpu, &tok, env(), turns, || Probe { memory: rss(), ..Probe::default() }));
    report.iter().for_each(|l| eprintln!("{l}"));
    let per_turn = heap_per_turn(&rows);
    eprintln!("cpu: {turns} turns in {secs:.0} s; heap {per_turn:.0} bytes a turn from turn 10 to {turns} (trimmed mean: the episode's trace)");
    assert!(per_turn < HEAP_PER_TURN_MAX, "the heap grows {per_turn:.0} bytes a turn");
    assert_context_flat(&rows);
}

/// A few turns on the GPU backend (Vulkan; lavapipe on machines without a GPU: its slow long
/// prefills keep this short): no GPU buffer is made or dropped after loading, by wgpu's counters
/// and by ours. (The process's RSS is printed too: on lavapipe it grows by megabytes per decode
/// step, inside the driver, while wgpu's buffers and our heap stay flat.)
#[test]
fn gpu_turns_make_no_buffers() {
    let turns: usize = std::env::var("GPU_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let tok = byte_tokenizer();
    let mut file = tiny_model(&tok);
    let gpu = pollster::block_on(Gpu::load(&mut file, CTX, |_, _| {})).expect("GPU backend (Vulkan)");
    let tally = gpu.device().tally();
    let dev = gpu.device().dev.clone();
    drop(file);
    let probe = || {
        // Finished work's staging buffers (queue writes) are freed by a poll: count after one.
        dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        let h = dev.get_internal_counters().hal;
        Probe { buffers: h.buffers.read() as i64, buffer_bytes: h.buffer_memory.read() as i64, memory: rss() }
    };
    let made_at_load = tally.get();
    let (rows, secs, report) = pollster::block_on(episode(gpu, &tok, env(), turns, probe));
    report.iter().for_each(|l| eprintln!("{l}"));
    let (first, last) = (rows[0], rows[turns - 1]);
    assert!(first.probe.buffer_bytes > 0, "wgpu's counters are off (feature `counters`)");
    eprintln!(
        "gpu: {turns} turns in {secs:.0} s; GPU buffers {:+}, buffer memory {:+} bytes from turn 1 to {turns}; heap {:+} bytes; process RSS {:+.0} MB",
        last.probe.buffers - first.probe.buffers,
        last.probe.buffer_bytes - first.probe.buffer_bytes,
        last.heap - first.heap,
        (last.probe.memory - first.probe.memory) as f64 / 1e6
    );
    assert_eq!(tally.get(), made_at_load, "the engine made GPU buffers after loading");
    assert_eq!((last.probe.buffers, last.probe.buffer_bytes), (first.probe.buffers, first.probe.buffer_bytes), "GPU buffers were made or dropped during the episode");
}
