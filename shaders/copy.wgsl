// A plain copy, 16 bytes per invocation: the memory bandwidth a kernel can reach on this device,
// the roofline `mem1 bench` holds the decode step against (its CPU reference: dst equals src).
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * 65535u * 256u + gid.x;
    if (i < p.n) { dst[i] = src[i]; }
}
