fn dot32(u: u32, xo: u32) -> f32 {
    let base = (u / SUBS) * BLOCK_WORDS;
    let sub = u % SUBS;
    let dm = unpack2x16float(w[base]);
    let sm = scale_min_k4(base, sub);
    let q0 = base + 4u + (sub / 2u) * 8u;
    let shift = (sub & 1u) * 4u;
    var s = 0.0;
    var sx = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let a = x4[xo + i];
        s += dot(nibbles4(w[q0 + i], shift), a);
        sx += dot(a, vec4<f32>(1.0));
    }
    return dm.x * f32(sm.x) * s - dm.y * f32(sm.y) * sx;
}
