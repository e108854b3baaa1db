//! The bodies of the fuzz targets (`crate/fuzz`, run with cargo-fuzz by `scripts/fuzz.sh`), here
//! so that the regression test (`tests/fuzz_regressions.rs`) replays every input a fuzzer ever
//! crashed on through exactly the code the fuzzer ran. Each function must return normally on any
//! input: errors are fine, panics, hangs and runaway allocations are the bugs.
use crate::agent::guard;
use crate::agent::protocol::Protocol;
use crate::cpu::Cpu;
use crate::engine::Engine;
use crate::gguf::{self, write, ByteSource, Parse, Value};
use crate::lora::{Adapted, Adapter};
use crate::quant::GgmlType;
use crate::synthetic::{synthetic_gguf, Shape};
use crate::model::Config;
use crate::observe::native::observe_html;
use crate::observe::{Layout, LIVE_BUDGET, MAX_CLICKABLES, MAX_CLICK_TEXT};
use crate::shop::action::{parse_action, Action};
use crate::tokenizer::{Message, Tokenizer};

const TEXT: &str = "Héllo <|im_start|>user 12345 wörld\n\t! search[red shoes] 😀";

/// The GGUF reader and everything a downloaded model file reaches before the first token: the
/// header parser (whole, and streamed from a prefix), the model config, the tokenizer built from
/// the metadata, the quantized CPU loader with a forward step, and a LoRA adapter's reader and
/// merge.
pub fn gguf(data: &[u8]) {
    let len = data.len() as u64;
    // The streaming reader parses a prefix and asks for more; it never claims what it has not read.
    if let Ok(Parse::NeedBytes(n)) = gguf::parse(&data[..data.len() / 2], len) {
        assert!(n > (data.len() / 2) as u64 && n <= len, "asked for {n} bytes of {len}");
    }
    if let Ok(Parse::Done(g)) = gguf::parse(data, len) {
        for t in &g.tensors {
            assert!(t.offset + t.n_bytes <= len, "tensor {} past the end", t.name);
        }
        let _ = Config::from_gguf(&g);
        if let Ok(tok) = Tokenizer::from_gguf(&g) {
            exercise(&tok);
        }
    }
    let mut src = data.to_vec();
    if let Ok(mut cpu) = pollster::block_on(Cpu::load_quantized(&mut src, 8, |_, _| {})) {
        let last = (cpu.config().vocab as u32).saturating_sub(1);
        if pollster::block_on(cpu.prefill(&[0, last])).is_ok() {
            let _ = pollster::block_on(cpu.logits());
        }
    }
    // As a LoRA adapter: read, merged into a small model ([`adapter_base`]), the merged file read
    // back whole and parsed.
    if let Ok(adapter) = pollster::block_on(Adapter::read(&mut data.to_vec())) {
        static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let base = BASE.get_or_init(adapter_base);
        let Ok(Parse::Done(g)) = gguf::parse(base, base.len() as u64) else { panic!("the adapter base parses") };
        if let Ok(mut m) = Adapted::new(base.clone(), &g, adapter, GgmlType::Q8_0) {
            let n = m.len();
            let bytes = pollster::block_on(m.read_at(0, n as usize)).expect("a merged model reads whole");
            assert!(matches!(gguf::parse(&bytes, n), Ok(Parse::Done(_))), "the merged model does not parse");
        }
    }
}

/// The model fuzzed adapters are merged into: one llama layer, width 32, Q4_0, vocabulary 64.
pub fn adapter_base() -> Vec<u8> {
    let s = Shape { arch: "llama", layers: 1, d: 32, heads: 2, kv: 1, ff: 64, vocab: 64, tied: true };
    synthetic_gguf(&s, GgmlType::Q4_0, 16)
}

fn exercise(t: &Tokenizer) {
    if let Ok(ids) = t.encode(TEXT) {
        let _ = t.decode(&ids);
    }
    let _ = t.decode(&[0, 1, u32::MAX]);
    let _ = t.apply_chat(&[Message::new("system", "s"), Message::new("user", "u")]);
    let _ = t.id_to_token(u32::MAX);
}

const PRES: &[&str] = &["qwen2", "llama-bpe", "smollm", "default", "gpt2", "starcoder", "nonsense"];

/// Tokenizer loading: a `tokenizer.json` (first byte 0), or else a byte-level BPE built from GGUF
/// metadata whose pre-tokenizer (picked by the first byte), tokens, merges and chat template
/// (blank-line separated sections) come from the input. Whatever loads must encode, decode and
/// render a chat.
pub fn tokenizer(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if mode == 0 {
        if let Ok(t) = Tokenizer::from_json(text, None) {
            exercise(&t);
        }
        return;
    }
    let mut parts = text.splitn(3, "\n\n");
    let tokens: Vec<Value> = parts.next().unwrap_or("").lines().map(|l| Value::Str(l.into())).collect();
    let merges: Vec<Value> = parts.next().unwrap_or("").lines().map(|l| Value::Str(l.into())).collect();
    let template = parts.next().unwrap_or("");
    let types: Vec<Value> = (0..tokens.len()).map(|i| Value::I32(((mode as usize + i) % 5) as i32)).collect();
    let meta = [
        ("tokenizer.ggml.model", Value::Str("gpt2".into())),
        ("tokenizer.ggml.pre", Value::Str(PRES[mode as usize % PRES.len()].into())),
        ("tokenizer.ggml.tokens", Value::Array(tokens)),
        ("tokenizer.ggml.merges", Value::Array(merges)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.eos_token_id", Value::U32(mode as u32)),
        ("tokenizer.chat_template", Value::Str(template.into())),
    ];
    let file = write::gguf(&meta, &[]);
    let Ok(Parse::Done(g)) = gguf::parse(&file, file.len() as u64) else { panic!("a written GGUF must parse") };
    if let Ok(t) = Tokenizer::from_gguf(&g) {
        exercise(&t);
    }
}

/// What the model writes: the turn parser (both tag sets), the action parser, and the guard's
/// purchase and origin checks. A parsed search has keywords; a turn parse names every part it
/// could not find.
pub fn action(s: &str) {
    if let Ok(Action::Search(k)) = parse_action(s) {
        assert!(!k.trim().is_empty());
    }
    for p in [Protocol::webshop(), Protocol::qa()] {
        let t = p.parse(s);
        if t.action.is_none() {
            assert!(t.problems.iter().any(|x| x.ends_with("action")), "{:?}", t.problems);
        }
        if t.memory.is_none() {
            assert!(t.problems.iter().any(|x| x == "missing_memory"));
        }
        if let Some(a) = &t.action {
            let _ = parse_action(a);
        }
    }
    let _ = guard::is_purchase(s);
    let _ = guard::origin(s);
    let _ = guard::leaves_site(Some(s), "https://shop.example/item?x=1");
    let _ = guard::leaves_site(Some("/x"), s);
    let _ = guard::resolve("https://shop.example/a/b", Some(s), s);
    let _ = guard::is_demo_store(s, "http://127.0.0.1:3000");
}

/// DOM → observation on arbitrary HTML (html5ever). What the budget lets through stays within it,
/// every listed action names a clickable the page has, no click target is longer than the cap.
pub fn observe(html: &str) {
    let _ = Layout::decode(html);
    let o = observe_html(html);
    assert!(o.clickables.len() <= MAX_CLICKABLES);
    for c in &o.clickables {
        assert!(c.key.chars().count() <= MAX_CLICK_TEXT, "click target of {} chars", c.key.chars().count());
    }
    let clipped = o.clip(LIVE_BUDGET);
    assert!(clipped.clickables.len() <= LIVE_BUDGET.clickables);
    // The cut text plus its two visible markers.
    let n = clipped.text.chars().count();
    assert!(n <= LIVE_BUDGET.text_chars + 120, "{n} characters after the cut");
    for a in clipped.available_actions() {
        if let Some(k) = a.strip_prefix("click[").and_then(|a| a.strip_suffix(']')) {
            assert!(clipped.find_clickable(k).is_some(), "listed action {a} has no clickable");
            // The guard judges every listed action (allow, confirm or refuse), never "no such thing".
            if let Err(e) = guard::check(&clipped, "https://shop.example/item/1", &a) {
                panic!("listed action {a} was not judged: {e}");
            }
        }
    }
}
