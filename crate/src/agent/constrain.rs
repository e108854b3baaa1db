//! Constrained decoding of the action: a byte automaton over the allowed action strings
//! (`click[x]` for the page's click targets, `search[free text]` when there is a search box, each
//! followed by the action close tag), walked token by token over the tokenizer's vocabulary, so
//! the model can only write an action the page accepts.
use crate::sample::TokenMask;
use crate::tokenizer::Tokenizer;

/// Each vocabulary token's bytes, computed once per tokenizer.
pub struct Vocab {
    /// Raw bytes of each id; empty for special tokens (never allowed inside an action).
    pub bytes: Vec<Vec<u8>>,
}

/// GPT-2's byte → printable character table, inverted.
fn unicode_to_byte() -> std::collections::HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut m = std::collections::HashMap::new();
    let mut extra = 0;
    for b in 0u32..256 {
        let c = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        m.insert(char::from_u32(c).unwrap_or('\0'), b as u8);
    }
    m
}

impl Vocab {
    pub fn new(tok: &Tokenizer) -> Vocab {
        let inv = unicode_to_byte();
        let n = tok.vocab_size();
        let special: std::collections::HashSet<u32> = tok.added_token_ids().into_iter().collect();
        let bytes = (0..n as u32)
            .map(|id| {
                if special.contains(&id) {
                    return Vec::new();
                }
                let Some(s) = tok.id_to_token(id) else { return Vec::new() };
                let mut out = Vec::with_capacity(s.len());
                for c in s.chars() {
                    match inv.get(&c) {
                        Some(&b) => out.push(b),
                        None => {
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
                out
            })
            .collect();
        Vocab { bytes }
    }
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The bytes of a token id (empty for unknown or special ids).
    pub fn get(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map(|b| b.as_slice()).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(u8, u32)>,
    /// Reached `search[`: free query text follows.
    query: bool,
    /// A complete action (close tag included).
    done: bool,
}

/// Where the automaton is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Node(u32),
    Query { len: u16, nonblank: bool },
    /// Inside the literal `]` + close tag after a query; the index of the next byte.
    Tail(u8),
    Done,
}

/// Longest search query an action may carry, in bytes: room for an instruction's product words
/// and all its option values (the expert's longest query over 5,000 sampled goals is 220 bytes).
/// A shorter bound cut the student's copied queries short of the option words it was trained to
/// search with (96 bytes cut one search in five).
pub const MAX_QUERY: usize = 256;

/// The allowed actions of one page.
#[derive(Debug, Clone)]
pub struct ActionSet {
    nodes: Vec<Node>,
    tail: Vec<u8>,
    /// Longest search query, in bytes.
    pub max_query: usize,
}

impl ActionSet {
    /// From WebShop-style available actions (`search[...]`, `click[x]`); `close` is the action
    /// close tag (`</answer>`). Targets holding brackets or newlines cannot be parsed back and
    /// are left out.
    pub fn new(actions: &[String], close: &str) -> ActionSet {
        let mut s = ActionSet { nodes: vec![Node::default()], tail: format!("]{close}").into_bytes(), max_query: MAX_QUERY };
        for a in actions {
            if a == "search[...]" {
                let n = s.insert(b"search[");
                s.nodes[n as usize].query = true;
            } else if let Some(x) = a.strip_prefix("click[").and_then(|r| r.strip_suffix(']')) {
                if x.is_empty() || x.contains(['[', ']', '\n', '\r']) {
                    continue;
                }
                let lit = format!("click[{x}]{close}");
                let n = s.insert(lit.as_bytes());
                s.nodes[n as usize].done = true;
            }
        }
        s
    }

    fn insert(&mut self, bytes: &[u8]) -> u32 {
        let mut n = 0u32;
        for &b in bytes {
            n = match self.nodes[n as usize].children.iter().find(|(c, _)| *c == b) {
                Some(&(_, next)) => next,
                None => {
                    self.nodes.push(Node::default());
                    let next = (self.nodes.len() - 1) as u32;
                    self.nodes[n as usize].children.push((b, next));
                    next
                }
            };
        }
        n
    }

    /// Whether any action is allowed at all.
    pub fn is_empty(&self) -> bool {
        self.nodes[0].children.is_empty()
    }

    pub fn start(&self) -> State {
        State::Node(0)
    }

    fn enter(&self, n: u32) -> State {
        let node = &self.nodes[n as usize];
        if node.query {
            State::Query { len: 0, nonblank: false }
        } else if node.done {
            State::Done
        } else {
            State::Node(n)
        }
    }

    /// One byte on; `None` when no allowed action continues this way.
    pub fn step(&self, s: State, b: u8) -> Option<State> {
        match s {
            State::Node(n) => {
                let &(_, next) = self.nodes[n as usize].children.iter().find(|(c, _)| *c == b)?;
                Some(self.enter(next))
            }
            State::Query { len, nonblank } => match b {
                b']' if nonblank => Some(State::Tail(1)),
                b']' | b'[' | b'\n' | b'\r' | b'<' => None,
                _ if len as usize >= self.max_query => None,
                _ => Some(State::Query { len: len + 1, nonblank: nonblank || !b.is_ascii_whitespace() }),
            },
            State::Tail(i) => {
                if self.tail.get(i as usize) != Some(&b) {
                    return None;
                }
                Some(if i as usize + 1 == self.tail.len() { State::Done } else { State::Tail(i + 1) })
            }
            State::Done => None,
        }
    }

    /// Several bytes on (a token); `None` if any step fails or the bytes are empty.
    pub fn advance(&self, mut s: State, bytes: &[u8]) -> Option<State> {
        if bytes.is_empty() {
            return None;
        }
        for &b in bytes {
            s = self.step(s, b)?;
        }
        Some(s)
    }

    /// Every token allowed in state `s`, with the state it leads to.
    pub fn allowed(&self, s: State, vocab: &Vocab) -> Vec<(u32, State)> {
        vocab
            .bytes
            .iter()
            .enumerate()
            .filter_map(|(i, b)| self.advance(s, b).map(|n| (i as u32, n)))
            .collect()
    }

    /// The tokens allowed in state `s`, as the sampler's mask over a model's `n` logits
    /// (uploaded as is to the GPU); ids the tokenizer lacks are never allowed.
    pub fn mask(&self, s: State, vocab: &Vocab, n: usize) -> TokenMask {
        let mut m = TokenMask::none(n);
        for (i, b) in vocab.bytes.iter().enumerate().take(n) {
            if self.advance(s, b).is_some() {
                m.allow(i as u32);
            }
        }
        m
    }

    /// The bytes every allowed action continues with from `s` (none where there is a choice to
    /// make): what jump-forward decoding drafts.
    pub fn forced(&self, mut s: State) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match s {
                State::Node(n) => match self.nodes[n as usize].children[..] {
                    [(b, next)] => {
                        out.push(b);
                        s = self.enter(next);
                    }
                    _ => return out,
                },
                State::Tail(i) => {
                    out.extend_from_slice(&self.tail[i as usize..]);
                    return out;
                }
                State::Query { .. } | State::Done => return out,
            }
        }
    }

    /// The shortest bytes that finish an action from `s` (used when the token budget runs out).
    pub fn completion(&self, s: State) -> Vec<u8> {
        match s {
            State::Done => Vec::new(),
            State::Tail(i) => self.tail[i as usize..].to_vec(),
            State::Query { nonblank, .. } => {
                let mut v = if nonblank { Vec::new() } else { b"item".to_vec() };
                v.extend_from_slice(&self.tail);
                v
            }
            State::Node(n) => {
                // Breadth-first to the nearest node that ends an action or opens a query.
                let mut prev: Vec<Option<(u32, u8)>> = vec![None; self.nodes.len()];
                let mut queue = std::collections::VecDeque::from([n]);
                let mut seen = vec![false; self.nodes.len()];
                seen[n as usize] = true;
                while let Some(x) = queue.pop_front() {
                    let node = &self.nodes[x as usize];
                    if x != n && (node.done || node.query) {
                        let mut path = Vec::new();
                        let mut y = x;
                        while let Some((p, b)) = prev[y as usize] {
                            path.push(b);
                            y = p;
                        }
                        path.reverse();
                        if node.query {
                            path.extend(self.completion(State::Query { len: 0, nonblank: false }));
                        }
                        return path;
                    }
                    for &(b, c) in &node.children {
                        if !seen[c as usize] {
                            seen[c as usize] = true;
                            prev[c as usize] = Some((x, b));
                            queue.push_back(c);
                        }
                    }
                }
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ActionSet {
        let acts: Vec<String> =
            ["search[...]", "click[back to search]", "click[b01abc]", "click[X-Large]", "click[bad [x]]"].iter().map(|s| s.to_string()).collect();
        ActionSet::new(&acts, "</answer>")
    }

    fn accepts(s: &ActionSet, text: &str) -> bool {
        s.advance(s.start(), text.as_bytes()) == Some(State::Done)
    }

    #[test]
    fn automaton_accepts_exactly_the_page_actions() {
        let s = set();
        assert!(accepts(&s, "click[back to search]</answer>"));
        assert!(accepts(&s, "click[X-Large]</answer>"));
        assert!(accepts(&s, "search[red shoes size 9]</answer>"));
        assert!(!accepts(&s, "click[x-large]</answer>"), "case as given");
        assert!(!accepts(&s, "click[nothing]</answer>"));
        assert!(!accepts(&s, "search[]</answer>"));
        assert!(!accepts(&s, "search[ ]</answer>"));
        assert!(!accepts(&s, "search[a]b</answer>"));
        assert!(!accepts(&s, " click[b01abc]</answer>"));
        assert!(s.advance(s.start(), b"click[bad").is_none(), "bracketed targets are left out");
        assert!(s.advance(s.start(), b"click[b01abc]</answer>x").is_none());
        // prefixes are fine
        assert!(matches!(s.advance(s.start(), b"cli"), Some(State::Node(_))));
        assert!(matches!(s.advance(s.start(), b"search[red"), Some(State::Query { .. })));
    }

    #[test]
    fn completion_always_finishes() {
        let s = set();
        for prefix in ["", "c", "click[", "click[b", "search[", "search[red", "search[red]</ans", "click[X-Large]</"] {
            let st = s.advance(s.start(), prefix.as_bytes()).unwrap_or(s.start());
            let st = if prefix.is_empty() { s.start() } else { st };
            let mut all = prefix.as_bytes().to_vec();
            all.extend(s.completion(st));
            assert!(accepts(&s, std::str::from_utf8(&all).unwrap()), "{prefix:?} -> {:?}", String::from_utf8_lossy(&all));
        }
        let only_search = ActionSet::new(&["search[...]".to_string()], "</answer>");
        assert_eq!(only_search.completion(only_search.start()), b"search[item]</answer>");
    }

    #[test]
    fn forced_bytes_are_what_every_action_continues_with() {
        let s = ActionSet::new(&["click[b08j2k]".to_string(), "click[b09x]".to_string(), "search[...]".to_string()], "</answer>");
        let at = |p: &str| s.advance(s.start(), p.as_bytes()).unwrap();
        assert_eq!(s.forced(s.start()), b"");
        assert_eq!(s.forced(at("c")), b"lick[b0");
        assert_eq!(s.forced(at("click[b08")), b"j2k]</answer>");
        assert_eq!(s.forced(at("s")), b"earch[");
        assert_eq!(s.forced(at("search[red")), b"");
        assert_eq!(s.forced(at("search[red]")), b"</answer>");
        assert_eq!(s.forced(at("click[b09x]</answer>")), b"");
    }

    #[test]
    fn query_length_is_bounded() {
        let s = set();
        let long = format!("search[{}", "a".repeat(s.max_query));
        let st = s.advance(s.start(), long.as_bytes()).unwrap();
        assert!(s.step(st, b'a').is_none());
        assert_eq!(s.step(st, b']'), Some(State::Tail(1)));
    }
}
