//! Command-line front end. `main` dispatches on the first word; each subcommand parses its own flags.
mod args;
mod engine;
mod page;

pub use args::Args;

use crate::gguf::{self, FileSource};
use crate::loader::{AnyEngine, Backend};
use crate::lora::{self, Adapter};
use crate::sample::SamplerParams;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use std::path::Path;

/// A model's tokenizer and engine, as the `--model/--backend/--tokenizer` flags ask.
pub struct Loaded {
    pub tok: Tokenizer,
    pub engine: AnyEngine,
}

/// The sampler as `--temperature/--top-k/--top-p` ask (defaults: [`SamplerParams::default`]),
/// checked before anything loads.
pub fn sampler_params(a: &Args) -> Result<SamplerParams> {
    let d = SamplerParams::default();
    SamplerParams::checked(a.parsed("temperature", d.temperature)?, a.parsed("top-k", d.top_k)?, a.parsed("top-p", d.top_p)?)
}

/// The tokenizer of `--model` (or `--tokenizer FILE.json`), without loading the weights.
pub fn load_tokenizer(a: &Args) -> Result<Tokenizer> {
    let path = a.required("model")?;
    let mut src = FileSource::open(Path::new(path))?;
    let g = pollster::block_on(gguf::read_header(&mut src))?;
    match a.get("tokenizer") {
        Some(p) => Tokenizer::from_json(&std::fs::read_to_string(p)?, Some(&g)),
        None => Tokenizer::from_gguf(&g),
    }
}

/// Loads `--model` (with the LoRA adapter `--lora PATH` merged in, if given) into `--backend`
/// (default auto: a hardware GPU, else the quantized CPU backend) with a KV cache of `ctx` tokens,
/// showing progress.
pub fn load_model(a: &Args, ctx: usize) -> Result<Loaded> {
    let path = a.required("model")?;
    let backend = Backend::parse(a.get("backend").unwrap_or("auto"))?;
    let mut src = FileSource::open(Path::new(path))?;
    let g = pollster::block_on(gguf::read_header(&mut src))?;
    let tok = match a.get("tokenizer") {
        Some(p) => Tokenizer::from_json(&std::fs::read_to_string(p)?, Some(&g))?,
        None => Tokenizer::from_gguf(&g)?,
    };
    let mut last = 0;
    let progress = |done: u64, total: u64| {
        let pct = done * 100 / total.max(1);
        if pct >= last + 10 || done == total {
            last = pct;
            eprint!("\rloading {path}: {pct}%");
            if done == total {
                eprintln!();
            }
        }
    };
    let adapter = match a.get("lora").filter(|l| *l != "none") {
        None => None,
        Some(lp) => {
            let mut asrc = FileSource::open(Path::new(lp)).map_err(|e| Error::usage(format!("--lora: {e}")))?;
            Some(pollster::block_on(Adapter::read(&mut asrc)).map_err(|e| Error::usage(format!("--lora {lp}: {e}")))?)
        }
    };
    // An adapter that does not fit the model says so ("the LoRA adapter ...").
    let engine = pollster::block_on(lora::load(backend, &mut src, &g, adapter, ctx, progress))?;
    Ok(Loaded { tok, engine })
}

/// A file's sha256 as lowercase hex, read in pieces.
pub fn sha256_file(path: &str) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

const USAGE: &str = "usage: mem1 <command> [flags]

commands:
  logits    --model PATH [--lora ADAPTER] --prompt TEXT [--chat] [--backend auto|gpu|cpu|ref] [--top K] [--out FILE.npy]
  generate  --model PATH [--lora ADAPTER] --prompt TEXT [--chat] [--max-tokens N] [--backend auto|gpu|cpu|ref]
  bench     --model PATH | --synthetic NAME [--quant q4_k|q4_0|q8_0] [--backend auto|gpu|cpu|ref]
            [--prompt-tokens N] [--decode-tokens N] [--repeats N] [--copy-mib N]
            [--turn [--summary-tokens N] [--action-tokens N]]   (an agent turn: prompt, summary, masked action)
  shop      serve|replay ...   (the WebShop-faithful store)
  page      observe|check --html FILE --url URL [--action A] [--json]   (the page lab: a saved page as the agent reads and judges it)
  run       --model PATH [--lora ADAPTER] (--goals FILE.json | --sample N --seed S) [--mode mem1|full] [--max-turns T]
            [--no-constrain] [--backend auto|gpu|cpu|ref] [--json]   (MEM1 agent episodes; `mem1 run --help`)";

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
        "page" => return page::main(rest),
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
