//! Observation text and actions against the real WebShop's recorded trajectories, and the
//! observation builder on real shop pages.
use mem1::observe::native::observe_html;
use mem1::shop::goal::dev_goals;
use mem1::shop::{Env, Store};
use std::sync::Arc;

mod observe_json;
use observe_json::obs_json;

fn shared(path: &str) -> Option<String> {
    let p = format!("{}/../../shared/webshop/{}", env!("CARGO_MANIFEST_DIR"), path);
    match std::fs::read(&p) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(_) => {
            println!("skipping: {p} not found");
            None
        }
    }
}

#[test]
fn observations_match_real_webshop() {
    let Some(traj) = shared("dev_trajectories.json") else { return };
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
    let Some(item) = shared("pages/mock_parse_item_page_ws") else { return };
    let o = observe_html(&item);
    assert!(o.text.starts_with("Instruction: [SEP] i want an xx-small sized slim fit button down shirt"), "{}", o.text);
    assert!(o.text.ends_with("[SEP] Price: $100.0 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"), "{}", o.text);
    assert!(!o.text.contains("Attributes"), "commented-out button leaked");
    assert!(!o.text.contains("$(document)"), "script leaked");
    let keys: Vec<&str> = o.clickables.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["back to search", "< prev", "description", "features", "reviews", "buy now", "black", "purple", "red", "6.5", "7.5", "8", "8.5", "9"]);
    let results = shared("pages/mock_parse_results_ws").unwrap();
    let o = observe_html(&results);
    assert!(o.text.contains("Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B09GKFNQWT [SEP] BinGoDug Men's Basketball Shoes"), "{}", &o.text[..400.min(o.text.len())]);
    assert_eq!(o.clickables.iter().filter(|c| c.kind == mem1::observe::ClickKind::Link { product: true }).count(), 10);
    let desc = shared("pages/mock_parse_item_page_ws_desc").unwrap();
    let o = observe_html(&desc);
    assert!(o.text.starts_with("Instruction: [SEP] i want an xx-small"));
    assert!(o.text.contains("[SEP] Back to Search [SEP] < Prev [SEP] Here Are The Things You Want To Know"));
    let feat = shared("pages/mock_parse_item_page_ws_feat").unwrap();
    let o = observe_html(&feat);
    assert!(o.text.contains("< Prev [SEP] Pure Running Shoe [SEP] Comfort Flat Sneakers [SEP] [FEATURES]"), "{}", o.text);
}

#[test]
fn real_shop_pages_are_sane() {
    for name in ["mock_parse_results_amz", "mock_parse_item_page_amz", "mock_parse_results_ebay", "mock_parse_item_page_ebay"] {
        let Some(html) = shared(&format!("pages/{name}")) else { return };
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

/// The walk through the store that `web_observe` replays in the browser: search, a product with
/// options, an option, a sub-page, back, buy. Returns (action, observation after it) pairs; the
/// first action is empty (the start page).
fn store_walk() -> Vec<(String, serde_json::Value)> {
    use mem1::observe::ClickKind;
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

/// `tests/fixtures/web_observe.json` holds what the native observation builder sees on that walk;
/// the browser test (`crate/tests/web_observe.rs`) checks that the live-DOM path sees the same.
/// `MEM1_BLESS=1` rewrites the fixture after an intended change to the store's pages.
#[test]
fn web_observe_fixture_is_current() {
    let path = format!("{}/../tests/fixtures/web_observe.json", env!("CARGO_MANIFEST_DIR"));
    let now = serde_json::to_string_pretty(&store_walk()).unwrap() + "\n";
    if std::env::var_os("MEM1_BLESS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let saved = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(saved == now, "{path} is stale: the native observations changed (MEM1_BLESS=1 cargo test --release --test shop_observe rewrites it)");
}
