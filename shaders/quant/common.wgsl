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
