//! A draft's check in the browser (wasm-bindgen-test in headless Chromium and Firefox): the
//! quantized CPU backend's simd128 kernels check several tokens at once and choose, bit for bit,
//! what decoding them one at a time chooses (natively: `speculate.rs`).
#![cfg(target_arch = "wasm32")]
use mem1::cpu::Cpu;
use mem1::engine::Engine;
use mem1::quant::GgmlType;
use mem1::sample::{self, SamplerParams, TokenMask};
use mem1::synthetic::{synthetic_gguf, Shape};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_draft_check_chooses_what_decode_chooses_to_the_bit() {
    // 256 columns: whole K-quant blocks; Q5_1 has no fused kernel (the unpacked path).
    let shape = Shape { arch: "llama", layers: 2, d: 256, heads: 4, kv: 2, ff: 512, vocab: 300, tied: true };
    let greedy = SamplerParams::greedy();
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4K, GgmlType::Q6K, GgmlType::Q5_1] {
        let mut file = synthetic_gguf(&shape, ty, 512);
        let mut e = Cpu::load_quantized(&mut file, 512, |_, _| {}).await.unwrap();
        assert!(e.batched_verify());
        let mut odd = TokenMask::none(300);
        (1..300).step_by(2).for_each(|t| odd.allow(t));
        let prompt: Vec<u32> = (0..40).map(|i| i * 7 % 300).collect();
        for k in [1usize, 2, 3, 5, 9] {
            e.truncate(0).unwrap();
            e.prefill(&prompt).await.unwrap();
            let draft: Vec<u32> = (0..k as u32).map(|i| i * 13 % 300).collect();
            let masks: Vec<Option<&TokenMask>> = (0..k).map(|i| (i % 2 == 1).then_some(&odd)).collect();
            let checked = e.verify(&draft, &masks).await.unwrap();
            let last = e.logits().await.unwrap();
            e.truncate(prompt.len()).unwrap();
            for (i, &t) in draft.iter().enumerate() {
                e.prefill(&[t]).await.unwrap();
                let logits = e.logits().await.unwrap();
                assert_eq!(checked[i], sample::sample_masked(&logits, masks[i], &greedy, 0.0), "{ty:?} k={k}: choice after token {i}");
                if i + 1 == k {
                    assert!(logits.iter().zip(&last).all(|(a, b)| a.to_bits() == b.to_bits()), "{ty:?} k={k}: the last logits differ");
                }
            }
        }
        console_log!("{ty:?}: drafts of 1, 2, 3, 5 and 9 tokens checked in one pass, decode's choices and logits to the bit");
    }
}
