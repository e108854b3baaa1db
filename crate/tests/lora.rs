//! LoRA adapters merged at load time (`mem1::lora`): the merged file holds exactly W + alpha/r·B·A,
//! any split of reads gives the same bytes, every backend loads it, and adapters that do not fit
//! the model are refused with a clear error.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod common;

use common::{assert_logits_close, gpu_device, max_abs, max_diff};
use mem1::cpu::Cpu;
use mem1::engine::Engine;
use mem1::gguf::write::{gguf, Tensor};
use mem1::gguf::{self, ByteSource, Gguf, Value};
use mem1::gpu::Gpu;
use mem1::lora::{Adapted, Adapter};
use mem1::quant::{self, GgmlType};
use mem1::synthetic::{synthetic_gguf, Shape};

const RANK: usize = 4;
const ALPHA: f32 = 6.0;
/// The matrices the test adapter changes (the others must come through untouched).
const TARGETS: &[&str] = &["attn_q", "attn_v", "ffn_down"];

fn shape(d: usize) -> Shape {
    Shape { arch: "llama", layers: 2, d, heads: 4, kv: 2, ff: 96, vocab: 256, tied: true }
}

/// Deterministic values in about ±0.5.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

fn header(file: &mut Vec<u8>) -> Gguf {
    pollster::block_on(gguf::read_header(file)).unwrap()
}

fn tensor_f32(file: &[u8], g: &Gguf, name: &str) -> Vec<f32> {
    let t = g.tensor(name).unwrap();
    let mut out = vec![0f32; t.n_elements() as usize];
    quant::dequantize(t.ty, &file[t.offset as usize..(t.offset + t.n_bytes) as usize], &mut out).unwrap();
    out
}

/// An adapter in llama.cpp's layout for `base`: lora_a F32 `[cols, r]`, lora_b F16 `[r, rows]`
/// (F16 as the trainer writes them).
fn adapter_file(base: &Gguf, arch: &str) -> Vec<u8> {
    let mut ts = Vec::new();
    for (i, t) in base.tensors.iter().filter(|t| TARGETS.iter().any(|x| t.name.ends_with(&format!("{x}.weight")))).enumerate() {
        let (rows, cols) = t.rows_cols();
        let a = values(RANK * cols as usize, 10 + i as u64);
        let b: Vec<u8> = values(RANK * rows as usize, 100 + i as u64).iter().flat_map(|v| half::f16::from_f32(*v * 0.5).to_le_bytes()).collect();
        ts.push(Tensor { name: format!("{}.lora_a", t.name), dims: vec![cols, RANK as u64], ty: GgmlType::F32, data: a.iter().flat_map(|v| v.to_le_bytes()).collect() });
        ts.push(Tensor { name: format!("{}.lora_b", t.name), dims: vec![RANK as u64, rows], ty: GgmlType::F16, data: b });
    }
    let meta = [
        ("general.architecture", Value::Str(arch.into())),
        ("general.type", Value::Str("adapter".into())),
        ("general.name", Value::Str("test adapter".into())),
        ("adapter.type", Value::Str("lora".into())),
        ("adapter.lora.alpha", Value::F32(ALPHA)),
    ];
    gguf(&meta, &ts)
}

fn adapter(file: &[u8]) -> Adapter {
    pollster::block_on(Adapter::read(&mut file.to_vec())).unwrap()
}

fn read_all<S: ByteSource>(s: &mut S) -> Vec<u8> {
    let n = s.len() as usize;
    pollster::block_on(s.read_at(0, n)).unwrap()
}

/// W + alpha/r·B·A, computed here densely from the two files.
fn expected(base: &[u8], bg: &Gguf, ad: &[u8], ag: &Gguf, name: &str) -> Vec<f32> {
    let mut w = tensor_f32(base, bg, name);
    let a = tensor_f32(ad, ag, &format!("{name}.lora_a"));
    let b = tensor_f32(ad, ag, &format!("{name}.lora_b"));
    let (rows, cols) = bg.tensor(name).unwrap().rows_cols();
    let (rows, cols) = (rows as usize, cols as usize);
    for o in 0..rows {
        for i in 0..cols {
            let d: f32 = (0..RANK).map(|k| b[o * RANK + k] * a[k * cols + i]).sum();
            w[o * cols + i] += ALPHA / RANK as f32 * d;
        }
    }
    w
}

#[test]
fn merged_file_holds_the_adapted_weights_and_the_rest_unchanged() {
    let mut base = synthetic_gguf(&shape(64), GgmlType::Q4_1, 64);
    let bg = header(&mut base);
    let mut ad = adapter_file(&bg, "llama");
    let ag = header(&mut ad);
    for (ty, tol) in [(GgmlType::F32, 1e-5f32), (GgmlType::Q8_0, 0.0)] {
        let mut merged = Adapted::new(base.clone(), &bg, adapter(&ad), ty).unwrap();
        let mut file = read_all(&mut merged);
        let mg = header(&mut file);
        assert_eq!(mg.tensors.len(), bg.tensors.len());
        assert_eq!(mg.get("llama.block_count"), bg.get("llama.block_count"));
        let mut adapted = 0;
        for t in &bg.tensors {
            let m = mg.tensor(&t.name).unwrap();
            assert_eq!(m.dims, t.dims, "{}", t.name);
            if TARGETS.iter().any(|x| t.name.ends_with(&format!("{x}.weight"))) {
                adapted += 1;
                assert_eq!(m.ty, ty, "{}", t.name);
                let want = expected(&base, &bg, &ad, &ag, &t.name);
                let got = tensor_f32(&file, &mg, &t.name);
                let d = max_diff(&got, &want);
                // Q8_0 rounds each value to within half a step (its block's max / 127), and the
                // step itself to f16 (at most 127 × 2^-11 of a step more).
                let bound = if ty == GgmlType::Q8_0 { max_abs(&want) / 127.0 * 0.57 } else { tol };
                assert!(d <= bound, "{} as {ty:?}: max |Δ| {d} > {bound}", t.name);
                assert!(max_diff(&got, &tensor_f32(&base, &bg, &t.name)) > 1e-3, "{}: the adapter changed nothing", t.name);
            } else {
                assert_eq!(m.ty, t.ty);
                assert_eq!(
                    &file[m.offset as usize..(m.offset + m.n_bytes) as usize],
                    &base[t.offset as usize..(t.offset + t.n_bytes) as usize],
                    "{} must be copied as it is",
                    t.name
                );
            }
        }
        assert_eq!(adapted, TARGETS.len() * 2);
        // Reads of any size at any offset give the same bytes as the whole file.
        let mut off = 0usize;
        let mut step = 1usize;
        while off < file.len() {
            let n = step.min(file.len() - off);
            assert_eq!(pollster::block_on(merged.read_at(off as u64, n)).unwrap(), &file[off..off + n], "read of {n} at {off}");
            off += n;
            step = step * 7 % 1013 + 1;
        }
        assert!(pollster::block_on(merged.read_at(file.len() as u64 - 4, 8)).is_err(), "a read past the end must fail");
    }
}

#[test]
fn every_backend_runs_the_merged_model() {
    let mut base = synthetic_gguf(&shape(64), GgmlType::Q4_1, 64);
    let bg = header(&mut base);
    let ad = adapter_file(&bg, "llama");
    let prompt: Vec<u32> = (0..11).map(|i| (i * 37 + 5) % 256).collect();
    // The reference on the F32 merge is the oracle.
    let mut m = Adapted::new(base.clone(), &bg, adapter(&ad), GgmlType::F32).unwrap();
    let mut reference = pollster::block_on(Cpu::load(&mut m, 64, |_, _| {})).unwrap();
    pollster::block_on(reference.prefill(&prompt)).unwrap();
    let want = pollster::block_on(reference.logits()).unwrap();
    let mut plain = pollster::block_on(Cpu::load(&mut base.clone(), 64, |_, _| {})).unwrap();
    pollster::block_on(plain.prefill(&prompt)).unwrap();
    let before = pollster::block_on(plain.logits()).unwrap();
    let moved = max_diff(&want, &before) / max_abs(&before);
    println!("the adapter moves the logits by {moved:.3} of max|logit|");
    assert!(moved > 1e-2, "the adapter must change the logits");

    let mut m = Adapted::new(base.clone(), &bg, adapter(&ad), GgmlType::Q8_0).unwrap();
    let mut q = pollster::block_on(Cpu::load_quantized(&mut m, 64, |_, _| {})).unwrap();
    pollster::block_on(q.prefill(&prompt)).unwrap();
    assert_logits_close(&pollster::block_on(q.logits()).unwrap(), &want, "quantized CPU, Q8_0 merge");

    // The GPU loader reads in chunks of 8 rows: merged rows are made per read.
    let mut m = Adapted::new(base.clone(), &bg, adapter(&ad), GgmlType::Q8_0).unwrap();
    let mut g = pollster::block_on(Gpu::load_on(gpu_device(), &mut m, 64, 8, |_, _| {})).unwrap();
    pollster::block_on(g.prefill(&prompt)).unwrap();
    assert_logits_close(&pollster::block_on(g.logits()).unwrap(), &want, "GPU, Q8_0 merge");
}

#[test]
fn adapters_that_do_not_fit_are_refused_clearly() {
    let mut base = synthetic_gguf(&shape(64), GgmlType::Q4_1, 64);
    let bg = header(&mut base);
    // An adapter made for a narrower model.
    let mut other = synthetic_gguf(&shape(32), GgmlType::Q4_1, 64);
    let og = header(&mut other);
    let e = Adapted::new(base.clone(), &bg, adapter(&adapter_file(&og, "llama")), GgmlType::Q8_0).err().unwrap().to_string();
    assert!(e.contains("does not fit this model") && e.contains("attn_q"), "{e}");
    // One for another architecture.
    let e = Adapted::new(base.clone(), &bg, adapter(&adapter_file(&bg, "qwen2")), GgmlType::Q8_0).err().unwrap().to_string();
    assert!(e.contains("qwen2") && e.contains("llama"), "{e}");
    // A model file is not an adapter.
    let e = pollster::block_on(Adapter::read(&mut base.clone())).err().unwrap().to_string();
    assert!(e.contains("not a LoRA adapter"), "{e}");
    // An adapter for a tensor the model lacks.
    let t = Tensor { name: "blk.9.attn_q.weight.lora_a".into(), dims: vec![64, 2], ty: GgmlType::F32, data: vec![0; 64 * 2 * 4] };
    let t2 = Tensor { name: "blk.9.attn_q.weight.lora_b".into(), dims: vec![2, 64], ty: GgmlType::F32, data: vec![0; 64 * 2 * 4] };
    let meta = [
        ("general.architecture", Value::Str("llama".into())),
        ("general.type", Value::Str("adapter".into())),
        ("adapter.type", Value::Str("lora".into())),
    ];
    let e = Adapted::new(base.clone(), &bg, adapter(&gguf(&meta, &[t, t2])), GgmlType::Q8_0).err().unwrap().to_string();
    assert!(e.contains("blk.9.attn_q.weight") && e.contains("does not have"), "{e}");
    // Half a pair.
    let t = Tensor { name: "blk.0.attn_q.weight.lora_a".into(), dims: vec![64, 2], ty: GgmlType::F32, data: vec![0; 64 * 2 * 4] };
    let e = pollster::block_on(Adapter::read(&mut gguf(&meta, &[t]))).err().unwrap().to_string();
    assert!(e.contains("only one of"), "{e}");
}
