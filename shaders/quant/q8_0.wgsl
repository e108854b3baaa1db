// GPU layout: qs[32] (words 0..7) | d f16 (word 8, low half).
const BLOCK_WORDS: u32 = 9u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    let base = u * BLOCK_WORDS;
    let d = lo_half(w[base + 8u]);
    var r: array<f32, 32>;
    for (var j = 0u; j < 32u; j++) {
        r[j] = f32(sbyte(bb(base, j))) * d;
    }
    return r;
}
