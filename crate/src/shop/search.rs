//! BM25 search over the catalog, as WebShop's Pyserini/Lucene index does it.
//!
//! Indexed text per product (WebShop's `convert_product_file_format.py`): title, description,
//! first bullet point and the option text (`name: v1, v2, and name2: ...`), joined by spaces and
//! lowercased. Scoring is Lucene's `BM25Similarity`: idf = ln(1 + (N - n + 0.5) / (n + 0.5)),
//! tf part = f / (f + k1 (1 - b + b dl / avgdl)) with document lengths stored lossily in one byte
//! (`SmallFloat.intToByte4`), single precision like Lucene. Queries are a bag of words (Anserini's
//! `BagOfWordsQueryGenerator`: a repeated term counts once per occurrence). Ties are broken by
//! ascending ASIN (Anserini sorts ties by document id string). Pyserini's `LuceneSearcher` runs
//! BM25 with k1 = 0.9, b = 0.4; those are the defaults here.
use super::analyzer::analyze;
use super::catalog::{Catalog, Product};
use std::collections::HashMap;

/// WebShop's `SEARCH_RETURN_N`.
pub const SEARCH_RETURN_N: usize = 50;
/// WebShop's `PRODUCT_WINDOW` (results per page).
pub const PRODUCT_WINDOW: usize = 10;

/// The text WebShop indexes for a product.
pub fn index_text(p: &Product) -> String {
    let option_text = p
        .options
        .iter()
        .map(|(name, values)| format!("{name}: {}", values.join(", ")))
        .collect::<Vec<_>>()
        .join(", and ");
    let first_bullet = p.bullet_points.first().map(String::as_str).unwrap_or("");
    [p.title.as_str(), p.description.as_str(), first_bullet, option_text.as_str()].join(" ").to_lowercase()
}

fn long_to_int4(i: u64) -> u32 {
    let num_bits = 64 - i.leading_zeros();
    if num_bits < 4 {
        i as u32
    } else {
        let shift = num_bits - 4;
        let mut encoded = (i >> shift) as u32;
        encoded &= 0x07;
        encoded |= (shift + 1) << 3;
        encoded
    }
}

fn int4_to_long(i: u32) -> u64 {
    let bits = (i & 0x07) as u64;
    let shift = (i >> 3) as i32 - 1;
    if shift == -1 {
        bits
    } else {
        (bits | 0x08) << shift
    }
}

const NUM_FREE_VALUES: u32 = 255 - 231; // 255 - longToInt4(i32::MAX)

/// Lucene's `SmallFloat.intToByte4`.
pub fn int_to_byte4(i: u32) -> u8 {
    if i < NUM_FREE_VALUES {
        i as u8
    } else {
        (NUM_FREE_VALUES + long_to_int4((i - NUM_FREE_VALUES) as u64)) as u8
    }
}

/// Lucene's `SmallFloat.byte4ToInt`.
pub fn byte4_to_int(b: u8) -> u32 {
    let i = b as u32;
    if i < NUM_FREE_VALUES {
        i
    } else {
        (NUM_FREE_VALUES as u64 + int4_to_long(i - NUM_FREE_VALUES)) as u32
    }
}

/// An inverted index with Lucene BM25 scoring.
#[derive(Debug, Clone)]
pub struct SearchIndex {
    vocab: HashMap<String, u32>,
    postings: Vec<Vec<(u32, u32)>>,
    norms: Vec<u8>,
    ids: Vec<String>,
    avgdl: f32,
    pub k1: f32,
    pub b: f32,
}

impl SearchIndex {
    pub fn build(catalog: &Catalog) -> SearchIndex {
        let docs: Vec<(String, String)> =
            catalog.products.iter().map(|p| (p.asin.clone(), index_text(p))).collect();
        SearchIndex::from_docs(&docs)
    }

    /// Indexes `(id, contents)` documents in order.
    pub fn from_docs(docs: &[(String, String)]) -> SearchIndex {
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut norms = Vec::with_capacity(docs.len());
        let mut total: u64 = 0;
        for (d, (_, text)) in docs.iter().enumerate() {
            let toks = analyze(text);
            total += toks.len() as u64;
            norms.push(int_to_byte4(toks.len() as u32));
            let mut tf: HashMap<u32, u32> = HashMap::new();
            for t in toks {
                let next = vocab.len() as u32;
                let id = *vocab.entry(t).or_insert(next);
                if id as usize == postings.len() {
                    postings.push(Vec::new());
                }
                *tf.entry(id).or_insert(0) += 1;
            }
            let mut tf: Vec<_> = tf.into_iter().collect();
            tf.sort_unstable();
            for (id, f) in tf {
                postings[id as usize].push((d as u32, f));
            }
        }
        let n = docs.len().max(1);
        SearchIndex {
            vocab,
            postings,
            norms,
            ids: docs.iter().map(|(id, _)| id.clone()).collect(),
            avgdl: (total as f64 / n as f64) as f32,
            k1: 0.9,
            b: 0.4,
        }
    }

    pub fn num_docs(&self) -> usize {
        self.ids.len()
    }

    /// Scores every matching document; returns (doc index, score) best first, at most `k`.
    pub fn search_scored(&self, query: &str, k: usize) -> Vec<(usize, f32)> {
        let mut counts: Vec<(u32, u32)> = Vec::new();
        for t in analyze(query) {
            if let Some(&id) = self.vocab.get(&t) {
                match counts.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((id, 1)),
                }
            }
        }
        if counts.is_empty() || k == 0 {
            return Vec::new();
        }
        let n = self.ids.len() as f64;
        let mut cache = [0f32; 256];
        for (i, c) in cache.iter_mut().enumerate() {
            let len = byte4_to_int(i as u8) as f32;
            *c = 1f32 / (self.k1 * ((1f32 - self.b) + self.b * len / self.avgdl));
        }
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for (id, count) in counts {
            let post = &self.postings[id as usize];
            let df = post.len() as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32;
            let weight = count as f32 * idf;
            for &(d, f) in post {
                let norm_inv = cache[self.norms[d as usize] as usize];
                let s = weight - weight / (1f32 + f as f32 * norm_inv);
                *scores.entry(d).or_insert(0.0) += s as f64;
            }
        }
        let mut hits: Vec<(usize, f32)> = scores.into_iter().map(|(d, s)| (d as usize, s as f32)).collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| self.ids[a.0].cmp(&self.ids[b.0])));
        hits.truncate(k);
        hits
    }

    /// The top `SEARCH_RETURN_N` document indices for a query.
    pub fn search(&self, query: &str) -> Vec<usize> {
        self.search_scored(query, SEARCH_RETURN_N).into_iter().map(|(d, _)| d).collect()
    }
}

/// The products on results page `page` (1-based) of a result list.
pub fn page_slice(results: &[usize], page: usize) -> &[usize] {
    if page == 0 {
        return &[];
    }
    let start = (page - 1).saturating_mul(PRODUCT_WINDOW).min(results.len());
    let end = page.saturating_mul(PRODUCT_WINDOW).min(results.len());
    &results[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_float_roundtrip() {
        for i in 0..24u32 {
            assert_eq!(byte4_to_int(int_to_byte4(i)), i);
        }
        assert_eq!(int_to_byte4(u32::MAX >> 1), 255);
        // lossy above 24: decoded length never exceeds the true one
        for i in [25u32, 40, 100, 1000, 12345] {
            let d = byte4_to_int(int_to_byte4(i));
            assert!(d <= i && d * 2 > i, "{i} -> {d}");
        }
    }

    #[test]
    fn bm25_prefers_matching_docs() {
        let docs = vec![
            ("A".to_string(), "red running shoes for men".to_string()),
            ("B".to_string(), "blue cotton shirt".to_string()),
            ("C".to_string(), "red shirt red shirt".to_string()),
        ];
        let ix = SearchIndex::from_docs(&docs);
        assert_eq!(ix.search("red shirt"), vec![2, 1, 0]);
        assert_eq!(ix.search("shoes"), vec![0]);
        assert!(ix.search("zzz").is_empty());
        assert_eq!(page_slice(&[1, 2, 3], 2), &[] as &[usize]);
    }
}
