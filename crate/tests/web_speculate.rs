//! A draft's check in the browser (wasm-bindgen-test in headless Chromium and Firefox): the
//! quantized CPU backend's simd128 kernels and the WebGPU backend check several tokens at once and
//! choose, bit for bit, what decoding them one at a time chooses (natively: `speculate.rs`).
#![cfg(target_arch = "wasm32")]
mod draft_util;
use draft_util::check_equals_decode;
use mem1::cpu::Cpu;
use mem1::gpu::Gpu;
use mem1::quant::GgmlType;
use mem1::synthetic::{synthetic_gguf, Shape};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_draft_check_chooses_what_decode_chooses_to_the_bit() {
    // 256 columns: whole K-quant blocks; Q5_1 has no fused kernel (the unpacked path).
    let shape = Shape { arch: "llama", layers: 2, d: 256, heads: 4, kv: 2, ff: 512, vocab: 300, tied: true };
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4K, GgmlType::Q6K, GgmlType::Q5_1] {
        let mut file = synthetic_gguf(&shape, ty, 512);
        let mut e = Cpu::load_quantized(&mut file, 512, |_, _| {}).await.unwrap();
        let prompt: Vec<u32> = (0..40).map(|i| i * 7 % 300).collect();
        for k in [1u32, 2, 3, 5, 9] {
            let draft: Vec<u32> = (0..k).map(|i| i * 13 % 300).collect();
            check_equals_decode(&mut e, &prompt, &draft, &format!("{ty:?} k={k}")).await;
        }
        console_log!("{ty:?}: drafts of 1, 2, 3, 5 and 9 tokens checked in one pass, decode's choices and logits to the bit");
    }
}

/// On WebGPU: the decode kernel over each row, the head over every row, a greedy choice per row
/// under its own mask, one submission.
#[wasm_bindgen_test]
async fn a_gpu_draft_check_chooses_what_gpu_decode_chooses_to_the_bit() {
    let shape = Shape { arch: "llama", layers: 2, d: 256, heads: 4, kv: 2, ff: 512, vocab: 300, tied: true };
    for ty in [GgmlType::Q8_0, GgmlType::Q4K] {
        let mut e = Gpu::load(&mut synthetic_gguf(&shape, ty, 64), 64, |_, _| {}).await.expect("GPU load");
        let prompt: Vec<u32> = (0..13u32).map(|i| (i * 97 + 5) % 300).collect();
        for k in [1u32, 5, 9] {
            let draft: Vec<u32> = (0..k).map(|i| (i * 13 + 3) % 300).collect();
            check_equals_decode(&mut e, &prompt, &draft, &format!("gpu {ty:?} k={k}")).await;
        }
        console_log!("{ty:?}: drafts of 1, 5 and 9 tokens checked on WebGPU as decode chooses them");
    }
}
