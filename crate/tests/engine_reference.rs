//! The engine against an implementation we did not write: HF transformers loading the same GGUF
//! files (tests/fixtures, made by scripts/make_fixtures.py), and gguf-py's dequantization.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod common;
use common::*;
use mem1::cpu::Cpu;
use mem1::engine::Engine;
use mem1::gpu::Gpu;
use mem1::quant::{self, GgmlType};
use mem1::tokenizer::{Message, Tokenizer};

#[test]
fn tokenizer_ids_equal_huggingface_for_both_models() {
    for m in [SMOL, QWEN] {
        let (_, g) = header(&model(m));
        let tok = Tokenizer::from_gguf(&g).unwrap();
        let cases = fixture(&format!("tokenizer-{}.json", fixture_id(m)));
        for c in cases.as_array().unwrap() {
            let text = c["text"].as_str().unwrap();
            // Where the model's published tokenizer.json and transformers' GGUF conversion differ
            // (Qwen2.5 NFC-normalizes; the GGUF conversion forgets to), we follow tokenizer.json.
            let want = c.get("ids_tokenizer_json").unwrap_or(&c["ids"]);
            assert_eq!(tok.encode(text).unwrap(), ids(want), "{m}: {text:?}");
            let back = tok.decode(&ids(want)).unwrap();
            if want == &c["ids"] {
                assert_eq!(back, c["decoded"].as_str().unwrap_or(text), "{m}: decode {text:?}");
            } else {
                assert_eq!(tok.encode(&back).unwrap(), ids(want), "{m}: round trip {text:?}");
            }
        }
        println!("{m}: {} strings tokenized as HF does", cases.as_array().unwrap().len());
    }
}

#[test]
fn qwen_tokenizer_json_agrees() {
    let (_, g) = header(&model(QWEN));
    let json = std::fs::read_to_string(repo().join(".cache/models/qwen2.5-tokenizer.json")).unwrap();
    let tok = Tokenizer::from_json(&json, Some(&g)).unwrap();
    for c in fixture("tokenizer-qwen2.5-coder-0.5b-q4_k_m.json").as_array().unwrap() {
        if let Some(expect) = c.get("ids_tokenizer_json") {
            assert_eq!(tok.encode(c["text"].as_str().unwrap()).unwrap(), ids(expect));
        }
    }
}

#[test]
fn chat_templates_render_like_jinja() {
    for m in [SMOL, QWEN] {
        let (_, g) = header(&model(m));
        let tok = Tokenizer::from_gguf(&g).unwrap();
        let t = tok.chat.clone().expect("ChatML template");
        for c in fixture(&format!("chat-{}.json", fixture_id(m)))["cases"].as_array().unwrap() {
            let msgs: Vec<Message> = serde_json::from_value(c["messages"].clone()).unwrap();
            assert_eq!(t.render(&msgs, true), c["text_add_generation_prompt"].as_str().unwrap(), "{m} {}", c["name"]);
            assert_eq!(t.render(&msgs, false), c["text_no_generation_prompt"].as_str().unwrap(), "{m} {}", c["name"]);
        }
    }
}

#[test]
fn dequantization_equals_gguf_py() {
    for m in [SMOL, QWEN] {
        let (mut src, g) = header(&model(m));
        for c in fixture(&format!("dequant-{}.json", fixture_id(m))).as_array().unwrap() {
            let name = c["name"].as_str().unwrap();
            let t = g.tensor(name).unwrap();
            assert_eq!(format!("{:?}", t.ty).replace('K', "_K").to_uppercase(), c["type"].as_str().unwrap().to_uppercase());
            let bytes = pollster::block_on(mem1::gguf::ByteSource::read_at(&mut src, t.offset, t.n_bytes as usize)).unwrap();
            let mut v = vec![0f32; t.n_elements() as usize];
            quant::dequantize(t.ty, &bytes, &mut v).unwrap();
            let first: Vec<f32> = c["first"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            assert_eq!(&v[..first.len()], &first[..], "{name}: first values");
            let sum: f64 = v.iter().map(|&x| x as f64).sum();
            let sumsq: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
            let (es, eq) = (c["sum"].as_f64().unwrap(), c["sumsq"].as_f64().unwrap());
            assert!((sum - es).abs() <= 1e-9 * eq.sqrt().max(1.0) * (v.len() as f64).sqrt(), "{name}: sum {sum} vs {es}");
            assert!((sumsq - eq).abs() <= 1e-9 * eq, "{name}: sumsq {sumsq} vs {eq}");
            println!("{m} {name} {:?}: {} values equal gguf-py", t.ty, v.len());
        }
    }
}

/// Prompt logits and the greedy continuation of one backend against the fixtures; the engine is
/// loaded once and each prompt starts from an emptied cache.
fn check_model<E: Engine>(name: &str, e: &mut E) {
    let fx = fixture(&format!("{}.json", fixture_id(name)));
    for (i, p) in fx["prompts"].as_array().unwrap().iter().enumerate() {
        e.truncate(0).unwrap();
        let toks = ids(&p["tokens"]);
        pollster::block_on(e.prefill(&toks)).unwrap();
        let logits = pollster::block_on(e.logits()).unwrap();
        let reference = npy(p["logits_file"].as_str().unwrap().rsplit('/').next().unwrap());
        assert_logits_close(&logits, &reference, &format!("{name} prompt {i}"));
        // Greedy continuation, token for token.
        let want = ids(&p["greedy"]);
        let greedy = mem1::sample::SamplerParams::greedy();
        let mut got = vec![pollster::block_on(e.sample(&greedy, 0.0)).unwrap()];
        while got.len() < want.len() {
            let last = *got.last().unwrap();
            got.push(pollster::block_on(e.decode(last, &greedy, 0.0)).unwrap());
        }
        assert_eq!(got, want, "{name} prompt {i}: greedy continuation");
        println!("{name} prompt {i}: {} greedy tokens identical", want.len());
    }
}

/// `model_file` loaded by `load` from its file.
fn load<E>(model_file: &str, load: impl FnOnce(&mut mem1::gguf::FileSource) -> E) -> E {
    load(&mut mem1::gguf::FileSource::open(&model(model_file)).unwrap())
}

#[test]
fn cpu_reference_matches_transformers_smollm2() {
    let mut e = load(SMOL, |src| pollster::block_on(Cpu::load(src, 512, |_, _| {})).unwrap());
    check_model(SMOL, &mut e);
}

#[test]
fn cpu_reference_matches_transformers_qwen2() {
    let mut e = load(QWEN, |src| pollster::block_on(Cpu::load(src, 512, |_, _| {})).unwrap());
    check_model(QWEN, &mut e);
}

#[test]
fn cpu_quantized_matches_transformers_smollm2() {
    let mut e = load(SMOL, |src| pollster::block_on(Cpu::load_quantized(src, 512, |_, _| {})).unwrap());
    check_model(SMOL, &mut e);
}

#[test]
fn cpu_quantized_matches_transformers_qwen2() {
    let mut e = load(QWEN, |src| pollster::block_on(Cpu::load_quantized(src, 512, |_, _| {})).unwrap());
    check_model(QWEN, &mut e);
}

#[test]
fn gpu_matches_transformers_smollm2() {
    let mut e = load(SMOL, |src| pollster::block_on(Gpu::load_on(gpu_device(), src, 512, 64, |_, _| {})).unwrap());
    check_model(SMOL, &mut e);
}

#[test]
fn gpu_matches_transformers_qwen2() {
    let mut e = load(QWEN, |src| pollster::block_on(Gpu::load_on(gpu_device(), src, 512, 64, |_, _| {})).unwrap());
    check_model(QWEN, &mut e);
}

/// 256 tokens of a chat forced through the f32 reference and another backend one at a time: the
/// other's argmax must agree with the reference's at ≥ 99 % of positions.
fn forced_decoding_agrees_with_reference<E: Engine>(other: &mut E, what: &str) {
    let path = model(SMOL);
    let (_, g) = header(&path);
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let text = "The store sells running shoes, wool socks, gluten free snacks and phone cases. \
        A shopper asks for black men's running shoes in size 10 under sixty dollars; the agent searches, \
        reads the results page, opens the third item, picks the size and the color, checks the price, and buys it. \
        Then it writes a short note about what it saw: prices, ratings, and which options were missing. ";
    let mut forced = tok.encode(&tok.apply_chat(&[Message::new("user", &text.repeat(3))]).unwrap()).unwrap();
    forced.truncate(257);
    assert_eq!(forced.len(), 257);
    let mut src = mem1::gguf::FileSource::open(&path).unwrap();
    let mut cpu = pollster::block_on(Cpu::load(&mut src, 512, |_, _| {})).unwrap();
    let greedy = mem1::sample::SamplerParams::greedy();
    let mut agree = 0;
    for w in forced.windows(2).take(256) {
        pollster::block_on(cpu.prefill(&w[..1])).unwrap();
        let c = mem1::sample::argmax(&pollster::block_on(cpu.logits()).unwrap());
        let o = pollster::block_on(other.decode(w[0], &greedy, 0.0)).unwrap();
        agree += (c == o) as usize;
    }
    println!("forced decoding: {what} top-1 equals the reference's at {agree}/256 positions");
    assert!(agree * 100 >= 99 * 256, "{what}: only {agree}/256 agree");
}

#[test]
fn forced_decoding_gpu_agrees_with_cpu() {
    let mut gpu = load(SMOL, |src| pollster::block_on(Gpu::load_on(gpu_device(), src, 512, 64, |_, _| {})).unwrap());
    forced_decoding_agrees_with_reference(&mut gpu, "GPU");
}

#[test]
fn forced_decoding_quantized_cpu_agrees_with_reference() {
    let mut q = load(SMOL, |src| pollster::block_on(Cpu::load_quantized(src, 512, |_, _| {})).unwrap());
    forced_decoding_agrees_with_reference(&mut q, "quantized CPU");
}

#[test]
fn every_quant_type_has_a_gguf_id_and_gpu_layout() {
    for id in 0..40 {
        if let Some(t) = GgmlType::from_id(id) {
            assert_eq!(t as u32, id);
            let lay = quant::gpu_layout(t);
            assert!(lay.words > 0 && lay.elems % 32 == 0);
        }
    }
}
