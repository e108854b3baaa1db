//! WGSL sources (from `shaders/`, compiled in) and pipeline creation. A quantized kernel's source
//! is `quant/common.wgsl` + `quant/<type>.wgsl` + the kernel, so each kernel is written once and
//! instantiated per weight type.
use crate::quant::GgmlType;
use std::collections::HashMap;
use std::rc::Rc;

macro_rules! shader {
    ($p:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../shaders/", $p))
    };
}

pub const QUANT_COMMON: &str = shader!("quant/common.wgsl");

/// `fn dot32` for the matvec kernel.
pub fn dot_source(ty: GgmlType) -> &'static str {
    use GgmlType::*;
    match ty {
        F32 => shader!("quant/dot/f32.wgsl"),
        F16 => shader!("quant/dot/f16.wgsl"),
        BF16 => shader!("quant/dot/bf16.wgsl"),
        Q4_0 => shader!("quant/dot/q4_0.wgsl"),
        Q4_1 => shader!("quant/dot/q4_1.wgsl"),
        Q5_0 => shader!("quant/dot/q5_0.wgsl"),
        Q5_1 => shader!("quant/dot/q5_1.wgsl"),
        Q8_0 => shader!("quant/dot/q8_0.wgsl"),
        Q4K => shader!("quant/dot/q4_k.wgsl"),
        Q5K => shader!("quant/dot/q5_k.wgsl"),
        Q6K => shader!("quant/dot/q6_k.wgsl"),
        Q8K => shader!("quant/dot/q8_k.wgsl"),
    }
}

pub fn quant_source(ty: GgmlType) -> &'static str {
    use GgmlType::*;
    match ty {
        F32 => shader!("quant/f32.wgsl"),
        F16 => shader!("quant/f16.wgsl"),
        BF16 => shader!("quant/bf16.wgsl"),
        Q4_0 => shader!("quant/q4_0.wgsl"),
        Q4_1 => shader!("quant/q4_1.wgsl"),
        Q5_0 => shader!("quant/q5_0.wgsl"),
        Q5_1 => shader!("quant/q5_1.wgsl"),
        Q8_0 => shader!("quant/q8_0.wgsl"),
        Q4K => shader!("quant/q4_k.wgsl"),
        Q5K => shader!("quant/q5_k.wgsl"),
        Q6K => shader!("quant/q6_k.wgsl"),
        Q8K => shader!("quant/q8_k.wgsl"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Matvec,
    Matmul,
    Embed,
    Dequant,
    RmsNorm,
    RopeCache,
    Attention,
    Elementwise,
    Sample,
    Copy,
}

impl Kernel {
    fn source(self) -> &'static str {
        match self {
            Kernel::Matvec => shader!("matvec.wgsl"),
            Kernel::Matmul => shader!("matmul.wgsl"),
            Kernel::Embed => shader!("embed.wgsl"),
            Kernel::Dequant => shader!("dequant.wgsl"),
            Kernel::RmsNorm => shader!("rmsnorm.wgsl"),
            Kernel::RopeCache => shader!("rope_cache.wgsl"),
            Kernel::Attention => shader!("attention.wgsl"),
            Kernel::Elementwise => shader!("elementwise.wgsl"),
            Kernel::Sample => shader!("sample.wgsl"),
            Kernel::Copy => shader!("copy.wgsl"),
        }
    }
    fn quantized(self) -> bool {
        matches!(self, Kernel::Matvec | Kernel::Matmul | Kernel::Embed | Kernel::Dequant)
    }
}

/// Pipelines, made on first use and shared.
pub struct Pipelines {
    cache: HashMap<(Kernel, Option<GgmlType>), Rc<wgpu::ComputePipeline>>,
    /// Threads per row in the matvec kernel (`override TPR` in matvec.wgsl).
    pub matvec_tpr: u32,
}

impl Pipelines {
    pub fn new(matvec_tpr: u32) -> Pipelines {
        assert!(matvec_tpr.is_power_of_two() && matvec_tpr <= 64);
        Pipelines { cache: HashMap::new(), matvec_tpr }
    }
}

impl Pipelines {
    pub fn get(&mut self, dev: &wgpu::Device, k: Kernel, ty: Option<GgmlType>) -> Rc<wgpu::ComputePipeline> {
        let ty = if k.quantized() { ty } else { None };
        self.cache
            .entry((k, ty))
            .or_insert_with(|| {
                let src = match ty {
                    Some(t) if matches!(k, Kernel::Matvec | Kernel::Matmul) => {
                        format!("{}\n{}\n{}\n{}", QUANT_COMMON, quant_source(t), dot_source(t), k.source())
                    }
                    Some(t) => format!("{}\n{}\n{}", QUANT_COMMON, quant_source(t), k.source()),
                    None => k.source().to_string(),
                };
                let label = format!("{k:?}/{ty:?}");
                let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&label),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                });
                let tpr = [("TPR", self.matvec_tpr as f64)];
                let constants: &[(&str, f64)] = if k == Kernel::Matvec { &tpr } else { &[] };
                Rc::new(dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
                    cache: None,
                }))
            })
            .clone()
    }
}
