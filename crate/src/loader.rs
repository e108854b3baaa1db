//! Picks a backend and loads a model into it.
use crate::cpu::Cpu;
use crate::engine::{Engine, Transfers};
use crate::gguf::ByteSource;
use crate::gpu::{Device, Gpu, DEFAULT_CHUNK};
use crate::model::Config;
use crate::sample::{SamplerParams, TokenMask};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// WGSL kernels through wgpu (WebGPU in the browser).
    Gpu,
    /// Quantized weights, integer SIMD dot products, all cores: the fast CPU path.
    Cpu,
    /// Every weight dequantized to f32: the slow, obviously correct oracle.
    Reference,
    /// The GPU when a hardware adapter can hold the model, else the quantized CPU backend (also on
    /// CPU-emulated adapters such as SwiftShader or lavapipe, where the CPU backend is faster).
    Auto,
}

impl Backend {
    pub fn parse(s: &str) -> Result<Backend> {
        match s {
            "gpu" => Ok(Backend::Gpu),
            "cpu" => Ok(Backend::Cpu),
            "ref" | "reference" => Ok(Backend::Reference),
            "auto" => Ok(Backend::Auto),
            o => Err(Error::usage(format!("unknown backend '{o}' (auto, gpu, cpu or ref)"))),
        }
    }
}

pub enum AnyEngine {
    Gpu(Box<Gpu>),
    Cpu(Box<Cpu>),
}

impl AnyEngine {
    pub async fn load<S: ByteSource>(b: Backend, src: &mut S, ctx: usize, mut progress: impl FnMut(u64, u64)) -> Result<AnyEngine> {
        Ok(match b {
            Backend::Auto => {
                let why = match Device::new().await {
                    Ok(d) if !d.emulated => match Gpu::load_on(d, src, ctx, DEFAULT_CHUNK, &mut progress).await {
                        Ok(g) => return Ok(AnyEngine::Gpu(Box::new(g))),
                        Err(e) => format!("the GPU cannot run this model: {e}"),
                    },
                    Ok(d) => format!("the GPU adapter is CPU-emulated ({})", d.description),
                    Err(e) => format!("{e}"),
                };
                let mut cpu = Cpu::load_quantized(src, ctx, progress).await?;
                cpu.fallback = Some(why);
                AnyEngine::Cpu(Box::new(cpu))
            }
            Backend::Gpu => AnyEngine::Gpu(Box::new(Gpu::load(src, ctx, progress).await?)),
            Backend::Cpu => AnyEngine::Cpu(Box::new(Cpu::load_quantized(src, ctx, progress).await?)),
            Backend::Reference => AnyEngine::Cpu(Box::new(Cpu::load(src, ctx, progress).await?)),
        })
    }
    /// Whether the engine can no longer run: its GPU device is lost (the CPU backend never is).
    pub fn is_lost(&self) -> bool {
        matches!(self, AnyEngine::Gpu(g) if g.device().is_lost())
    }

    pub fn name(&self) -> String {
        match self {
            AnyEngine::Gpu(g) => format!("gpu: {}", g.adapter_name()),
            AnyEngine::Cpu(c) => format!("cpu: {}", c.describe()),
        }
    }
}

macro_rules! each {
    ($s:expr, $e:ident => $body:expr) => {
        match $s {
            AnyEngine::Gpu($e) => $body,
            AnyEngine::Cpu($e) => $body,
        }
    };
}

impl Engine for AnyEngine {
    fn config(&self) -> &Config {
        each!(self, e => e.config())
    }
    fn pos(&self) -> usize {
        each!(self, e => e.pos())
    }
    fn truncate(&mut self, pos: usize) -> Result<()> {
        each!(self, e => e.truncate(pos))
    }
    async fn prefill(&mut self, tokens: &[u32]) -> Result<()> {
        each!(self, e => e.prefill(tokens).await)
    }
    async fn logits(&mut self) -> Result<Vec<f32>> {
        each!(self, e => e.logits().await)
    }
    async fn sample_masked(&mut self, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        each!(self, e => e.sample_masked(mask, p, u).await)
    }
    async fn decode_masked(&mut self, token: u32, mask: Option<&TokenMask>, p: &SamplerParams, u: f32) -> Result<Option<u32>> {
        each!(self, e => e.decode_masked(token, mask, p, u).await)
    }
    async fn verify(&mut self, tokens: &[u32], masks: &[Option<&TokenMask>]) -> Result<Vec<Option<u32>>> {
        each!(self, e => e.verify(tokens, masks).await)
    }
    fn batched_verify(&self) -> bool {
        each!(self, e => e.batched_verify())
    }
    fn transfers(&self) -> Option<Transfers> {
        each!(self, e => e.transfers())
    }
}
