fn dot32(u: u32, xo: u32) -> f32 {
    let base = u * BLOCK_WORDS;
    let dm = unpack2x16float(w[base]);
    let qh = vec4<u32>(w[base + 1u]);
    var s = 0.0;
    var sx = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let q = w[base + 2u + i];
        let j = vec4<u32>(0u, 1u, 2u, 3u) + 4u * i;
        let hl = vec4<f32>((qh >> j) & vec4<u32>(1u)) * 16.0;
        let hh = vec4<f32>((qh >> (j + 16u)) & vec4<u32>(1u)) * 16.0;
        let a = x4[xo + i];
        let b = x4[xo + 4u + i];
        s += dot(nibbles4(q, 0u) + hl, a) + dot(nibbles4(q, 4u) + hh, b);
        sx += dot(a + b, vec4<f32>(1.0));
    }
    return dm.x * s + dm.y * sx;
}
