//! Shopping lists in the store: the cart of a list session (in process and over the server's
//! URLs), its score, and single-goal sessions left exactly as WebShop's.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
use mem1::shop::goal::dev_goals;
use mem1::shop::server::App;
use mem1::shop::task::{score_cart, CartItem, Task};
use mem1::shop::{Env, Goal, Store, View};
use std::sync::Arc;

fn store() -> Arc<Store> {
    Arc::new(Store::builtin(0).unwrap())
}

/// Opens the goal's own product from a search for it and sets the goal's options: the steps an
/// agent takes for one item.
fn open_item(env: &mut Env, g: &Goal) {
    let q = g.name.split_whitespace().take(6).collect::<Vec<_>>().join(" ").to_lowercase().replace(['[', ']'], "");
    let r = env.step(&format!("search[{q}]"));
    assert!(r.valid, "{:?}", r.reason);
    // The item by its id: a product link when the results list it, else the URL's way in.
    let key = g.asin.to_lowercase();
    for _ in 0..4 {
        if env.observe().find_clickable(&key).is_some() || !env.step("click[next >]").valid {
            break;
        }
    }
    assert!(env.step(&format!("click[{key}]")).valid, "{} not found by {q:?}", g.asin);
    for (_, v) in &g.goal_options {
        let v = v.to_lowercase();
        if env.observe().find_clickable(&v).is_some() {
            assert!(env.step(&format!("click[{v}]")).valid);
        }
    }
}

#[test]
fn a_single_goal_session_is_webshops_without_a_cart() {
    let store = store();
    let g = dev_goals().unwrap()[0].clone();
    let mut env = Env::new(store, g.clone()).unwrap();
    assert!(!env.html().contains("View Cart"));
    open_item(&mut env, &g);
    assert!(!env.html().contains("Add to Cart") && env.html().contains("Buy Now"));
    assert!(!env.step("click[add to cart]").valid);
    assert!(!env.step("click[view cart]").valid);
    let r = env.step("click[buy now]");
    assert!(r.done && r.valid);
    assert!(matches!(env.view(), View::Done { .. }));
    assert_eq!(env.item_rewards(), vec![env.reward()]);
}

#[test]
fn a_list_is_shopped_into_the_cart_and_checked_out() {
    let store = store();
    let dev = dev_goals().unwrap();
    let goals: Vec<Goal> = vec![dev[0].clone(), dev[4].clone(), dev[7].clone()];
    let task = Task::list(goals.clone()).unwrap();
    let mut env = Env::new(store.clone(), task.clone()).unwrap();
    // Every page but the cart links the cart; item pages add to it.
    assert!(env.observe().find_clickable("view cart").is_some());
    assert!(env.observe().text.contains("Buy 3 items: 1) "));
    assert!(!env.step("click[checkout]").valid, "nothing to check out from the search page");
    let mut expected = Vec::new();
    for g in &goals {
        open_item(&mut env, g);
        assert!(env.observe().find_clickable("add to cart").is_some() && env.observe().find_clickable("buy now").is_some());
        let View::Item { asin, options, .. } = env.view().clone() else { panic!("not on an item page") };
        expected.push(CartItem { asin, options });
        let r = env.step("click[add to cart]");
        assert!(r.valid && !r.done, "{:?}", r.reason);
        assert_eq!(env.view(), &View::Cart);
        assert_eq!(env.cart(), &expected[..]);
        assert!(env.url().starts_with("/cart/"));
        assert!(env.step("click[back to search]").valid);
    }
    // A wrong item, then removed again.
    open_item(&mut env, &dev[9]);
    assert!(env.step("click[add to cart]").valid);
    assert_eq!(env.cart().len(), 4);
    let text = env.observe().text.clone();
    assert!(text.contains("Cart (4 items)") && text.contains(&format!("4. {}", dev[9].asin)), "{text}");
    assert!(!env.step("click[remove 5]").valid);
    assert!(env.step("click[remove 4]").valid);
    assert_eq!(env.cart(), &expected[..]);
    assert_eq!(env.item_rewards(), vec![0.0; 3], "nothing is scored before checkout");
    let want = score_cart(&store, &task, &expected).unwrap();
    let r = env.step("click[checkout]");
    assert!(r.done && r.valid);
    assert_eq!(r.reward, want.reward);
    assert_eq!(env.reward(), want.reward);
    assert_eq!(env.item_rewards(), want.item_rewards);
    assert!(want.item_rewards.iter().all(|r| *r > 0.5), "{:?}", want.item_rewards);
    assert_eq!(env.view().kind(), "done");
    assert!(env.html().contains("id=\"item-rewards\""));
    assert!(!env.step("click[back to search]").valid, "the episode is over");
}

#[test]
fn buy_now_in_a_list_buys_the_cart_with_the_item() {
    let store = store();
    let dev = dev_goals().unwrap();
    let task = Task::list(vec![dev[0].clone(), dev[4].clone()]).unwrap();
    let mut env = Env::new(store.clone(), task.clone()).unwrap();
    open_item(&mut env, &dev[0]);
    assert!(env.step("click[add to cart]").valid);
    assert!(env.step("click[back to search]").valid);
    open_item(&mut env, &dev[4]);
    let View::Item { asin, options, .. } = env.view().clone() else { panic!() };
    let r = env.step("click[buy now]");
    assert!(r.done);
    let View::Receipt { items, score } = env.view().clone() else { panic!("no receipt") };
    assert_eq!(items.len(), 2);
    assert_eq!(items[1], CartItem { asin, options });
    assert_eq!(score, score_cart(&store, &task, &items).unwrap());
}

#[test]
fn the_server_keeps_a_list_sessions_cart() {
    let app = App::new(store(), 7).unwrap();
    let task = app.task_for("devlist2_1").unwrap();
    let dev = dev_goals().unwrap();
    assert_eq!(task.goals, dev[2..4].to_vec());
    let api: serde_json::Value = serde_json::from_str(&app.handle("/api/goal/devlist2_1").body).unwrap();
    assert_eq!(api.as_array().map(Vec::len), Some(2));
    let page = app.handle("/devlist2_1");
    assert!(page.body.contains("View Cart") && page.body.contains("Buy 2 items: 1) "));
    let (a, b) = (&dev[2].asin, &dev[3].asin);
    let item = app.handle(&format!("/item_page/devlist2_1/{a}/x/1/%7B%7D"));
    assert!(item.body.contains("Add to Cart") && item.body.contains(&format!("/cart_add/devlist2_1/{a}/%7B%7D")));
    assert_eq!(app.handle("/checkout/devlist2_1").status, 400, "an empty cart");
    for asin in [a, b, a] {
        let r = app.handle(&format!("/cart_add/devlist2_1/{asin}/%7B%7D"));
        assert_eq!((r.status, r.location.as_deref()), (303, Some("/cart/devlist2_1")));
    }
    let cart = app.handle("/cart/devlist2_1");
    assert!(cart.body.contains("Cart (3 items)") && cart.body.contains("Remove 3") && cart.body.contains("/checkout/devlist2_1"));
    assert_eq!(app.handle("/cart_remove/devlist2_1/4").status, 400);
    assert_eq!(app.handle("/cart_remove/devlist2_1/3").status, 303);
    // Another session's cart is its own.
    assert!(app.handle("/cart/devlist2_0").body.contains("Your cart is empty."));
    let receipt = app.handle("/checkout/devlist2_1");
    assert_eq!(receipt.status, 200);
    let items: Vec<CartItem> = [a, b].iter().map(|x| CartItem { asin: x.to_string(), options: Vec::new() }).collect();
    let want = score_cart(&app.store, &task, &items).unwrap();
    assert!(receipt.body.contains(&format!("<pre>{}</pre>", mem1::shop::pages::py_float(want.reward))), "{}", receipt.body);
    assert!(app.handle("/cart/devlist2_1").body.contains("Your cart is empty."), "checkout empties the cart");
    // A single-goal session has no cart; bad list ids are errors, and other ids still draw goals.
    assert_eq!(app.handle("/cart/dev_0").status, 404);
    assert_eq!(app.handle(&format!("/cart_add/dev_0/{a}/%7B%7D")).status, 404);
    assert!(!app.handle(&format!("/item_page/dev_0/{a}/x/1/%7B%7D")).body.contains("Add to Cart"));
    for bad in ["/devlist2_10", "/list1_0", "/list17_0", "/devlist3_9"] {
        assert_eq!(app.handle(bad).status, 404, "{bad}");
    }
    assert_eq!(app.handle("/listing").status, 200);
    assert_eq!(app.handle("/list4_0").status, 200);
}
