const BLOCK_WORDS: u32 = 16u;
const SUBS: u32 = 1u;
fn unit(u: u32) -> array<f32, 32> {
    var r: array<f32, 32>;
    for (var i = 0u; i < 16u; i++) {
        let q = w[u * 16u + i];
        r[2u * i] = bitcast<f32>(q << 16u);
        r[2u * i + 1u] = bitcast<f32>(q & 0xFFFF0000u);
    }
    return r;
}
