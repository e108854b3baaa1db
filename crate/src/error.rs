//! One error type for the whole crate: one variant per kind of failure, each carrying what a user
//! needs to fix it.
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The GGUF file is malformed: truncated, wrong magic, inconsistent tables.
    #[error("GGUF parse error: {0}")]
    Gguf(String),
    /// A tensor type, architecture or feature this runtime does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Metadata and tensors disagree, or a required tensor/key is missing.
    #[error("model error: {0}")]
    Model(String),
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// No usable WebGPU adapter/device, or the device cannot hold what was asked.
    #[error("GPU error: {0}")]
    Gpu(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Bad command-line or API input.
    #[error("{0}")]
    Usage(String),
    /// The store: unknown session, product, malformed action...
    #[error("shop error: {0}")]
    Shop(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn gguf(msg: impl fmt::Display) -> Self {
        Error::Gguf(msg.to_string())
    }
    pub fn model(msg: impl fmt::Display) -> Self {
        Error::Model(msg.to_string())
    }
    pub fn usage(msg: impl fmt::Display) -> Self {
        Error::Usage(msg.to_string())
    }
}
