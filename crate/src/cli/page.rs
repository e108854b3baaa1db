//! `mem1 page observe|check`: the page lab. A saved page (an HTML file, a snapshot the extension
//! took, or a page of a real shop) read and judged exactly as the agent reads and judges a live
//! page: the same observation builder within the live-page budget, the same guard. For debugging
//! real pages offline, and for tests. Bad input (a missing file, an unreadable action, an action
//! that names nothing on the page) is an error with exit code 2.
use super::Args;
use crate::agent::guard;
use crate::observe::native::observe_html;
use crate::observe::{Observation, LIVE_BUDGET};
use crate::{Error, Result};

const USAGE: &str = "usage:
  mem1 page observe --html FILE --url URL [--json]
        the observation and the available actions, as the agent sees the page
        (--json: {\"observation\": ..., \"actions\": [...]})
  mem1 page check --html FILE --url URL --action 'click[...]'|'search[...]' [--json]
        the guard's verdict on the action: allow, confirm or refuse, why, and where it really leads
        (--json: {\"verdict\": ..., \"reason\": ..., \"target\": ...})";

/// `mem1 page ...`; returns the exit code: 0, or 2 for bad input.
pub fn main(args: &[String]) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    let r = match cmd.as_str() {
        "observe" => observe(rest),
        "check" => check(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return 0;
        }
        other => Err(Error::usage(format!("unknown command '{other}'\n{USAGE}"))),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mem1 page {cmd}: {e}");
            2
        }
    }
}

/// The page as the agent reads it: `--html`'s file at `--url`, observed within the live budget.
fn read(a: &Args) -> Result<(Observation, String)> {
    let path = a.required("html")?;
    let url = a.required("url")?.to_string();
    if guard::origin(&url).is_none_or(|o| !o.starts_with("http")) {
        return Err(Error::usage(format!("--url {url:?} is not an http(s) URL")));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::usage(format!("--html {path}: {e}")))?;
    Ok((observe_html(&String::from_utf8_lossy(&bytes)).clip(LIVE_BUDGET), url))
}

fn observe(raw: &[String]) -> Result<()> {
    let a = Args::parse(raw, &["html", "url"], &["json"])?;
    let (o, _) = read(&a)?;
    if a.has("json") {
        println!("{}", serde_json::json!({"observation": o.text, "actions": o.available_actions()}));
    } else {
        println!("{}\n", o.text);
        for action in o.available_actions() {
            println!("{action}");
        }
    }
    Ok(())
}

fn check(raw: &[String]) -> Result<()> {
    let a = Args::parse(raw, &["html", "url", "action"], &["json"])?;
    let (o, url) = read(&a)?;
    let action = a.required("action")?;
    let v = guard::check(&o, &url, action).map_err(|e| Error::usage(format!("{action}: {e}")))?;
    if a.has("json") {
        println!("{}", serde_json::json!({"verdict": v.decision.name(), "reason": v.reason, "target": v.target}));
    } else {
        println!("{}: {}{}", v.decision.name(), v.reason, v.target.map(|t| format!(" ({t})")).unwrap_or_default());
    }
    Ok(())
}
