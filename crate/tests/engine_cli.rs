//! The `mem1 logits | generate | bench` command lines, as other tools call them.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod common;
use common::*;
use std::process::Command;

fn mem1(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mem1")).args(args).env("WGPU_BACKEND", "vulkan").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn logits_prints_json_and_writes_npy() {
    let fx = fixture("smollm2-135m-q4_1.json");
    let p = &fx["prompts"][0];
    let prompt = p["messages"][0]["content"].as_str().unwrap();
    let npy_path = std::env::temp_dir().join(format!("mem1-logits-{}.npy", std::process::id()));
    let m = model(SMOL);
    let (code, out, err) = mem1(&["logits", "--model", m.to_str().unwrap(), "--prompt", prompt, "--chat", "--backend", "cpu", "--top", "5", "--out", npy_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ids(&j["tokens"]), ids(&p["tokens"]), "chat-templated prompt tokens");
    let top = j["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    assert_eq!(top[0][0].as_u64().unwrap(), p["top"][0][0].as_u64().unwrap());
    let b = std::fs::read(&npy_path).unwrap();
    std::fs::remove_file(&npy_path).ok();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!(b.len() - 10 - hl, 49152 * 4, "one float32 per vocabulary entry");
}

#[test]
fn generate_streams_text_then_speeds() {
    let m = model(SMOL);
    let (code, out, err) = mem1(&["generate", "--model", m.to_str().unwrap(), "--prompt", "What is the capital of France?", "--chat", "--max-tokens", "12", "--backend", "cpu"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.trim().lines().rev();
    let stats: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert!(stats["decode_tok_s"].as_f64().unwrap() > 0.0 && stats["prefill_tok_s"].as_f64().unwrap() > 0.0);
    assert!(out.contains("Paris"), "{out}");
}

#[test]
fn bench_runs_a_synthetic_model_without_a_file() {
    let (code, out, err) = mem1(&[
        "bench", "--synthetic", "smollm2-135m", "--quant", "q4_0", "--prompt-tokens", "8", "--decode-tokens", "2", "--backend", "gpu",
        "--turn", "--summary-tokens", "3", "--action-tokens", "3", "--copy-mib", "4",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert!(j["decode_tok_s"].as_f64().unwrap() > 0.0);
    let kernels = j["kernels"].as_array().unwrap();
    assert!(kernels.iter().any(|k| k["kernel"] == "matvec/Q4_0" && k["gb_s"].as_f64().unwrap() > 0.0), "{j}");
    // The copy kernel's bandwidth is the roofline decode is held against.
    let f = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("no {k} in {j}"));
    assert_eq!(f("copy_bytes"), 4.0 * 1048576.0);
    assert!(f("copy_gb_s") > 0.0 && f("roofline_tok_s") > 0.0 && f("decode_vs_roofline") > 0.0, "{j}");
    assert!((f("roofline_tok_s") - f("copy_gb_s") * 1e9 / f("weight_bytes_per_token")).abs() < 1e-6 * f("roofline_tok_s"));
    // The agent turn: a masked action, one submission and one id read back per generated token
    // (the forced tags' prefill is the one extra).
    let t = &j["agent_turn"];
    assert!(t["turn_seconds"].as_f64().unwrap() > 0.0 && t["action_tokens"].as_u64().unwrap() >= 1, "{t}");
    let generated = t["summary_tokens"].as_f64().unwrap() + t["action_tokens"].as_f64().unwrap();
    assert!(t["submissions_per_token"].as_f64().unwrap() <= (generated + 1.0) / generated, "{t}");
    assert!(t["readback_bytes_per_token"].as_f64().unwrap() <= 4.0, "{t}");
    // The default picks the quantized CPU backend on this CPU-emulated adapter and says why.
    let (code, out, err) = mem1(&["bench", "--synthetic", "smollm2-135m", "--quant", "q4_0", "--prompt-tokens", "8", "--decode-tokens", "2"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    let backend = j["backend"].as_str().unwrap();
    assert!(backend.starts_with("cpu: quantized") && backend.contains("CPU-emulated"), "{j}");
    assert!(j["prefill_tok_s"].as_f64().unwrap() > 0.0 && j["decode_tok_s"].as_f64().unwrap() > 0.0, "{j}");
}

#[test]
fn bad_input_fails_with_a_message_not_a_panic() {
    let (code, _, err) = mem1(&["logits", "--model", "/nonexistent.gguf", "--prompt", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot open model"), "{err}");
    let bad = std::env::temp_dir().join(format!("mem1-bad-{}.gguf", std::process::id()));
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let (code, _, err) = mem1(&["generate", "--model", bad.to_str().unwrap(), "--prompt", "x", "--backend", "cpu"]);
    std::fs::remove_file(&bad).ok();
    assert_eq!(code, 1);
    assert!(err.contains("GGUF parse error"), "{err}");
    assert!(!err.contains("panicked"));
    let (code, _, err) = mem1(&["logits", "--prompt", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("--model is required"), "{err}");
    let (code, _, err) = mem1(&["bench", "--synthetic", "gpt-5"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown synthetic model"), "{err}");
    // Sampler settings are checked before any model loads.
    let (code, _, err) = mem1(&["generate", "--model", "/nonexistent.gguf", "--prompt", "x", "--temperature", "1", "--top-p", "1.5"]);
    assert_eq!(code, 1);
    assert!(err.contains("--top-p must be above 0 and at most 1, not 1.5"), "{err}");
    let (code, _, err) = mem1(&["run", "--model", "/nonexistent.gguf", "--sample", "1", "--top-k", "0"]);
    assert_eq!(code, 1);
    assert!(err.contains("--top-k must be 1 to 64, not 0"), "{err}");
    let (code, _, err) = mem1(&["run", "--model", "/nonexistent.gguf", "--sample", "1", "--temperature", "-1"]);
    assert_eq!(code, 1);
    assert!(err.contains("--temperature must be 0 (greedy) or more"), "{err}");
    let (code, _, _) = mem1(&["frobnicate"]);
    assert_eq!(code, 2);
}

/// `mem1 run` without `--model` runs the shipped policy (the base model and the bundled adapter)
/// and says so, with the adapter's sha256, before anything else.
#[test]
fn run_defaults_to_the_shipped_policy_and_names_it() {
    let sha = mem1::cli::sha256_file(repo().join("models/mem1-smollm2-135m.lora.gguf").to_str().unwrap()).unwrap();
    model(SMOL);
    let out = Command::new(env!("CARGO_BIN_EXE_mem1"))
        .args(["run", "--goals", "dev", "--limit", "1", "--max-turns", "1", "--max-tokens", "8", "--backend", "cpu", "--json", "--no-prompts"])
        .current_dir(repo())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let line = format!("mem1 run: policy {SMOL} + LoRA mem1-smollm2-135m.lora.gguf (sha256 {})", &sha[..8]);
    assert!(err.lines().next().is_some_and(|l| l == line), "the first line is not {line:?}:\n{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert_eq!(summary["lora_sha256"], sha.as_str(), "{summary}");
    assert_eq!(summary["lora"], "models/mem1-smollm2-135m.lora.gguf", "{summary}");
}

/// Where the bundled adapter is missing, `mem1 run` refuses rather than running the base model
/// zero-shot unasked; `--lora none` asks for exactly that.
#[test]
fn run_refuses_without_the_bundled_adapter() {
    let dir = std::env::temp_dir().join(format!("mem1-noadapter-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".cache/models")).unwrap();
    std::fs::copy(model(SMOL), dir.join(".cache/models").join(SMOL)).unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mem1"))
            .args(["run", "--goals", "dev", "--limit", "1", "--max-turns", "1", "--max-tokens", "8", "--backend", "cpu", "--json"])
            .args(extra)
            .current_dir(&dir)
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("models/mem1-smollm2-135m.lora.gguf is not here") && err.contains("--lora none"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (code, err) = run(&["--lora", "none"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("mem1 run: policy {SMOL}, base model zero-shot (no adapter)")), "{err}");
}
