//! Command-line front end. `main` dispatches on the first word; each subcommand parses its own flags.
mod args;
mod engine;

pub use args::Args;

const USAGE: &str = "usage: mem1 <command> [flags]

commands:
  logits    --model PATH --prompt TEXT [--chat] [--backend gpu|cpu] [--top K] [--out FILE.npy]
  generate  --model PATH --prompt TEXT [--chat] [--max-tokens N] [--backend gpu|cpu]
  bench     --model PATH | --synthetic NAME [--quant q4_k|q4_0|q8_0] [--backend gpu|cpu]
  shop      serve|replay ...   (the WebShop-faithful store)
  run       --model PATH (--goals FILE.json | --sample N --seed S) [--mode mem1|full] [--max-turns T]
            [--no-constrain] [--backend gpu|cpu] [--json]   (MEM1 agent episodes; `mem1 run --help`)";

/// Runs the CLI; returns the process exit code. Errors are printed, never panicked.
pub fn main(args: Vec<String>) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    let result = match cmd.as_str() {
        "logits" => engine::logits(rest),
        "generate" => engine::generate(rest),
        "bench" => engine::bench(rest),
        "shop" => return crate::shop::cli::main(rest),
        "run" if rest.iter().any(|a| a == "-h" || a == "--help") => {
            println!("usage: {}", crate::agent::cli::USAGE);
            return 0;
        }
        "run" => crate::agent::cli::run(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return 0;
        }
        other => {
            eprintln!("mem1: unknown command '{other}'\n{USAGE}");
            return 2;
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mem1 {cmd}: {e}");
            1
        }
    }
}
