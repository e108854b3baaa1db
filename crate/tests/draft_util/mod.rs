//! Shared by the draft-check tests, native (`speculate.rs`) and in the browser (`web_speculate.rs`).
#![allow(dead_code)]
use mem1::engine::{Engine, Transfers};
use mem1::sample::{sample_masked, SamplerParams, TokenMask};

/// Checks `tokens` after `prompt` in one pass and one at a time, from an empty cache: the same
/// choices (under a mask allowing only odd ids at every other position), and the same last logits
/// to the bit. Returns what crossed to and from the device for the prompt and the check.
pub async fn check_equals_decode<E: Engine>(e: &mut E, prompt: &[u32], tokens: &[u32], what: &str) -> Option<Transfers> {
    assert!(e.batched_verify(), "{what}: the backend checks a draft in one pass");
    let n = e.config().vocab;
    let mut odd = TokenMask::none(n);
    (1..n as u32).step_by(2).for_each(|t| odd.allow(t));
    let masks: Vec<Option<&TokenMask>> = (0..tokens.len()).map(|i| (i % 2 == 1).then_some(&odd)).collect();
    e.truncate(0).unwrap();
    let x0 = e.transfers();
    e.prefill(prompt).await.unwrap();
    let p = e.pos();
    let checked = e.verify(tokens, &masks).await.unwrap();
    let crossed = Transfers::between(x0, e.transfers());
    assert_eq!(e.pos(), p + tokens.len());
    let last = e.logits().await.unwrap();
    e.truncate(p).unwrap();
    for (i, &t) in tokens.iter().enumerate() {
        e.prefill(&[t]).await.unwrap();
        let logits = e.logits().await.unwrap();
        assert_eq!(checked[i], sample_masked(&logits, masks[i], &SamplerParams::greedy(), 0.0), "{what}: choice after token {i}");
        if i + 1 == tokens.len() {
            assert!(logits.iter().zip(&last).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}: the last logits differ");
        }
    }
    crossed
}
