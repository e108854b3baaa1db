//! The `mem1` command line. Each subcommand's flags are a stable interface other tools call.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(mem1::cli::main(args));
}

#[cfg(target_arch = "wasm32")]
fn main() {}
