//! The turn protocol as data: tag names and prompt wording. MEM1's WebShop format is
//! [`Protocol::webshop`]; a QA tag set (`<think>`/`<search>`/`<answer>`/`<information>`) or a
//! future checkpoint's format is another value of the same struct, not new code.
use serde::{Deserialize, Serialize};

/// An XML-like tag pair, `<name>` … `</name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
}

impl Tag {
    pub fn new(name: &str) -> Tag {
        Tag { name: name.into() }
    }
    pub fn open(&self) -> String {
        format!("<{}>", self.name)
    }
    pub fn close(&self) -> String {
        format!("</{}>", self.name)
    }
    pub fn wrap(&self, body: &str) -> String {
        format!("<{}>{}</{}>", self.name, body, self.name)
    }
}

/// Tags, wording and chat roles of one agent protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// System message (replaces the chat template's default one).
    pub system: String,
    /// The first user message before the first state; `{instruction}` is the task instruction.
    pub task: String,
    /// Free reasoning, dropped from the context after the turn (MEM1: `<think>`).
    pub reasoning: Option<Tag>,
    /// The internal state carried to the next turn (MEM1 WebShop: `<summary>`).
    pub memory: Tag,
    /// The action (MEM1 WebShop: `<answer>`).
    pub action: Tag,
    /// Wraps each observation (MEM1 WebShop: `<state>`).
    pub observation: Tag,
    /// Turn budget hint at the start of each observation; `{turns}` is the number left.
    pub hint: String,
    /// Introduces the list of available actions after the page text.
    pub actions_label: String,
    /// How `search[...]` is shown among the available actions.
    pub search_placeholder: String,
    /// The page text is cut to this many characters (pages of real shops can be huge).
    pub max_observation_chars: usize,
    /// The first user message for a shopping list (`{instruction}` is the list); `None`: as
    /// for one goal.
    #[serde(default)]
    pub list_task: Option<String>,
}

impl Protocol {
    /// MEM1's WebShop protocol with our own wording.
    pub fn webshop() -> Protocol {
        Protocol {
            system: "You are a shopping agent that operates a web store to buy the product a customer asks for.".into(),
            task: "Buy a product in the web store that matches this instruction:\n{instruction}\n\n\
Each turn you see the current page inside <state>...</state>. Answer in exactly this format:\n\
<think>...</think><summary>...</summary><answer>...</answer>\n\
In <think> reason briefly about the page. In <summary> write your memory: the product you want, what you searched and clicked, \
and what you found. Only your latest <summary> is kept; earlier turns are erased, so put everything you still need into it. \
In <answer> write one action.\n\
An action is search[...] with your own search words (only when the page has a search box), or click[...] with a target from the available actions. \
Search, open a matching product, click its options, then click[buy now] to finish.\n\n"
                .into(),
            list_task: Some(
                "Buy the products of this shopping list in the web store, one for each numbered item:\n{instruction}\n\n\
Each turn you see the current page inside <state>...</state>. Answer in exactly this format:\n\
<think>...</think><summary>...</summary><answer>...</answer>\n\
In <think> reason briefly about the page. In <summary> write your memory: what is in the cart, which item you shop now, what you \
searched and clicked, and what you found. Only your latest <summary> is kept; earlier turns are erased, so put everything you still \
need into it. In <answer> write one action.\n\
An action is search[...] with your own search words (only when the page has a search box), or click[...] with a target from the available actions. \
For each item: search, open a matching product, click its options, then click[add to cart]. When every item is in the cart, click[checkout].\n\n"
                    .into(),
            ),
            reasoning: Some(Tag::new("think")),
            memory: Tag::new("summary"),
            action: Tag::new("answer"),
            observation: Tag::new("state"),
            hint: "[HINT]You have {turns} turns left.[/HINT]".into(),
            actions_label: "Current available actions: ".into(),
            search_placeholder: "search[<keywords>]".into(),
            max_observation_chars: 4000,
        }
    }

    /// MEM1's multi-objective QA tag set (the action tag here is `<search>`; `<answer>` ends).
    pub fn qa() -> Protocol {
        Protocol {
            system: "You are a research assistant that answers questions by searching.".into(),
            task: "Answer this question: {instruction}\n\n".into(),
            // MEM1's QA runs keep the <think> block itself as the internal state.
            reasoning: None,
            memory: Tag::new("think"),
            action: Tag::new("search"),
            observation: Tag::new("information"),
            hint: String::new(),
            actions_label: String::new(),
            search_placeholder: String::new(),
            max_observation_chars: 4000,
            list_task: None,
        }
    }

    /// The protocol for a task of `items` goals: a list's own wording where it has one.
    pub fn for_items(&self, items: usize) -> Protocol {
        match &self.list_task {
            Some(t) if items > 1 => Protocol { task: t.clone(), ..self.clone() },
            _ => self.clone(),
        }
    }

    /// The first user message's text before the first state.
    pub fn task_text(&self, instruction: &str) -> String {
        self.task.replace("{instruction}", instruction)
    }

    /// One observation block: hint, page text, available actions, all in the observation tag.
    pub fn state_text(&self, turns_left: usize, page: &str, actions: &[String]) -> String {
        let mut shown_page: String = page.chars().take(self.max_observation_chars).collect();
        if shown_page.len() < page.len() {
            shown_page.push_str(" ...");
        }
        let page = shown_page;
        let mut s = String::new();
        if !self.hint.is_empty() {
            s.push_str(&self.hint.replace("{turns}", &turns_left.to_string()));
            s.push_str("\n\n");
        }
        s.push_str(&page);
        if !self.actions_label.is_empty() {
            s.push_str("\n\n");
            s.push_str(&self.actions_label);
            s.push('[');
            let shown: Vec<&str> = actions
                .iter()
                .map(|a| if a == "search[...]" { self.search_placeholder.as_str() } else { a.as_str() })
                .collect();
            s.push_str(&shown.join(", "));
            s.push(']');
        }
        self.observation.wrap(&s)
    }

    /// The assistant turn kept in MEM1's context: the internal state and the action, no reasoning.
    pub fn consolidated(&self, memory: &str, action: &str) -> String {
        format!("{}{}", self.memory.wrap(memory), self.action.wrap(action))
    }
}

/// What a model turn contained, read leniently from possibly malformed output.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Parsed {
    pub reasoning: Option<String>,
    /// The last complete memory block (or an unclosed one at the end).
    pub memory: Option<String>,
    /// The content of the last action block (closed, or unclosed at the end).
    pub action: Option<String>,
    /// Problems found: `missing_memory`, `empty_memory`, `missing_action`, `unclosed_action`, ...
    pub problems: Vec<String>,
}

/// The content of the last `<tag>…</tag>` in `text`; an unclosed last block counts with `false`.
fn last_block(text: &str, tag: &Tag) -> Option<(String, bool)> {
    let (open, close) = (tag.open(), tag.close());
    let start = text.rfind(&open)? + open.len();
    let rest = &text[start..];
    match rest.find(&close) {
        Some(end) => Some((rest[..end].to_string(), true)),
        None => Some((rest.to_string(), false)),
    }
}

impl Protocol {
    /// Parses a model turn. Never fails: whatever is missing is `None` and listed in `problems`.
    pub fn parse(&self, text: &str) -> Parsed {
        let mut p = Parsed::default();
        if let Some(r) = &self.reasoning {
            p.reasoning = last_block(text, r).map(|(s, _)| s.trim().to_string());
        }
        match last_block(text, &self.memory) {
            Some((m, closed)) => {
                let m = m.trim().to_string();
                if !closed {
                    p.problems.push("unclosed_memory".into());
                }
                if m.is_empty() {
                    p.problems.push("empty_memory".into());
                }
                p.memory = Some(m);
            }
            None => p.problems.push("missing_memory".into()),
        }
        match last_block(text, &self.action) {
            Some((a, closed)) => {
                if !closed {
                    p.problems.push("unclosed_action".into());
                }
                let a = a.trim().to_string();
                if a.is_empty() {
                    p.problems.push("empty_action".into());
                    p.action = None;
                } else {
                    p.action = Some(a);
                }
            }
            None => p.problems.push("missing_action".into()),
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_and_bad_turns() {
        let p = Protocol::webshop();
        let t = p.parse("<think>hm</think><summary>goal: red shoes</summary><answer>search[red shoes]</answer>");
        assert_eq!(t.memory.as_deref(), Some("goal: red shoes"));
        assert_eq!(t.action.as_deref(), Some("search[red shoes]"));
        assert_eq!(t.reasoning.as_deref(), Some("hm"));
        assert!(t.problems.is_empty());

        let t = p.parse("I think I should search. <answer>click[buy now]");
        assert_eq!(t.action.as_deref(), Some("click[buy now]"));
        assert_eq!(t.memory, None);
        assert_eq!(t.problems, ["missing_memory", "unclosed_action"]);

        let t = p.parse("<summary></summary><answer></answer>");
        assert_eq!(t.action, None);
        assert_eq!(t.problems, ["empty_memory", "empty_action"]);

        let t = p.parse("");
        assert_eq!(t.problems, ["missing_memory", "missing_action"]);
        // Runaway text with repeated tags: the last block wins.
        let t = p.parse("<summary>a</summary><summary>b</summary><answer>x</answer><answer>click[y]</answer>blah");
        assert_eq!((t.memory.as_deref(), t.action.as_deref()), (Some("b"), Some("click[y]")));
    }

    #[test]
    fn state_block_has_hint_page_and_actions() {
        let p = Protocol::webshop();
        let s = p.state_text(3, "WebShop [SEP] Search", &["search[...]".into(), "click[back to search]".into()]);
        assert_eq!(
            s,
            "<state>[HINT]You have 3 turns left.[/HINT]\n\nWebShop [SEP] Search\n\nCurrent available actions: [search[<keywords>], click[back to search]]</state>"
        );
        assert_eq!(p.consolidated("m", "click[a]"), "<summary>m</summary><answer>click[a]</answer>");
    }
}
