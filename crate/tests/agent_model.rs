//! Agent pieces on the real tokenizers (SmolLM2 and Qwen2.5, from .cache/models: missing ones fail):
//! the prefix/dynamic token boundary, the constrained-action automaton over the vocabulary, and
//! a short real-model episode on the CPU backend.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod agent_util;
use agent_util::*;
use mem1::agent::constrain::State;
use mem1::agent::context::chatml;
use mem1::agent::{run_episode, ActionSet, Context, EpisodeConfig, Limits, LlmPolicy, Mode, Protocol, Vocab};
use mem1::gguf::{read_header, FileSource};
use mem1::loader::{AnyEngine, Backend};
use mem1::shop::goal::dev_goals;
use mem1::shop::{Env, Store};
use mem1::tokenizer::{Message, Tokenizer};
use std::sync::Arc;

const SMOL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const QWEN: &str = "qwen2.5-coder-0.5b-instruct.gguf";

fn tokenizer(name: &str) -> Tokenizer {
    let path = model(name);
    let mut src = FileSource::open(&path).unwrap();
    let g = pollster::block_on(read_header(&mut src)).unwrap();
    Tokenizer::from_gguf(&g).unwrap()
}

fn page_states(p: &Protocol) -> Vec<String> {
    let store = Arc::new(Store::builtin(0).unwrap());
    let mut env = Env::new(store, dev_goals().unwrap()[3].clone()).unwrap();
    let mut out = vec![];
    for a in ["search[women loose fit top]", "click[next >]", "click[back to search]"] {
        let o = env.observe();
        out.push(p.state_text(7, &o.text, &o.available_actions()));
        env.step(a);
    }
    out
}

fn check_boundaries(tok: &Tokenizer) {
    let p = Protocol::webshop();
    let states = page_states(&p);
    for mode in [Mode::Mem1, Mode::Full] {
        let mut ctx = Context::new(tok, p.clone(), mode, "Find me a hat, and price lower than 20.00 dollars", &states[0]).unwrap();
        let outputs = [
            "<think>search first\n</think><summary>goal hat <20$\n\n</summary><answer>search[hat]</answer>",
            " weird output\n\n",
            "<summary>x</summary><answer>click[next >]</answer>\n",
        ];
        for (i, out) in outputs.iter().enumerate() {
            // The pieces, tokenized apart, are the whole text tokenized at once.
            assert_eq!(ctx.ids(), tok.encode(&ctx.text()).unwrap(), "{mode:?} turn {i}");
            let parsed = p.parse(out);
            ctx.push_turn(out, parsed.memory.as_deref().unwrap_or(""), parsed.action.as_deref().unwrap_or(""), &states[(i + 1) % 3]).unwrap();
        }
        assert_eq!(ctx.ids(), tok.encode(&ctx.text()).unwrap());
        // And the ids of the static prefix are always the first ones.
        let pre = &ctx.ids()[..ctx.prefix_len()];
        assert_eq!(pre, &tok.encode(&(chatml("system", &p.system) + &chatml("user", &(p.task_text("Find me a hat, and price lower than 20.00 dollars") + &states[0])))).unwrap()[..]);
    }
    // Our ChatML rendering is the chat template's.
    if tok.chat.is_some() {
        let ctx = Context::new(tok, p.clone(), Mode::Mem1, "x", &states[0]).unwrap();
        let msgs = [Message::new("system", &p.system), Message::new("user", &(p.task_text("x") + &states[0]))];
        assert_eq!(ctx.text(), tok.apply_chat(&msgs).unwrap());
    }
}

#[test]
fn prefix_and_turn_pieces_tokenize_like_the_whole_text() {
    check_boundaries(&byte_tokenizer());
    for name in [SMOL, QWEN] {
        check_boundaries(&tokenizer(name));
    }
}

fn text_of(set: &ActionSet, vocab: &Vocab, s: State) -> Vec<String> {
    set.allowed(s, vocab).iter().map(|&(i, _)| String::from_utf8_lossy(vocab.get(i)).into_owned()).collect()
}

#[test]
fn action_automaton_on_a_real_vocabulary() {
    let tok = tokenizer(SMOL);
    let t = std::time::Instant::now();
    let vocab = Vocab::new(&tok);
    eprintln!("vocab of {} tokens in {:?}", vocab.len(), t.elapsed());
    // Byte decoding agrees with the tokenizer on ordinary tokens.
    for id in tok.encode("click[Buy Now] search[red shoes, size 9]</answer>").unwrap() {
        assert_eq!(String::from_utf8_lossy(vocab.get(id)), tok.decode(&[id]).unwrap());
    }
    let acts: Vec<String> = ["search[...]", "click[back to search]", "click[b09pv9j15d]", "click[X-Large]", "click[buy now]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let set = ActionSet::new(&acts, "</answer>");
    let all = [
        "search[",
        "click[back to search]</answer>",
        "click[b09pv9j15d]</answer>",
        "click[X-Large]</answer>",
        "click[buy now]</answer>",
    ];
    let t = std::time::Instant::now();
    let start = text_of(&set, &vocab, set.start());
    eprintln!("{} tokens allowed at the start, found in {:?}", start.len(), t.elapsed());
    assert!(t.elapsed().as_millis() < 500, "too slow: {:?}", t.elapsed());
    // Every allowed token keeps the text a prefix of an allowed action ...
    for s in &start {
        assert!(all.iter().any(|a| a.starts_with(s.as_str()) || s.starts_with("search[")), "{s:?}");
    }
    // ... the obvious ones are there, and nothing else.
    for want in ["click", "search", "c", "s"] {
        assert!(start.iter().any(|s| s == want), "{want:?} missing");
    }
    for bad in [" click", "<", "\n", "Click", "buy"] {
        assert!(!start.iter().any(|s| s == bad), "{bad:?} allowed");
    }
    let after = |prefix: &str| set.advance(set.start(), prefix.as_bytes()).unwrap();
    let s = text_of(&set, &vocab, after("click[b"));
    assert!(s.iter().all(|t| "09pv9j15d]</answer>".starts_with(t.as_str()) || "ack to search]</answer>".starts_with(t.as_str()) || "uy now]</answer>".starts_with(t.as_str())), "{s:?}");
    assert!(!s.iter().any(|t| t.starts_with(']')));
    let s = text_of(&set, &vocab, after("click[X-"));
    assert!(s.iter().any(|t| t == "Large" || t == "L") && !s.iter().any(|t| t == "large"));
    // Inside a query: free text but no ']' until something was typed, never a newline or tag.
    let s = text_of(&set, &vocab, after("search["));
    assert!(s.iter().any(|t| t == "red") && s.iter().any(|t| t == " shoes"));
    assert!(!s.iter().any(|t| t.starts_with(']') || t.contains('\n') || t.contains('<')));
    let s = text_of(&set, &vocab, after("search[red shoes"));
    assert!(s.iter().any(|t| t.starts_with(']')));
    assert!(s.iter().filter_map(|t| t.find(']').map(|i| &t[i..])).all(|t| "]</answer>".starts_with(t)));
    assert!(!s.iter().any(|t| t.contains("]]") || t.contains("] ")));
    // Specials never.
    let end = tok.token_to_id("<|im_end|>").unwrap();
    assert!(set.allowed(after("click[buy now]"), &vocab).iter().all(|&(i, _)| i != end));
}

#[test]
fn smoke_episode_with_smollm_on_cpu() {
    let path = model(SMOL);
    let t = std::time::Instant::now();
    let mut src = FileSource::open(&path).unwrap();
    let g = pollster::block_on(read_header(&mut src)).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let engine = pollster::block_on(AnyEngine::load(Backend::Cpu, &mut src, 1024, |_, _| {})).unwrap();
    let vocab = Arc::new(Vocab::new(&tok));
    // A compact wording and short pages keep this fast in a debug build: the protocol is data.
    let protocol = Protocol {
        system: "You shop.".into(),
        task: "Buy: {instruction}\nReply <think>..</think><summary>..</summary><answer>ACTION</answer>.\n".into(),
        max_observation_chars: 160,
        ..Protocol::webshop()
    };
    let mut policy = LlmPolicy::new(engine, &tok, vocab, protocol.clone(), 1024);
    policy.limits = Limits { max_tokens: 4, memory_tokens: 4, action_tokens: 12 };
    let store = Arc::new(Store::builtin(0).unwrap());
    let mut env = Env::new(store, dev_goals().unwrap()[0].clone()).unwrap();
    let cfg = EpisodeConfig { protocol, mode: Mode::Mem1, max_turns: 2, trace_prompts: true, trace_ids: false };
    let ep = pollster::block_on(run_episode(&mut policy, &tok, &mut env, &cfg)).unwrap();
    eprintln!("{:?} in {:?}", ep.trace.iter().map(|t| (&t.action, t.prompt_tokens, t.prefill_tokens, t.decode_tokens)).collect::<Vec<_>>(), t.elapsed());
    assert!(ep.error.is_none(), "{:?}", ep.error);
    assert!(ep.turns >= 1);
    // Constrained decoding: every action parses and is valid on its page.
    assert!(ep.trace.iter().all(|t| t.valid), "{:?}", ep.trace.iter().map(|t| (&t.output, &t.invalid_reason)).collect::<Vec<_>>());
    if ep.turns == 2 {
        assert!(ep.trace[1].prefill_tokens < ep.trace[1].prompt_tokens - ep.prefix_tokens + 32);
    }
}

/// Whether some run of 1 to 4 words (one with at least 3 letters) comes three times in a row.
fn has_triple(text: &str) -> Option<String> {
    let w: Vec<&str> = text.split_whitespace().collect();
    for p in 1..=4 {
        for i in 0..w.len().saturating_sub(3 * p - 1) {
            let unit = &w[i..i + p];
            if unit.iter().map(|s| s.chars().filter(|c| c.is_ascii_alphabetic()).count()).sum::<usize>() >= 3
                && w[i + p..i + 2 * p] == *unit
                && w[i + 2 * p..i + 3 * p] == *unit
            {
                return Some(unit.join(" "));
            }
        }
    }
    None
}

/// Whether some line (a stretch between blank lines, with at least 3 letters) comes three times
/// in a row: a sentence written over and over.
fn has_triple_line(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.split("\n\n").map(str::trim).filter(|l| !l.is_empty()).collect();
    lines
        .windows(3)
        .find(|w| w[0] == w[1] && w[1] == w[2] && w[0].chars().filter(|c| c.is_ascii_alphabetic()).count() >= 3)
        .map(|w| w[0].to_string())
}

/// The base model without the adapter, greedy, on dev goal 0 writes the same sentence over and
/// over in its first turn (`The action is found at the end of the page.`) until the token budget
/// runs out. The repetition guard forbids the token that would write any run of 1–16 tokens a
/// third time in a row, so the model takes its next-best token instead: the turn reports the
/// repair, and no word, phrase or sentence comes three times in a row. (The base model, not the
/// shipped adapter: a better adapter stops looping, and the guard must still be seen to work.)
#[test]
fn the_repetition_guard_stops_a_model_that_loops_on_a_sentence() {
    let base = model(SMOL);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let trace_file = std::env::temp_dir().join(format!("mem1-repetition-{}.jsonl", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mem1"))
        .current_dir(&root)
        .args(["run", "--model", base.to_str().unwrap(), "--lora", "none", "--goals", "dev", "--limit", "1"])
        .args(["--max-turns", "1", "--backend", "cpu", "--json", "--no-prompts", "--trace", trace_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let traced = std::fs::read_to_string(&trace_file).unwrap();
    std::fs::remove_file(&trace_file).ok();
    let ep: serde_json::Value = serde_json::from_str(traced.lines().next().unwrap()).unwrap();
    let trace = ep["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 1);
    let output = trace[0]["output"].as_str().unwrap();
    assert!(has_triple(output).is_none(), "repeats {:?}: {output}", has_triple(output));
    assert!(has_triple_line(output).is_none(), "repeats {:?}: {output}", has_triple_line(output));
    let fired = trace[0]["problems"].as_array().unwrap().iter().any(|p| p == "repetition");
    assert!(fired, "the guard never fired: {output}");
}
