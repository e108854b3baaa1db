// out[u*32 + i] = unit(u)[i]: the whole tensor dequantized (tests compare it with the CPU definition).
// Prepended: quant/common.wgsl and one quant/<type>.wgsl (defines `unit`).
struct Params { units: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.y * 65535u * 64u + gid.x;
    if (u >= p.units) { return; }
    let v = unit(u);
    for (var i = 0u; i < 32u; i++) { out[u * 32u + i] = v[i]; }
}
