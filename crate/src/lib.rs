//! mem1 (skeleton)
pub mod error;
pub mod shop;
pub mod observe;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub use error::{Error, Result};
