// y[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight, one workgroup per row.
struct Params { n: u32, eps: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wg.x * p.n;
    var s = 0.0;
    for (var i = lid; i < p.n; i += 64u) { let v = x[base + i]; s += v * v; }
    partial[lid] = s;
    workgroupBarrier();
    for (var off = 32u; off > 0u; off >>= 1u) {
        if (lid < off) { partial[lid] += partial[lid + off]; }
        workgroupBarrier();
    }
    let r = 1.0 / sqrt(partial[0] / f32(p.n) + p.eps);
    for (var i = lid; i < p.n; i += 64u) { y[base + i] = weight[i] * (x[base + i] * r); }
}
