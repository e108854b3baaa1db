//! What the model sees each turn, as ChatML token ids.
//!
//! * MEM1 mode: system + first user message (task + first page), computed once per episode (the
//!   static prefix whose KV is reused), then only the latest internal state and action
//!   (`<summary>…</summary><answer>…</answer>`, reasoning dropped) and the newest observation.
//! * Full mode (ReAct-style baseline): every assistant turn and observation appended.
//!
//! Each piece is one whole ChatML message ending in `<|im_end|>\n`, and the next begins with the
//! special `<|im_start|>`, so tokenizing pieces separately gives the ids of tokenizing the whole
//! text: nothing can merge across the boundary.
use super::protocol::Protocol;
use crate::tokenizer::{Message, Tokenizer};
use crate::Result;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Constant memory: the context is rebuilt from the latest internal state each turn.
    Mem1,
    /// Every turn appended (the baseline MEM1 is compared with).
    Full,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "mem1" => Some(Mode::Mem1),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Mem1 => "mem1",
            Mode::Full => "full",
        }
    }
}

/// One ChatML message, as Qwen2.5's and SmolLM2's templates render it.
pub fn chatml(role: &str, content: &str) -> String {
    format!("<|im_start|>{role}\n{content}<|im_end|>\n")
}

/// The generation prompt that opens the assistant's turn.
pub const GEN_PROMPT: &str = "<|im_start|>assistant\n";

/// Token ids plus their text, built piece by piece.
#[derive(Debug, Clone, Default)]
pub struct Piece {
    pub text: String,
    pub ids: Vec<u32>,
}

impl Piece {
    fn new(tok: &Tokenizer, text: String) -> Result<Piece> {
        let ids = tok.encode(&text)?;
        Ok(Piece { text, ids })
    }
    fn push(&mut self, p: &Piece) {
        self.text.push_str(&p.text);
        self.ids.extend_from_slice(&p.ids);
    }
}

/// The context of an episode in either mode.
pub struct Context<'t> {
    tok: &'t Tokenizer,
    pub protocol: Protocol,
    pub mode: Mode,
    /// System + task + first observation: the same every turn of an episode.
    prefix: Piece,
    /// Full mode: every later turn; MEM1 mode: the latest consolidated turn and observation.
    tail: Piece,
    gen_prompt: Piece,
    /// The prompt as chat messages: the prefix's two, then the tail's.
    messages: Vec<Message>,
}

impl<'t> Context<'t> {
    pub fn new(tok: &'t Tokenizer, protocol: Protocol, mode: Mode, instruction: &str, first_state: &str) -> Result<Context<'t>> {
        let first = format!("{}{}", protocol.task_text(instruction), first_state);
        let text = chatml("system", &protocol.system) + &chatml("user", &first);
        let prefix = Piece::new(tok, text)?;
        let gen_prompt = Piece::new(tok, GEN_PROMPT.to_string())?;
        let messages = vec![Message::new("system", &protocol.system), Message::new("user", &first)];
        Ok(Context { tok, protocol, mode, prefix, tail: Piece::default(), gen_prompt, messages })
    }

    /// Tokens of the static prefix (reused across turns in MEM1 mode).
    pub fn prefix_len(&self) -> usize {
        self.prefix.ids.len()
    }

    /// This turn's prompt: the ids the model conditions on, ending with the generation prompt.
    pub fn ids(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.prefix.ids.len() + self.tail.ids.len() + self.gen_prompt.ids.len());
        v.extend_from_slice(&self.prefix.ids);
        v.extend_from_slice(&self.tail.ids);
        v.extend_from_slice(&self.gen_prompt.ids);
        v
    }

    /// This turn's prompt as chat messages (what [`Context::text`] renders in ChatML).
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// This turn's prompt as text.
    pub fn text(&self) -> String {
        format!("{}{}{}", self.prefix.text, self.tail.text, self.gen_prompt.text)
    }

    /// Records a finished turn and the next observation. `output` is the model's whole turn,
    /// `memory` and `action` what was read from it.
    pub fn push_turn(&mut self, output: &str, memory: &str, action: &str, next_state: &str) -> Result<()> {
        let assistant = match self.mode {
            Mode::Mem1 => self.protocol.consolidated(memory, action),
            Mode::Full => output.to_string(),
        };
        let a = Piece::new(self.tok, chatml("assistant", &assistant))?;
        let u = Piece::new(self.tok, chatml("user", next_state))?;
        if self.mode == Mode::Mem1 {
            self.tail = Piece::default();
            self.messages.truncate(2);
        }
        self.tail.push(&a);
        self.tail.push(&u);
        self.messages.push(Message::new("assistant", &assistant));
        self.messages.push(Message::new("user", next_state));
        Ok(())
    }
}
