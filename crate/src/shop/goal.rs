//! Goals: loading (the schema of `dev_goals.json`) and generation from WebShop's templates
//! (`goal_templates.json`) exactly as `get_synthetic_goals` / `get_human_goals` do: one goal per
//! combination of the product's options (option names sorted), `price_upper` = the larger of two
//! distinct random picks among the four multiples of 10 just above the product's price
//! (1000000 and no price text when fewer than two exist), goal weights by attribute rarity.
//! Randomness comes from a seeded generator ([`Rng`]), so goal sets are reproducible; Python's
//! Mersenne Twister stream is not reproduced (WebShop itself does not seed it for this step).
use super::catalog::{ordered_string_map, Catalog};
use crate::{Error, Result};
use serde::Deserialize;

pub const GOAL_TEMPLATES_JSON: &[u8] = include_bytes!("../../data/goal_templates.json");
pub const DEV_GOALS_JSON: &[u8] = include_bytes!("../../data/dev_goals.json");

/// WebShop's `PRICE_RANGE`: 10, 20, ..., 990.
pub fn price_range() -> impl Iterator<Item = f64> {
    (1..100).map(|i| 10.0 * i as f64)
}

/// A shopping goal.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Goal {
    pub asin: String,
    pub instruction_text: String,
    #[serde(default)]
    pub attributes: Vec<String>,
    /// (option name, value); the name is "" for human goals, whose options are a plain list.
    #[serde(default, deserialize_with = "ordered_string_map")]
    pub goal_options: Vec<(String, String)>,
    #[serde(default = "no_limit", deserialize_with = "price_or_null")]
    pub price_upper: f64,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub product_category: String,
    #[serde(default = "one")]
    pub weight: f64,
}

fn no_limit() -> f64 {
    1_000_000.0
}
fn one() -> f64 {
    1.0
}
fn price_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(1_000_000.0))
}

impl Goal {
    /// The goal as JSON in the `dev_goals.json` schema.
    pub fn to_json(&self) -> serde_json::Value {
        let opts: serde_json::Value = if self.goal_options.iter().all(|(k, _)| !k.is_empty()) {
            let mut m = serde_json::Map::new();
            for (k, v) in &self.goal_options {
                m.insert(k.clone(), v.clone().into());
            }
            m.into()
        } else {
            self.goal_options.iter().map(|(_, v)| serde_json::Value::from(v.clone())).collect()
        };
        serde_json::json!({
            "asin": self.asin, "instruction_text": self.instruction_text, "attributes": self.attributes,
            "goal_options": opts, "price_upper": self.price_upper, "category": self.category,
            "query": self.query, "name": self.name, "product_category": self.product_category,
        })
    }
}

/// Parses goals in the `dev_goals.json` schema: a list of goals or one goal object.
pub fn parse_goals(json: &[u8]) -> Result<Vec<Goal>> {
    let items = file_entries(json, "a goal object or a list of goals")?;
    items.into_iter().enumerate().map(|(i, g)| parse_goal(&format!("goal #{i}"), g)).collect()
}

/// A goal file's entries: its list's, or its one object; `holds` says what it must hold.
pub fn file_entries(json: &[u8], holds: &str) -> Result<Vec<serde_json::Value>> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| Error::Shop(format!("goal file is not JSON: {e}")))?;
    match v {
        serde_json::Value::Array(a) => Ok(a),
        o @ serde_json::Value::Object(_) => Ok(vec![o]),
        _ => Err(Error::Shop(format!("goal file must hold {holds}"))),
    }
}

/// One goal object; errors are prefixed with `what` (where it is in its file).
pub fn parse_goal(what: &str, v: serde_json::Value) -> Result<Goal> {
    let goal: Goal = serde_json::from_value(v).map_err(|e| Error::Shop(format!("{what}: {e}")))?;
    if goal.asin.is_empty() {
        return Err(Error::Shop(format!("{what}: empty asin")));
    }
    Ok(goal)
}

/// The 20 development goals shipped with the project.
pub fn dev_goals() -> Result<Vec<Goal>> {
    parse_goals(DEV_GOALS_JSON)
}

/// A small seeded PRNG (SplitMix64): reproducible on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_f64() * n as f64) as usize % n
        }
    }
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next_f64()
    }
}

/// WebShop's `generate_product_prices`: the price, or a uniform draw within a price range.
pub fn product_prices(catalog: &Catalog, rng: &mut Rng) -> Vec<f64> {
    catalog
        .products
        .iter()
        .map(|p| match p.pricing.as_slice() {
            [] => 100.0,
            [x] => *x,
            [lo, hi, ..] => rng.uniform(*lo, *hi),
        })
        .collect()
}

/// WebShop's price_upper rule: (price_upper, instruction suffix).
pub fn draw_price_upper(price: f64, rng: &mut Rng) -> (f64, String) {
    let range: Vec<f64> = price_range().filter(|p| *p > price).take(4).collect();
    if range.len() >= 2 {
        let i = rng.below(range.len());
        let mut j = rng.below(range.len() - 1);
        if j >= i {
            j += 1;
        }
        let upper = range[i].max(range[j]);
        (upper, format!(", and price lower than {upper:.2} dollars"))
    } else {
        (1_000_000.0, String::new())
    }
}

#[derive(Deserialize)]
struct Template {
    goal_id: String,
    asin: String,
    instruction: Option<String>,
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default, deserialize_with = "ordered_string_map")]
    goal_options: Vec<(String, String)>,
}

/// Generates WebShop's goals from the shipped templates: synthetic goals first (one per option
/// combination of each product), then the human goals.
pub fn generate_goals(catalog: &Catalog, prices: &[f64], rng: &mut Rng) -> Result<Vec<Goal>> {
    let templates: Vec<Template> = serde_json::from_slice(GOAL_TEMPLATES_JSON)
        .map_err(|e| Error::Shop(format!("goal templates: {e}")))?;
    let mut synthetic = Vec::new();
    let mut human = Vec::new();
    for t in &templates {
        let Some(idx) = catalog.index_of(&t.asin) else { continue };
        let p = &catalog.products[idx];
        let Some(instruction) = t.instruction.as_deref() else { continue };
        if t.attributes.is_empty() {
            continue;
        }
        let (price_upper, price_text) = draw_price_upper(prices[idx], rng);
        let base = Goal {
            asin: p.asin.clone(),
            instruction_text: String::new(),
            attributes: t.attributes.clone(),
            goal_options: Vec::new(),
            price_upper,
            category: p.category.clone(),
            query: p.query.clone(),
            name: p.title.clone(),
            product_category: p.product_category.clone(),
            weight: 1.0,
        };
        if t.goal_id.starts_with("human") {
            let text = instruction.trim_matches('.');
            human.push(Goal {
                instruction_text: format!("{text}{price_text}"),
                goal_options: t.goal_options.iter().map(|(_, v)| (String::new(), v.clone())).collect(),
                ..base
            });
            continue;
        }
        let mut names: Vec<&(String, Vec<String>)> = p.options.iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (name, values) in names {
            let mut next = Vec::with_capacity(combos.len() * values.len());
            for c in &combos {
                for v in values {
                    let mut c2 = c.clone();
                    c2.push((name.clone(), v.clone()));
                    next.push(c2);
                }
            }
            combos = next;
        }
        for combo in combos {
            let option_text = combo.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", and ");
            let option_text = if option_text.is_empty() { String::new() } else { format!(" with {option_text}") };
            synthetic.push(Goal {
                instruction_text: format!("{instruction}{option_text}{price_text}"),
                goal_options: combo,
                ..base.clone()
            });
        }
    }
    let mut count: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for g in &synthetic {
        for a in &g.attributes {
            *count.entry(a.as_str()).or_insert(0.0) += 1.0;
        }
    }
    let weights: Vec<f64> = synthetic
        .iter()
        .map(|g| g.attributes.iter().map(|a| 1.0 / count[a.as_str()]).sum::<f64>() / g.attributes.len() as f64)
        .collect();
    for (g, w) in synthetic.iter_mut().zip(weights) {
        g.weight = w;
    }
    synthetic.extend(human);
    Ok(synthetic)
}

/// Picks a goal index with probability proportional to its weight (WebShop's `random_idx`).
pub fn sample_weighted(goals: &[Goal], rng: &mut Rng) -> usize {
    let total: f64 = goals.iter().map(|g| g.weight.max(0.0)).sum();
    if goals.is_empty() || total <= 0.0 {
        return 0;
    }
    let mut x = rng.next_f64() * total;
    for (i, g) in goals.iter().enumerate() {
        x -= g.weight.max(0.0);
        if x < 0.0 {
            return i;
        }
    }
    goals.len() - 1
}

/// `--sample N --seed S`: N goals drawn by weight (WebShop's `random_idx`) from all template goals.
pub fn sample_goals(catalog: &Catalog, prices: &[f64], n: usize, seed: u64) -> Result<Vec<Goal>> {
    let mut rng = Rng::new(seed);
    let all = generate_goals(catalog, prices, &mut rng)?;
    Ok((0..n).map(|_| all[sample_weighted(&all, &mut rng)].clone()).collect())
}

/// The evaluation sample of issue 9 (`--sample 200 --seed 0`); training data never uses its
/// products, nor the dev goals' (`mem1 run --exclude-eval`).
pub const EVAL_SAMPLE: (usize, u64) = (200, 0);
