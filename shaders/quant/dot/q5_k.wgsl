fn dot32(u: u32, xo: u32) -> f32 {
    let base = (u / SUBS) * BLOCK_WORDS;
    let sub = u % SUBS;
    let dm = unpack2x16float(w[base]);
    let sm = scale_min_k4(base, sub);
    let q0 = base + 12u + (sub / 2u) * 8u;
    let shift = (sub & 1u) * 4u;
    var s = 0.0;
    var sx = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let a = x4[xo + i];
        let hi = vec4<f32>((vec4<u32>(w[base + 4u + i]) >> (vec4<u32>(0u, 8u, 16u, 24u) + sub)) & vec4<u32>(1u)) * 16.0;
        s += dot(nibbles4(w[q0 + i], shift) + hi, a);
        sx += dot(a, vec4<f32>(1.0));
    }
    return dm.x * f32(sm.x) * s - dm.y * f32(sm.y) * sx;
}
