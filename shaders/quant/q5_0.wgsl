// GPU layout: qh (word 0) | qs[16] (words 1..4) | d f16 (word 5, low half).
const BLOCK_WORDS: u32 = 6u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    let base = u * BLOCK_WORDS;
    let qh = w[base];
    let d = lo_half(w[base + 5u]);
    var r: array<f32, 32>;
    for (var j = 0u; j < 16u; j++) {
        let q = bb(base, 4u + j);
        let x0 = (q & 0xFu) | (((qh >> j) << 4u) & 0x10u);
        let x1 = (q >> 4u) | ((qh >> (j + 12u)) & 0x10u);
        r[j] = f32(i32(x0) - 16) * d;
        r[j + 16u] = f32(i32(x1) - 16) * d;
    }
    return r;
}
