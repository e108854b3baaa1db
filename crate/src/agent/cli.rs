//! `mem1 run`: episodes against the in-process store, observations from the rendered DOM.
use super::constrain::Vocab;
use super::context::Mode;
use super::episode::{run_episode_with, summarize, Episode, EpisodeConfig};
use super::expert::{Choice, Expert};
use super::policy::{Limits, LlmPolicy, Policy};
use super::protocol::Protocol;
use super::remote::{self, native::Http, RemotePolicy, ServerKind};
use crate::cli::Args;
use crate::engine::now;
use crate::shop::goal::{dev_goals, sample_goals, EVAL_SAMPLE};
use crate::shop::task::{compose, parse_tasks, MAX_ITEMS};
use crate::shop::{Env, Store, Task};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use std::io::Write;
use std::sync::Arc;

pub const USAGE: &str = "mem1 run [--model PATH] [--lora ADAPTER] [--remote URL [--remote-model NAME] [--api-key KEY] [--remote-kind K]]
          (--goals FILE.json|dev | --sample N --seed S) [--items N] [--mode mem1|full]
          [--max-turns T] [--no-constrain] [--no-speculate] [--backend auto|gpu|cpu|ref] [--json] [--limit N] [--skip N]
          [--max-tokens N] [--ctx TOKENS] [--temperature X] [--top-k K] [--top-p P] [--trace FILE.jsonl] [--store-seed S]
          [--progress] [--no-prompts] [--memory-tokens N] [--action-tokens N] [--tokenizer FILE.json]
          [--policy model|expert] [--expert visible|target|rule] [--detour P] [--trace-ids] [--exclude-eval] [--repeat G]

  --remote URL      play with a policy served by an OpenAI-compatible server (URL: its base, e.g.
                    http://127.0.0.1:8080/v1): llama.cpp's or llama-cpp-python's server, vLLM, Ollama.
                    The same loop and context, sent as chat messages; the action constrained in the
                    server's own language (--remote-kind auto|llamacpp|vllm|ollama|openai decides:
                    a GBNF grammar, a regular expression, or the reply only validated), token counts
                    from the server's usage. --remote-model NAME (default: the first it serves),
                    --api-key KEY (sent only in the Authorization header), --remote-timeout S
                    (default 120: the longest the server may stay silent). --model then only lends
                    its tokenizer to the trace.
  --lora ADAPTER    a LoRA adapter GGUF merged into --model as it loads. Without --model: the
                    bundled SmolLM2-135M with the trained policy's adapter (models/), or with
                    --lora none the base model alone (zero-shot).
  --policy expert   the expert that writes training episodes (issue 9); the model's file only
                    gives the tokenizer. --expert visible (default): decides only from what the
                    pages show (first result under the price limit, every option named); target:
                    knows the goal's product (the upper bound; --detour P: chance of a recoverable
                    wrong step); rule: WebShop's rule baseline (instruction as query, first
                    result, Buy Now).
  --items N         shopping lists of N goals each (default 1: WebShop goals): N consecutive dev
                    goals, --sample K draws K lists (K·N goals), a --goals file's plain goals are
                    grouped N at a time (its entries that are lists of goals are lists already).
                    A list is shopped into the store's cart (Add to Cart) and ends at Checkout;
                    each goal scores its WebShop reward against the cart's items under the best
                    one-to-one assignment, an item beyond N costs 0.1, and the score is the mean
                    item reward. --max-turns defaults to 10 per item.
  --trace-ids       the trace also holds each turn's prompt and output token ids (SFT data).
  --exclude-eval    drop goals on the products of the dev goals and of the evaluation sample
                    (--sample 200 --seed 0), and repeated goals: training data never sees them.
                    Goals are drawn by popularity and the evaluation's products are popular, so
                    about 1 in 7 sampled goals stays: --sample 160 --limit 10 keeps the first 10.
  --temperature X   sample the model's tokens (default 0: greedy) from the top-k (default 40, at
                    most 64) whose probability mass reaches top-p (default 0.95); --seed seeds it.
                    A trained policy is sure of most tokens, so top-p 0.95 keeps only the best one
                    there: rollouts for reinforcement learning want --top-p 1.
  --no-speculate    decode one token per forward pass. By default, under greedy decoding on the CPU
                    backend, drafts are checked in one pass: in free text the tokens that followed
                    the last few tokens' latest earlier occurrence in the context (prompt lookup),
                    in the action the bytes every allowed action continues with (jump-forward). A
                    draft token counts only where it is the model's own choice, so the turns are
                    the same tokens; the summary's tokens_per_forward shows the gain.
  --repeat G        run each goal G times in a row (a group of samples for GRPO, with --temperature).
  --seed S          also seeds the random choices (--temperature, --detour): each episode's start
                    from S and the episode's place in the whole run, so --skip K --limit 1 plays
                    episode K as the whole run does.";

/// The run's tasks: `--items N` composes N goals into each shopping list (from the dev goals,
/// `--sample`, or a goal file's plain goals; a file's own lists stay as they are), before
/// `--skip`, `--limit` and `--repeat`, which count tasks.
fn tasks(a: &Args, store: &Store) -> Result<Vec<Task>> {
    let items: usize = a.parsed("items", 1)?;
    if items == 0 || items > MAX_ITEMS {
        return Err(Error::usage(format!("--items is 1 to {MAX_ITEMS}")));
    }
    let mut entries = match (a.get("goals"), a.get("sample")) {
        (Some(_), Some(_)) => return Err(Error::usage("give --goals or --sample, not both")),
        (Some("dev") | None, None) => dev_goals()?.into_iter().map(Task::from).collect(),
        (Some(path), None) => parse_tasks(&std::fs::read(path)?)?,
        (None, Some(n)) => {
            let n: usize = n.parse().map_err(|_| Error::usage("--sample needs a number"))?;
            let goals = sample_goals(&store.catalog, &store.prices, n.saturating_mul(items), a.parsed("seed", 0)?)?;
            goals.into_iter().map(Task::from).collect()
        }
    };
    if a.has("exclude-eval") {
        let mut held: std::collections::HashSet<String> = dev_goals()?.into_iter().map(|g| g.asin).collect();
        held.extend(sample_goals(&store.catalog, &store.prices, EVAL_SAMPLE.0, EVAL_SAMPLE.1)?.into_iter().map(|g| g.asin));
        let mut seen = std::collections::HashSet::new();
        entries.retain(|t: &Task| t.goals.iter().all(|g| !held.contains(&g.asin) && seen.insert(g.instruction_text.clone())));
    }
    let mut tasks = entries;
    if items > 1 {
        let (lists, singles): (Vec<Task>, Vec<Task>) = tasks.into_iter().partition(Task::is_list);
        let (composed, left) = compose(singles.into_iter().flat_map(|t| t.goals).collect(), items)?;
        if left > 0 {
            eprintln!("mem1 run: {left} goal(s) left over after lists of {items} are not played");
        }
        tasks = lists.into_iter().chain(composed).collect();
    }
    let skip: usize = a.parsed("skip", 0)?;
    tasks.drain(..skip.min(tasks.len()));
    if let Some(l) = a.get("limit") {
        let l: usize = l.parse().map_err(|_| Error::usage("--limit needs a number"))?;
        tasks.truncate(l);
    }
    let repeat: usize = a.parsed("repeat", 1)?;
    if repeat == 0 {
        return Err(Error::usage("--repeat needs at least 1"));
    }
    Ok(tasks.into_iter().flat_map(|t| std::iter::repeat_n(t, repeat)).collect())
}

/// The model `mem1 run` uses without `--model` (fetched by `scripts/fetch-models.sh`).
pub const DEFAULT_MODEL: &str = ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The trained MEM1 policy (a LoRA adapter over [`DEFAULT_MODEL`], made by `scripts/train.sh` and
/// shipped in the repository) that `mem1 run` adds without `--model`; `--lora none` leaves it out.
pub const DEFAULT_LORA: &str = "models/mem1-smollm2-135m.lora.gguf";

pub fn run(raw: &[String]) -> Result<()> {
    let mut raw = raw.to_vec();
    let remote = raw.iter().any(|r| r == "--remote");
    if !raw.iter().any(|r| r == "--model") {
        // A served policy needs no local weights: the default model only lends its tokenizer
        // (the trace's token ids; the counts reported are the server's).
        if !remote && !raw.iter().any(|r| r == "--lora") {
            if !std::path::Path::new(DEFAULT_LORA).is_file() {
                return Err(Error::usage(format!(
                    "no --model given and the shipped policy's adapter {DEFAULT_LORA} is not here (run from the \
                     repository root; --lora none runs the base model zero-shot, --lora PATH another adapter)"
                )));
            }
            raw.extend(["--lora".to_string(), DEFAULT_LORA.to_string()]);
        }
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
            "model", "lora", "goals", "sample", "items", "seed", "mode", "max-turns", "backend", "limit", "skip", "max-tokens", "ctx",
            "temperature", "top-k", "top-p", "trace", "store-seed", "tokenizer", "memory-tokens", "action-tokens", "policy", "expert", "detour", "repeat",
            "remote", "remote-model", "api-key", "remote-kind", "remote-timeout",
        ],
        &["no-constrain", "no-speculate", "json", "no-prompts", "progress", "trace-ids", "exclude-eval"],
    )?;
    let t_start = now();
    let mode = Mode::parse(a.get("mode").unwrap_or("mem1")).ok_or_else(|| Error::usage("--mode is mem1 or full"))?;
    let store = Arc::new(Store::builtin(a.parsed("store-seed", 0)?)?);
    let goals = tasks(&a, &store)?;
    let protocol = Protocol::webshop();
    // A list needs about as many turns per item as a goal does.
    let most_items = goals.iter().map(Task::items).max().unwrap_or(1);
    let cfg = EpisodeConfig {
        protocol: protocol.clone(),
        mode,
        max_turns: a.parsed("max-turns", 10 * most_items)?,
        trace_prompts: !a.has("no-prompts"),
        trace_ids: a.has("trace-ids"),
    };
    match a.get("policy").unwrap_or("model") {
        "model" if remote => {
            let kind = match a.get("remote-kind").unwrap_or("auto") {
                "auto" => None,
                k => Some(ServerKind::parse(k).ok_or_else(|| Error::usage(format!("--remote-kind is auto, llamacpp, vllm, ollama or openai, not '{k}'")))?),
            };
            let mut http = Http::new(std::time::Duration::from_secs(a.parsed("remote-timeout", 120)?));
            let endpoint = pollster::block_on(remote::connect(&mut http, a.required("remote")?, a.get("remote-model"), a.get("api-key"), kind))?;
            let tok = crate::cli::load_tokenizer(&a)?;
            let params = crate::cli::sampler_params(&a)?;
            let mut policy = RemotePolicy::new(http, endpoint, protocol);
            policy.constrain = !a.has("no-constrain");
            policy.temperature = params.temperature;
            policy.top_p = params.top_p;
            // The local engine's free, memory and action budgets together.
            let d = Limits::default();
            policy.max_tokens = a.parsed("max-tokens", 224)? + a.parsed("memory-tokens", d.memory_tokens)? + a.parsed("action-tokens", d.action_tokens)?;
            // Natively nobody watches tokens arrive: a whole reply carries the server's usage
            // (llama-cpp-python's streams do not).
            policy.stream = false;
            let e = &policy.endpoint;
            let name = PolicyName { line: format!("served {:?} at {} ({}, constraint {})", e.model, e.base, e.kind.name(), policy.constraint().name()), lora_sha256: None };
            eprintln!("mem1 run: policy {}", name.line);
            let run = Run {
                policy: name,
                backend: format!("remote {}", e.kind.name()),
                constrain: policy.constrain,
                max_tokens: policy.max_tokens,
                load_seconds: now() - t_start,
                constraint: Some(policy.constraint().name()),
                model: Some(e.model.clone()),
            };
            episodes(&a, &mut policy, &tok, &store, goals, &cfg, &run, t_start, |p, _, seed| p.seed = seed)
        }
        "model" => {
            // MEM1 needs room for one turn (a list's instruction grows with its items); the
            // full-history baseline for the whole episode.
            let ctx: usize = a.parsed("ctx", if mode == Mode::Mem1 { 2048 + 128 * (most_items - 1) } else { 16384 })?;
            let params = crate::cli::sampler_params(&a)?;
            let name = PolicyName::of(&a)?;
            eprintln!("mem1 run: policy {}", name.line);
            let crate::cli::Loaded { tok, engine } = crate::cli::load_model(&a, ctx)?;
            let backend = engine.name();
            let vocab = Arc::new(Vocab::new(&tok));
            let mut policy = LlmPolicy::new(engine, &tok, vocab, protocol, ctx);
            policy.constrain = !a.has("no-constrain");
            policy.speculate = !a.has("no-speculate");
            policy.params = params;
            policy.limits = Limits {
                max_tokens: a.parsed("max-tokens", 224)?,
                memory_tokens: a.parsed("memory-tokens", Limits::default().memory_tokens)?,
                action_tokens: a.parsed("action-tokens", Limits::default().action_tokens)?,
            };
            let run = Run {
                policy: name,
                backend,
                constrain: policy.constrain,
                max_tokens: policy.limits.max_tokens,
                load_seconds: now() - t_start,
                constraint: policy.constrain.then_some("local automaton"),
                model: None,
            };
            episodes(&a, &mut policy, &tok, &store, goals, &cfg, &run, t_start, |p, _, seed| p.seed(seed))
        }
        "expert" => {
            let name = a.get("expert").unwrap_or("visible");
            let choice = Choice::parse(name).ok_or_else(|| Error::usage(format!("--expert is visible, target or rule, not '{name}'")))?;
            let tok = crate::cli::load_tokenizer(&a)?;
            let mut expert = Expert::new(store.clone(), protocol, a.parsed("seed", 0)?);
            expert.choice = choice;
            expert.detour = a.parsed("detour", expert.detour)?;
            let policy = PolicyName { line: format!("expert {name}"), lora_sha256: None };
            eprintln!("mem1 run: policy {}", policy.line);
            let run = Run { policy, backend: format!("expert {name}"), constrain: false, max_tokens: 0, load_seconds: now() - t_start, constraint: None, model: None };
            episodes(&a, &mut expert, &tok, &store, goals, &cfg, &run, t_start, |e, g, seed| {
                e.seed(seed);
                e.reset(g)
            })
        }
        other => Err(Error::usage(format!("--policy is model or expert, not '{other}'"))),
    }
}

/// Which policy runs, as `mem1 run` prints it before anything else (and the summary line
/// repeats): the base model's file with the adapter's file and sha256, or the base alone.
struct PolicyName {
    line: String,
    lora_sha256: Option<String>,
}

impl PolicyName {
    fn of(a: &Args) -> Result<PolicyName> {
        let file = |p: &str| std::path::Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| p.to_string());
        let model = file(a.required("model")?);
        Ok(match a.get("lora").filter(|l| *l != "none") {
            None => PolicyName { line: format!("{model}, base model zero-shot (no adapter)"), lora_sha256: None },
            Some(l) => {
                let sha = crate::cli::sha256_file(l).map_err(|e| Error::usage(format!("--lora {l}: {e}")))?;
                PolicyName { line: format!("{model} + LoRA {} (sha256 {})", file(l), &sha[..8]), lora_sha256: Some(sha) }
            }
        })
    }
}

/// What the summary line says about the policy.
struct Run {
    policy: PolicyName,
    /// The served model's name (a local policy's is `--model`).
    model: Option<String>,
    /// How actions are kept valid: the local engine's automaton, or a served model's constraint
    /// (`gbnf`, `regex`, `validate`, `none`).
    constraint: Option<&'static str>,
    backend: String,
    constrain: bool,
    max_tokens: usize,
    load_seconds: f64,
}

#[allow(clippy::too_many_arguments)]
fn episodes<P: Policy>(
    a: &Args,
    policy: &mut P,
    tok: &Tokenizer,
    store: &Arc<Store>,
    goals: Vec<Task>,
    cfg: &EpisodeConfig,
    run: &Run,
    t_start: f64,
    mut before: impl FnMut(&mut P, &Task, u64),
) -> Result<()> {
    let json = a.has("json");
    let mode = cfg.mode;
    let mut trace = match a.get("trace") {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    if !json {
        eprintln!(
            "mem1 run: {} {}, mode {}, backend {}, constrain {}, max turns {}, loaded in {:.1}s",
            goals.len(), if goals.iter().any(Task::is_list) { "tasks (shopping lists)" } else { "goals" },
            mode.name(), run.backend, run.constrain, cfg.max_turns, run.load_seconds
        );
    }
    let mut eps: Vec<Episode> = Vec::new();
    // Each episode's random choices (sampled tokens, detours) start from --seed and the episode's
    // place in the whole run, so they are the same whichever --skip runs it.
    let (seed, first) = (a.parsed::<u64>("seed", 0)?, a.parsed::<usize>("skip", 0)? * a.parsed::<usize>("repeat", 1)?);
    for (i, goal) in goals.into_iter().enumerate() {
        before(policy, &goal, seed ^ ((first + i) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let asin: Vec<String> = goal.goals.iter().map(|g| g.asin.clone()).collect();
        let asin = if asin.len() == 1 { serde_json::json!(asin[0]) } else { serde_json::json!(asin) };
        let mut env = Env::new(store.clone(), goal)?;
        let progress = a.has("progress");
        let ep = pollster::block_on(run_episode_with(policy, tok, &mut env, cfg, |t| {
            if progress {
                eprintln!(
                    "episode {i} turn {}: prompt {} tok, prefill {} ({:.1}s), decode {} in {} passes ({:.1}s{}), {} {}{}",
                    t.turn, t.prompt_tokens, t.prefill_tokens, t.prefill_seconds, t.decode_tokens, t.decode_passes, t.decode_seconds,
                    t.transfers.map(|x| format!(", {} submissions, {} B read back", x.submissions, x.readback_bytes)).unwrap_or_default(),
                    t.action, if t.valid { "ok" } else { "INVALID" },
                    if t.problems.is_empty() { String::new() } else { format!(" {:?}", t.problems) }
                );
            }
        }))?;
        let line = serde_json::json!({
            "episode": i, "asin": asin, "instruction": ep.instruction, "reward": ep.reward, "success": ep.success, "turns": ep.turns,
            "items": ep.items, "item_rewards": ep.item_rewards,
            "peak_context_tokens": ep.peak_context_tokens, "per_turn": ep.per_turn, "context_per_turn": ep.context_per_turn,
            "seconds": ep.seconds,
            "mode": mode.name(), "constrain": run.constrain, "done": ep.done,
            "prefix_tokens": ep.prefix_tokens, "prefill_tokens": ep.prefill_tokens, "decode_tokens": ep.decode_tokens,
            "peak_kv_bytes": ep.peak_kv_bytes, "kv_capacity_bytes": ep.kv_capacity_bytes,
            "invalid_actions": ep.invalid_actions, "bad_outputs": ep.bad_outputs, "error": ep.error,
            "submissions_per_token": ep.per_token().map(|r| r.0), "readback_bytes_per_token": ep.per_token().map(|r| r.1),
            "decode_passes": ep.trace.iter().map(|t| t.decode_passes).sum::<usize>(),
            "actions": ep.trace.iter().map(|t| t.action.as_str()).collect::<Vec<_>>(),
        });
        if json {
            println!("{line}");
        } else {
            println!(
                "episode {i}: reward {:.3}{} success {} turns {} peak ctx {} per-turn {:?} {:.1}s invalid {} bad {}{}{}",
                ep.reward,
                if ep.items > 1 { format!(" items {:?}", ep.item_rewards.iter().map(|r| (r * 1000.0).round() / 1000.0).collect::<Vec<_>>()) } else { String::new() },
                ep.success, ep.turns, ep.peak_context_tokens, ep.per_turn, ep.seconds, ep.invalid_actions, ep.bad_outputs,
                ep.per_token().map(|(s, b)| format!(" gpu {s:.2} submissions, {b:.1} B read back per token")).unwrap_or_default(),
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
        o.insert("constrain".into(), run.constrain.into());
        o.insert("backend".into(), run.backend.clone().into());
        o.insert("model".into(), run.model.clone().unwrap_or_else(|| a.get("model").unwrap_or_default().to_string()).into());
        o.insert("lora".into(), a.get("lora").filter(|l| *l != "none").into());
        o.insert("policy".into(), run.policy.line.clone().into());
        o.insert("constraint".into(), run.constraint.into());
        o.insert("lora_sha256".into(), run.policy.lora_sha256.clone().into());
        o.insert("max_turns".into(), cfg.max_turns.into());
        o.insert("max_tokens".into(), run.max_tokens.into());
        o.insert("wall_seconds".into(), (now() - t_start).into());
        o.insert("load_seconds".into(), run.load_seconds.into());
    }
    println!("{v}");
    Ok(())
}
