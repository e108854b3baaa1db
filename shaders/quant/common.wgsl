// Shared by every quantized-weight decoder. A decoder file defines BLOCK_WORDS (u32 words per
// block in the GPU layout of crate/src/quant.rs), SUBS (32-element units per block) and
// `fn unit(u: u32) -> array<f32, 32>`: the u-th run of 32 consecutive weights of the tensor
// bound as `w`, dequantized exactly as ggml's dequantize_row_* defines them.

// Byte i of the block starting at word `base`.
fn bb(base: u32, i: u32) -> u32 {
    return (w[base + (i >> 2u)] >> ((i & 3u) * 8u)) & 0xFFu;
}

fn sbyte(b: u32) -> i32 {
    return bitcast<i32>(b << 24u) >> 24u;
}

fn lo_half(word: u32) -> f32 {
    return unpack2x16float(word).x;
}

// The four bytes of a word, low byte first.
fn bytes4(q: u32) -> vec4<u32> {
    return (vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu);
}

// The four bytes of a word as signed integers, as floats.
fn sbytes4(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// Nibbles of the four bytes of a word, `shift` = 0 (low) or 4 (high).
fn nibbles4(q: u32, shift: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(q) >> (vec4<u32>(0u, 8u, 16u, 24u) + shift)) & vec4<u32>(0xFu));
}

// ggml's get_scale_min_k4 (Q4_K, Q5_K): 6-bit scale and min of sub-block j from the 12 packed
// bytes at byte 4 of the block.
fn scale_min_k4(base: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(bb(base, 4u + j) & 63u, bb(base, 8u + j) & 63u);
    }
    let sc = (bb(base, 8u + j) & 0xFu) | ((bb(base, j) >> 6u) << 4u);
    let m = (bb(base, 8u + j) >> 4u) | ((bb(base, 4u + j) >> 6u) << 4u);
    return vec2<u32>(sc, m);
}
