//! mem1: a MEM1 shopping agent whose policy is a quantized language model run on WebGPU.
//!
//! Data flows one way, and the modules are named for its steps:
//!
//! * engine: bytes → [`gguf`] → [`quant`] (exact dequantization) → [`model`] (architecture from
//!   metadata) → forward pass on [`cpu`] (quantized integer SIMD dot products, or the plain f32
//!   reference) or [`gpu`] (WGSL kernels from `shaders/` through wgpu), chosen by [`loader`] →
//!   logits → [`sample`] → token → [`tokenizer`] → text.
//! * store: page → [`observe`] (DOM → text observation and actions) → [`shop`] (WebShop-faithful
//!   catalog, search, pages, goals, reward).
//! * agent: observation → prompt → policy → action, with MEM1's constant-memory context ([`agent`]).
//! * browser (wasm32): byte sources over HTTP Range and `Blob` (`web`), and the browser API
//!   (`wasm`: the demo's store in a live document, live pages for the extension, model loading,
//!   episodes reported turn by turn).
//!
//! Stable interfaces: the `mem1` CLI (see `cli`), [`error::Error`], [`loader::AnyEngine`] loading, the [`agent`] loop and
//! the [`engine::Engine`] trait. Everything else is internal and free to change.

// The threaded wasm build (atomics) sleeps idle CPU workers with `memory.atomic.wait32`.
#![cfg_attr(all(target_arch = "wasm32", target_feature = "atomics"), feature(stdarch_wasm_atomic_wait))]

pub mod error;
pub mod gguf;
pub mod quant;
pub mod model;
pub mod tokenizer;
pub mod cpu;
pub mod gpu;
pub mod sample;
pub mod synthetic;
pub mod engine;
pub mod loader;
pub mod lora;
pub mod shop;
pub mod observe;
pub mod agent;
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzzing;
#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;

pub use error::{Error, Result};
