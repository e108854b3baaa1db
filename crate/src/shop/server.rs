//! The store over HTTP for a real browser (native only): `mem1 shop serve`.
//!
//! URLs follow WebShop's: `/{session}` (search page), `/search/{session}?search_query=...`
//! (redirects to the results), `/search_results/{session}/{keywords}/{page}`,
//! `/item_page/{session}/{asin}/{keywords}/{page}/{options-json}`,
//! `/item_sub_page/{session}/{asin}/{keywords}/{page}/{Description|Features|Reviews|Attributes}/{options-json}`,
//! `/done/{session}/{asin}/{options-json}`, and `/api/goal/{session}` (the session's goal as JSON;
//! a list's goals as a JSON list). A session id picks the task: `fixed_N` is goal N of the seeded
//! goal list, `dev_N` dev goal N, `listN_K` the shopping list of the N goals `fixed_{K·N}`…,
//! `devlistN_K` the same over the dev goals, any other id (letters, digits, `_`, `-`, up to 64) a
//! goal drawn by weight from a hash of the id.
//!
//! A list session also has a cart: `/cart/{session}`, `/cart_add/{session}/{asin}/{options-json}`,
//! `/cart_remove/{session}/{index}` (both redirect to the cart) and `/checkout/{session}` (the
//! receipt; it empties the cart). The carts are the server's only per-session state (at most
//! [`MAX_CARTS`]); every other page is rendered from its URL alone, and bad input only ever
//! yields an error page.
use super::env::{render, Store, View};
use super::task::{score_cart, Cart, CartItem, Task, MAX_ITEMS};
use super::goal::{dev_goals, generate_goals, sample_weighted, Goal, Rng};
use super::pages::{self, Links, Options, SubPage};
use super::url::{decode, encode, parse_query};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most list sessions with a cart at once.
pub const MAX_CARTS: usize = 4096;
/// Longest URL accepted.
pub const MAX_URL: usize = 8192;
/// Longest search query accepted (characters).
pub const MAX_QUERY: usize = 500;

/// The server's state: the store and the goal lists.
pub struct App {
    pub store: Arc<Store>,
    pub goals: Vec<Goal>,
    pub dev: Vec<Goal>,
    pub seed: u64,
    /// Each list session's cart.
    carts: Mutex<HashMap<String, Cart>>,
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub location: Option<String>,
}

impl Reply {
    fn html(body: String) -> Reply {
        Reply { status: 200, content_type: "text/html; charset=utf-8", body, location: None }
    }
    fn error(status: u16, session: Option<&str>, msg: &str) -> Reply {
        Reply { status, content_type: "text/html; charset=utf-8", body: pages::error_page(session, msg), location: None }
    }
    fn redirect(to: String) -> Reply {
        Reply { status: 303, content_type: "text/plain; charset=utf-8", body: String::new(), location: Some(to) }
    }
}

fn valid_session(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

impl App {
    /// Builds the app: the shipped catalog, goals generated and shuffled with `seed`.
    pub fn new(store: Arc<Store>, seed: u64) -> Result<App> {
        let mut rng = Rng::new(seed);
        let mut goals = generate_goals(&store.catalog, &store.prices, &mut rng)?;
        for i in (1..goals.len()).rev() {
            let j = rng.below(i + 1);
            goals.swap(i, j);
        }
        Ok(App { store, goals, dev: dev_goals()?, seed, carts: Mutex::new(HashMap::new()) })
    }

    /// The task of a session id: a list for `listN_K` and `devlistN_K`, else one goal.
    pub fn task_for(&self, session: &str) -> Result<Task> {
        for (prefix, list) in [("devlist", &self.dev), ("list", &self.goals)] {
            // Another id that merely starts with the prefix draws a goal like any other.
            let Some((n, k)) = session.strip_prefix(prefix).and_then(|r| r.split_once('_')) else { continue };
            let (Ok(n), Ok(k)) = (n.parse::<usize>(), k.parse::<usize>()) else { continue };
            if !(2..=MAX_ITEMS).contains(&n) {
                return Err(Error::Shop(format!("unknown session {session:?}: a list has 2 to {MAX_ITEMS} items")));
            }
            let goals = k.checked_mul(n).and_then(|at| list.get(at..at.checked_add(n)?));
            let goals = goals.ok_or_else(|| Error::Shop(format!("unknown session {session:?}: only {} lists of {n}", list.len() / n)))?;
            return Task::list(goals.to_vec());
        }
        self.goal_for(session).map(|g| Task::from(g.clone()))
    }

    /// The goal of a single-goal session id.
    pub fn goal_for(&self, session: &str) -> Result<&Goal> {
        if !valid_session(session) {
            return Err(Error::Shop("unknown session: ids are 1-64 letters, digits, '_' or '-'".into()));
        }
        fn pick<'a>(list: &'a [Goal], session: &str, rest: &str, what: &str) -> Result<&'a Goal> {
            let i: usize = rest.parse().map_err(|_| Error::Shop(format!("unknown session {session:?}")))?;
            list.get(i).ok_or_else(|| Error::Shop(format!("unknown session {session:?}: only {} {what} goals", list.len())))
        }
        if let Some(rest) = session.strip_prefix("fixed_") {
            return pick(&self.goals, session, rest, "fixed");
        }
        if let Some(rest) = session.strip_prefix("dev_") {
            return pick(&self.dev, session, rest, "dev");
        }
        let mut rng = Rng::new(fnv(session) ^ self.seed);
        self.goals.get(sample_weighted(&self.goals, &mut rng)).ok_or_else(|| Error::Shop("no goals".into()))
    }

    /// Handles one request (method is ignored: forms post, links get).
    pub fn handle(&self, url: &str) -> Reply {
        if url.len() > MAX_URL {
            return Reply::error(414, None, "URL too long");
        }
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut dec = Vec::with_capacity(segs.len());
        for s in &segs {
            match decode(s, false) {
                Ok(d) => dec.push(d),
                Err(e) => return Reply::error(400, None, &format!("malformed URL: {e}")),
            }
        }
        let d: Vec<&str> = dec.iter().map(String::as_str).collect();
        match self.route(&d, query) {
            Ok(r) => r,
            Err((status, session, msg)) => Reply::error(status, session.as_deref(), &msg),
        }
    }

    fn route(&self, d: &[&str], query: &str) -> std::result::Result<Reply, (u16, Option<String>, String)> {
        let not_found = |m: String| (404u16, None::<String>, m);
        if d.is_empty() {
            return Ok(Reply::html(landing(&self.goals, &self.dev)));
        }
        if d == ["favicon.ico"] {
            return Err(not_found("no favicon".into()));
        }
        let (kind, rest) = match d[0] {
            "search" | "search_results" | "item_page" | "item_sub_page" | "done" => (d[0], &d[1..]),
            "api" if d.len() == 3 && d[1] == "goal" => {
                let t = self.task_for(d[2]).map_err(|e| not_found(e.to_string()))?;
                return Ok(Reply { status: 200, content_type: "application/json", body: t.to_json().to_string(), location: None });
            }
            "cart" | "cart_add" | "cart_remove" | "checkout" => (d[0], &d[1..]),
            _ if d.len() == 1 => ("index", d),
            _ => return Err(not_found(format!("no such page: /{}", d.join("/")))),
        };
        let session = *rest.first().ok_or_else(|| (400, None, "missing session id".to_string()))?;
        let task = self.task_for(session).map_err(|e| not_found(e.to_string()))?;
        let s = Some(session.to_string());
        let bad = |m: &str| (400u16, s.clone(), m.to_string());
        let page_of = |p: &str| p.parse::<usize>().map_err(|_| bad("page must be a positive number"));
        let keywords_of = |k: &str| -> std::result::Result<String, (u16, Option<String>, String)> {
            if k.chars().count() > MAX_QUERY {
                return Err(bad("search query too long"));
            }
            if k.chars().any(|c| c.is_control()) {
                return Err(bad("search query holds control characters"));
            }
            Ok(k.to_lowercase())
        };
        let asin_of = |a: &str| -> std::result::Result<String, (u16, Option<String>, String)> {
            if self.store.product(a).is_none() {
                return Err((404, s.clone(), format!("unknown product {:?}", a.chars().take(40).collect::<String>())));
            }
            Ok(a.to_string())
        };
        let options_of = |o: &str| -> std::result::Result<Options, (u16, Option<String>, String)> {
            parse_options(o).map_err(|e| bad(&e))
        };
        let view = match (kind, rest.len()) {
            ("index", 1) => View::Search,
            ("search", 1) => {
                let q = parse_query(query).into_iter().find(|(k, _)| k == "search_query").map(|(_, v)| v).unwrap_or_default();
                let q = keywords_of(&q)?;
                if q.trim().is_empty() {
                    return Ok(Reply::redirect(format!("/{}", encode(session))));
                }
                return Ok(Reply::redirect(format!("/search_results/{}/{}/1", encode(session), encode(&q))));
            }
            ("search_results", 3) => View::Results { keywords: keywords_of(rest[1])?, page: page_of(rest[2])? },
            ("item_page", 5) => View::Item {
                asin: asin_of(rest[1])?,
                keywords: keywords_of(rest[2])?,
                page: page_of(rest[3])?,
                options: options_of(rest[4])?,
            },
            ("item_sub_page", 6) => View::Sub {
                asin: asin_of(rest[1])?,
                keywords: keywords_of(rest[2])?,
                page: page_of(rest[3])?,
                sub: SubPage::from_name(rest[4]).ok_or_else(|| bad("no such sub-page"))?,
                options: options_of(rest[5])?,
            },
            // In a list, Buy Now buys this item with what the cart holds.
            ("done", 3) if task.is_list() => {
                let item = CartItem { asin: asin_of(rest[1])?, options: options_of(rest[2])? };
                self.add_to_cart(session, item).map_err(|e| bad(&e))?;
                self.checkout(session, &task).map_err(|e| bad(&e))?
            }
            ("done", 3) => {
                let asin = asin_of(rest[1])?;
                let options = options_of(rest[2])?;
                let (reward, info) = self.store.reward(&task.goals[0], &asin, &options).map_err(|e| bad(&e.to_string()))?;
                View::Done { asin, options, reward, info }
            }
            ("cart" | "cart_add" | "cart_remove" | "checkout", _) if !task.is_list() => {
                return Err(not_found(format!("session {session:?} is one goal, bought with Buy Now: it has no cart")));
            }
            ("cart", 1) => View::Cart,
            ("cart_add", 3) => {
                let item = CartItem { asin: asin_of(rest[1])?, options: options_of(rest[2])? };
                self.add_to_cart(session, item).map_err(|e| bad(&e))?;
                return Ok(Reply::redirect(Links { session, list: true }.cart()));
            }
            ("cart_remove", 2) => {
                let i = page_of(rest[1])?;
                let mut carts = self.carts.lock().unwrap_or_else(|p| p.into_inner());
                // A session without a cart has no item to remove, as an empty cart has none.
                let mut none = Cart::default();
                carts.get_mut(session).unwrap_or(&mut none).remove(i).map_err(|e| bad(&e.to_string()))?;
                return Ok(Reply::redirect(Links { session, list: true }.cart()));
            }
            ("checkout", 1) => self.checkout(session, &task).map_err(|e| bad(&e))?,
            _ => return Err(not_found(format!("no such page: /{}", d.join("/")))),
        };
        let results = match &view {
            View::Results { keywords, page } => {
                let r = self.store.search(keywords);
                let pages = r.len().div_ceil(10).max(1);
                if *page == 0 || *page > pages {
                    return Err((404, s.clone(), format!("no page {page}: the results have {pages} page(s)")));
                }
                r
            }
            _ => Vec::new(),
        };
        if let View::Item { page, .. } | View::Sub { page, .. } = &view {
            if *page == 0 || *page > 5 {
                return Err(bad("page out of range"));
            }
        }
        let cart = self.carts.lock().unwrap_or_else(|p| p.into_inner()).get(session).cloned().unwrap_or_default();
        render(&self.store, session, &task, &view, &results, cart.items()).map(Reply::html).map_err(|e| bad(&e.to_string()))
    }

    fn add_to_cart(&self, session: &str, item: CartItem) -> std::result::Result<(), String> {
        let mut carts = self.carts.lock().unwrap_or_else(|p| p.into_inner());
        if !carts.contains_key(session) && carts.len() >= MAX_CARTS {
            return Err(format!("the store holds {MAX_CARTS} carts already: check one out first"));
        }
        carts.entry(session.to_string()).or_default().add(item).map_err(|e| e.to_string())
    }

    /// Buys the session's cart (emptying it) and scores it against the list.
    fn checkout(&self, session: &str, task: &Task) -> std::result::Result<View, String> {
        let items = self.carts.lock().unwrap_or_else(|p| p.into_inner()).remove(session).unwrap_or_default().take();
        if items.is_empty() {
            return Err("the cart is empty: add items before checking out".into());
        }
        let score = score_cart(&self.store, task, &items).map_err(|e| e.to_string())?;
        Ok(View::Receipt { items, score })
    }
}

/// Parses the options segment: a JSON object of option name -> value (at most 32 entries).
pub fn parse_options(s: &str) -> std::result::Result<Options, String> {
    #[derive(serde::Deserialize)]
    struct W(#[serde(deserialize_with = "super::catalog::ordered_string_map")] Vec<(String, String)>);
    if s.len() > 4096 {
        return Err("options too long".into());
    }
    let w: W = serde_json::from_str(s).map_err(|_| "options must be a JSON object of strings".to_string())?;
    if w.0.len() > 32 || w.0.iter().any(|(k, _)| k.is_empty()) {
        return Err("bad options".into());
    }
    Ok(w.0)
}

fn landing(goals: &[Goal], dev: &[Goal]) -> String {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>WebShop</title></head><body><h1>WebShop</h1><ul>");
    for (i, g) in dev.iter().enumerate().take(20) {
        h.push_str(&format!("<li><a href=\"/dev_{i}\">dev_{i}</a>: {}</li>", pages::esc(&g.instruction_text)));
    }
    h.push_str(&format!(
        "</ul><p>{} generated goals: /fixed_0 ... /fixed_{}</p><p>Shopping lists of N items with a cart: /list2_0, /list4_0 ... (/listN_K: goals fixed_(K·N) to fixed_(K·N+N-1)), /devlist2_0 ...</p></body></html>",
        goals.len(),
        goals.len().saturating_sub(1)
    ));
    h
}

/// Serves the app until the process ends.
pub fn serve(app: Arc<App>, host: &str, port: u16, threads: usize) -> Result<()> {
    let server = tiny_http::Server::http((host, port))
        .map_err(|e| Error::Shop(format!("cannot listen on {host}:{port}: {e}")))?;
    let server = Arc::new(server);
    // With port 0 the system picks one: say which.
    let addr = server.server_addr().to_ip().map(|a| a.to_string()).unwrap_or_else(|| format!("{host}:{port}"));
    eprintln!("mem1 shop: serving {} goals on http://{addr}/ (try /dev_0 or /fixed_0)", app.goals.len());
    let mut handles = Vec::new();
    for _ in 0..threads.max(1) {
        let (server, app) = (server.clone(), app.clone());
        handles.push(std::thread::spawn(move || loop {
            let Ok(req) = server.recv() else { continue };
            let url = req.url().to_string();
            let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.handle(&url)))
                .unwrap_or_else(|_| Reply::error(500, None, "internal error"));
            let mut resp = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
            if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], reply.content_type.as_bytes()) {
                resp = resp.with_header(h);
            }
            if let Some(loc) = reply.location {
                if let Ok(h) = tiny_http::Header::from_bytes(&b"Location"[..], loc.as_bytes()) {
                    resp = resp.with_header(h);
                }
            }
            let _ = req.respond(resp);
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
