// Element-wise ops over n = rows × cols values: op 0: y = silu(a) · b;  op 1: a += b (y unused).
struct Params { cols: u32, one_row: u32, op: u32, _p0: u32 }
struct Step { t: u32, pos0: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(5) var<uniform> step: Step;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * 65535u * 256u + gid.x;
    let rows = select(step.t, 1u, p.one_row != 0u);
    if (i >= rows * p.cols) { return; }
    if (p.op == 0u) {
        let g = a[i];
        y[i] = g / (1.0 + exp(-g)) * b[i];
    } else {
        a[i] = a[i] + b[i];
    }
}
