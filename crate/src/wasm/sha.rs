//! SHA-256 over a stream of chunks: a model download is verified as it is written, never held
//! whole in memory.
use sha2::Digest;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct Sha256(sha2::Sha256);

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        Sha256(sha2::Sha256::new())
    }
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }
    /// The digest as lowercase hex; the hasher starts over.
    pub fn hex(&mut self) -> String {
        self.0.finalize_reset().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}
