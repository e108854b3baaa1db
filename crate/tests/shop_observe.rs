//! Observation text and actions against the real WebShop's recorded trajectories, and the
//! observation builder on real shop pages.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
use mem1::observe::native::observe_html;
use mem1::shop::goal::dev_goals;
use mem1::shop::{Env, Store};
use std::sync::Arc;

mod observe_json;

/// A file of the real WebShop data in `../shared/webshop` (beside the repository, as in CI). Its
/// absence fails the test, naming the file: a test that checks nothing must not pass.
fn shared(path: &str) -> String {
    let p = format!("{}/../../shared/webshop/{}", env!("CARGO_MANIFEST_DIR"), path);
    match std::fs::read(&p) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => panic!("{p}: {e} (the real WebShop data this test checks against lives in ../shared/webshop beside the repository)"),
    }
}

#[test]
fn observations_match_real_webshop() {
    let traj = shared("dev_trajectories.json");
    let traj: serde_json::Value = serde_json::from_str(&traj).unwrap();
    let store = Arc::new(Store::builtin(0).unwrap());
    let goals = dev_goals().unwrap();
    let raw_goals: serde_json::Value = serde_json::from_slice(mem1::shop::goal::DEV_GOALS_JSON).unwrap();
    let (mut exact, mut total) = (std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
    let mut rewards = Vec::new();
    for t in traj.as_array().unwrap() {
        let task = t["task_id"].as_str().unwrap();
        let gi = raw_goals
            .as_array()
            .unwrap()
            .iter()
            .position(|g| g["goal_id"].as_str().unwrap().ends_with(&format!(":{task}")))
            .unwrap_or_else(|| panic!("no dev goal for {task}"));
        let mut env = Env::new(store.clone(), goals[gi].clone()).unwrap();
        let turns = t["turns"].as_array().unwrap();
        let mut expect_kind = "search";
        for turn in turns {
            let text = turn["text"].as_str().unwrap();
            if turn["from"] == "agent" {
                let action = text.rsplit("Action:").next().unwrap().trim();
                let r = env.step(action);
                assert!(r.valid, "{task}: {action} rejected: {:?}", r.reason);
                if r.done {
                    rewards.push(r.reward);
                }
                continue;
            }
            let kind = env.view().kind();
            expect_kind = kind;
            *total.entry(kind).or_insert(0) += 1;
            let ours = &env.observe().text;
            if ours == text {
                *exact.entry(kind).or_insert(0) += 1;
            } else if kind != "results" {
                panic!("{task}: {kind} page differs:\n ours: {ours}\n real: {text}");
            }
        }
        let _ = expect_kind;
        assert!(env.is_done(), "{task}: trajectory did not end with a purchase");
    }
    println!("observation exact matches by page kind: {exact:?} of {total:?}");
    let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
    println!("replayed {} purchases, score {:.1}", rewards.len(), 100.0 * mean);
    assert_eq!(exact.get("search"), total.get("search"));
    assert_eq!(exact.get("item"), total.get("item"));
    assert!(exact.get("results").copied().unwrap_or(0) * 100 >= total["results"] * 70);
}

#[test]
fn webshop_mock_pages() {
    let item = shared("pages/mock_parse_item_page_ws");
    let o = observe_html(&item);
    assert!(o.text.starts_with("Instruction: [SEP] i want an xx-small sized slim fit button down shirt"), "{}", o.text);
    assert!(o.text.ends_with("[SEP] Price: $100.0 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"), "{}", o.text);
    assert!(!o.text.contains("Attributes"), "commented-out button leaked");
    assert!(!o.text.contains("$(document)"), "script leaked");
    let keys: Vec<&str> = o.clickables.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["back to search", "< prev", "description", "features", "reviews", "buy now", "black", "purple", "red", "6.5", "7.5", "8", "8.5", "9"]);
    let results = shared("pages/mock_parse_results_ws");
    let o = observe_html(&results);
    assert!(o.text.contains("Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B09GKFNQWT [SEP] BinGoDug Men's Basketball Shoes"), "{}", &o.text[..400.min(o.text.len())]);
    assert_eq!(o.clickables.iter().filter(|c| c.kind == mem1::observe::ClickKind::Link { product: true }).count(), 10);
    let desc = shared("pages/mock_parse_item_page_ws_desc");
    let o = observe_html(&desc);
    assert!(o.text.starts_with("Instruction: [SEP] i want an xx-small"));
    assert!(o.text.contains("[SEP] Back to Search [SEP] < Prev [SEP] Here Are The Things You Want To Know"));
    let feat = shared("pages/mock_parse_item_page_ws_feat");
    let o = observe_html(&feat);
    assert!(o.text.contains("< Prev [SEP] Pure Running Shoe [SEP] Comfort Flat Sneakers [SEP] [FEATURES]"), "{}", o.text);
}

#[test]
fn real_shop_pages_are_sane() {
    for name in ["mock_parse_results_amz", "mock_parse_item_page_amz", "mock_parse_results_ebay", "mock_parse_item_page_ebay"] {
        let html = shared(&format!("pages/{name}"));
        let t0 = std::time::Instant::now();
        let o = observe_html(&html);
        let pieces: Vec<&str> = o.text.split(" [SEP] ").collect();
        println!(
            "{name}: {} KB html -> {} text pieces, {} chars, {} clickables, search bar {}, {:?}",
            html.len() / 1024,
            pieces.len(),
            o.text.len(),
            o.clickables.len(),
            o.has_search_bar,
            t0.elapsed()
        );
        assert!(pieces.len() > 20, "{name}: too little text");
        assert!(pieces.iter().all(|p| !p.is_empty() && p.trim() == *p), "{name}: empty or untrimmed piece");
        for bad in ["function(", "<script", "{\"", "var ", "window."] {
            let n = pieces.iter().filter(|p| p.contains(bad)).count();
            assert!(n * 50 < pieces.len(), "{name}: script-like text leaked ({bad}: {n})");
        }
        assert!(o.has_search_bar, "{name}: search box not found");
        assert!(!o.clickables.is_empty() && o.clickables.len() <= mem1::observe::MAX_CLICKABLES);
        assert!(o.clickables.iter().all(|c| !c.key.is_empty() && c.key.chars().count() <= mem1::observe::MAX_CLICK_TEXT));
        // Within a live-page budget (the extension's): cut visibly, search box and first targets kept.
        let b = mem1::observe::LIVE_BUDGET;
        let c = o.clip(b);
        println!("{name}: clipped to {} chars, {} clickables", c.text.chars().count(), c.clickables.len());
        assert!(c.text.chars().count() <= b.text_chars + 120, "{name}: clipped text too long");
        assert_eq!(c.clickables.len(), o.clickables.len().min(b.clickables));
        assert_eq!(c.clickables[..], o.clickables[..c.clickables.len()]);
        assert!(c.has_search_bar && c.search_node == o.search_node);
        if o.text.chars().count() > b.text_chars {
            assert!(c.text.contains("[page cut here: "), "{name}: the cut is not visible");
        }
        if o.clickables.len() > b.clickables {
            assert!(c.text.ends_with("more links and buttons not listed]"), "{name}: the unlisted targets are not said");
        }
        assert_eq!(c.clip(b).clickables, c.clickables);
    }
    // A page within the budget is left as it is.
    let small = observe_html("<p>one</p><a href='/x'>two</a>");
    assert_eq!(small.clip(mem1::observe::Budget { text_chars: 100, clickables: 5 }), small);
}

/// `tests/fixtures/web_observe.json` holds what the native observation builder sees on a walk
/// through the store; the browser test (`crate/tests/web_observe.rs`) checks that the live-DOM
/// path sees the same. After an intended change to the store's pages, rewriting it is a separate
/// command (`cargo run --release --example bless_web_observe`), never a test run.
#[test]
fn web_observe_fixture_is_current() {
    let path = observe_json::fixture_path();
    let saved = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        saved == observe_json::fixture_text(),
        "{} is stale: the native observations changed (`cargo run --release --example bless_web_observe` rewrites it after an intended change)",
        path.display()
    );
}
