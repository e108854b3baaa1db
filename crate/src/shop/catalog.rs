//! The product catalog: WebShop's 1k products (`items_shuffle_1000` after `load_products`),
//! shipped gzip-compressed inside the binary. Loading validates every record.
use crate::{Error, Result};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::{Arc, OnceLock};

/// The shipped catalog, gzip-compressed JSON (a list of products).
pub const PRODUCTS_GZ: &[u8] = include_bytes!("../../data/products_1k.json.gz");

/// One product, with the fields WebShop's pages, search index and reward read.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub asin: String,
    #[serde(rename = "Title")]
    pub title: String,
    /// WebShop's `name` (same as the title in this catalog); used by the type reward.
    #[serde(default)]
    pub name: String,
    #[serde(rename = "Description", default, deserialize_with = "string_or_null")]
    pub description: String,
    #[serde(rename = "BulletPoints", default)]
    pub bullet_points: Vec<String>,
    /// One price, or a low–high range.
    pub pricing: Vec<f64>,
    /// The price as WebShop prints it (`$9.49 to $14.98`, `$100.0`).
    #[serde(rename = "Price")]
    pub price_text: String,
    /// Option name -> values, in the catalog's order.
    #[serde(default, deserialize_with = "ordered_options")]
    pub options: Vec<(String, Vec<String>)>,
    #[serde(rename = "Attributes", default)]
    pub attributes: Vec<String>,
    #[serde(default, deserialize_with = "string_or_null")]
    pub category: String,
    #[serde(default, deserialize_with = "string_or_null")]
    pub query: String,
    #[serde(default, deserialize_with = "string_or_null")]
    pub product_category: String,
    #[serde(rename = "MainImage", default, deserialize_with = "string_or_null")]
    pub main_image: String,
    #[serde(rename = "Rating", default, deserialize_with = "rating")]
    pub rating: String,
    #[serde(rename = "Reviews", default)]
    pub reviews: Vec<serde_json::Value>,
}

impl Product {
    /// The option values of option `name`, if the product has it.
    pub fn option_values(&self, name: &str) -> Option<&[String]> {
        self.options.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn rating<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => "N.A.".to_string(),
        other => other.to_string(),
    })
}

/// Deserializes a JSON object keeping its key order (serde_json's map is sorted by default).
pub(crate) fn ordered_options<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<(String, Vec<String>)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, Vec<String>)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of option name -> list of values")
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, Option<Vec<String>>>()? {
                if let Some(v) = v {
                    out.push((k, v));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// Deserializes a JSON object of string -> string keeping key order.
pub(crate) fn ordered_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of name -> value, a list of values, or null")
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> std::result::Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, String>()? {
                out.push((k, v));
            }
            Ok(out)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = s.next_element::<String>()? {
                out.push((String::new(), v));
            }
            Ok(out)
        }
    }
    d.deserialize_option(V)
}

/// The loaded catalog: products in file order plus an ASIN index.
#[derive(Debug)]
pub struct Catalog {
    pub products: Vec<Product>,
    by_asin: HashMap<String, usize>,
}

impl Catalog {
    /// Parses and validates a catalog from JSON (a list of products).
    pub fn from_json(bytes: &[u8]) -> Result<Catalog> {
        let products: Vec<Product> = serde_json::from_slice(bytes)
            .map_err(|e| Error::Shop(format!("catalog: malformed product JSON: {e}")))?;
        Catalog::from_products(products)
    }

    /// Decompresses (gzip) and loads a catalog.
    pub fn from_gzip(bytes: &[u8]) -> Result<Catalog> {
        let mut json = Vec::with_capacity(bytes.len() * 6);
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut json)
            .map_err(|e| Error::Shop(format!("catalog: cannot decompress: {e}")))?;
        Catalog::from_json(&json)
    }

    /// Validates products and builds the index.
    pub fn from_products(mut products: Vec<Product>) -> Result<Catalog> {
        if products.is_empty() {
            return Err(Error::Shop("catalog: no products".into()));
        }
        let mut by_asin = HashMap::with_capacity(products.len());
        for (i, p) in products.iter_mut().enumerate() {
            let bad = |what: &str| Error::Shop(format!("catalog: product #{i} ({:?}): {what}", p.asin));
            if p.asin.is_empty() || p.asin.len() > 10 || !p.asin.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(bad("ASIN must be 1-10 ASCII letters/digits"));
            }
            if p.pricing.is_empty() || p.pricing.len() > 2 {
                return Err(bad("pricing must hold one price or a low-high range"));
            }
            if p.pricing.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err(bad("pricing holds a negative or non-finite number"));
            }
            if p.price_text.is_empty() {
                return Err(bad("empty Price text"));
            }
            for (name, values) in &p.options {
                if name.is_empty() || values.is_empty() {
                    return Err(bad("option with an empty name or no values"));
                }
            }
            if p.name.is_empty() {
                p.name = p.title.clone();
            }
            if p.rating.is_empty() {
                p.rating = "N.A.".into();
            }
            if by_asin.insert(p.asin.clone(), i).is_some() {
                return Err(bad("duplicate ASIN"));
            }
        }
        Ok(Catalog { products, by_asin })
    }

    /// The catalog shipped in the binary (parsed once per process).
    pub fn builtin() -> Result<Arc<Catalog>> {
        static CELL: OnceLock<std::result::Result<Arc<Catalog>, String>> = OnceLock::new();
        CELL.get_or_init(|| {
            Catalog::from_gzip(PRODUCTS_GZ).map(Arc::new).map_err(|e| match e {
                Error::Shop(m) => m,
                other => other.to_string(),
            })
        })
        .clone()
        .map_err(Error::Shop)
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }
    pub fn index_of(&self, asin: &str) -> Option<usize> {
        self.by_asin.get(asin).copied()
    }
    pub fn get(&self, asin: &str) -> Option<&Product> {
        self.index_of(asin).map(|i| &self.products[i])
    }
}
