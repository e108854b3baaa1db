//! GPU faults: the device lost in the middle of generation gives a clear error (no panic, no
//! hang), and the next load on a new device works in the same process.
use mem1::engine::Engine;
use mem1::gpu::Gpu;
use mem1::quant::GgmlType;
use mem1::sample::SamplerParams;
use mem1::synthetic::{synthetic_gguf, Shape};

fn tiny() -> Vec<u8> {
    let shape = Shape { arch: "llama", layers: 2, d: 64, heads: 4, kv: 2, ff: 128, vocab: 300, tied: true };
    synthetic_gguf(&shape, GgmlType::Q8_0, 256)
}

#[test]
fn device_lost_mid_generation_is_a_clear_error_and_the_next_load_works() {
    let mut gpu = pollster::block_on(Gpu::load(&mut tiny(), 256, |_, _| {})).expect("GPU backend (Vulkan)");
    let p = SamplerParams::greedy();
    pollster::block_on(gpu.prefill(&[1, 2, 3])).unwrap();
    let mut t = pollster::block_on(gpu.decode(4, &p, 0.5)).unwrap();
    // The browser's tab crash, the driver reset: wgpu's Device::destroy.
    gpu.device().dev.destroy();
    let mut errors = Vec::new();
    for _ in 0..3 {
        match pollster::block_on(gpu.decode(t, &p, 0.5)) {
            Ok(next) => t = next,
            Err(e) => errors.push(e.to_string()),
        }
    }
    eprintln!("after the device was destroyed: {errors:?}");
    assert!(!errors.is_empty(), "generation went on on a destroyed device");
    assert!(errors.iter().all(|e| e.to_lowercase().contains("lost") || e.to_lowercase().contains("destroyed")), "{errors:?}");
    drop(gpu);
    // A new device, the same model: works.
    let mut gpu = pollster::block_on(Gpu::load(&mut tiny(), 256, |_, _| {})).unwrap();
    pollster::block_on(gpu.prefill(&[1, 2, 3])).unwrap();
    pollster::block_on(gpu.decode(4, &p, 0.5)).unwrap();
}
