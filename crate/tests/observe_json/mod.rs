//! The JSON form of an observation that `tests/fixtures/web_observe.json` records, and (natively)
//! the walk through the store it records: checked current by the native `shop_observe` test,
//! compared against by the browser `web_observe` test, rewritten only by
//! `cargo run --release --example bless_web_observe`.
#![allow(dead_code)]
use mem1::observe::{ClickKind, Observation};

pub fn obs_json(o: &Observation) -> serde_json::Value {
    serde_json::json!({
        "text": o.text, "search": o.has_search_bar,
        "clickables": o.clickables.iter().map(|c| {
            let kind = match &c.kind {
                ClickKind::Button => "button".to_string(),
                ClickKind::Link { product } => format!("link product={product}"),
                ClickKind::Option { name } => format!("option {name}"),
                ClickKind::Choice { name } => format!("choice {name}"),
            };
            serde_json::json!([c.key, kind, c.target])
        }).collect::<Vec<_>>(),
    })
}

/// Where the fixture lives.
pub fn fixture_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/web_observe.json")
}

/// The fixture as the native observation builder writes it now.
#[cfg(not(target_arch = "wasm32"))]
pub fn fixture_text() -> String {
    serde_json::to_string_pretty(&store_walk()).unwrap() + "\n"
}

/// The walk through the store that `web_observe` replays: search, a product with options, an
/// option, a sub-page, back, buy. Returns (action, observation after it) pairs; the first action
/// is empty (the start page).
#[cfg(not(target_arch = "wasm32"))]
pub fn store_walk() -> Vec<(String, serde_json::Value)> {
    use mem1::shop::goal::dev_goals;
    use mem1::shop::{Env, Store};
    use std::sync::Arc;
    let store = Arc::new(Store::builtin(0).unwrap());
    let goal = dev_goals().unwrap()[0].clone();
    let mut env = Env::new(store.clone(), goal).unwrap();
    let mut walk = vec![(String::new(), obs_json(env.observe()))];
    let mut act = |env: &mut Env, a: String| {
        let r = env.step(&a);
        assert!(r.valid, "{a}: {:?}", r.reason);
        walk.push((a, obs_json(env.observe())));
    };
    act(&mut env, "search[cotton t-shirt for men]".into());
    let product = env
        .observe()
        .clickables
        .iter()
        .find(|c| c.kind == ClickKind::Link { product: true } && store.product(&c.key.to_uppercase()).is_some_and(|p| !p.options.is_empty()))
        .expect("a result with options")
        .key
        .clone();
    act(&mut env, format!("click[{product}]"));
    let option = env.observe().clickables.iter().find(|c| matches!(c.kind, ClickKind::Option { .. })).unwrap().key.clone();
    act(&mut env, format!("click[{option}]"));
    act(&mut env, "click[description]".into());
    act(&mut env, "click[< prev]".into());
    act(&mut env, "click[buy now]".into());
    walk
}
