//! Rewrites `tests/fixtures/web_observe.json` (the native observations of a walk through the
//! store, which the browser test `web_observe` compares the live DOM's against) after an intended
//! change to the store's pages:
//!
//!     cargo run --release --example bless_web_observe
//!
//! A separate command on purpose: a test that rewrote its own fixture would compare it with itself.

// Native only: `wasm-pack test` builds every example for wasm32 too.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/observe_json/mod.rs"]
mod observe_json;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use crate::observe_json;

    pub fn main() {
        let path = observe_json::fixture_path();
        let now = observe_json::fixture_text();
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old == now {
            eprintln!("{}: already current", path.display());
            return;
        }
        std::fs::write(&path, &now).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("{}: rewritten ({} bytes, was {}); review the diff and run the browser test web_observe", path.display(), now.len(), old.len());
    }
}
