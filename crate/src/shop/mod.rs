//! The WebShop-faithful store (work in progress: see issue 3).
#[cfg(not(target_arch = "wasm32"))]
pub mod cli {
    /// `mem1 shop ...`
    pub fn main(_args: &[String]) -> i32 {
        eprintln!("mem1 shop: not built yet");
        2
    }
}
