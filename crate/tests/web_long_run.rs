//! Long episodes in the browser (wasm-bindgen-test in headless Chromium and Firefox): the episode of
//! `long_util` (a small random model over a byte-level tokenizer in the real agent loop on the
//! built-in store, rendered into an iframe and observed through the live DOM as in the demo,
//! purchases refused), measured per turn: the Rust heap's live bytes (a counting
//! allocator), the wasm memory's size (it never shrinks: growth after warm-up is what a leak
//! costs the page), GPU buffers made (our `Tally`: wgpu has no counters on WebGPU).
#![cfg(target_arch = "wasm32")]
mod agent_util;
mod long_util;
use agent_util::byte_tokenizer;
use long_util::*;
use mem1::cpu::Cpu;
use mem1::gpu::Gpu;
use mem1::shop::Env;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The store rendered into a fresh iframe of the test page, as the demo renders it.
fn env() -> Env {
    let doc = web_sys::window().unwrap().document().unwrap();
    let frame = doc.create_element("iframe").unwrap();
    frame.set_attribute("style", "width: 1000px; height: 700px").unwrap();
    doc.body().expect("the test page has a body").append_child(&frame).unwrap();
    let frame_doc = frame.dyn_into::<web_sys::HtmlIFrameElement>().unwrap().content_document().unwrap();
    let (store, goal) = store_and_goal();
    Env::in_document(store, goal, frame_doc).unwrap()
}

fn wasm_memory() -> i64 {
    let m: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    m.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as i64
}

/// 100 turns on the quantized CPU backend (simd128): the heap grows only by the episode's trace,
/// the wasm memory stops growing after the first turns, the context stays flat.
#[wasm_bindgen_test]
async fn hundred_turns_keep_the_wasm_heap_flat() {
    let turns: usize = option_env!("MEM1_LONG_TURNS").and_then(|v| v.parse().ok()).unwrap_or(100);
    let tok = byte_tokenizer();
    let mut file = tiny_model(&tok);
    let cpu = Cpu::load_quantized(&mut file, CTX, |_, _| {}).await.unwrap();
    drop(file);
    let (rows, secs, report) = episode(cpu, &tok, env(), turns, || Probe { memory: wasm_memory(), ..Probe::default() }).await;
    report.iter().for_each(|l| console_log!("{l}"));
    let per_turn = heap_per_turn(&rows);
    let (tenth, last) = (rows[9], rows[turns - 1]);
    let grew = last.probe.memory - tenth.probe.memory;
    console_log!(
        "browser cpu: {turns} turns in {secs:.0} s; heap {per_turn:.0} bytes a turn from turn 10 to {turns} (trimmed mean: the episode's trace); wasm memory {:.1} MB at turn 10, {grew:+} bytes by turn {turns}",
        tenth.probe.memory as f64 / 1e6
    );
    assert!(per_turn < HEAP_PER_TURN_MAX, "the heap grows {per_turn:.0} bytes a turn");
    // The trace's ~100 KB may need a few more 64 KiB pages; a turn's context kept by mistake
    // would need megabytes.
    assert!(grew <= 1 << 20, "the wasm memory grew {grew} bytes from turn 10 to {turns}");
    assert_context_flat(&rows);
}

/// A few turns on WebGPU (SwiftShader here: slow, so few): no GPU buffer is made after loading.
#[wasm_bindgen_test]
async fn gpu_turns_make_no_buffers_in_the_browser() {
    let turns: usize = option_env!("MEM1_LONG_GPU_TURNS").and_then(|v| v.parse().ok()).unwrap_or(2);
    let tok = byte_tokenizer();
    let mut file = tiny_model(&tok);
    let gpu = Gpu::load(&mut file, CTX, |_, _| {}).await.expect("WebGPU");
    drop(file);
    let tally = gpu.device().tally();
    let at_load = tally.get();
    let probe = || {
        let (n, b) = tally.get();
        Probe { buffers: n as i64, buffer_bytes: b as i64, memory: wasm_memory() }
    };
    let (rows, secs, report) = episode(gpu, &tok, env(), turns, probe).await;
    report.iter().for_each(|l| console_log!("{l}"));
    let (first, last) = (rows[0], rows[turns - 1]);
    console_log!(
        "browser gpu: {turns} turns in {secs:.0} s; {} buffers ({:.2} MB) made at load, {:+} after; heap {:+} bytes, wasm memory {:+} bytes from turn 1 to {turns}",
        at_load.0,
        at_load.1 as f64 / 1e6,
        last.probe.buffers - at_load.0 as i64,
        last.heap - first.heap,
        last.probe.memory - first.probe.memory
    );
    assert_eq!(tally.get(), at_load, "the engine made GPU buffers after loading");
}
