fn dot32(u: u32, xo: u32) -> f32 {
    let base = (u / SUBS) * BLOCK_WORDS;
    let sub = u % SUBS;
    let n = sub / 4u;
    let g = sub % 4u;
    let ql0 = base + n * 16u + (g & 1u) * 8u;
    let qh0 = base + 32u + n * 8u;
    let shift = (g / 2u) * 4u;
    var s0 = 0.0;
    var s1 = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let lo = (vec4<u32>(w[ql0 + i]) >> (vec4<u32>(0u, 8u, 16u, 24u) + shift)) & vec4<u32>(0xFu);
        let hi = (vec4<u32>(w[qh0 + i]) >> (vec4<u32>(0u, 8u, 16u, 24u) + 2u * g)) & vec4<u32>(3u);
        let p = dot(vec4<f32>(lo | (hi << vec4<u32>(4u))) - 32.0, x4[xo + i]);
        if (i < 4u) { s0 += p; } else { s1 += p; }
    }
    let sc0 = f32(sbyte(bb(base, 192u + n * 8u + 2u * g)));
    let sc1 = f32(sbyte(bb(base, 193u + n * 8u + 2u * g)));
    return lo_half(w[base + 52u]) * (sc0 * s0 + sc1 * s1);
}
