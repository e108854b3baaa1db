// GPU layout: qs[16] (words 0..3) | d f16 (word 4, low half).
const BLOCK_WORDS: u32 = 5u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    let base = u * BLOCK_WORDS;
    let d = lo_half(w[base + 4u]);
    var r: array<f32, 32>;
    for (var j = 0u; j < 16u; j++) {
        let q = bb(base, j);
        r[j] = f32(i32(q & 0xFu) - 8) * d;
        r[j + 16u] = f32(i32(q >> 4u) - 8) * d;
    }
    return r;
}
