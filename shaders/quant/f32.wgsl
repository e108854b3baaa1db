const BLOCK_WORDS: u32 = 32u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    var r: array<f32, 32>;
    for (var i = 0u; i < 32u; i++) { r[i] = bitcast<f32>(w[u * 32u + i]); }
    return r;
}
