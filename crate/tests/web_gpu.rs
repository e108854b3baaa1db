//! Browser tests (headless Chromium, WebGPU on SwiftShader; headless Firefox, WebGPU on
//! lavapipe): the WGSL kernels against the CPU reference, and the real SmolLM2 model streamed over
//! HTTP `Range` requests against the transformers fixtures. Run with `scripts/test-browser.sh`
//! (it starts the model server, sets `MEM1_MODEL_URL` at build time, and runs `wasm-pack test
//! --headless --chrome` and `--firefox`).
#![cfg(target_arch = "wasm32")]

use mem1::cpu::Cpu;
use mem1::engine::{now, Engine};
use mem1::gguf::ByteSource;
use mem1::gpu::{self, Device, Gpu};
use mem1::loader::{AnyEngine, Backend};
use mem1::quant::{self, GgmlType};
use mem1::sample::{argmax, SamplerParams};
use mem1::synthetic::{synthetic_gguf, Shape};
use mem1::web::{BlobSource, HttpSource};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Base URL of the model server (`scripts/test-browser.sh` sets it when building the tests).
const MODEL_URL: Option<&str> = option_env!("MEM1_MODEL_URL");

macro_rules! log {
    ($($t:tt)*) => { console_log!($($t)*) };
}

// ---------------------------------------------------------------------------------------------
// (a) Dequantization: every type's kernel against the CPU definition.

async fn dequant_case(ty: GgmlType) {
    let d = Device::new().await.expect("WebGPU device");
    let (be, _) = ty.block();
    let mut worst = 0f32;
    let mut checked = 0;
    for (i, blocks) in [3usize, 7, 33].into_iter().enumerate() {
        // The kernel works in 32-element units, so one-element "blocks" (F32/F16/BF16) come in 32s.
        let n = blocks * be.max(32);
        let data = quant::random_blocks(ty, n, 1000 + i as u64 * 17 + ty as u64);
        let mut want = vec![0f32; n];
        quant::dequantize(ty, &data, &mut want).unwrap();
        let got = gpu::dequantize(&d, ty, &data).await.expect("GPU dequantize");
        assert_eq!(got.len(), n, "{ty:?} x{blocks}: element count");
        for (j, (&a, &b)) in got.iter().zip(&want).enumerate() {
            let err = (a - b).abs();
            assert!(
                err <= 1e-6 * b.abs().max(1.0),
                "{ty:?} with {blocks} blocks: element {j}: GPU {a} vs CPU {b}"
            );
            worst = worst.max(err);
        }
        checked += n;
    }
    log!("dequant {ty:?}: {checked} values (3, 7, 33 blocks), max |GPU-CPU| = {worst:e}");
}

macro_rules! dequant_tests {
    ($($name:ident => $ty:ident),* $(,)?) => {$(
        #[wasm_bindgen_test]
        async fn $name() {
            dequant_case(GgmlType::$ty).await;
        }
    )*};
}

dequant_tests! {
    dequant_f32 => F32, dequant_f16 => F16, dequant_bf16 => BF16,
    dequant_q4_0 => Q4_0, dequant_q4_1 => Q4_1, dequant_q5_0 => Q5_0, dequant_q5_1 => Q5_1,
    dequant_q8_0 => Q8_0, dequant_q4_k => Q4K, dequant_q5_k => Q5K, dequant_q6_k => Q6K,
    dequant_q8_k => Q8K,
}

// ---------------------------------------------------------------------------------------------
// (b) Tiny synthetic models: GPU against CPU logits after a prefill and after decode steps.

struct Cmp {
    max_diff: f32,
    max_abs: f32,
    same_argmax: bool,
    /// The reference's top-1 minus top-2: a tie this close may legitimately flip.
    margin: f32,
}

fn compare(got: &[f32], want: &[f32]) -> Cmp {
    assert_eq!(got.len(), want.len(), "logit count");
    assert!(got.iter().all(|v| v.is_finite()), "non-finite GPU logits");
    let max_diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let max_abs = want.iter().map(|v| v.abs()).fold(0f32, f32::max);
    let top = argmax(want) as usize;
    let second = want.iter().enumerate().filter(|&(i, _)| i != top).map(|(_, &v)| v).fold(f32::MIN, f32::max);
    Cmp { max_diff, max_abs, same_argmax: argmax(got) == argmax(want), margin: want[top] - second }
}

fn check(what: &str, c: &Cmp, rel_tol: f32) {
    let tol = rel_tol * c.max_abs.max(1e-6);
    log!("{what}: max |Δ| = {:.3e} (max |logit| {:.3}, ratio {:.2e}), same argmax {}", c.max_diff, c.max_abs, c.max_diff / c.max_abs, c.same_argmax);
    assert!(c.max_diff <= tol, "{what}: max |GPU-CPU| {} > {tol} (max |logit| {})", c.max_diff, c.max_abs);
    assert!(c.same_argmax || c.margin < 2.0 * tol, "{what}: argmax differs (reference margin {})", c.margin);
}

async fn tiny_model(label: &str, shape: Shape, ty: GgmlType) {
    const CTX: usize = 64;
    const REL: f32 = 2e-3;
    let bytes = center_blocks(synthetic_gguf(&shape, ty, CTX)).await;
    let mut cpu = Cpu::load(&mut bytes.clone(), CTX, |_, _| {}).await.expect("CPU load");
    // Read the GPU copy through a Blob: exercises BlobSource on the way.
    let blob = blob_of(&bytes);
    let mut src = BlobSource::new(blob);
    assert_eq!(src.len(), bytes.len() as u64);
    let mut gpu = Gpu::load(&mut src, CTX, |_, _| {}).await.expect("GPU load");
    let prompt: Vec<u32> = (0..13u32).map(|i| (i * 97 + 5) % shape.vocab as u32).collect();
    cpu.prefill(&prompt).await.unwrap();
    gpu.prefill(&prompt).await.unwrap();
    let prefill_want = cpu.logits().await.unwrap();
    let c = compare(&gpu.logits().await.unwrap(), &prefill_want);
    check(&format!("{label} {ty:?}: prefill 13"), &c, REL);
    let greedy = SamplerParams::greedy();
    let mut tok = argmax(&prefill_want);
    let mut steps = Vec::new();
    for step in 1..=5 {
        let g = gpu.decode(tok, &greedy, 0.0).await.unwrap();
        cpu.prefill(&[tok]).await.unwrap();
        let want = cpu.logits().await.unwrap();
        steps.push((tok, want.clone()));
        let c = compare(&gpu.logits().await.unwrap(), &want);
        check(&format!("{label} {ty:?}: decode {step}"), &c, REL);
        let w = argmax(&want);
        assert!(g == w || c.margin < 2.0 * REL * c.max_abs, "{label} {ty:?}: decode {step}: GPU sampled {g}, CPU argmax {w}");
        tok = w;
    }
    assert_eq!(gpu.pos(), 18);

    // The quantized CPU backend (simd128 dot products) against the reference's logits: the prefill
    // (rows unpacked, four tokens per pass) and single-token decodes (blocks multiplied in registers
    // where the type has a fused kernel).
    let mut q = Cpu::load_quantized(&mut bytes.clone(), CTX, |_, _| {}).await.expect("quantized CPU load");
    q.prefill(&prompt).await.unwrap();
    check(&format!("{label} {ty:?}: quantized CPU ({}) prefill 13", q.describe()), &compare(&q.logits().await.unwrap(), &prefill_want), REL);
    for (step, (tok, want)) in steps.iter().enumerate() {
        q.prefill(&[*tok]).await.unwrap();
        check(&format!("{label} {ty:?}: quantized CPU decode {}", step + 1), &compare(&q.logits().await.unwrap(), want), REL);
    }
}

/// `random_blocks` makes the weights of types with a min term (Q4_1, Q5_1, Q4_K, Q5_K) all positive
/// and gives the K-quants random 6-bit/8-bit sub-block scales, so a tiny model's logits saturate and
/// barely depend on its input. Rewrites those blocks in place to zero-mean weights with sub-block
/// scales 0..3, so that the GPU/CPU comparison stays sensitive to every part of the forward pass.
async fn center_blocks(mut bytes: Vec<u8>) -> Vec<u8> {
    use half::f16;
    let g = mem1::gguf::read_header(&mut bytes.clone()).await.unwrap();
    for t in &g.tensors {
        let (_, bb) = t.ty.block();
        let data = &mut bytes[t.offset as usize..(t.offset + t.n_bytes) as usize];
        for b in data.chunks_exact_mut(bb) {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            // y = d*q - m with q uniform in 0..2^bits: m = d*(2^bits-1)/2 centres it.
            let half_range = |bits: i32| (2f32.powi(bits) - 1.0) / 2.0;
            match t.ty {
                GgmlType::Q4_1 | GgmlType::Q5_1 => {
                    let bits = if t.ty == GgmlType::Q4_1 { 4 } else { 5 };
                    b[2..4].copy_from_slice(&f16::from_f32(-d * half_range(bits)).to_le_bytes());
                }
                GgmlType::Q4K | GgmlType::Q5K => {
                    // y = d*sc*q - dmin*m: take m = sc in 0..3 and dmin = d*(2^bits-1)/2.
                    let bits = if t.ty == GgmlType::Q4K { 4 } else { 5 };
                    b[2..4].copy_from_slice(&f16::from_f32(d * half_range(bits)).to_le_bytes());
                    for j in 0..4 {
                        let v = b[4 + j] & 3;
                        b[4 + j] = v; // scale j (top bits: 0 for j+4's high bits)
                        b[8 + j] = v; // min j
                        let w = b[12 + j] & 3;
                        b[12 + j] = w | (w << 4); // scale and min of j+4
                    }
                }
                // ql[128], qh[64], then 16 int8 scales (q is already signed), then d.
                GgmlType::Q6K => b[192..208].iter_mut().for_each(|x| *x %= 4),
                _ => break,
            }
        }
    }
    bytes
}

fn qwen_tiny() -> Shape {
    Shape { arch: "qwen2", layers: 2, d: 96, heads: 3, kv: 1, ff: 160, vocab: 333, tied: false }
}
fn llama_tiny() -> Shape {
    Shape { arch: "llama", layers: 2, d: 96, heads: 3, kv: 1, ff: 160, vocab: 333, tied: true }
}
/// Row lengths that are multiples of 256 for the K-quants.
fn llama_tiny_k() -> Shape {
    Shape { arch: "llama", layers: 2, d: 256, heads: 4, kv: 2, ff: 512, vocab: 301, tied: true }
}
fn qwen_tiny_k() -> Shape {
    Shape { arch: "qwen2", layers: 2, d: 256, heads: 2, kv: 1, ff: 768, vocab: 259, tied: false }
}

/// The simd128 dot-product kernels of the quantized CPU backend against their scalar definition.
#[wasm_bindgen_test]
fn simd128_kernels_equal_the_scalar_definition() {
    use mem1::cpu::qdot::{scaled_dot, scaled_dot4, scaled_dot_scalar, simd, G};
    assert_eq!(simd(), "simd128");
    let mut r = mem1::sample::Rng::new(3);
    for n in [1usize, 2, 3, 28, 57] {
        let q: Vec<i16> = (0..n * G).map(|_| (r.uniform() * 8192.0) as i16 - 4096).collect();
        let s: Vec<f32> = (0..n).map(|_| r.uniform() - 0.5).collect();
        let xs: Vec<Vec<i16>> = (0..4).map(|_| (0..n * G).map(|_| ((r.uniform() * 65534.0) as i32 - 32767) as i16).collect()).collect();
        let dx: Vec<Vec<f32>> = (0..4).map(|_| (0..n).map(|_| r.uniform() * 1e-4).collect()).collect();
        let d4: Vec<f32> = (0..n * 4).map(|i| dx[i % 4][i / 4]).collect();
        let four = scaled_dot4(&q, &s, [&xs[0], &xs[1], &xs[2], &xs[3]], &d4);
        // f32 sums in another order: the error scales with the terms, not with their sum.
        let abs_q: Vec<i16> = q.iter().map(|v| v.abs()).collect();
        let abs_s: Vec<f32> = s.iter().map(|v| v.abs()).collect();
        for j in 0..4 {
            let want = scaled_dot_scalar(&q, &s, &xs[j], &dx[j]);
            let abs_x: Vec<i16> = xs[j].iter().map(|v| v.abs()).collect();
            let tol = 1e-5 * scaled_dot_scalar(&abs_q, &abs_s, &abs_x, &dx[j]).max(1.0);
            assert!((scaled_dot(&q, &s, &xs[j], &dx[j]) - want).abs() <= tol, "n {n}: scaled_dot");
            assert!((four[j] - want).abs() <= tol, "n {n}: scaled_dot4 row {j}: {} vs {want}", four[j]);
        }
    }
}

/// The simd128 row kernels of decode (`row_dot`, blocks decoded in registers) against the unpacked
/// product, for every type that has one: rows whose block count is and is not a multiple of four
/// (the 32-element types take four blocks a step), and zero, subnormal and negative f16 scales
/// (converted four at a time in vector lanes).
#[wasm_bindgen_test]
fn simd128_row_kernels_equal_the_unpacked_product() {
    use mem1::cpu::qdot::{fused, row_dot, QAct, Unpacked, G};
    use mem1::quant::random_blocks;
    use GgmlType::*;
    let mut r = mem1::sample::Rng::new(9);
    let mut checked = Vec::new();
    for ty in [Q4_0, Q4_1, Q5_0, Q8_0, Q4K, Q6K] {
        if !fused(ty) {
            continue;
        }
        let (be, bb) = ty.block();
        for k in [96usize, 256, 416, 896, 1536] {
            if k % be != 0 {
                continue;
            }
            let rows = 3;
            let mut bytes = random_blocks(ty, k * rows, 13);
            if be == G {
                for (bi, h) in [0x0000u16, 0x0003, 0x8523].iter().enumerate() {
                    bytes[bi * bb..bi * bb + 2].copy_from_slice(&h.to_le_bytes());
                }
            }
            let x: Vec<f32> = (0..k * 2).map(|_| r.uniform() * 4.0 - 2.0).collect();
            let a = QAct::new(&x, k);
            let mut u = Unpacked::new(k, rows, ty);
            u.fill(ty, &bytes);
            let rb = ty.row_bytes(k);
            for row in 0..rows {
                // f32 sums in another order: the error scales with the terms.
                let terms: f32 = (0..k).map(|i| (u.s[(row * k + i) / G] * u.q[row * k + i] as f32).abs()).sum::<f32>() * 2.0;
                for t in 0..2 {
                    let want = u.dot(row, &a, t);
                    let got = row_dot(ty, &bytes[row * rb..(row + 1) * rb], &a, t);
                    assert!((got - want).abs() <= 1e-5 * terms.max(1.0), "{ty:?} k {k} row {row} token {t}: {got} vs {want}");
                }
            }
        }
        checked.push(ty);
    }
    // Q5_0 is kept as Q8_0 in wasm (qdot::stored), so it has no row kernel of its own.
    assert_eq!(checked, [Q4_0, Q4_1, Q8_0, Q4K, Q6K]);
}

/// The CPU backend's attention tiles (four keys a dot product, runs of values in registers)
/// against the plain loop, bit for bit, in simd128.
#[wasm_bindgen_test]
fn attention_tiles_equal_the_plain_loop() {
    mem1::cpu::attn::check_tiles();
}

#[wasm_bindgen_test]
async fn tiny_qwen2_q4_0() {
    tiny_model("qwen2 d96", qwen_tiny(), GgmlType::Q4_0).await;
}
#[wasm_bindgen_test]
async fn tiny_qwen2_q8_0() {
    tiny_model("qwen2 d96", qwen_tiny(), GgmlType::Q8_0).await;
}
#[wasm_bindgen_test]
async fn tiny_qwen2_f16() {
    tiny_model("qwen2 d96", qwen_tiny(), GgmlType::F16).await;
}
#[wasm_bindgen_test]
async fn tiny_llama_q4_1() {
    tiny_model("llama d96", llama_tiny(), GgmlType::Q4_1).await;
}
#[wasm_bindgen_test]
async fn tiny_llama_q5_0() {
    tiny_model("llama d96", llama_tiny(), GgmlType::Q5_0).await;
}
#[wasm_bindgen_test]
async fn tiny_llama_q4_k() {
    tiny_model("llama d256", llama_tiny_k(), GgmlType::Q4K).await;
}
#[wasm_bindgen_test]
async fn tiny_llama_q6_k() {
    tiny_model("llama d256", llama_tiny_k(), GgmlType::Q6K).await;
}
#[wasm_bindgen_test]
async fn tiny_qwen2_q5_k() {
    tiny_model("qwen2 d256", qwen_tiny_k(), GgmlType::Q5K).await;
}

// ---------------------------------------------------------------------------------------------
// Byte sources.

fn blob_of(bytes: &[u8]) -> web_sys::Blob {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts).expect("Blob")
}

#[wasm_bindgen_test]
async fn blob_source_reads_ranges() {
    let bytes: Vec<u8> = (0..100_003u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut src = BlobSource::new(blob_of(&bytes));
    assert_eq!(src.len(), bytes.len() as u64);
    for (off, len) in [(0usize, 1usize), (5, 0), (99_000, 1003), (12_345, 54_321)] {
        assert_eq!(src.read_at(off as u64, len).await.unwrap(), &bytes[off..off + len]);
    }
    assert!(src.read_at(100_000, 4).await.is_err(), "read past the end must fail");
}

/// GPU faults in the page: a device that refuses an allocation while loading, and a device lost
/// in the middle of generation, each give a clear error, and the next load works in the same page
/// (no reload). The native suite (crate/tests/gpu_faults.rs) also checks what is left on the device.
#[wasm_bindgen_test]
async fn gpu_faults_are_clear_errors_and_the_next_load_works_without_a_reload() {
    // Out of memory while loading: the device keeps WebGPU's default limits (128 MiB a storage
    // binding) while the loader is told 1 GiB fits, so the 160 MiB KV cache of a 40,960-token
    // context is refused by the device, as a device out of memory refuses it.
    const CTX: usize = 40_960;
    let wide = Shape { arch: "llama", layers: 1, d: 1024, heads: 16, kv: 16, ff: 64, vocab: 300, tied: true };
    let mut d = Device::open(|_| wgpu::Limits::default()).await.expect("WebGPU device");
    d.limits.max_buffer_size = 1 << 30;
    d.limits.max_storage_buffer_binding_size = 1 << 30;
    let t0 = now();
    let err = match Gpu::load_on(d, &mut synthetic_gguf(&wide, GgmlType::Q8_0, CTX), CTX, gpu::DEFAULT_CHUNK, |_, _| {}).await {
        Ok(_) => panic!("the load went through on a device that cannot bind its KV cache"),
        Err(e) => e.to_string(),
    };
    log!("refused allocation while loading ({:.1} s): {err}", now() - t0);
    assert!(err.contains("could not hold the KV cache") && err.contains("smaller model or context"), "unclear error: {err}");

    // Lost in the middle of generation (the tab's GPU process gone, a driver reset): destroy().
    let shape = llama_tiny();
    let bytes = synthetic_gguf(&shape, GgmlType::Q8_0, 64);
    let mut gpu = Gpu::load(&mut bytes.clone(), 64, |_, _| {}).await.expect("GPU load");
    let greedy = SamplerParams::greedy();
    gpu.prefill(&[1, 2, 3]).await.unwrap();
    let t = gpu.decode(4, &greedy, 0.0).await.unwrap();
    gpu.device().dev.destroy();
    let err = match gpu.decode(t, &greedy, 0.0).await {
        Ok(_) => panic!("generation went on on a destroyed device"),
        Err(e) => e.to_string(),
    };
    log!("device lost mid-generation: {err}");
    assert!(err.contains("destroyed") && err.contains("loaded again, on a new device"), "unclear error: {err}");
    drop(gpu);

    // The next load, same page: a new device, and the same tokens as a fresh run.
    let mut again = Gpu::load(&mut bytes.clone(), 64, |_, _| {}).await.expect("GPU load after the faults");
    again.prefill(&[1, 2, 3]).await.unwrap();
    assert_eq!(again.decode(4, &greedy, 0.0).await.unwrap(), t, "the new device generates otherwise");
}

/// The browser the tests run in, from its user agent: Firefox or Chromium.
fn browser() -> &'static str {
    let ua = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| js_sys::Reflect::get(&n, &"userAgent".into()))
        .ok()
        .and_then(|u| u.as_string())
        .unwrap_or_default();
    if ua.contains("Firefox") { "Firefox" } else { "Chromium" }
}

fn model_url(file: &str) -> String {
    match MODEL_URL {
        Some(base) => format!("{}/{file}", base.trim_end_matches('/')),
        None => panic!("MEM1_MODEL_URL was not set at build time: run scripts/test-browser.sh, which serves the models"),
    }
}

#[wasm_bindgen_test]
async fn http_source_reads_ranges() {
    let url = model_url(SMOL_FILE);
    let mut src = HttpSource::open(&url).await.expect("open");
    assert_eq!(src.len(), 98_362_432);
    assert_eq!(src.read_at(0, 4).await.unwrap(), b"GGUF");
    let a = src.read_at(1_000_000, 4096).await.unwrap();
    let b = src.read_at(1_000_000 + 2048, 2048).await.unwrap();
    assert_eq!(&a[2048..], &b[..]);
    let tail = src.read_at(src.len() - 7, 7).await.unwrap();
    assert_eq!(tail.len(), 7);
    assert!(src.read_at(src.len() - 3, 4).await.is_err(), "read past the end must fail");
    assert!(HttpSource::open(&format!("{url}.missing")).await.is_err(), "404 must fail");
}

#[wasm_bindgen_test]
async fn http_source_refuses_server_without_range() {
    let base = MODEL_URL.expect("MEM1_MODEL_URL was not set at build time: run scripts/test-browser.sh, which serves the models");
    let url = format!("{}/norange/{SMOL_FILE}", base.trim_end_matches('/'));
    let err = match HttpSource::open(&url).await {
        Ok(_) => panic!("a server that ignores Range must be refused for a 98 MB file"),
        Err(e) => e.to_string(),
    };
    log!("server without Range: {err}");
    assert!(err.contains("ignores HTTP Range"), "unclear error: {err}");
}

// ---------------------------------------------------------------------------------------------
// (c) The real SmolLM2-135M Q4_1 over HTTP against the transformers fixtures.

const SMOL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const SMOL_JSON: &str = include_str!("../../tests/fixtures/smollm2-135m-q4_1.json");
const SMOL_NPY: [&[u8]; 3] = [
    include_bytes!("../../tests/fixtures/smollm2-135m-q4_1-p0.npy"),
    include_bytes!("../../tests/fixtures/smollm2-135m-q4_1-p1.npy"),
    include_bytes!("../../tests/fixtures/smollm2-135m-q4_1-p2.npy"),
];

const QWEN_FILE: &str = "qwen2.5-coder-0.5b-instruct.gguf";
const QWEN_JSON: &str = include_str!("../../tests/fixtures/qwen2.5-coder-0.5b-q4_k_m.json");
const QWEN_NPY: [&[u8]; 3] = [
    include_bytes!("../../tests/fixtures/qwen2.5-coder-0.5b-q4_k_m-p0.npy"),
    include_bytes!("../../tests/fixtures/qwen2.5-coder-0.5b-q4_k_m-p1.npy"),
    include_bytes!("../../tests/fixtures/qwen2.5-coder-0.5b-q4_k_m-p2.npy"),
];

/// A little-endian f32 vector from a version 1/2/3 `.npy` file.
fn npy_f32(b: &[u8]) -> Vec<f32> {
    assert_eq!(&b[..6], b"\x93NUMPY", "not a .npy file");
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        _ => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).unwrap();
    assert!(header.contains("'<f4'") && header.contains("'fortran_order': False"), "unexpected .npy header {header}");
    b[start + hlen..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn top_k(v: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

#[wasm_bindgen_test]
async fn smollm2_over_http_matches_fixtures() {
    let url = model_url(SMOL_FILE);
    let mut src = HttpSource::open(&url).await.expect("open model URL");
    let t0 = now();
    let mut gpu = Gpu::load(&mut src, 256, |_, _| {}).await.expect("GPU load");
    log!(
        "SmolLM2 loaded over HTTP in {:.1} s: {} MB in {} range requests, adapter {}",
        now() - t0,
        src.bytes_read >> 20,
        src.requests,
        gpu.adapter_name()
    );
    matches_fixtures(&mut gpu, "SmolLM2-135M Q4_1", "WebGPU", SMOL_JSON, SMOL_NPY).await;
}

/// The automatic choice on a CPU-emulated adapter (SwiftShader here) is the quantized CPU backend,
/// and it matches the fixtures too.
#[wasm_bindgen_test]
async fn smollm2_auto_backend_falls_back_to_cpu_and_matches_fixtures() {
    let url = model_url(SMOL_FILE);
    let mut src = HttpSource::open(&url).await.expect("open model URL");
    let t0 = now();
    let mut e = AnyEngine::load(Backend::Auto, &mut src, 256, |_, _| {}).await.expect("auto load");
    log!("SmolLM2 loaded in {:.1} s on {}", now() - t0, e.name());
    assert!(matches!(e, AnyEngine::Cpu(_)), "SwiftShader should give the CPU backend, got {}", e.name());
    assert!(e.name().contains("simd128") && e.name().contains("CPU-emulated"), "{}", e.name());
    matches_fixtures(&mut e, "SmolLM2-135M Q4_1", "CPU (wasm simd128)", SMOL_JSON, SMOL_NPY).await;
}

/// Qwen2.5-0.5B on the quantized CPU backend in wasm: its Q4_K_M mix runs every row kernel but
/// Q4_0/Q4_1, and its Q5_0 matrices are kept as Q8_0 there (`qdot::stored`).
#[wasm_bindgen_test]
async fn qwen2_on_the_wasm_cpu_backend_matches_fixtures() {
    let url = model_url(QWEN_FILE);
    let mut src = HttpSource::open(&url).await.expect("open model URL");
    let t0 = now();
    let mut e = Cpu::load_quantized(&mut src, 256, |_, _| {}).await.expect("CPU load");
    log!("Qwen2.5-0.5B loaded in {:.1} s on {}", now() - t0, e.describe());
    matches_fixtures(&mut e, "Qwen2.5-Coder-0.5B Q4_K_M", "CPU (wasm simd128)", QWEN_JSON, QWEN_NPY).await;
}

async fn matches_fixtures<E: Engine>(e: &mut E, model: &str, what: &str, json: &str, npy: [&[u8]; 3]) {
    let fx: serde_json::Value = serde_json::from_str(json).unwrap();
    let prompts = fx["prompts"].as_array().unwrap();
    let greedy = SamplerParams::greedy();
    let (mut dec_tokens, mut dec_secs, mut pre_tokens, mut pre_secs) = (0usize, 0f64, 0usize, 0f64);
    for (i, p) in prompts.iter().enumerate() {
        let tokens: Vec<u32> = p["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        let want = npy_f32(npy[i]);
        e.truncate(0).unwrap();
        let t = now();
        e.prefill(&tokens).await.unwrap();
        let got = e.logits().await.unwrap();
        pre_secs += now() - t;
        pre_tokens += tokens.len();
        let c = compare(&got, &want);
        let (top_got, top_want) = (top_k(&got, 5), top_k(&want, 5));
        let overlap = top_want.iter().filter(|t| top_got.contains(t)).count();
        log!(
            "prompt {i} ({} tokens): max |Δ| vs transformers = {:.3e} (max |logit| {:.2}, ratio {:.2e}); top-1 {} vs {}; top-5 overlap {overlap}/5",
            tokens.len(),
            c.max_diff,
            c.max_abs,
            c.max_diff / c.max_abs,
            top_got[0],
            top_want[0]
        );
        assert!(c.max_diff <= 2e-2 * c.max_abs, "prompt {i}: max |Δ| {} > 2e-2 × {}", c.max_diff, c.max_abs);
        assert_eq!(top_got[0], top_want[0], "prompt {i}: top-1");
        assert!(overlap >= 4, "prompt {i}: top-5 overlap {overlap} (got {top_got:?}, want {top_want:?})");

        // Greedy continuation: 8 tokens, checked up to the first near-tie in the reference.
        let ref_greedy: Vec<u32> = p["greedy"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        let margins: Vec<f64> = p["greedy_margins"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
        let n = 8.min(ref_greedy.len());
        let firm = margins.iter().take(n).position(|&m| m < 0.05).unwrap_or(n);
        let mut out = vec![e.sample(&greedy, 0.0).await.unwrap()];
        let t = now();
        while out.len() < n {
            let next = e.decode(*out.last().unwrap(), &greedy, 0.0).await.unwrap();
            out.push(next);
        }
        dec_secs += now() - t;
        dec_tokens += n - 1;
        log!("prompt {i}: greedy {out:?} (reference {:?}, checked first {firm})", &ref_greedy[..n]);
        assert_eq!(&out[..firm], &ref_greedy[..firm], "prompt {i}: greedy continuation");
    }
    log!(
        "{model} in headless {}, {what}: prefill {:.1} tok/s ({pre_tokens} tokens), decode {:.2} tok/s ({dec_tokens} tokens)",
        browser(),
        pre_tokens as f64 / pre_secs,
        dec_tokens as f64 / dec_secs
    );
}

/// The in-browser half of `scripts/bench-cpu.sh`, which builds the tests in release mode with
/// `MEM1_BROWSER_BENCH=1`: prefill and decode tok/s of the CPU backend (WebAssembly SIMD, one
/// thread or the threaded build's threads) on both test models, with the prompt ids `mem1 bench`
/// uses, one `BENCH {json}` line per run: `MEM1_BENCH_REPEATS` runs (default 3) from an emptied
/// cache, of which the script keeps the best, as it does natively (the first run also pays for
/// V8 compiling the hot functions in the background).
#[wasm_bindgen_test]
async fn bench_cpu_backend_in_browser() {
    if option_env!("MEM1_BROWSER_BENCH").is_none() {
        log!("CPU benchmark not built in: scripts/bench-cpu.sh builds it with MEM1_BROWSER_BENCH=1");
        return;
    }
    let n_prompt: usize = option_env!("MEM1_BENCH_PROMPT").and_then(|s| s.parse().ok()).unwrap_or(300);
    let n_decode: usize = option_env!("MEM1_BENCH_DECODE").and_then(|s| s.parse().ok()).unwrap_or(128);
    let repeats: usize = option_env!("MEM1_BENCH_REPEATS").and_then(|s| s.parse().ok()).unwrap_or(3);
    // The threaded build (WASM_THREADS=1 scripts/test-browser.sh): MEM1_BENCH_THREADS threads in all
    // (default 2), the page's own included.
    #[cfg(target_feature = "atomics")]
    {
        let want: u32 = option_env!("MEM1_BENCH_THREADS").and_then(|s| s.parse().ok()).unwrap_or(2);
        let got = mem1::cpu::pool::start_workers(want.saturating_sub(1)).await.expect("CPU workers");
        assert_eq!(got, want.max(1), "CPU threads");
    }
    for file in [SMOL_FILE, QWEN_FILE] {
        let url = model_url(file);
        let mut src = HttpSource::open(&url).await.expect("open model URL");
        let mut e = Cpu::load_quantized(&mut src, n_prompt + n_decode + 1, |_, _| {}).await.expect("CPU load");
        let vocab = e.config().vocab as u32;
        let prompt: Vec<u32> = (0..n_prompt as u32).map(|i| (100 + i % 1000) % vocab).collect();
        let greedy = SamplerParams::greedy();
        for _ in 0..repeats.max(1) {
            e.truncate(0).unwrap();
            let t0 = now();
            e.prefill(&prompt).await.unwrap();
            let mut tok = e.sample(&greedy, 0.0).await.unwrap();
            let prefill_s = now() - t0;
            let t1 = now();
            for _ in 0..n_decode {
                tok = e.decode(tok, &greedy, 0.0).await.unwrap();
            }
            let decode_s = now() - t1;
            let line = serde_json::json!({
                "engine": format!("mem1 wasm (headless {})", browser()), "backend": e.describe(), "model": file,
                "prefill_tokens": n_prompt, "prefill_tok_s": n_prompt as f64 / prefill_s,
                "decode_tokens": n_decode, "decode_tok_s": n_decode as f64 / decode_s,
            });
            log!("BENCH {line}");
        }
    }
}
