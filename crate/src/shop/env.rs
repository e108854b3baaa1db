//! The in-process environment: one session of the store for one goal. Every observation is made
//! by rendering the page's HTML and running [`crate::observe`] on its DOM, the path a browser
//! takes; every click is checked against the clickables found there. Natively the HTML is parsed
//! (`observe::native`); in the browser it is rendered into a live document given to
//! [`Env::in_document`] and observed there (`observe::web`), so a visitor sees the very page the
//! agent reads.
use super::action::{parse_action, Action};
use super::catalog::{Catalog, Product};
use super::goal::{product_prices, Goal, Rng};
use super::pages::{self, Links, Options, SubPage};
use super::reward::{get_reward, RewardInfo};
use super::search::{page_slice, SearchIndex};
use super::task::{score_cart, Cart, CartItem, CartScore, Task};
use crate::observe::{ClickKind, Observation};
use crate::{Error, Result};
use std::sync::Arc;

/// The store: catalog, search index and the per-product prices used by the reward.
#[derive(Debug)]
pub struct Store {
    pub catalog: Arc<Catalog>,
    pub index: SearchIndex,
    /// WebShop's `product_prices`: the price, or a seeded uniform draw within a price range.
    pub prices: Vec<f64>,
    /// Show the Attributes button on item pages (WebShop's `show_attrs`, off by default).
    pub show_attrs: bool,
}

impl Store {
    pub fn new(catalog: Arc<Catalog>, seed: u64) -> Store {
        let index = SearchIndex::build(&catalog);
        let prices = product_prices(&catalog, &mut Rng::new(seed));
        Store { catalog, index, prices, show_attrs: false }
    }
    /// The store over the shipped catalog.
    pub fn builtin(seed: u64) -> Result<Store> {
        Ok(Store::new(Catalog::builtin()?, seed))
    }
    /// Top-50 results (catalog indices) for a query.
    pub fn search(&self, keywords: &str) -> Vec<usize> {
        self.index.search(keywords)
    }
    pub fn product(&self, asin: &str) -> Option<&Product> {
        self.catalog.get(asin)
    }
    /// The reward for buying `asin` with `options` under `goal`.
    pub fn reward(&self, goal: &Goal, asin: &str, options: &Options) -> Result<(f64, RewardInfo)> {
        let idx = self.catalog.index_of(asin).ok_or_else(|| Error::Shop(format!("unknown product {asin:?}")))?;
        Ok(get_reward(&self.catalog.products[idx], goal, self.prices[idx], options))
    }
}

/// Which page a session is on.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    Search,
    Results { keywords: String, page: usize },
    Item { asin: String, keywords: String, page: usize, options: Options },
    Sub { asin: String, keywords: String, page: usize, sub: SubPage, options: Options },
    Done { asin: String, options: Options, reward: f64, info: RewardInfo },
    /// A list session's cart (its items are the session's).
    Cart,
    /// A checked-out list: what was bought and how it scored.
    Receipt { items: Vec<CartItem>, score: CartScore },
}

impl View {
    /// A short name of the page kind (`search`, `results`, `item`, `sub`, `done`).
    pub fn kind(&self) -> &'static str {
        match self {
            View::Search => "search",
            View::Results { .. } => "results",
            View::Item { .. } => "item",
            View::Sub { .. } => "sub",
            View::Done { .. } | View::Receipt { .. } => "done",
            View::Cart => "cart",
        }
    }
}

/// Renders a view's HTML. `results` are the search results for the view's keywords, `cart` the
/// session's cart.
pub fn render(store: &Store, session: &str, task: &Task, view: &View, results: &[usize], cart: &[CartItem]) -> Result<String> {
    let l = Links { session, list: task.is_list() };
    let instr = task.instruction_text.as_str();
    let product = |asin: &str| store.product(asin).ok_or_else(|| Error::Shop(format!("unknown product {asin:?}")));
    fn lines<'a>(store: &'a Store, items: &'a [CartItem]) -> Result<Vec<pages::CartLine<'a>>> {
        let line = |c: &'a CartItem| {
            let product = store.product(&c.asin).ok_or_else(|| Error::Shop(format!("unknown product {:?}", c.asin)))?;
            Ok(pages::CartLine { product, options: &c.options })
        };
        items.iter().map(line).collect()
    }
    Ok(match view {
        View::Search => pages::search_page(&l, instr),
        View::Results { keywords, page } => {
            let prods: Vec<&Product> = page_slice(results, *page).iter().map(|&i| &store.catalog.products[i]).collect();
            pages::results_page(&l, instr, keywords, *page, results.len(), &prods)
        }
        View::Item { asin, keywords, page, options } => {
            pages::item_page(&l, instr, product(asin)?, keywords, *page, options, store.show_attrs)
        }
        View::Sub { asin, keywords, page, sub, options } => {
            pages::sub_page(&l, instr, product(asin)?, keywords, *page, *sub, options)
        }
        View::Done { asin, options, reward, info } => pages::done_page(asin, options, *reward, info),
        View::Cart => pages::cart_page(&l, instr, &lines(store, cart)?),
        View::Receipt { items, score } => pages::receipt_page(&lines(store, items)?, score.reward, &score.item_rewards, &score.assigned, score.extra),
    })
}

/// What one step did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepResult {
    pub reward: f64,
    pub done: bool,
    /// False when the action was not valid here (a no-op); `reason` says why.
    pub valid: bool,
    pub reason: Option<String>,
}

/// One session: a task, the page it is on, WebShop's session variables and (for a list) the cart.
pub struct Env {
    store: Arc<Store>,
    task: Task,
    cart: Cart,
    /// A checked-out list's score.
    score: Option<CartScore>,
    session: String,
    view: View,
    keywords: Option<String>,
    page: usize,
    asin: Option<String>,
    options: Options,
    results: Vec<usize>,
    done: bool,
    reward: f64,
    html: String,
    obs: Observation,
    /// The live document each page is rendered into (browser only).
    #[cfg(target_arch = "wasm32")]
    dom: Option<web_sys::Document>,
}

impl Env {
    /// Starts a session on the search page (for a goal or a [`Task`]).
    pub fn new(store: Arc<Store>, task: impl Into<Task>) -> Result<Env> {
        Env::with_session(store, task, "fixed_0")
    }

    pub fn with_session(store: Arc<Store>, task: impl Into<Task>, session: &str) -> Result<Env> {
        Env::make(store, task.into(), session, |_| ())
    }

    /// A session whose pages are rendered into `doc` (e.g. an iframe's document) and observed
    /// from its live DOM.
    #[cfg(target_arch = "wasm32")]
    pub fn in_document(store: Arc<Store>, task: impl Into<Task>, doc: web_sys::Document) -> Result<Env> {
        Env::make(store, task.into(), "fixed_0", move |e| e.dom = Some(doc))
    }

    fn make(store: Arc<Store>, task: Task, session: &str, setup: impl FnOnce(&mut Env)) -> Result<Env> {
        let mut env = Env {
            store,
            task,
            cart: Cart::default(),
            score: None,
            session: session.to_string(),
            view: View::Search,
            keywords: None,
            page: 1,
            asin: None,
            options: Vec::new(),
            results: Vec::new(),
            done: false,
            reward: 0.0,
            html: String::new(),
            obs: Observation::default(),
            #[cfg(target_arch = "wasm32")]
            dom: None,
        };
        setup(&mut env);
        env.reset()?;
        Ok(env)
    }

    /// Back to the search page with fresh session variables.
    pub fn reset(&mut self) -> Result<()> {
        self.keywords = None;
        self.page = 1;
        self.asin = None;
        self.options.clear();
        self.results.clear();
        self.cart = Cart::default();
        self.score = None;
        self.done = false;
        self.reward = 0.0;
        self.go(View::Search)
    }

    fn go(&mut self, view: View) -> Result<()> {
        self.html = render(&self.store, &self.session, &self.task, &view, &self.results, self.cart.items())?;
        self.view = view;
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.obs = crate::observe::native::observe_html(&self.html);
        }
        #[cfg(target_arch = "wasm32")]
        {
            let doc = self.dom.as_ref().ok_or_else(|| {
                Error::Shop("in the browser a store session renders into a live document: use Env::in_document".into())
            })?;
            crate::observe::web::render_into(doc, &self.html)?;
            self.obs = crate::observe::web::observe_node(doc);
        }
        Ok(())
    }

    pub fn task(&self) -> &Task {
        &self.task
    }
    /// The cart (empty in a single-goal session).
    pub fn cart(&self) -> &[CartItem] {
        self.cart.items()
    }
    pub fn view(&self) -> &View {
        &self.view
    }
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
    /// The current page's HTML.
    pub fn html(&self) -> &str {
        &self.html
    }
    pub fn is_done(&self) -> bool {
        self.done
    }
    /// The final reward (0 until Buy Now or Checkout).
    pub fn reward(&self) -> f64 {
        self.reward
    }
    /// Each goal's reward: a list's from its checked-out cart, a single goal's its reward.
    pub fn item_rewards(&self) -> Vec<f64> {
        match &self.score {
            Some(s) => s.item_rewards.clone(),
            None if self.task.is_list() => vec![0.0; self.task.items()],
            None => vec![self.reward],
        }
    }
    /// The URL of the current page on the store's server.
    pub fn url(&self) -> String {
        let l = Links { session: &self.session, list: self.task.is_list() };
        match &self.view {
            View::Search => l.index(),
            View::Results { keywords, page } => l.results(keywords, *page),
            View::Item { asin, keywords, page, options } => l.item(asin, keywords, *page, options),
            View::Sub { asin, keywords, page, sub, options } => l.sub(asin, keywords, *page, *sub, options),
            View::Done { asin, options, .. } => l.done(asin, options),
            View::Cart => l.cart(),
            View::Receipt { .. } => l.checkout(),
        }
    }

    /// The observation of the current page, computed from its DOM.
    pub fn observe(&self) -> &Observation {
        &self.obs
    }

    /// Takes an action (a string like `click[Buy Now]`).
    pub fn step(&mut self, action: &str) -> StepResult {
        let obs = self.obs.clone();
        self.step_with(action, &obs)
    }

    /// Takes an action given the current page's observation (in the browser: from the live DOM).
    pub fn step_with(&mut self, action: &str, obs: &Observation) -> StepResult {
        let invalid = |reason: String| StepResult { reward: 0.0, done: false, valid: false, reason: Some(reason) };
        if self.done {
            return StepResult { reward: 0.0, done: true, valid: false, reason: Some("the episode is over".into()) };
        }
        let parsed = match parse_action(action) {
            Ok(a) => a,
            Err(e) => return invalid(e),
        };
        let result = match parsed {
            Action::Search(kw) => {
                if !obs.has_search_bar {
                    return invalid("no search box on this page (click[back to search] first)".into());
                }
                self.search(kw, 1)
            }
            Action::Click(arg) => {
                if arg == "search" {
                    return invalid("click[search] is not an action: use search[keywords]".into());
                }
                let Some(c) = obs.find_clickable(&arg).cloned() else {
                    return invalid(format!("{arg:?} is not clickable on this page"));
                };
                self.click(&arg, &c.kind)
            }
        };
        match result {
            Ok(()) => StepResult { reward: if self.done { self.reward } else { 0.0 }, done: self.done, valid: true, reason: None },
            Err(e) => invalid(e.to_string()),
        }
    }

    fn search(&mut self, keywords: String, page: usize) -> Result<()> {
        self.results = self.store.search(&keywords);
        self.keywords = Some(keywords.clone());
        self.page = page;
        self.asin = None;
        self.options.clear();
        self.go(View::Results { keywords, page })
    }

    fn click(&mut self, name: &str, kind: &ClickKind) -> Result<()> {
        let kw = self.keywords.clone().unwrap_or_default();
        let list = self.task.is_list();
        match (name, &self.view) {
            // In a list, Buy Now buys this item with what the cart holds.
            ("buy now", _) if list => {
                self.add_to_cart()?;
                self.checkout()
            }
            ("add to cart", View::Item { .. }) if list => {
                self.add_to_cart()?;
                self.go(View::Cart)
            }
            ("view cart", _) if list => self.go(View::Cart),
            ("checkout", View::Cart) if list && !self.cart.items().is_empty() => self.checkout(),
            (n, View::Cart) if n.starts_with("remove ") => {
                let i: usize = n["remove ".len()..].trim().parse().map_err(|_| Error::Shop(format!("{n:?} names no cart item")))?;
                self.cart.remove(i)?;
                self.go(View::Cart)
            }
            ("buy now", _) => {
                let asin = self.asin.clone().ok_or_else(|| Error::Shop("no product chosen".into()))?;
                let (reward, info) = self.store.reward(&self.task.goals[0], &asin, &self.options)?;
                self.done = true;
                self.reward = reward;
                let options = self.options.clone();
                self.go(View::Done { asin, options, reward, info })
            }
            ("back to search", _) => {
                self.keywords = None;
                self.asin = None;
                self.options.clear();
                self.results.clear();
                self.go(View::Search)
            }
            ("next >", View::Results { .. }) => self.search(kw, self.page + 1),
            ("< prev", View::Results { .. }) => self.search(kw, self.page.saturating_sub(1).max(1)),
            ("< prev", View::Sub { .. }) => self.item_page(),
            // back to the results (WebShop's search_results resets asin and options)
            ("< prev", View::Item { .. }) => self.search(kw, self.page),
            (n, _) if SubPage::from_name(n).is_some() && self.asin.is_some() => {
                let sub = SubPage::from_name(n).unwrap_or(SubPage::Description);
                let asin = self.asin.clone().unwrap_or_default();
                self.go(View::Sub { asin, keywords: kw, page: self.page, sub, options: self.options.clone() })
            }
            (n, _) => {
                match kind {
                    ClickKind::Link { product: true } => {
                        let asin = n.to_uppercase();
                        if self.store.product(&asin).is_none() {
                            return Err(Error::Shop(format!("unknown product {asin:?}")));
                        }
                        self.asin = Some(asin);
                    }
                    ClickKind::Option { name: opt } => {
                        let key = opt.to_lowercase();
                        match self.options.iter_mut().find(|(k, _)| *k == key) {
                            Some(slot) => slot.1 = n.to_string(),
                            None => self.options.push((key, n.to_string())),
                        }
                    }
                    _ => {}
                }
                if self.asin.is_none() {
                    return Err(Error::Shop(format!("{n:?} leads nowhere here")));
                }
                self.item_page()
            }
        }
    }

    /// Puts the open item, with the options chosen, into the cart.
    fn add_to_cart(&mut self) -> Result<()> {
        let asin = self.asin.clone().ok_or_else(|| Error::Shop("no product chosen".into()))?;
        self.cart.add(CartItem { asin, options: self.options.clone() })
    }

    /// Buys the cart: the list's score ends the episode.
    fn checkout(&mut self) -> Result<()> {
        let score = score_cart(&self.store, &self.task, self.cart.items())?;
        self.done = true;
        self.reward = score.reward;
        self.score = Some(score.clone());
        let items = self.cart.take();
        self.go(View::Receipt { items, score })
    }

    fn item_page(&mut self) -> Result<()> {
        let asin = self.asin.clone().ok_or_else(|| Error::Shop("no product chosen".into()))?;
        let view = View::Item {
            asin,
            keywords: self.keywords.clone().unwrap_or_default(),
            page: self.page,
            options: self.options.clone(),
        };
        self.go(view)
    }
}
