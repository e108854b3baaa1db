//! `mem1 run`: episodes against the in-process store, observations from the rendered DOM.
use super::constrain::Vocab;
use super::context::Mode;
use super::episode::{run_episode_with, summarize, Episode, EpisodeConfig};
use super::policy::{Limits, LlmPolicy};
use super::protocol::Protocol;
use crate::cli::Args;
use crate::engine::now;
use crate::sample::SamplerParams;
use crate::shop::goal::{dev_goals, generate_goals, parse_goals, sample_weighted, Rng};
use crate::shop::{Env, Goal, Store};
use crate::{Error, Result};
use std::io::Write;
use std::sync::Arc;

pub const USAGE: &str = "mem1 run [--model PATH] (--goals FILE.json|dev | --sample N --seed S) [--mode mem1|full]
          [--max-turns T] [--no-constrain] [--backend auto|gpu|cpu|ref] [--json] [--limit N] [--skip N]
          [--max-tokens N] [--ctx TOKENS] [--temperature X] [--trace FILE.jsonl] [--store-seed S]
          [--progress] [--no-prompts] [--memory-tokens N] [--action-tokens N] [--tokenizer FILE.json]";

fn goals(a: &Args, store: &Store) -> Result<Vec<Goal>> {
    let mut goals = match (a.get("goals"), a.get("sample")) {
        (Some(_), Some(_)) => return Err(Error::usage("give --goals or --sample, not both")),
        (Some("dev") | None, None) => dev_goals()?,
        (Some(path), None) => parse_goals(&std::fs::read(path)?)?,
        (None, Some(n)) => {
            let n: usize = n.parse().map_err(|_| Error::usage("--sample needs a number"))?;
            let mut rng = Rng::new(a.parsed("seed", 0)?);
            let all = generate_goals(&store.catalog, &store.prices, &mut rng)?;
            (0..n).map(|_| all[sample_weighted(&all, &mut rng)].clone()).collect()
        }
    };
    let skip: usize = a.parsed("skip", 0)?;
    goals.drain(..skip.min(goals.len()));
    if let Some(l) = a.get("limit") {
        let l: usize = l.parse().map_err(|_| Error::usage("--limit needs a number"))?;
        goals.truncate(l);
    }
    Ok(goals)
}

/// The model `mem1 run` uses without `--model` (fetched by `scripts/fetch-models.sh`).
pub const DEFAULT_MODEL: &str = ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf";

pub fn run(raw: &[String]) -> Result<()> {
    let mut raw = raw.to_vec();
    if !raw.iter().any(|r| r == "--model") {
        if !std::path::Path::new(DEFAULT_MODEL).is_file() {
            return Err(Error::usage(format!(
                "no --model given and the default model {DEFAULT_MODEL} is not here (run from the repository root \
                 after scripts/fetch-models.sh, or pass --model PATH)"
            )));
        }
        raw.extend(["--model".to_string(), DEFAULT_MODEL.to_string()]);
    }
    let a = Args::parse(
        &raw,
        &[
            "model", "goals", "sample", "seed", "mode", "max-turns", "backend", "limit", "skip", "max-tokens", "ctx",
            "temperature", "trace", "store-seed", "tokenizer", "memory-tokens", "action-tokens",
        ],
        &["no-constrain", "json", "no-prompts", "progress"],
    )?;
    let t_start = now();
    let mode = Mode::parse(a.get("mode").unwrap_or("mem1")).ok_or_else(|| Error::usage("--mode is mem1 or full"))?;
    let max_turns: usize = a.parsed("max-turns", 10)?;
    let json = a.has("json");
    let store = Arc::new(Store::builtin(a.parsed("store-seed", 0)?)?);
    let goals = goals(&a, &store)?;
    // MEM1 needs room for one turn; the full-history baseline for the whole episode.
    let ctx: usize = a.parsed("ctx", if mode == Mode::Mem1 { 2048 } else { 16384 })?;
    let path = a.required("model")?;
    let crate::cli::Loaded { tok, engine } = crate::cli::load_model(&a, ctx)?;
    let backend_name = engine.name();
    let load_seconds = now() - t_start;
    let vocab = Arc::new(Vocab::new(&tok));
    let protocol = Protocol::webshop();
    let mut policy = LlmPolicy::new(engine, &tok, vocab, protocol.clone(), ctx);
    policy.constrain = !a.has("no-constrain");
    policy.params = SamplerParams { temperature: a.parsed("temperature", 0.0)?, ..SamplerParams::greedy() };
    policy.limits = Limits {
        max_tokens: a.parsed("max-tokens", 128)?,
        memory_tokens: a.parsed("memory-tokens", 48)?,
        action_tokens: a.parsed("action-tokens", 48)?,
    };
    policy.seed(a.parsed("seed", 0)?);
    let cfg = EpisodeConfig { protocol, mode, max_turns, trace_prompts: !a.has("no-prompts") };
    let mut trace = match a.get("trace") {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    if !json {
        eprintln!("mem1 run: {} goals, mode {}, backend {backend_name}, constrain {}, loaded in {load_seconds:.1}s", goals.len(), mode.name(), policy.constrain);
    }
    let mut eps: Vec<Episode> = Vec::new();
    for (i, goal) in goals.into_iter().enumerate() {
        let mut env = Env::new(store.clone(), goal)?;
        let progress = a.has("progress");
        let ep = pollster::block_on(run_episode_with(&mut policy, &tok, &mut env, &cfg, |t| {
            if progress {
                eprintln!(
                    "episode {i} turn {}: prompt {} tok, prefill {} ({:.1}s), decode {} ({:.1}s), {} {}{}",
                    t.turn, t.prompt_tokens, t.prefill_tokens, t.prefill_seconds, t.decode_tokens, t.decode_seconds,
                    t.action, if t.valid { "ok" } else { "INVALID" },
                    if t.problems.is_empty() { String::new() } else { format!(" {:?}", t.problems) }
                );
            }
        }))?;
        let line = serde_json::json!({
            "episode": i, "instruction": ep.instruction, "reward": ep.reward, "success": ep.success, "turns": ep.turns,
            "peak_context_tokens": ep.peak_context_tokens, "per_turn": ep.per_turn, "seconds": ep.seconds,
            "mode": mode.name(), "constrain": policy.constrain, "done": ep.done,
            "prefix_tokens": ep.prefix_tokens, "prefill_tokens": ep.prefill_tokens, "decode_tokens": ep.decode_tokens,
            "peak_kv_bytes": ep.peak_kv_bytes, "kv_capacity_bytes": ep.kv_capacity_bytes,
            "invalid_actions": ep.invalid_actions, "bad_outputs": ep.bad_outputs, "error": ep.error,
            "actions": ep.trace.iter().map(|t| t.action.as_str()).collect::<Vec<_>>(),
        });
        if json {
            println!("{line}");
        } else {
            println!(
                "episode {i}: reward {:.3} success {} turns {} peak ctx {} per-turn {:?} {:.1}s invalid {} bad {}{}",
                ep.reward, ep.success, ep.turns, ep.peak_context_tokens, ep.per_turn, ep.seconds, ep.invalid_actions, ep.bad_outputs,
                ep.error.as_deref().map(|e| format!(" error: {e}")).unwrap_or_default()
            );
        }
        let _ = std::io::stdout().flush();
        if let Some(w) = trace.as_mut() {
            serde_json::to_writer(&mut *w, &ep).map_err(|e| Error::usage(e.to_string()))?;
            writeln!(w)?;
            w.flush()?;
        }
        eps.push(ep);
    }
    let s = summarize(&eps);
    let mut v = serde_json::to_value(&s).map_err(|e| Error::usage(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("summary".into(), true.into());
        o.insert("mode".into(), mode.name().into());
        o.insert("constrain".into(), policy.constrain.into());
        o.insert("backend".into(), backend_name.into());
        o.insert("model".into(), path.into());
        o.insert("max_turns".into(), max_turns.into());
        o.insert("max_tokens".into(), policy.limits.max_tokens.into());
        o.insert("wall_seconds".into(), (now() - t_start).into());
        o.insert("load_seconds".into(), load_seconds.into());
    }
    println!("{v}");
    Ok(())
}
