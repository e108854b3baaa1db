//! The live-DOM observation path (headless Chromium and Firefox): the store's pages rendered into an iframe's
//! document and observed through `observe::web` must give exactly what the native builder gives on
//! the parsed HTML (`tests/fixtures/web_observe.json`, kept current by the native
//! `shop_observe::web_observe_fixture_is_current`). Computed styles and layout are live here, so
//! this also checks that the live layout rule hides nothing the agent should see (e.g. the zero-width,
//! transparent radio inputs of the options). Run with `scripts/test-browser.sh`.
#![cfg(target_arch = "wasm32")]

use mem1::agent::Shop;
use mem1::shop::goal::dev_goals;
use mem1::shop::{Env, Store};
use std::sync::Arc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

mod observe_json;
use observe_json::obs_json;

wasm_bindgen_test_configure!(run_in_browser);

const WALK: &str = include_str!("../../tests/fixtures/web_observe.json");

/// A fresh iframe in the test page; its document is where the store renders.
fn frame_document() -> web_sys::Document {
    let doc = web_sys::window().unwrap().document().unwrap();
    let frame = doc.create_element("iframe").unwrap();
    frame.set_attribute("style", "width: 1000px; height: 700px").unwrap();
    doc.body().expect("the test page has a body").append_child(&frame).unwrap();
    frame.dyn_into::<web_sys::HtmlIFrameElement>().unwrap().content_document().unwrap()
}

#[wasm_bindgen_test]
fn live_dom_observations_equal_native_ones() {
    let walk: Vec<(String, serde_json::Value)> = serde_json::from_str(WALK).unwrap();
    let store = Arc::new(Store::builtin(0).unwrap());
    let goal = dev_goals().unwrap()[0].clone();
    let doc = frame_document();
    let mut env = Env::in_document(store, goal, doc.clone()).unwrap();
    for (i, (action, want)) in walk.iter().enumerate() {
        if !action.is_empty() {
            let r = env.step(action);
            assert!(r.valid, "step {i}: {action} rejected in the browser: {:?}", r.reason);
        }
        // The page really is in the live document, and the observation is taken from it.
        let body = doc.body().expect("the rendered page has a body").inner_text();
        assert!(!body.trim().is_empty(), "step {i}: the iframe shows nothing");
        let got = obs_json(&Shop::observation(&env));
        assert_eq!(&got, want, "step {i} ({action:?}): live DOM and native observations differ");
    }
    assert!(env.is_done(), "the walk ends with a purchase");
}

#[wasm_bindgen_test]
fn css_hidden_elements_are_not_observed() {
    // What only a live DOM can know: a stylesheet hides an element, gives it no box, clips or
    // squashes it away, or paints its text the colour of the box it sits in.
    let doc = frame_document();
    mem1::observe::web::render_into(
        &doc,
        "<!DOCTYPE html><html><head><style>.gone{display:none}.ghost{visibility:hidden}\
         .clip{width:0;height:0;overflow:hidden}.dark{background:#111}.dark p{color:#151515}\
         .cut{clip-path:inset(50%)}.thin{transform:scaleY(0)}.img{background-image:linear-gradient(#000,#000)}\
         .img p{color:#000}</style></head><body>\
         <p>seen</p><p class=gone>by class</p><p class=ghost>invisible</p><div class=clip><p>clipped</p></div>\
         <div class=dark><p>dark on an inherited dark background</p></div><p class=cut>clipped by a path</p>\
         <p class=thin>squashed</p><div class=img><p>over an image</p></div>\
         <button class=gone>Hidden Button</button><button>Shown Button</button></body></html>",
    )
    .unwrap();
    let o = mem1::observe::web::observe_node(&doc);
    // Over a background image the colour behind is unknown: the text is read.
    assert_eq!(o.text, "seen [SEP] over an image [SEP] Shown Button");
    let keys: Vec<&str> = o.clickables.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["shown button"]);
}

#[wasm_bindgen_test]
fn env_without_a_document_is_a_clear_error() {
    let store = Arc::new(Store::builtin(0).unwrap());
    let goal = dev_goals().unwrap()[0].clone();
    let err = Env::new(store, goal).err().expect("no document to render into");
    assert!(err.to_string().contains("Env::in_document"), "{err}");
}

#[wasm_bindgen_test]
fn rendered_pages_carry_no_inline_handlers() {
    // The store's option radios navigate by `onclick`; the agent acts through the session, and in
    // the demo's sandboxed frame each handler would log "Blocked script execution" as it lands.
    let doc = frame_document();
    mem1::observe::web::render_into(
        &doc,
        "<!DOCTYPE html><html><head></head><body onload=\"x()\"><div class=\"radio-toolbar\">\
         <input type=\"radio\" id=\"r0\" name=\"size\" value=\"large\" onclick=\"go()\" ONMOUSEOVER=\"y()\"><label for=\"r0\">large</label>\
         </div><p title=\"kept\">text</p></body></html>",
    )
    .unwrap();
    let all = doc.query_selector_all("*").unwrap();
    for i in 0..all.length() {
        let el: web_sys::Element = all.item(i).unwrap().unchecked_into(); // another realm: no instanceof
        for name in el.get_attribute_names().iter().filter_map(|n| n.as_string()) {
            assert!(!name.to_ascii_lowercase().starts_with("on"), "<{}> keeps {name}", el.tag_name());
        }
    }
    assert_eq!(doc.query_selector("p").unwrap().unwrap().get_attribute("title").as_deref(), Some("kept"));
    // The option is still an option.
    let o = mem1::observe::web::observe_node(&doc);
    assert!(o.clickables.iter().any(|c| c.key == "large"), "{:?}", o.clickables);
}
