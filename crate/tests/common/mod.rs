//! Shared by the engine tests: model paths, fixtures, small helpers.
#![allow(dead_code)]
use mem1::gguf::{self, FileSource, Gguf};
use std::path::PathBuf;

pub const SMOL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const QWEN: &str = "qwen2.5-coder-0.5b-instruct.gguf";

pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A real model fetched by `scripts/fetch-models.sh`. Missing models fail the test: the README's
/// test command fetches them first.
pub fn model(name: &str) -> PathBuf {
    let p = repo().join(".cache/models").join(name);
    assert!(p.exists(), "{} is missing: run scripts/fetch-models.sh first", p.display());
    p
}

pub fn fixture_id(model_file: &str) -> &'static str {
    if model_file == SMOL {
        "smollm2-135m-q4_1"
    } else {
        "qwen2.5-coder-0.5b-q4_k_m"
    }
}

pub fn fixture(name: &str) -> serde_json::Value {
    let p = repo().join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// Reads a float32 `.npy` vector.
pub fn npy(name: &str) -> Vec<f32> {
    let b = std::fs::read(repo().join("tests/fixtures").join(name)).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hl]).unwrap();
    assert!(header.contains("'<f4'"), "{header}");
    bytemuck::pod_collect_to_vec(&b[10 + hl..])
}

pub fn header(path: &std::path::Path) -> (FileSource, Gguf) {
    let mut src = FileSource::open(path).unwrap();
    let g = pollster::block_on(gguf::read_header(&mut src)).unwrap();
    (src, g)
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

pub fn top(v: &[f32], k: usize) -> Vec<u32> {
    mem1::sample::top_k(v, k).into_iter().map(|(i, _)| i).collect()
}

/// The parity bar against the reference: max |Δ| ≤ 2e-2·max|logit|, same top-1, ≥ 4/5 of top-5.
pub fn assert_logits_close(ours: &[f32], reference: &[f32], what: &str) {
    let d = max_diff(ours, reference);
    let m = max_abs(reference);
    let (t1, t2) = (top(ours, 5), top(reference, 5));
    let shared = t1.iter().filter(|i| t2.contains(i)).count();
    println!("{what}: max|Δ| = {d:.4} ({:.2e} of max|logit| {m:.2}), top-1 {} vs {}, top-5 overlap {shared}/5", d / m, t1[0], t2[0]);
    assert!(d <= 2e-2 * m, "{what}: max|Δ| {d} > 2e-2 × {m}");
    assert_eq!(t1[0], t2[0], "{what}: top-1 differs");
    assert!(shared >= 4, "{what}: only {shared}/5 of the top-5 agree: {t1:?} vs {t2:?}");
}

/// A GPU device for tests, with the Vulkan backend and quiet Mesa.
pub fn gpu_device() -> mem1::gpu::Device {
    std::env::set_var("WGPU_BACKEND", std::env::var("WGPU_BACKEND").unwrap_or("vulkan".into()));
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let d = std::env::temp_dir().join("mem1-xdg");
        let _ = std::fs::create_dir_all(&d);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
        }
        std::env::set_var("XDG_RUNTIME_DIR", d);
    }
    pollster::block_on(mem1::gpu::Device::new()).expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)")
}
