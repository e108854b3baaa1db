//! Drafted tokens checked several in one forward pass (prompt lookup in free text, jump-forward in
//! the action): each backend's check (CPU; GPU on Vulkan, lavapipe without a GPU) chooses, bit for
//! bit, what decoding one token at a time chooses, so whole episodes are the same tokens with and
//! without drafts, in fewer passes.
// Native: the browser runs the same kernels' bit-for-bit test among the library's tests, and the
// shipped policy with and without drafts in tests/web_demo.mjs.
#![cfg(not(target_arch = "wasm32"))]
mod agent_util;
mod draft_util;
use agent_util::{byte_tokenizer, model};
use mem1::agent::{run_episode, summarize, Episode, EpisodeConfig, Limits, LlmPolicy, Mode, Protocol, Vocab};
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

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// The shipped policy on the CPU backend.
fn shipped(ctx: usize) -> (Tokenizer, AnyEngine) {
    shipped_on(Backend::Cpu, ctx)
}

fn shipped_on(backend: Backend, ctx: usize) -> (Tokenizer, AnyEngine) {
    let mut src = FileSource::open(&model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let g = pollster::block_on(read_header(&mut src)).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let mut lsrc = FileSource::open(&repo("models/mem1-smollm2-135m.lora.gguf")).expect("the bundled adapter");
    let adapter = pollster::block_on(Adapter::read(&mut lsrc)).unwrap();
    let engine = pollster::block_on(lora::load(backend, &mut src, &g, Some(adapter), ctx, |_, _| {})).unwrap();
    (tok, engine)
}

fn tiny(ty: GgmlType) -> (Tokenizer, AnyEngine) {
    tiny_on(Backend::Cpu, ty)
}

fn tiny_on(backend: Backend, ty: GgmlType) -> (Tokenizer, AnyEngine) {
    let tok = byte_tokenizer();
    // 256 columns: whole K-quant blocks (Q4_K, Q6_K) in every row.
    let shape = Shape { arch: "llama", layers: 2, d: 256, heads: 4, kv: 2, ff: 512, vocab: tok.vocab_size(), tied: true };
    let mut file = synthetic_gguf(&shape, ty, 4096);
    let engine = pollster::block_on(AnyEngine::load(backend, &mut file, 4096, |_, _| {})).unwrap();
    (tok, engine)
}

/// [`draft_util::check_equals_decode`]; on the GPU also what crossed: the prompt's submissions,
/// then one a check of up to CHECK_ROWS tokens, only the choices read back.
fn check_equals_decode(e: &mut AnyEngine, prompt: &[u32], tokens: &[u32], what: &str) {
    if let Some(x) = pollster::block_on(draft_util::check_equals_decode(e, prompt, tokens, what)) {
        let checks = tokens.len().div_ceil(mem1::gpu::CHECK_ROWS) as u64;
        assert_eq!(x.submissions, prompt.len().div_ceil(mem1::gpu::DEFAULT_CHUNK) as u64 + checks, "{what}: submissions");
        assert_eq!(x.readback_bytes, 4 * tokens.len() as u64, "{what}: bytes read back");
    }
}

#[test]
fn a_draft_check_chooses_what_decode_chooses_to_the_bit() {
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4K, GgmlType::Q6K, GgmlType::Q5_1] {
        let (_, mut e) = tiny(ty);
        let prompt: Vec<u32> = (0..40).map(|i| (i * 7 % 250) as u32).collect();
        // 1 to 9 tokens: a short draft, and four-token runs with a remainder.
        for k in [1, 2, 5, 9] {
            let draft: Vec<u32> = (0..k).map(|i| (i * 13 % 250) as u32).collect();
            check_equals_decode(&mut e, &prompt, &draft, &format!("tiny {ty:?} k={k}"));
        }
    }
    let (tok, mut e) = shipped(2048);
    let prompt = tok.encode("Find me a pair of wireless headphones under 50 dollars, in black. I search for").unwrap();
    let draft = tok.encode(" wireless headphones black under 50 dollars</summary>").unwrap();
    check_equals_decode(&mut e, &prompt, &draft, "SmolLM2 + LoRA");
}

/// The GPU backend's check: the decode kernel over each of the step's rows, the head over every
/// row, a greedy choice per row under its mask, in one submission; a draft longer than a check's
/// rows (33 tokens) takes two.
#[test]
fn a_gpu_draft_check_chooses_what_gpu_decode_chooses_to_the_bit() {
    for ty in [GgmlType::Q8_0, GgmlType::Q4_1, GgmlType::Q4K, GgmlType::Q6K] {
        let (_, mut e) = tiny_on(Backend::Gpu, ty);
        let prompt: Vec<u32> = (0..40).map(|i| (i * 7 % 250) as u32).collect();
        for k in [1, 2, 9, 33] {
            let draft: Vec<u32> = (0..k).map(|i| (i * 13 % 250) as u32).collect();
            check_equals_decode(&mut e, &prompt, &draft, &format!("gpu tiny {ty:?} k={k}"));
        }
    }
    let (tok, mut e) = shipped_on(Backend::Gpu, 2048);
    let prompt = tok.encode("Find me a pair of wireless headphones under 50 dollars, in black. I search for").unwrap();
    let draft = tok.encode(" wireless headphones black under 50 dollars</summary>").unwrap();
    check_equals_decode(&mut e, &prompt, &draft, "gpu SmolLM2 + LoRA");
}

fn episode(engine: AnyEngine, tok: &Tokenizer, ctx: usize, goal: usize, turns: usize, limits: Limits, speculate: bool) -> Episode {
    let vocab = Arc::new(Vocab::new(tok));
    let mut policy = LlmPolicy::new(engine, tok, vocab, Protocol::webshop(), ctx);
    policy.limits = limits;
    policy.speculate = speculate;
    // Every draft checked, paying or not: the same passes on every machine.
    policy.draft_when_paying = false;
    let store = Arc::new(Store::builtin(0).unwrap());
    let mut env = Env::new(store, dev_goals().unwrap()[goal].clone()).unwrap();
    let cfg = EpisodeConfig { protocol: Protocol::webshop(), mode: Mode::Mem1, max_turns: turns, trace_prompts: false, trace_ids: false };
    let ep = pollster::block_on(run_episode(&mut policy, tok, &mut env, &cfg)).unwrap();
    assert!(ep.error.is_none(), "{:?}", ep.error);
    ep
}

/// The episodes wrote the same tokens turn by turn; returns (tokens per forward pass with drafts, without).
fn same_episodes(with: &Episode, without: &Episode, what: &str) -> (f64, f64) {
    assert_eq!(with.turns, without.turns, "{what}: turns");
    for (a, b) in with.trace.iter().zip(&without.trace) {
        assert_eq!(a.output, b.output, "{what} turn {}: drafts changed what was written", a.turn);
        assert_eq!(a.decode_tokens, b.decode_tokens, "{what} turn {}", a.turn);
        assert_eq!(b.drafts.total(), [0, 0], "{what}: drafts were checked with --no-speculate");
    }
    assert_eq!((with.reward, with.success), (without.reward, without.success), "{what}");
    let (s, n) = (summarize(std::slice::from_ref(with)), summarize(std::slice::from_ref(without)));
    let (tpf, base) = (s.tokens_per_forward.unwrap(), n.tokens_per_forward.unwrap());
    eprintln!(
        "{what}: {} turns, {} tokens; {tpf:.2} tokens a forward pass with drafts ({:.0} % of draft tokens taken; think {:?}, memory {:?}, action {:?} checked/taken), {base:.2} without; decode {:.2} s against {:.2} s a turn",
        with.turns,
        with.decode_tokens,
        100.0 * s.draft_acceptance.unwrap_or(0.0),
        s.drafts.think,
        s.drafts.memory,
        s.drafts.action,
        s.decode_seconds_per_turn,
        n.decode_seconds_per_turn
    );
    (tpf, base)
}

/// A random model over bytes: its free text never reaches the action tag, so every action is
/// decoded under the mask, where the forced bytes (a product id's rest, the close tag) are drafts.
#[test]
fn tiny_model_episodes_are_the_same_with_and_without_drafts() {
    let limits = Limits { max_tokens: 24, memory_tokens: 16, action_tokens: 24 };
    let (tok, e) = tiny(GgmlType::Q8_0);
    let with = episode(e, &tok, 4096, 2, 3, limits, true);
    let (tok, e) = tiny(GgmlType::Q8_0);
    let without = episode(e, &tok, 4096, 2, 3, limits, false);
    let (tpf, base) = same_episodes(&with, &without, "tiny model");
    let s = summarize(std::slice::from_ref(&with));
    assert!(s.drafts.action[1] > 0, "no forced action bytes were taken as drafts: {:?}", s.drafts);
    assert!(tpf > base, "{tpf} tokens a pass with drafts, {base} without");
}

/// The same on the GPU backend: the episodes' tokens equal with and without drafts.
#[test]
fn tiny_model_gpu_episodes_are_the_same_with_and_without_drafts() {
    // Short free text: lavapipe's decode over a byte-level context of 2-4 k tokens is slow.
    let limits = Limits { max_tokens: 8, memory_tokens: 8, action_tokens: 24 };
    let (tok, e) = tiny_on(Backend::Gpu, GgmlType::Q8_0);
    let with = episode(e, &tok, 4096, 2, 2, limits, true);
    let (tok, e) = tiny_on(Backend::Gpu, GgmlType::Q8_0);
    let without = episode(e, &tok, 4096, 2, 2, limits, false);
    let (tpf, base) = same_episodes(&with, &without, "gpu tiny model");
    let (w, n) = (summarize(std::slice::from_ref(&with)), summarize(std::slice::from_ref(&without)));
    assert!(w.drafts.action[1] > 0, "no forced action bytes were taken as drafts: {:?}", w.drafts);
    assert!(tpf > base, "{tpf} tokens a pass with drafts, {base} without");
    eprintln!(
        "gpu tiny model: {:.2} submissions a generated token with drafts, {:.2} without",
        w.submissions_per_token.unwrap(),
        n.submissions_per_token.unwrap()
    );
}

/// The shipped policy's whole episode on a dev goal, greedy as shipped: the same turns in at least
/// 1.8 tokens a forward pass (about one without).
#[test]
fn the_shipped_policy_writes_the_same_turns_in_fewer_passes() {
    let (tok, e) = shipped(2048);
    let limits = Limits { max_tokens: 224, ..Limits::default() };
    let with = episode(e, &tok, 2048, 0, 10, limits, true);
    let (tok, e) = shipped(2048);
    let without = episode(e, &tok, 2048, 0, 10, limits, false);
    assert!(with.success, "the shipped policy buys on dev goal 0");
    let (tpf, base) = same_episodes(&with, &without, "SmolLM2 + LoRA");
    assert!(tpf >= 1.8, "{tpf:.2} tokens a forward pass with drafts");
    assert!(base < 1.1, "{base:.2} tokens a forward pass without drafts");
    let s = summarize(std::slice::from_ref(&with));
    assert!(s.drafts.memory[1] > 0 && s.drafts.action[1] > 0, "drafts taken in the memory and the action: {:?}", s.drafts);
}
