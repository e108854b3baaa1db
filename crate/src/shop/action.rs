//! Actions `search[keywords]` / `click[value]`, parsed like WebShop's `parse_action`
//! (regex `(.+)\[(.+)\]` matched at the start of the first line; the argument is lowercased).

/// A parsed action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Search(String),
    Click(String),
}

/// Parses an action string. Errors say why the string is not a valid action.
pub fn parse_action(s: &str) -> Result<Action, String> {
    let line = s.trim().lines().next().unwrap_or("");
    // greedy (.+)\[(.+)\]: the last '[' that still has a ']' after one or more characters
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut found = None;
    if let Some(close) = line.rfind(']') {
        for &(i, c) in chars.iter().rev() {
            if c == '[' && i > 0 && close > i + 1 {
                found = Some((i, close));
                break;
            }
        }
    }
    let Some((open, close)) = found else {
        return Err(format!("not an action of the form search[...] or click[...]: {:?}", clip(line)));
    };
    let name = &line[..open];
    let arg = line[open + 1..close].to_lowercase();
    match name {
        "search" => {
            if arg.trim().is_empty() {
                Err("search[] needs keywords".into())
            } else {
                Ok(Action::Search(arg))
            }
        }
        "click" => Ok(Action::Click(arg)),
        other => Err(format!("unknown action {:?} (use search[...] or click[...])", clip(other))),
    }
}

fn clip(s: &str) -> String {
    let c: String = s.chars().take(80).collect();
    if c.len() < s.len() {
        format!("{c}...")
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_like_webshop() {
        assert_eq!(parse_action("search[Red Shoes]"), Ok(Action::Search("red shoes".into())));
        assert_eq!(parse_action("click[Buy Now]"), Ok(Action::Click("buy now".into())));
        assert_eq!(parse_action("click[< Prev]"), Ok(Action::Click("< prev".into())));
        assert_eq!(parse_action("click[cream | off white] "), Ok(Action::Click("cream | off white".into())));
        assert_eq!(parse_action("search[size [large]]"), Err("unknown action \"search[size \" (use search[...] or click[...])".into()));
        assert!(parse_action("click[]").is_err());
        assert!(parse_action("search[ ]").is_err());
        assert!(parse_action("buy").is_err());
        assert!(parse_action("").is_err());
        assert!(parse_action("[x]").is_err());
        assert!(parse_action("jump[x]").is_err());
        assert_eq!(parse_action("click[a]\nmore"), Ok(Action::Click("a".into())));
    }
}
