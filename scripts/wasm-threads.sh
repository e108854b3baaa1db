# Sourced by scripts/build-wasm.sh and scripts/test-browser.sh (WASM_THREADS=1): the environment of the
# threaded wasm build. std is rebuilt with atomics (-Z build-std, from the rust-src component that
# scripts/setup.sh installs), which stable Rust allows only with RUSTC_BOOTSTRAP=1; the build has
# its own target folder so it and the plain build do not undo each other's caches. rustc warns
# that atomics is an unstable target feature, once per crate it builds.
# Memory: shared and imported (4 GiB at most, as the plain build); the TLS symbols let
# wasm-bindgen give each worker its own stack and thread-locals.
threads_link=(--shared-memory --max-memory=4294967296 --import-memory --export=__wasm_init_tls --export=__tls_size
  --export=__tls_align --export=__tls_base)
RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals"
for a in "${threads_link[@]}"; do RUSTFLAGS+=" -C link-arg=$a"; done
export RUSTFLAGS RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$root/target/threads"
build_std=(-Z build-std=panic_abort,std)
