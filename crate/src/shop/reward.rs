//! WebShop's reward (`web_agent_site/engine/goal.py`: `get_reward` and its parts).
//!
//! total = (attribute hits + option hits + [price <= price_upper]) / (|attributes| + |options| + 1),
//! times the type factor r_type. The type factor compares the purchased product with the goal:
//! same `query`, >= 2 shared `product_category` levels, or title noun overlap. WebShop finds the
//! nouns with spaCy (`en_core_web_lg`, POS in NOUN/PROPN); we approximate spaCy's tagger with
//! [`title_nouns`]: spaCy-like tokens with a letter, minus function words, numbers/measures and
//! a list of common adjectives. This can differ from spaCy on individual words; it only matters
//! when neither the query nor the category matches.
use super::catalog::Product;
use super::fuzz::token_set_ratio;
use super::goal::Goal;
use super::pages::Options;

/// WebShop's `EXACT_MATCH_OPTS`.
pub const EXACT_MATCH_OPTS: [&str; 1] = ["size"];

/// WebShop's `COLOR_SET` (normalize.py).
pub const COLOR_SET: &[&str] = &[
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream",
    "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape",
    "graphite", "grass", "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender",
    "lemon", "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint",
    "mocha", "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive", "orange", "peach",
    "pewter", "pink", "plum", "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire",
    "seashell", "silver", "skull", "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe",
    "teal", "tiger", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
];

/// WebShop's `normalize_color`: the first color word contained in the string, else the string.
pub fn normalize_color(s: &str) -> String {
    for c in COLOR_SET {
        if s.contains(c) {
            return c.to_string();
        }
    }
    s.to_string()
}

const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "nor", "for", "with", "without", "of", "in", "on", "at", "to", "from",
    "by", "as", "into", "onto", "over", "under", "up", "down", "out", "off", "per", "via", "vs", "than", "then",
    "this", "that", "these", "those", "it", "its", "your", "you", "our", "we", "my", "his", "her", "their",
    "they", "he", "she", "i", "me", "us", "them", "is", "are", "be", "was", "were", "will", "can", "not", "no",
    "all", "any", "each", "every", "some", "more", "most", "very", "so", "too", "also", "&", "x", "s", "t",
    "about", "after", "before", "between", "during", "inch", "inches", "oz", "ounce", "ounces", "lb", "lbs",
    "pack", "count", "pcs", "pc", "set", "ft", "cm", "mm", "ml", "l", "g", "kg",
];

const COMMON_ADJECTIVES: &[&str] = &[
    "new", "large", "small", "big", "little", "long", "short", "high", "low", "soft", "hard", "light", "heavy",
    "black", "white", "red", "blue", "green", "pink", "purple", "gray", "grey", "brown", "yellow", "orange",
    "casual", "comfortable", "cute", "funny", "stylish", "fashion", "natural", "organic", "premium", "best",
    "portable", "waterproof", "adjustable", "durable", "lightweight", "wireless", "electric", "non", "free",
    "slim", "loose", "plus", "extra", "mini", "super", "ultra", "full", "double", "single", "classic", "modern",
    "vintage", "cotton", "leather", "wooden", "metal", "plastic", "stainless", "warm", "cool", "hot", "cold",
    "sexy", "summer", "winter", "spring", "fall", "women", "womens", "men", "mens", "kids", "baby", "girls",
    "boys", "unisex", "adult", "adults", "compatible", "professional", "healthy", "fresh", "easy", "great",
    "perfect", "beautiful", "elegant", "pure", "original", "real", "heavy-duty", "anti", "multi",
];

/// Approximates the NOUN/PROPN tokens spaCy finds in a product name (lowercased).
pub fn title_nouns(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in name.split_whitespace() {
        // spaCy splits off surrounding punctuation and clitics ('s)
        for piece in raw.split(|c: char| matches!(c, ',' | '(' | ')' | '[' | ']' | '|' | '/' | '+' | ';' | ':' | '"' | '!' | '?')) {
            let w = piece.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
            let w = w.strip_suffix("'s").or_else(|| w.strip_suffix("’s")).unwrap_or(&w).to_string();
            if w.is_empty() || !w.chars().any(|c| c.is_alphabetic()) {
                continue;
            }
            if w.chars().any(|c| c.is_ascii_digit()) && w.chars().filter(|c| c.is_alphabetic()).count() <= 2 {
                continue; // measures like 12oz, 3x, 2pcs
            }
            if FUNCTION_WORDS.contains(&w.as_str()) || COMMON_ADJECTIVES.contains(&w.as_str()) {
                continue;
            }
            out.push(w);
        }
    }
    out
}

/// The type factor and what it was computed from.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeReward {
    pub r_type: f64,
    pub query_match: bool,
    pub category_match: bool,
    pub title_score: f64,
}

pub fn get_type_reward(p: &Product, goal: &Goal) -> TypeReward {
    let query_match = p.query == goal.query;
    let cats = |s: &str| s.split('›').map(|x| x.trim().to_string()).collect::<std::collections::HashSet<_>>();
    let category_match = cats(&p.product_category).intersection(&cats(&goal.product_category)).count() >= 2;
    let purchased: std::collections::HashSet<String> = title_nouns(&p.name).into_iter().collect();
    let desired = title_nouns(&goal.name);
    let desired_set: std::collections::HashSet<&String> = desired.iter().collect();
    let title_score = if desired.is_empty() {
        0.2
    } else {
        desired_set.iter().filter(|w| purchased.contains(**w)).count() as f64 / desired.len() as f64
    };
    let mut r_type = 1.0;
    if !(query_match || category_match || title_score > 0.2) {
        r_type = 0.5;
    }
    if title_score < 0.1 {
        r_type = 0.1;
    }
    if title_score == 0.0 {
        r_type = 0.0;
    }
    TypeReward { r_type, query_match, category_match, title_score }
}

fn in_product_text(p: &Product, needle: &str) -> bool {
    p.title.to_lowercase().contains(needle)
        || p.bullet_points.join(" ").to_lowercase().contains(needle)
        || p.description.to_lowercase().contains(needle)
}

/// Attribute hits: fuzzy match (> 85) against the product's attributes, else a substring of
/// title, bullet points or description. Returns (r_att, hits).
pub fn get_attribute_reward(p: &Product, goal: &Goal) -> (f64, usize) {
    let mut hits = 0;
    for g in &goal.attributes {
        let matched = p.attributes.iter().any(|a| token_set_ratio(a, g) > 85);
        if matched || in_product_text(p, g) {
            hits += 1;
        }
    }
    let r = if goal.attributes.is_empty() { 0.0 } else { hits as f64 / goal.attributes.len() as f64 };
    (r, hits)
}

/// Option hits: each purchased option against the goal options (colors normalized; `size` exact,
/// others fuzzy > 85), else a substring of the product text. Returns (r_option, hits).
pub fn get_option_reward(p: &Product, goal_options: &[String], purchased: &Options) -> (Option<f64>, usize) {
    let goal_norm: Vec<String> = goal_options.iter().map(|o| normalize_color(o)).collect();
    let mut hits = 0;
    for (k, v) in purchased {
        let v = normalize_color(v);
        let mut matched = false;
        if EXACT_MATCH_OPTS.contains(&k.to_lowercase().as_str()) {
            if goal_norm.contains(&v) {
                hits += 1;
                matched = true;
            }
        } else if goal_norm.iter().any(|g| token_set_ratio(g, &v) > 85) {
            hits += 1;
            matched = true;
        }
        if !matched && in_product_text(p, &v) {
            hits += 1;
        }
    }
    let r = if goal_options.is_empty() { None } else { Some(hits as f64 / goal_options.len() as f64) };
    (r, hits)
}

/// The reward's parts, as WebShop's verbose `info`.
#[derive(Clone, Debug, PartialEq)]
pub struct RewardInfo {
    pub r_type: f64,
    pub r_att: f64,
    pub w_att: f64,
    pub query_match: bool,
    pub category_match: bool,
    pub title_score: f64,
    pub r_option: Option<f64>,
    pub w_option: Option<f64>,
    pub r_price: Option<bool>,
    pub w_price: Option<f64>,
}

impl RewardInfo {
    /// Rows for display (name, value).
    pub fn rows(&self) -> Vec<(String, String)> {
        use super::pages::py_float;
        let mut v = vec![
            ("r_type".to_string(), py_float(self.r_type)),
            ("r_att".into(), py_float(self.r_att)),
            ("w_att".into(), py_float(self.w_att)),
            ("query_match".into(), if self.query_match { "True" } else { "False" }.into()),
            ("category_match".into(), if self.category_match { "True" } else { "False" }.into()),
            ("title_score".into(), py_float(self.title_score)),
        ];
        if let (Some(r), Some(w)) = (self.r_option, self.w_option) {
            v.push(("r_option".into(), py_float(r)));
            v.push(("w_option".into(), py_float(w)));
        }
        if let (Some(r), Some(w)) = (self.r_price, self.w_price) {
            v.push(("r_price".into(), if r { "True" } else { "False" }.into()));
            v.push(("w_price".into(), py_float(w)));
        }
        v
    }
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("r_type".into(), self.r_type.into());
        m.insert("r_att".into(), self.r_att.into());
        m.insert("w_att".into(), self.w_att.into());
        m.insert("query_match".into(), self.query_match.into());
        m.insert("category_match".into(), self.category_match.into());
        m.insert("title_score".into(), self.title_score.into());
        if let (Some(r), Some(w)) = (self.r_option, self.w_option) {
            m.insert("r_option".into(), r.into());
            m.insert("w_option".into(), w.into());
        }
        if let (Some(r), Some(w)) = (self.r_price, self.w_price) {
            m.insert("r_price".into(), r.into());
            m.insert("w_price".into(), w.into());
        }
        serde_json::Value::Object(m)
    }
}

/// WebShop's `get_reward(purchased_product, goal, price, options)`.
pub fn get_reward(p: &Product, goal: &Goal, price: f64, options: &Options) -> (f64, RewardInfo) {
    let t = get_type_reward(p, goal);
    let r_price = if goal.price_upper > 0.0 { Some(price <= goal.price_upper) } else { None };
    let (r_att, att_hits) = get_attribute_reward(p, goal);
    let goal_values: Vec<String> = goal.goal_options.iter().map(|(_, v)| v.clone()).collect();
    let (r_option, opt_hits) = get_option_reward(p, &goal_values, options);
    let denom = (goal.attributes.len() + goal.goal_options.len() + 1) as f64;
    let total = (att_hits + opt_hits + usize::from(r_price == Some(true))) as f64 / denom * t.r_type;
    let info = RewardInfo {
        r_type: t.r_type,
        r_att,
        w_att: goal.attributes.len() as f64 / denom,
        query_match: t.query_match,
        category_match: t.category_match,
        title_score: t.title_score,
        r_option,
        w_option: r_option.map(|_| goal.goal_options.len() as f64 / denom),
        r_price,
        w_price: r_price.map(|_| 1.0 / denom),
    };
    (total, info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(v: serde_json::Value) -> Product {
        serde_json::from_value(v).unwrap()
    }
    fn shirt() -> Product {
        product(serde_json::json!({
            "asin": "B000000001", "Title": "Cotton Crew Neck T-Shirt for Women", "name": "Cotton Crew Neck T-Shirt for Women",
            "Description": "A soft tee. Machine wash cold.", "BulletPoints": ["Short sleeve", "Relaxed cut"],
            "pricing": [12.5], "Price": "$12.5",
            "options": {"color": ["a01#purple", "navy blue"], "size": ["large", "x-large"]},
            "Attributes": ["short sleeve", "loose fit"], "category": "fashion",
            "query": "women's tops, tees & blouses",
            "product_category": "Clothing, Shoes & Jewelry › Women › Clothing › Tops, Tees & Blouses › T-Shirts",
            "MainImage": "", "Rating": "N.A.", "Reviews": []
        }))
    }
    fn goal() -> Goal {
        Goal {
            asin: "B000000009".into(),
            instruction_text: "i want a loose fit tee".into(),
            attributes: vec!["loose fit".into(), "machine wash".into()],
            goal_options: vec![("color".into(), "c5-purple".into()), ("size".into(), "x-large".into())],
            price_upper: 20.0,
            category: "fashion".into(),
            query: "women's tops, tees & blouses".into(),
            name: "Women Casual T-Shirt Tee".into(),
            product_category: "Clothing, Shoes & Jewelry › Women › Clothing › Tops, Tees & Blouses".into(),
            weight: 1.0,
        }
    }
    fn opts(v: &[(&str, &str)]) -> Options {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn full_match_is_one() {
        let (r, info) = get_reward(&shirt(), &goal(), 12.5, &opts(&[("color", "a01#purple"), ("size", "x-large")]));
        assert_eq!(r, 1.0, "{info:?}");
        assert_eq!(info.r_att, 1.0); // "loose fit" by fuzzy attribute, "machine wash" by substring of the description
        assert_eq!(info.r_option, Some(1.0)); // purple == purple after normalize_color
        assert_eq!(info.r_price, Some(true));
        assert_eq!(info.w_att, 2.0 / 5.0);
    }

    #[test]
    fn each_part_counts_one_over_n_plus_one() {
        let g = goal();
        // over budget: 4 of 5
        let (r, _) = get_reward(&shirt(), &g, 25.0, &opts(&[("color", "a01#purple"), ("size", "x-large")]));
        assert!((r - 0.8).abs() < 1e-12);
        // size is matched exactly: "large" is not "x-large" (and "large" is not in the text)
        let (r, info) = get_reward(&shirt(), &g, 12.5, &opts(&[("color", "a01#purple"), ("size", "large")]));
        assert!((r - 0.8).abs() < 1e-12, "{info:?}");
        // no options chosen: 3 of 5
        let (r, _) = get_reward(&shirt(), &g, 12.5, &Vec::new());
        assert!((r - 0.6).abs() < 1e-12);
        // an attribute found nowhere
        let mut g2 = g.clone();
        g2.attributes.push("wireless charging".into());
        let (r, info) = get_reward(&shirt(), &g2, 12.5, &opts(&[("color", "a01#purple"), ("size", "x-large")]));
        assert!((r - 5.0 / 6.0).abs() < 1e-12);
        assert!((info.r_att - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn type_factor() {
        let p = shirt();
        let mut g = goal();
        assert_eq!(get_type_reward(&p, &g).r_type, 1.0);
        // nothing in common: different query, category, and title nouns
        g.query = "headphones".into();
        g.product_category = "Electronics › Headphones".into();
        g.name = "Bluetooth Headphones".into();
        let t = get_type_reward(&p, &g);
        assert_eq!((t.r_type, t.title_score, t.query_match, t.category_match), (0.0, 0.0, false, false));
        let (r, _) = get_reward(&p, &g, 12.5, &Vec::new());
        assert_eq!(r, 0.0);
        // category overlap of >= 2 levels, weak title overlap (1 of 6 nouns: 0.1 <= s <= 0.2) -> 1.0
        g.product_category = "Clothing, Shoes & Jewelry › Women › Shoes".into();
        g.name = "Neck Pillow Travel Cushion Support Headrest".into();
        let t = get_type_reward(&p, &g);
        assert!(t.category_match && (t.title_score - 1.0 / 6.0).abs() < 1e-12, "{t:?}");
        assert_eq!(t.r_type, 1.0);
        // same title overlap without query or category match -> 0.5
        g.product_category = "Home › Bedding".into();
        assert_eq!(get_type_reward(&p, &g).r_type, 0.5);
        // title overlap below 0.1 -> 0.1
        g.name = "Neck Pillow Travel Cushion Support Headrest Foam Memory Car Seat Office".into();
        let t = get_type_reward(&p, &g);
        assert!(t.title_score > 0.0 && t.title_score < 0.1, "{t:?}");
        assert_eq!(t.r_type, 0.1);
    }

    #[test]
    fn colors_normalize() {
        assert_eq!(normalize_color("a01#purple"), "purple");
        assert_eq!(normalize_color("z-nude pink"), "nude");
        assert_eq!(normalize_color("xx-large"), "xx-large");
        assert_eq!(normalize_color("navy blue"), "blue");
    }
}
