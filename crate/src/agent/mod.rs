//! The MEM1 agent (Zhou et al. 2025): each turn the model writes a compact internal state
//! (`<summary>`) and everything else from earlier turns is dropped, so the context stays flat.
//!
//! * [`protocol`]: tag set and prompt wording as data ([`Protocol::webshop`]).
//! * [`context`]: the turn's prompt in MEM1 mode (static prefix + latest state) or full mode.
//! * [`constrain`]: the token-level automaton that keeps the action valid.
//! * [`repeat`]: the guard that keeps generated text from looping on one phrase.
//! * [`policy`]: [`Policy`] with [`LlmPolicy`] (any [`crate::engine::Engine`]) and [`ScriptedPolicy`].
//! * [`episode`]: the loop, metrics and trace; [`Shop`] is what it needs from a store.
//! * [`guard`]: what the agent may do on a live page (stay on the site, confirm purchases).
//! * [`remote`]: a policy served by an OpenAI-compatible server (llama.cpp, vLLM, Ollama).
//! * `cli` (native): `mem1 run`.
pub mod constrain;
pub mod context;
pub mod episode;
pub mod expert;
pub mod guard;
pub mod policy;
pub mod protocol;
pub mod remote;
pub mod repeat;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;

pub use constrain::{ActionSet, Vocab};
pub use context::{Context, Mode};
pub use episode::{run_episode, run_episode_with, summarize, Episode, EpisodeConfig, Shop, Summary, TurnRecord};
pub use policy::{Drafts, Limits, LlmPolicy, Policy, ScriptedPolicy, TurnReply, TurnRequest};
pub use protocol::{Parsed, Protocol, Tag};
