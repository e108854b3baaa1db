fn dot32(u: u32, xo: u32) -> f32 {
    let b = u * 32u;
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let v = bitcast<vec4<f32>>(vec4<u32>(w[b + 4u * i], w[b + 4u * i + 1u], w[b + 4u * i + 2u], w[b + 4u * i + 3u]));
        s += dot(v, x4[xo + i]);
    }
    return s;
}
