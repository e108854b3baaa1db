//! A turn's format and the page's available actions in a server's own constraint language, so a
//! served model's action is valid on the page as the local engine's constrained decoding makes it:
//! GBNF for llama.cpp's server (and llama-cpp-python's), a regular expression for vLLM's
//! structured outputs. Both describe `<think>…</think><summary>…</summary><answer>ACTION</answer>`
//! with ACTION one of the page's actions (a search query of at most [`MAX_QUERY`] bytes on one
//! line, without brackets; or one of the page's click targets, exactly).
use crate::agent::constrain::MAX_QUERY;
use crate::agent::protocol::Protocol;

/// The click targets and whether a search is allowed, from WebShop-style actions; targets that
/// an action cannot name (brackets, line breaks) are left out, as the local automaton leaves them.
fn targets(actions: &[String]) -> (bool, Vec<&str>) {
    let search = actions.iter().any(|a| a == "search[...]");
    let clicks = actions
        .iter()
        .filter_map(|a| a.strip_prefix("click[").and_then(|a| a.strip_suffix(']')))
        .filter(|t| !t.is_empty() && !t.contains(['[', ']', '\n', '\r']))
        .collect();
    (search, clicks)
}

/// A GBNF string literal.
fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The turn as a GBNF grammar (llama.cpp's `grammar` request field); `None` when the page offers
/// no action (nothing to constrain).
pub fn gbnf(p: &Protocol, actions: &[String]) -> Option<String> {
    let (search, clicks) = targets(actions);
    if !search && clicks.is_empty() {
        return None;
    }
    let mut alts = Vec::new();
    if search {
        alts.push(format!("\"search[\" [^\\]\\[\\n\\r]{{1,{MAX_QUERY}}} \"]\""));
    }
    if !clicks.is_empty() {
        alts.push(format!("\"click[\" ( {} ) \"]\"", clicks.iter().map(|c| lit(c)).collect::<Vec<_>>().join(" | ")));
    }
    let block = |t: &crate::agent::protocol::Tag| format!("{} [^<]* {}", lit(&t.open()), lit(&t.close()));
    let mut root = Vec::new();
    if let Some(r) = &p.reasoning {
        root.push(block(r));
    }
    root.push(block(&p.memory));
    root.push(format!("{} action {}", lit(&p.action.open()), lit(&p.action.close())));
    Some(format!("root ::= {}\naction ::= {}\n", root.join(" "), alts.join(" | ")))
}

/// A regular-expression metacharacter escaped.
fn re_lit(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.^$|?*+()[]{}-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The turn as a regular expression (vLLM's structured outputs, `regex`); `None` when the page
/// offers no action.
pub fn regex(p: &Protocol, actions: &[String]) -> Option<String> {
    let (search, clicks) = targets(actions);
    if !search && clicks.is_empty() {
        return None;
    }
    let mut alts = Vec::new();
    if search {
        alts.push(format!("search\\[[^\\]\\[\\n\\r]{{1,{MAX_QUERY}}}\\]"));
    }
    if !clicks.is_empty() {
        alts.push(format!("click\\[({})\\]", clicks.iter().map(|c| re_lit(c)).collect::<Vec<_>>().join("|")));
    }
    let block = |t: &crate::agent::protocol::Tag| format!("{}[^<]*{}", re_lit(&t.open()), re_lit(&t.close()));
    let mut out = String::new();
    if let Some(r) = &p.reasoning {
        out.push_str(&block(r));
    }
    out.push_str(&block(&p.memory));
    out.push_str(&format!("{}({}){}", re_lit(&p.action.open()), alts.join("|"), re_lit(&p.action.close())));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acts() -> Vec<String> {
        ["search[...]", "click[buy now]", "click[< prev]", "click[say \"hi\" \\ there]", "click[bad [x]]"].map(String::from).to_vec()
    }

    #[test]
    fn gbnf_names_every_action_exactly() {
        let g = gbnf(&Protocol::webshop(), &acts()).unwrap();
        assert!(g.starts_with("root ::= \"<think>\" [^<]* \"</think>\" \"<summary>\" [^<]* \"</summary>\" \"<answer>\" action \"</answer>\"\n"), "{g}");
        assert!(g.contains("\"search[\" [^\\]\\[\\n\\r]{1,256} \"]\""), "{g}");
        assert!(g.contains("\"click[\" ( \"buy now\" | \"< prev\" | \"say \\\"hi\\\" \\\\ there\" ) \"]\""), "{g}");
        assert!(!g.contains("bad"), "an unnameable target is left out");
        assert_eq!(gbnf(&Protocol::webshop(), &[]), None);
    }

    #[test]
    fn regex_matches_a_valid_turn_only() {
        let r = regex(&Protocol::webshop(), &acts()).unwrap();
        assert!(r.contains("click\\[(buy now|< prev|say \"hi\" \\\\ there)\\]"), "{r}");
        assert!(r.starts_with("<think>[^<]*</think><summary>[^<]*</summary><answer>("), "{r}");
    }
}
