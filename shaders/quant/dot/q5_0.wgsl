fn dot32(u: u32, xo: u32) -> f32 {
    let base = u * BLOCK_WORDS;
    let qh = vec4<u32>(w[base]);
    var s = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let q = w[base + 1u + i];
        let j = vec4<u32>(0u, 1u, 2u, 3u) + 4u * i;
        let hl = vec4<f32>((qh >> j) & vec4<u32>(1u)) * 16.0;
        let hh = vec4<f32>((qh >> (j + 16u)) & vec4<u32>(1u)) * 16.0;
        s += dot(nibbles4(q, 0u) + hl - 16.0, x4[xo + i]) + dot(nibbles4(q, 4u) + hh - 16.0, x4[xo + 4u + i]);
    }
    return s * lo_half(w[base + 5u]);
}
