// x[t][:] = row ids[t] of the (quantized) embedding table, for the rows held by this chunk.
// Prepended: quant/common.wgsl and one quant/<type>.wgsl (defines `unit`).
struct Params { k: u32, rows: u32, row0: u32, _p0: u32 }
struct Step { t: u32, pos0: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(5) var<uniform> step: Step;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.x;
    let t = gid.y;
    let units = p.k / 32u;
    if (u >= units || t >= step.t) { return; }
    let id = ids[t];
    if (id < p.row0 || id >= p.row0 + p.rows) { return; }
    let v = unit((id - p.row0) * units + u);
    for (var i = 0u; i < 32u; i++) { x[t * p.k + u * 32u + i] = v[i]; }
}
