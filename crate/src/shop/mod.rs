//! The WebShop-faithful store (princeton-nlp/WebShop, Yao et al. 2022) in our own code:
//! catalog, BM25 search, HTML pages, goals, reward, shopping lists with a cart, and an environment whose observations are
//! computed from the rendered DOM by [`crate::observe`]. Everything but `server` and `cli`
//! compiles for wasm32.
pub mod action;
pub mod analyzer;
pub mod catalog;
pub mod env;
pub mod fuzz;
pub mod goal;
pub mod pages;
pub mod reward;
pub mod search;
pub mod task;
pub mod url;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod server;

pub use action::{parse_action, Action};
pub use catalog::{Catalog, Product};
pub use env::{Env, StepResult, Store, View};
pub use goal::Goal;
pub use reward::{get_reward, RewardInfo};
pub use task::{CartItem, Task};
