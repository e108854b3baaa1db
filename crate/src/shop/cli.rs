//! `mem1 shop serve|replay` (native only).
use super::env::{Env, Store};
use super::goal::parse_goals;
use super::server::{serve, App};
use crate::cli::Args;
use crate::{Error, Result};
use std::sync::Arc;

const USAGE: &str = "usage:
  mem1 shop serve  [--port P] [--host H] [--seed S] [--show-attrs]
  mem1 shop replay --goal FILE.json [--index I] [--seed S] --action 'search[...]' --action 'click[...]' ...";

/// `mem1 shop ...`; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    let r = match cmd.as_str() {
        "serve" => cmd_serve(rest),
        "replay" => cmd_replay(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return 0;
        }
        other => {
            eprintln!("mem1 shop: unknown command '{other}'\n{USAGE}");
            return 2;
        }
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mem1 shop {cmd}: {e}");
            1
        }
    }
}

fn cmd_serve(raw: &[String]) -> Result<()> {
    let a = Args::parse(raw, &["port", "host", "seed", "threads"], &["show-attrs"])?;
    let port: u16 = a.parsed("port", 3000)?;
    let seed: u64 = a.parsed("seed", 0)?;
    let threads: usize = a.parsed("threads", 4)?;
    let host = a.get("host").unwrap_or("127.0.0.1").to_string();
    let mut store = Store::builtin(seed)?;
    store.show_attrs = a.has("show-attrs");
    let app = Arc::new(App::new(Arc::new(store), seed)?);
    serve(app, &host, port, threads)
}

/// One JSON line per state.
pub fn state_line(env: &Env, reward: f64, done: bool, valid: bool, reason: Option<&str>) -> String {
    let obs = env.observe();
    serde_json::json!({
        "observation": obs.text,
        "available_actions": obs.available_actions(),
        "reward": reward,
        "done": done,
        "info": { "valid": valid, "reason": reason, "url": env.url(), "page": env.view().kind() },
    })
    .to_string()
}

/// Replays actions for a goal; returns the JSON lines.
pub fn replay(goal_json: &[u8], index: usize, seed: u64, actions: &[&str]) -> Result<Vec<String>> {
    let goals = parse_goals(goal_json)?;
    let goal = goals
        .get(index)
        .cloned()
        .ok_or_else(|| Error::usage(format!("--index {index}: the file holds {} goal(s)", goals.len())))?;
    let mut env = Env::new(Arc::new(Store::builtin(seed)?), goal)?;
    let mut lines = vec![state_line(&env, 0.0, false, true, None)];
    for a in actions {
        let r = env.step(a);
        lines.push(state_line(&env, r.reward, r.done, r.valid, r.reason.as_deref()));
    }
    Ok(lines)
}

fn cmd_replay(raw: &[String]) -> Result<()> {
    let a = Args::parse(raw, &["goal", "index", "seed", "action"], &[])?;
    let path = a.required("goal")?;
    let bytes = std::fs::read(path).map_err(|e| Error::usage(format!("--goal {path}: {e}")))?;
    let index: usize = a.parsed("index", 0)?;
    let seed: u64 = a.parsed("seed", 0)?;
    for line in replay(&bytes, index, seed, &a.all("action"))? {
        println!("{line}");
    }
    Ok(())
}
