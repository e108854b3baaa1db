//! Every WGSL kernel against the CPU reference on random inputs and awkward shapes (odd row counts,
//! rows not a multiple of the workgroup, tensors split across bindings), for every quant type —
//! the llama.cpp `test-backend-ops` idea, natively on lavapipe.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
mod common;
use common::*;
use mem1::cpu::Cpu;
use mem1::engine::Engine;
use mem1::gpu::{self, Gpu};
use mem1::quant::{self, GgmlType};
use mem1::sample::{self, SamplerParams, TokenMask};
use mem1::synthetic::{synthetic_gguf, Shape};

const ALL: [GgmlType; 12] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::Q8K,
];

#[test]
fn dequant_kernel_equals_cpu_definition_for_every_type() {
    let d = gpu_device();
    for ty in ALL {
        let (be, _) = ty.block();
        for blocks in [1usize, 3, 37] {
            let n = (blocks * be).div_ceil(32) * 32; // float types: whole 32-element units
            let data = quant::random_blocks(ty, n, blocks as u64 + 11);
            let mut want = vec![0f32; n];
            quant::dequantize(ty, &data, &mut want).unwrap();
            let got = pollster::block_on(gpu::dequantize(&d, ty, &data)).unwrap();
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-3), "{ty:?} [{i}]: gpu {g} vs cpu {w}");
            }
        }
    }
}

fn tiny(arch: &'static str, ty: GgmlType) -> Shape {
    // K-quants need rows that are whole 256-element blocks; the others get odd multiples of 32.
    let k = matches!(ty, GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K | GgmlType::Q8K);
    Shape {
        arch,
        layers: 2,
        d: if k { 256 } else { 96 },
        heads: if k { 4 } else { 3 },
        kv: 1,
        ff: if k { 512 } else { 160 },
        vocab: 333,
        tied: arch == "llama",
    }
}

/// Prefill 13 tokens (tiled matmul), then 5 decode steps (matvec): GPU and CPU logits agree.
fn parity(file: Vec<u8>, tpr: u32, max_binding: Option<u64>, what: &str) {
    let mut d = gpu_device();
    d.matvec_tpr = tpr;
    if let Some(m) = max_binding {
        d.limits.max_storage_buffer_binding_size = m;
    }
    let mut src = file.clone();
    let mut g = pollster::block_on(Gpu::load_on(d, &mut src, 64, 8, |_, _| {})).unwrap();
    let mut src = file;
    let mut c = pollster::block_on(Cpu::load(&mut src, 64, |_, _| {})).unwrap();
    let prompt: Vec<u32> = (0..13).map(|i| (i * 37 + 5) % 333).collect();
    pollster::block_on(g.prefill(&prompt)).unwrap();
    pollster::block_on(c.prefill(&prompt)).unwrap();
    let greedy = SamplerParams::greedy();
    for step in 0..6 {
        let (lg, lc) = (pollster::block_on(g.logits()).unwrap(), pollster::block_on(c.logits()).unwrap());
        let (d, m) = (max_diff(&lg, &lc), max_abs(&lc));
        assert!(d <= 2e-3 * m.max(1e-3), "{what} step {step}: max|Δ| {d} vs max|logit| {m}");
        assert_eq!(sample::argmax(&lg), sample::argmax(&lc), "{what} step {step}: argmax");
        let next = pollster::block_on(g.sample(&greedy, 0.0)).unwrap();
        assert_eq!(next, sample::argmax(&lc));
        pollster::block_on(g.decode(next, &greedy, 0.0)).unwrap();
        pollster::block_on(c.prefill(&[next])).unwrap();
    }
}

#[test]
fn tiny_models_gpu_equals_cpu_for_every_type() {
    for ty in ALL {
        for arch in ["llama", "qwen2"] {
            let s = tiny(arch, ty);
            parity(synthetic_gguf(&s, ty, 64), 1, None, &format!("{arch} {ty:?} tpr=1"));
        }
    }
}

#[test]
fn matvec_with_several_threads_per_row_equals_cpu() {
    for ty in [GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4K, GgmlType::Q6K, GgmlType::F16] {
        for tpr in [4, 8, 64] {
            parity(synthetic_gguf(&tiny("qwen2", ty), ty, 64), tpr, None, &format!("{ty:?} tpr={tpr}"));
        }
    }
}

#[test]
fn tensors_larger_than_a_binding_are_split_by_rows() {
    // A 16 KiB binding limit splits the matrices (and the 333-row vocabulary) into 2 to 5 chunks.
    for ty in [GgmlType::Q8_0, GgmlType::Q4K] {
        parity(synthetic_gguf(&tiny("qwen2", ty), ty, 64), 1, Some(16384), &format!("{ty:?} split"));
    }
}

#[test]
fn gpu_sampler_equals_cpu_sampler() {
    // A one-layer model exposes its logits; the sampler runs on them with host-drawn uniforms.
    let s = tiny("llama", GgmlType::F32);
    let file = synthetic_gguf(&s, GgmlType::F32, 64);
    let mut src = file.clone();
    let mut g = pollster::block_on(Gpu::load_on(gpu_device(), &mut src, 64, 8, |_, _| {})).unwrap();
    pollster::block_on(g.prefill(&[1, 2, 3])).unwrap();
    let logits = pollster::block_on(g.logits()).unwrap();
    let mut rng = sample::Rng::new(9);
    for (temperature, top_k, top_p) in [(0.0, 40, 0.95), (1.0, 40, 0.95), (0.7, 5, 1.0), (2.0, 64, 0.5), (1.0, 1, 1.0)] {
        let p = SamplerParams { temperature, top_k, top_p };
        for _ in 0..20 {
            let u = rng.uniform();
            let want = sample::sample(&logits, &p, u);
            let got = pollster::block_on(g.sample(&p, u)).unwrap();
            assert_eq!(got, want, "{p:?} u={u}");
        }
    }
    // Masked: a constrained step's few allowed tokens (fewer than top-k included), most of the
    // vocabulary less a forbidden token, the best token forbidden, and nothing allowed.
    let n = logits.len();
    let best = sample::argmax(&logits);
    let mut masks = Vec::new();
    for allowed in [1usize, 3, 7, 100] {
        let mut m = TokenMask::none(n);
        (0..allowed).for_each(|j| m.allow(((j * 97 + 11) % n) as u32));
        masks.push(m);
    }
    let mut no_best = TokenMask::all(n);
    no_best.forbid(best);
    masks.push(no_best);
    masks.push(TokenMask::none(n));
    for m in &masks {
        for (temperature, top_k, top_p) in [(0.0, 40, 0.95), (1.0, 40, 0.95), (0.7, 5, 1.0), (1.0, 64, 1.0)] {
            let p = SamplerParams { temperature, top_k, top_p };
            for _ in 0..10 {
                let u = rng.uniform();
                let want = sample::sample_masked(&logits, Some(m), &p, u);
                let got = pollster::block_on(g.sample_masked(Some(m), &p, u)).unwrap();
                assert_eq!(got, want, "{p:?} u={u}, {} allowed", (0..n as u32).filter(|&i| m.allows(i)).count());
                assert!(got.is_none_or(|t| m.allows(t)));
            }
        }
    }
    // A decode step with a mask samples among the allowed tokens in the same submission.
    let before = g.transfers();
    let t = pollster::block_on(g.decode_masked(3, Some(&masks[1]), &SamplerParams::greedy(), 0.0)).unwrap().unwrap();
    assert!(masks[1].allows(t));
    let moved = mem1::engine::Transfers::between(before, g.transfers()).expect("the GPU counts its transfers");
    assert_eq!((moved.submissions, moved.readback_bytes), (1, 4), "one submission, the id read back");
}

#[test]
fn copy_kernel_copies() {
    // The bandwidth roofline of `mem1 bench` is only a figure if the kernel moves every byte.
    let d = gpu_device();
    let data: Vec<u8> = (0..(16 * 1000 + 4096) as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    assert_eq!(gpu::bench::copy(&d, &data).unwrap(), data);
    assert!(gpu::bench::copy(&d, &data[..15]).is_err(), "whole 16-byte units only");
}

#[test]
fn bad_model_files_give_clear_errors() {
    let good = synthetic_gguf(&tiny("llama", GgmlType::Q8_0), GgmlType::Q8_0, 64);
    let load = |bytes: Vec<u8>| -> String {
        let mut src = bytes;
        match pollster::block_on(Cpu::load(&mut src, 64, |_, _| {})) {
            Ok(_) => "loaded".into(),
            Err(e) => e.to_string(),
        }
    };
    let mut wrong_magic = good.clone();
    wrong_magic[..4].copy_from_slice(b"GGML");
    assert!(load(wrong_magic).contains("not a GGUF file"));
    assert!(load(good[..good.len() / 2].to_vec()).contains("truncated"));
    assert!(load(good[..100].to_vec()).contains("truncated"));
    assert!(load(vec![]).contains("truncated"));

    use mem1::gguf::write::{gguf, Tensor};
    use mem1::gguf::Value;
    let t = |ty: GgmlType, dims: Vec<u64>| Tensor { name: "token_embd.weight".into(), data: quant::random_blocks(ty, dims.iter().product::<u64>() as usize, 1), dims, ty };
    let arch = |a: &str| vec![("general.architecture", Value::Str(a.into()))];
    let e = load(gguf(&arch("mamba"), &[t(GgmlType::F32, vec![32, 4])]));
    assert!(e.contains("architecture 'mamba'"), "{e}");
    // An unknown tensor type id: patch the type field of a valid file.
    let mut f = gguf(&arch("llama"), &[t(GgmlType::F32, vec![32, 4])]);
    let pos = f.windows(17).position(|w| w == b"token_embd.weight").unwrap() + 17 + 4 + 16;
    f[pos..pos + 4].copy_from_slice(&99u32.to_le_bytes());
    let e = load(f);
    assert!(e.contains("unknown quantization type id 99"), "{e}");
    // Shapes that disagree with the metadata.
    let mut meta = arch("llama");
    for (k, v) in [("llama.embedding_length", 64u32), ("llama.block_count", 1), ("llama.attention.head_count", 2), ("llama.feed_forward_length", 64)] {
        meta.push((k, Value::U32(v)));
    }
    let e = load(gguf(&meta, &[t(GgmlType::F32, vec![32, 4])]));
    assert!(e.contains("token_embd.weight has shape [32, 4]"), "{e}");
    // Absurd counts are refused before anything is allocated.
    let mut f = gguf(&arch("llama"), &[]);
    f[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(load(f).contains("implausible"));
}

#[test]
fn a_model_too_large_for_the_adapter_is_refused() {
    let file = synthetic_gguf(&tiny("llama", GgmlType::Q8_0), GgmlType::Q8_0, 64);
    let mut d = gpu_device();
    d.limits.max_storage_buffer_binding_size = 64; // smaller than one row
    let mut src = file;
    let e = pollster::block_on(Gpu::load_on(d, &mut src, 64, 8, |_, _| {})).err().expect("must fail").to_string();
    assert!(e.contains("binding limit") || e.contains("buffer limit"), "{e}");
}
