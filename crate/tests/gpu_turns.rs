//! Agent turns on the GPU (Vulkan; lavapipe where there is no GPU): the constrained action's
//! allowed tokens and the repetition guard's forbidden ones go to the GPU sampler as a mask, so
//! every generated token is one submission that reads back only its id. Whole turns are the same
//! tokens as on the CPU backend, and the engine's own counters show what crossed.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod agent_util;
use agent_util::{byte_tokenizer, model};
use mem1::agent::{run_episode, Episode, EpisodeConfig, Limits, LlmPolicy, Mode, Protocol, Vocab};
use mem1::engine::Engine;
use mem1::gguf::{read_header, FileSource};
use mem1::loader::{AnyEngine, Backend};
use mem1::lora::{self, Adapter};
use mem1::quant::GgmlType;
use mem1::shop::goal::dev_goals;
use mem1::shop::{Env, Store};
use mem1::synthetic::{synthetic_gguf, Shape};
use mem1::tokenizer::Tokenizer;
use std::path::PathBuf;
use std::sync::Arc;

/// The README's bound for a turn on the GPU: submissions and bytes read back per generated token.
const MAX_SUBMISSIONS_PER_TOKEN: f64 = 1.2;
const MAX_READBACK_PER_TOKEN: f64 = 16.0;

fn episode<E: Engine>(engine: E, tok: &Tokenizer, ctx: usize, goal: usize, turns: usize, limits: Limits) -> Episode {
    let vocab = Arc::new(Vocab::new(tok));
    let mut policy = LlmPolicy::new(engine, tok, vocab, Protocol::webshop(), ctx);
    policy.limits = limits;
    let store = Arc::new(Store::builtin(0).unwrap());
    let mut env = Env::new(store, dev_goals().unwrap()[goal].clone()).unwrap();
    let cfg = EpisodeConfig { protocol: Protocol::webshop(), mode: Mode::Mem1, max_turns: turns, trace_prompts: false, trace_ids: false };
    let ep = pollster::block_on(run_episode(&mut policy, tok, &mut env, &cfg)).unwrap();
    assert!(ep.error.is_none(), "{:?}", ep.error);
    ep
}

/// The GPU episode wrote what the CPU episode wrote, turn by turn, in at most the bound's
/// submissions and bytes per generated token; returns the two figures.
fn same_turns_within_bounds(cpu: &Episode, gpu: &Episode, what: &str) -> (f64, f64) {
    assert_eq!(gpu.turns, cpu.turns, "{what}: turns");
    for (g, c) in gpu.trace.iter().zip(&cpu.trace) {
        assert_eq!(g.output, c.output, "{what} turn {}: the GPU wrote otherwise", g.turn);
        assert_eq!(g.decode_tokens, c.decode_tokens, "{what} turn {}", g.turn);
        assert!(c.transfers.is_none(), "the CPU backend counts no transfers");
        let x = g.transfers.expect("the GPU counts its transfers");
        eprintln!(
            "{what} turn {}: {} generated tokens, {} submissions, {} bytes read back (prompt: {} tokens prefilled in {} submissions); {}",
            g.turn,
            g.decode_tokens,
            x.submissions,
            x.readback_bytes,
            g.prefill_tokens,
            g.prompt_transfers.map_or(0, |p| p.submissions),
            g.action
        );
    }
    let (subs, bytes) = gpu.per_token().unwrap();
    eprintln!("{what}: {subs:.3} submissions and {bytes:.2} bytes read back per generated token ({} tokens)", gpu.decode_tokens);
    assert!(gpu.decode_tokens > 0);
    assert!(subs <= MAX_SUBMISSIONS_PER_TOKEN, "{what}: {subs:.3} submissions per generated token");
    assert!(bytes <= MAX_READBACK_PER_TOKEN, "{what}: {bytes:.2} bytes read back per generated token");
    (subs, bytes)
}

/// A random one-layer model over a byte-level tokenizer: its free text never reaches the action
/// tag, so every turn forces the memory block and decodes the whole action under the mask.
#[test]
fn tiny_model_turns_are_the_same_on_cpu_and_gpu_one_submission_a_token() {
    let tok = byte_tokenizer();
    let shape = Shape { arch: "llama", layers: 1, d: 32, heads: 2, kv: 1, ff: 64, vocab: tok.vocab_size(), tied: true };
    let file = synthetic_gguf(&shape, GgmlType::Q8_0, 4096);
    let limits = Limits { max_tokens: 24, memory_tokens: 16, action_tokens: 24 };
    let load = |b| pollster::block_on(AnyEngine::load(b, &mut file.clone(), 4096, |_, _| {})).unwrap();
    let cpu = episode(load(Backend::Cpu), &tok, 4096, 2, 3, limits);
    let gpu = episode(load(Backend::Gpu), &tok, 4096, 2, 3, limits);
    assert!(gpu.trace.iter().all(|t| t.problems.iter().any(|p| p == "forced_action")), "every action decoded under the mask");
    same_turns_within_bounds(&cpu, &gpu, "tiny model");
}

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn load_policy(backend: Backend, ctx: usize) -> (Tokenizer, AnyEngine) {
    let mut src = FileSource::open(&model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let g = pollster::block_on(read_header(&mut src)).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let mut lsrc = FileSource::open(&repo("models/mem1-smollm2-135m.lora.gguf")).expect("the bundled adapter");
    let adapter = pollster::block_on(Adapter::read(&mut lsrc)).unwrap();
    let engine = pollster::block_on(lora::load(backend, &mut src, &g, Some(adapter), ctx, |_, _| {})).unwrap();
    (tok, engine)
}

/// The bundled policy's first turn on a dev goal (its search, constrained), greedy as shipped.
#[test]
fn the_bundled_policy_turn_is_the_same_on_cpu_and_gpu() {
    let ctx = 2048;
    let limits = Limits::default();
    let (tok, cpu) = load_policy(Backend::Cpu, ctx);
    let cpu = episode(cpu, &tok, ctx, 0, 1, limits);
    let (tok, gpu) = load_policy(Backend::Gpu, ctx);
    let gpu = episode(gpu, &tok, ctx, 0, 1, limits);
    assert!(gpu.trace[0].action.starts_with("search["), "{}", gpu.trace[0].action);
    same_turns_within_bounds(&cpu, &gpu, "SmolLM2 + LoRA");
}
