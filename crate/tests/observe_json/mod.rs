//! The JSON form of an observation that `tests/fixtures/web_observe.json` records: written by the
//! native `shop_observe` test, compared against by the browser `web_observe` test.
use mem1::observe::{ClickKind, Observation};

pub fn obs_json(o: &Observation) -> serde_json::Value {
    serde_json::json!({
        "text": o.text, "search": o.has_search_bar,
        "clickables": o.clickables.iter().map(|c| {
            let kind = match &c.kind {
                ClickKind::Button => "button".to_string(),
                ClickKind::Link { product } => format!("link product={product}"),
                ClickKind::Option { name } => format!("option {name}"),
            };
            serde_json::json!([c.key, kind, c.target])
        }).collect::<Vec<_>>(),
    })
}
