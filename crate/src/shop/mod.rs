//! The WebShop-faithful store (princeton-nlp/WebShop, Yao et al. 2022) in our own code.
pub mod analyzer;
pub mod catalog;
pub mod search;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli {
    /// `mem1 shop ...`
    pub fn main(_args: &[String]) -> i32 {
        eprintln!("mem1 shop: not built yet");
        2
    }
}
