//! Token sampling: greedy, or temperature + top-k + top-p. The GPU backend runs the same algorithm
//! in `shaders/sample.wgsl`; this is its CPU twin.

/// At most this many candidates survive top-k (the GPU kernel keeps them in registers).
pub const MAX_TOP_K: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerParams {
    /// 0 = greedy.
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams { temperature: 0.0, top_k: 40, top_p: 0.95 }
    }
}

impl SamplerParams {
    pub fn greedy() -> Self {
        Self::default()
    }

    /// The settings as given on a command line, refused when they mean nothing.
    pub fn checked(temperature: f32, top_k: usize, top_p: f32) -> crate::Result<Self> {
        if !(temperature >= 0.0 && temperature.is_finite()) {
            return Err(crate::Error::usage(format!("--temperature must be 0 (greedy) or more, not {temperature}")));
        }
        if !(1..=MAX_TOP_K).contains(&top_k) {
            return Err(crate::Error::usage(format!("--top-k must be 1 to {MAX_TOP_K}, not {top_k}")));
        }
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(crate::Error::usage(format!("--top-p must be above 0 and at most 1, not {top_p}")));
        }
        Ok(SamplerParams { temperature, top_k, top_p })
    }
}

/// A small, seedable generator (xorshift64*) so runs are reproducible on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Index of the largest logit; the lowest index wins ties.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Samples with `u` uniform in [0, 1).
pub fn sample(logits: &[f32], p: &SamplerParams, u: f32) -> u32 {
    if p.temperature <= 0.0 || p.top_k == 1 {
        return argmax(logits);
    }
    let k = p.top_k.clamp(1, MAX_TOP_K).min(logits.len());
    let top = top_k(logits, k);
    let m = top[0].1;
    let w: Vec<f32> = top.iter().map(|&(_, l)| ((l - m) / p.temperature).exp()).collect();
    let total: f32 = w.iter().sum();
    // Keep the smallest prefix whose mass reaches top_p.
    let mut kept = 0.0;
    let mut n = 0;
    while n < w.len() {
        kept += w[n];
        n += 1;
        if kept >= p.top_p * total {
            break;
        }
    }
    let target = u * kept;
    let mut acc = 0.0;
    for i in 0..n {
        acc += w[i];
        if target < acc {
            return top[i].0;
        }
    }
    top[n - 1].0
}

/// The tokens a sampler may choose, one bit per vocabulary id: a constrained action's allowed
/// next tokens, less those the repetition guard forbids. The GPU sampler reads the same words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMask {
    words: Vec<u32>,
    len: usize,
}

impl TokenMask {
    /// No token allowed yet.
    pub fn none(len: usize) -> TokenMask {
        TokenMask { words: vec![0; len.div_ceil(32)], len }
    }
    /// Every token allowed.
    pub fn all(len: usize) -> TokenMask {
        let mut m = TokenMask { words: vec![u32::MAX; len.div_ceil(32)], len };
        if len % 32 != 0 {
            if let Some(w) = m.words.last_mut() {
                *w = (1u32 << (len % 32)) - 1;
            }
        }
        m
    }
    pub fn allow(&mut self, id: u32) {
        if (id as usize) < self.len {
            self.words[id as usize / 32] |= 1 << (id % 32);
        }
    }
    pub fn forbid(&mut self, id: u32) {
        if (id as usize) < self.len {
            self.words[id as usize / 32] &= !(1 << (id % 32));
        }
    }
    pub fn allows(&self, id: u32) -> bool {
        (id as usize) < self.len && self.words[id as usize / 32] & (1 << (id % 32)) != 0
    }
    /// Vocabulary size the mask covers.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }
    /// The bit words, id `i` at bit `i % 32` of word `i / 32`.
    pub fn words(&self) -> &[u32] {
        &self.words
    }
}

/// [`sample`] among the tokens `mask` allows (all of them without a mask); `None` when it allows
/// none. The candidates keep the unmasked order (logit descending, lower index first).
pub fn sample_masked(logits: &[f32], mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Option<u32> {
    let Some(m) = mask else { return Some(sample(logits, p, u)) };
    let allowed: Vec<u32> = (0..logits.len() as u32).filter(|&i| m.allows(i)).collect();
    if allowed.is_empty() {
        return None;
    }
    let kept: Vec<f32> = allowed.iter().map(|&i| logits[i as usize]).collect();
    Some(allowed[sample(&kept, p, u) as usize])
}

/// The k largest (index, logit), largest first; ties by lower index.
pub fn top_k(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(sample(&[0.0, 5.0, 1.0], &SamplerParams::greedy(), 0.7), 1);
    }

    #[test]
    fn top_p_cuts_the_tail() {
        let logits = [10.0, 0.0, 0.0, 9.0];
        let p = SamplerParams { temperature: 1.0, top_k: 4, top_p: 0.5 };
        // The first candidate alone already holds > 50 % of the mass.
        for u in [0.0, 0.5, 0.99] {
            assert_eq!(sample(&logits, &p, u), 0);
        }
        let p = SamplerParams { temperature: 1.0, top_k: 4, top_p: 0.999 };
        assert_eq!(sample(&logits, &p, 0.9), 3);
    }

    #[test]
    fn masks_restrict_the_choice() {
        let logits = [1.0, 9.0, 3.0, 3.0, 8.0];
        let mut m = TokenMask::none(5);
        assert_eq!(sample_masked(&logits, Some(&m), &SamplerParams::greedy(), 0.5), None);
        m.allow(2);
        m.allow(3);
        assert_eq!(sample_masked(&logits, Some(&m), &SamplerParams::greedy(), 0.5), Some(2), "ties: the lower id");
        let all = TokenMask::all(37);
        assert!(all.allows(36) && !all.allows(37) && all.words()[1] == (1 << 5) - 1);
        let mut m = TokenMask::all(5);
        m.forbid(1);
        assert_eq!(sample_masked(&logits, Some(&m), &SamplerParams::greedy(), 0.5), Some(4));
        let p = SamplerParams { temperature: 1.0, top_k: 40, top_p: 1.0 };
        for u in [0.0, 0.3, 0.99] {
            assert_ne!(sample_masked(&logits, Some(&m), &p, u), Some(1));
        }
        assert_eq!(sample_masked(&logits, None, &p, 0.3), Some(sample(&logits, &p, 0.3)));
    }

    #[test]
    fn rng_is_reproducible_and_uniform() {
        let mut a = Rng::new(5);
        let mut b = Rng::new(5);
        let xs: Vec<f32> = (0..1000).map(|_| a.uniform()).collect();
        assert!(xs.iter().zip((0..1000).map(|_| b.uniform())).all(|(x, y)| *x == y));
        let mean = xs.iter().sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05 && xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }
}
