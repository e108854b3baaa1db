//! The agent loop without a model: MEM1's flat context vs. the full-history baseline (scripted
//! policy), KV-cache reuse and constrained actions (mock engine), bad model output.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod agent_util;
use agent_util::*;
use mem1::agent::{run_episode, Episode, EpisodeConfig, LlmPolicy, Mode, Policy, Protocol, ScriptedPolicy, TurnRequest, Vocab};
use mem1::shop::goal::dev_goals;
use mem1::shop::{Env, Store};
use std::sync::{Arc, OnceLock};

fn store() -> Arc<Store> {
    static S: OnceLock<Arc<Store>> = OnceLock::new();
    S.get_or_init(|| Arc::new(Store::builtin(0).unwrap())).clone()
}

fn episode<P: Policy>(policy: &mut P, mode: Mode, goal: usize, turns: usize) -> Episode {
    let tok = byte_tokenizer();
    let mut env = Env::new(store(), dev_goals().unwrap()[goal].clone()).unwrap();
    let cfg = EpisodeConfig { mode, max_turns: turns, ..Default::default() };
    pollster::block_on(run_episode(policy, &tok, &mut env, &cfg)).unwrap()
}

#[test]
fn mem1_context_stays_flat_and_full_history_grows() {
    let mem1 = episode(&mut ScriptedPolicy::new(wandering_script), Mode::Mem1, 0, 10);
    let full = episode(&mut ScriptedPolicy::new(wandering_script), Mode::Full, 0, 10);
    eprintln!("mem1 per turn {:?} peak {}", mem1.per_turn, mem1.peak_context_tokens);
    eprintln!("full per turn {:?} peak {}", full.per_turn, full.peak_context_tokens);
    assert_eq!((mem1.turns, full.turns), (10, 10));
    assert!(mem1.trace.iter().all(|t| t.valid), "{:?}", mem1.trace.iter().map(|t| &t.invalid_reason).collect::<Vec<_>>());
    // MEM1: the last turn's context is within 15 % of turn 2's.
    let (t2, last) = (mem1.per_turn[1] as f64, *mem1.per_turn.last().unwrap() as f64);
    assert!(last <= 1.15 * t2, "mem1 context grew: {:?}", mem1.per_turn);
    assert!(mem1.per_turn.iter().all(|&c| c as f64 <= 1.15 * t2));
    // Full history: grows every turn, and is ≥ 3× MEM1's peak by turn 10.
    assert!(full.per_turn.windows(2).all(|w| w[1] > w[0]), "{:?}", full.per_turn);
    assert!(full.peak_context_tokens >= 3 * mem1.peak_context_tokens);
    // Same episode either way (the script does not read the context).
    let acts = |e: &Episode| e.trace.iter().map(|t| t.action.clone()).collect::<Vec<_>>();
    assert_eq!(acts(&mem1), acts(&full));
    // MEM1's prompt keeps the latest summary and answer, never a <think>.
    let p = mem1.trace[5].prompt.as_deref().unwrap();
    assert!(!p.contains("<think>Turn") && p.contains("now at turn 05") && !p.contains("now at turn 04"));
    let p = full.trace[5].prompt.as_deref().unwrap();
    assert!(p.contains("<think>Turn 1:") && p.contains("now at turn 05"));
}

#[test]
fn bad_model_output_is_counted_not_fatal() {
    let outputs = [
        "".to_string(),
        "I would like to search for shoes".to_string(),
        "<summary></summary><answer>jump[high]</answer>".to_string(),
        "<summary>x".to_string(),
        "<think>".repeat(500),
    ];
    let mut i = 0;
    let mut policy = ScriptedPolicy::new(|_: &TurnRequest<'_>| {
        i += 1;
        outputs[(i - 1) % outputs.len()].clone()
    });
    let ep = episode(&mut policy, Mode::Mem1, 1, 5);
    assert_eq!(ep.turns, 5);
    assert_eq!(ep.invalid_actions, 5);
    assert_eq!(ep.bad_outputs, 5);
    assert!(ep.trace[2].problems.contains(&"empty_memory".to_string()));
    assert!(ep.trace[0].problems.contains(&"missing_action".to_string()));
    assert_eq!(ep.reward, 0.0);
}

fn llm_episode(mode: Mode, turns: usize) -> (Episode, MockEngine) {
    let tok = byte_tokenizer();
    let vocab = Arc::new(Vocab::new(&tok));
    let stop = tok.token_to_id("<|im_end|>").unwrap();
    let engine = MockEngine::new(tok.vocab_size(), stop);
    let mut policy = LlmPolicy::new(engine, &tok, vocab, Protocol::webshop(), 1 << 16);
    let mut env = Env::new(store(), dev_goals().unwrap()[2].clone()).unwrap();
    let cfg = EpisodeConfig { mode, max_turns: turns, ..Default::default() };
    let ep = pollster::block_on(run_episode(&mut policy, &tok, &mut env, &cfg)).unwrap();
    (ep, policy.engine)
}

#[test]
fn llm_policy_reuses_the_static_prefix_and_forces_valid_actions() {
    let (ep, engine) = llm_episode(Mode::Mem1, 4);
    assert!(ep.error.is_none(), "{:?}", ep.error);
    // The model only ever says "stop": memory and action are forced, the action is constrained.
    for t in &ep.trace {
        assert!(t.valid, "turn {}: {:?} {:?}", t.turn, t.action, t.invalid_reason);
        assert!(t.problems.contains(&"forced_action".to_string()) && t.problems.contains(&"forced_memory".to_string()));
    }
    // After turn 1 the cache is never cut into the static prefix, and each turn prefills only
    // (about) its dynamic part.
    assert!(engine.truncations.iter().all(|&p| p >= ep.prefix_tokens || p == 0));
    for t in &ep.trace[1..] {
        assert!(t.prefill_tokens <= t.prompt_tokens - ep.prefix_tokens + 64, "turn {}: prefilled {} of {}", t.turn, t.prefill_tokens, t.prompt_tokens);
    }
    // The cache never held more than one turn.
    let one_turn = ep.trace.iter().map(|t| t.context_tokens).max().unwrap();
    assert!(engine.max_pos <= one_turn, "{} > {one_turn}", engine.max_pos);
    assert!(ep.kv_capacity_bytes > 0 && ep.peak_kv_bytes > 0);

    let (full, fe) = llm_episode(Mode::Full, 4);
    assert!(full.trace.iter().all(|t| t.valid));
    // Full mode appends: nothing before the previous turn's end is ever recomputed.
    let total_prefill: usize = full.trace.iter().map(|t| t.prefill_tokens).sum();
    assert!(total_prefill <= full.peak_context_tokens + 64 * 4, "{total_prefill} vs {}", full.peak_context_tokens);
    assert!(fe.max_pos > engine.max_pos);
}
