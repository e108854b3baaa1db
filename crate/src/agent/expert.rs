//! The expert that writes training episodes (issue 9). Every turn it writes is in the MEM1
//! protocol with a `<summary>` built only from what it saw on the pages (queries tried,
//! candidates and their prices, the item chosen, options set and still to set), so a model
//! without privileged knowledge could have written the same memory. How it chooses is its
//! [`Choice`]:
//! - [`Choice::Visible`] (the default, the one that writes training data) decides only from what
//!   the pages show: the instruction's product words and option values as the query, the first
//!   result priced under the limit (the next page when none is), every option the instruction
//!   names, Buy Now. A student can learn every one of its steps from its own context.
//! - [`Choice::Target`] knows the goal's product: the query that ranks it best, the target when a
//!   page shows it. With probability [`Expert::detour`] per episode it takes a recoverable wrong
//!   step (a weaker query, a look at a worse item) and recovers (back to the results, next page,
//!   back to search). Its choices cannot be learned from the pages; it is the upper bound.
//! - [`Choice::Rule`] is WebShop's rule baseline: the instruction as the query, the first
//!   result, Buy Now without options.
//!
//! It is a [`Policy`]: its episodes run through the same loop, context and trace as a model's,
//! so each training example is exactly the context the model sees at inference.
use super::constrain::MAX_QUERY;
use super::policy::{Policy, TurnReply, TurnRequest};
use super::protocol::Protocol;
use crate::observe::{ClickKind, Observation};
use crate::shop::goal::Rng;
use crate::shop::{Goal, Store, Task};
use crate::Result;
use std::sync::Arc;

/// Leading phrases of WebShop instructions that are not search words.
const FILLERS: &[&str] = &[
    "i'm looking for", "i am looking for", "i want to buy", "i would like to buy", "i'd like to buy", "i need to buy",
    "i am searching for", "i'm searching for", "find me", "i need", "i want", "get me", "buy me", "looking for",
    "i would like", "i'd like", "search for", "show me", "please find", "can you find", "i am looking", "i'm looking",
];

/// The search words an instruction asks for: the instruction without its price clause, its
/// option clause (`with color: …, and size: …`) and a leading request phrase.
pub fn core_query(instruction: &str) -> String {
    let mut s = instruction.trim().to_lowercase();
    if let Some(i) = s.find(", and price lower than").or_else(|| s.find(" and price lower than")).or_else(|| s.find("price lower than")) {
        s.truncate(i);
    }
    // Synthetic goals end with " with name: value, and name: value".
    if let Some(colon) = s.find(": ") {
        if let Some(w) = s[..colon].rfind(" with ") {
            s.truncate(w);
        }
    }
    let mut t = s.trim().trim_end_matches(['.', ',']).trim().to_string();
    loop {
        let before = t.len();
        for f in FILLERS {
            if let Some(rest) = t.strip_prefix(f) {
                t = rest.trim_start_matches([',', ':']).trim().to_string();
            }
        }
        for a in ["a ", "an ", "some ", "the "] {
            if let Some(rest) = t.strip_prefix(a) {
                t = rest.to_string();
            }
        }
        if t.len() == before {
            break;
        }
    }
    t.chars().filter(|c| !matches!(c, '[' | ']')).collect::<String>().trim().to_string()
}

/// What the expert has seen, written into every `<summary>`.
#[derive(Debug, Clone, Default)]
struct Notes {
    searched: Vec<String>,
    /// (asin, price text, short title) of the best candidates seen.
    seen: Vec<(String, String, String)>,
    chosen: Option<String>,
    set: Vec<String>,
    left: Vec<String>,
    /// Items turned down on their page, and why when the reason is an option they lack.
    rejected: Vec<(String, Option<String>)>,
    /// A shopping list's progress: the item being shopped (from 1) and how many there are.
    item: Option<(usize, usize)>,
    /// Products put in the cart, in list order.
    cart: Vec<String>,
}

impl Notes {
    fn render(&self) -> String {
        let mut parts = Vec::new();
        if let Some((k, n)) = self.item {
            let cart: Vec<String> = self.cart.iter().enumerate().map(|(i, a)| format!("{} {a}", i + 1)).collect();
            parts.push(format!("cart: {}", if cart.is_empty() { "empty".to_string() } else { cart.join(", ") }));
            if k > n {
                parts.push(format!("all {n} items in the cart"));
                return parts.join(". ");
            }
            parts.push(format!("now item {k} of {n}"));
        }
        if self.searched.is_empty() {
            parts.push("nothing searched yet".to_string());
        } else {
            parts.push(format!("searched: {}", self.searched.join("; ")));
        }
        if !self.seen.is_empty() && self.chosen.is_none() {
            let seen: Vec<String> = self.seen.iter().map(|(a, p, t)| format!("{a} {t} ({p})")).collect();
            parts.push(format!("seen: {}", seen.join("; ")));
        }
        if !self.rejected.is_empty() {
            let rejected: Vec<String> = self.rejected.iter().map(|(a, why)| why.as_ref().map_or_else(|| a.clone(), |w| format!("{a} ({w})"))).collect();
            parts.push(format!("rejected: {}", rejected.join(", ")));
        }
        if let Some(c) = &self.chosen {
            parts.push(format!("chosen: {c}"));
            parts.push(format!("options set: {}", if self.set.is_empty() { "none".to_string() } else { self.set.join(", ") }));
            parts.push(format!("options left: {}", if self.left.is_empty() { "none".to_string() } else { self.left.join(", ") }));
        }
        parts.join(". ")
    }

    /// Remembers `asins` (best first) as seen candidates, with price and short title; keeps the
    /// last three.
    fn remember<'a>(&mut self, store: &Store, asins: impl Iterator<Item = &'a String>) {
        for a in asins {
            if self.seen.iter().any(|(s, _, _)| s == a) {
                continue;
            }
            if let Some(p) = store.product(a) {
                self.seen.push((a.clone(), p.price_text.clone(), short_title(&p.title, 4)));
            }
        }
        while self.seen.len() > 3 {
            self.seen.remove(0);
        }
    }
}

/// `q` cut at a word boundary to the longest query a constrained action can write
/// ([`MAX_QUERY`] bytes).
fn fit_query(q: &str) -> String {
    if q.len() <= MAX_QUERY {
        return q.to_string();
    }
    let mut out = String::new();
    for w in q.split_whitespace() {
        let sep = usize::from(!out.is_empty());
        if out.len() + sep + w.len() > MAX_QUERY {
            break;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn short_title(t: &str, words: usize) -> String {
    let w: Vec<&str> = t.split_whitespace().take(words).collect();
    w.join(" ").chars().filter(|c| !matches!(c, '[' | ']' | '<' | '>')).collect()
}

/// Items the visible expert turns down for an item of its task (then it takes what it finds).
const MAX_REJECTED: usize = 2;

/// How the expert picks its query and its item (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Visible,
    Target,
    Rule,
}

impl Choice {
    pub fn parse(s: &str) -> Option<Choice> {
        match s {
            "visible" => Some(Choice::Visible),
            "target" => Some(Choice::Target),
            "rule" => Some(Choice::Rule),
            _ => None,
        }
    }
}

/// A recoverable wrong step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detour {
    /// Search first with the weakest query, then recover (next page, search again).
    WeakQuery,
    /// Open a worse item first, then go back to the results.
    WorseItem,
}

/// The privileged expert.
pub struct Expert {
    store: Arc<Store>,
    protocol: Protocol,
    task: Option<Task>,
    /// The list's goal being shopped (0 for a single goal).
    current: usize,
    rng: Rng,
    pub choice: Choice,
    /// Chance per episode (of [`Choice::Target`]) of one recoverable wrong step.
    pub detour: f64,
    notes: Notes,
    /// This episode's detour (decided at reset), and whether it was taken.
    detour_planned: Option<Detour>,
    detour_taken: bool,
    /// Results page number, counted from the clicks made.
    page: usize,
    /// The item page's product, from the click that opened it.
    item: Option<String>,
    /// The worse item opened on a detour (to be rejected on its page).
    decoy: Option<String>,
}

impl Expert {
    pub fn new(store: Arc<Store>, protocol: Protocol, seed: u64) -> Expert {
        Expert {
            store,
            protocol,
            task: None,
            current: 0,
            rng: Rng::new(seed),
            choice: Choice::Visible,
            detour: 0.25,
            notes: Notes::default(),
            detour_planned: None,
            detour_taken: false,
            page: 1,
            item: None,
            decoy: None,
        }
    }

    /// Restarts the random choices (detours) from `seed`.
    pub fn seed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// Starts an episode for `task` (a goal or a shopping list).
    pub fn reset(&mut self, task: &Task) {
        self.task = Some(task.clone());
        self.current = 0;
        self.notes = Notes { item: task.is_list().then_some((1, task.items())), ..Notes::default() };
        self.detour_planned = (self.choice == Choice::Target && self.rng.next_f64() < self.detour).then(|| if self.rng.next_f64() < 0.5 { Detour::WeakQuery } else { Detour::WorseItem });
        self.detour_taken = false;
        self.page = 1;
        self.item = None;
        self.decoy = None;
    }

    fn task(&self) -> &Task {
        self.task.as_ref().expect("Expert::reset before the first turn")
    }

    /// The goal being shopped (a list's current item).
    fn goal(&self) -> &Goal {
        let t = self.task();
        &t.goals[self.current.min(t.goals.len() - 1)]
    }

    /// After an item went into the cart: the next item, with fresh notes for it.
    fn next_item(&mut self, asin: String) {
        let n = self.task().items();
        self.current += 1;
        let mut cart = std::mem::take(&mut self.notes.cart);
        cart.push(asin);
        self.notes = Notes { item: Some((self.current + 1, n)), cart, ..Notes::default() };
        self.page = 1;
        self.item = None;
        self.decoy = None;
    }

    /// A list's cart page: back to search for the next item, or Checkout when all are in.
    fn cart_turn(&mut self) -> String {
        let n = self.task().items();
        if self.current < n {
            let think = format!("The cart holds {} of the {n} items; item {} is next, so I go back to search.", self.current, self.current + 1);
            self.turn(&think, "click[back to search]")
        } else {
            self.turn(&format!("All {n} items are in the cart; I check out."), "click[checkout]")
        }
    }

    /// The product's option values the goal asks for, as (option name, value on the page).
    fn wanted_options(&self, asin: &str) -> Vec<(String, String)> {
        let Some(p) = self.store.product(asin) else { return Vec::new() };
        let mut out = Vec::new();
        let instruction = self.goal().instruction_text.to_lowercase();
        for (name, value) in &self.goal().goal_options {
            let v = value.to_lowercase();
            // A human-written instruction may paraphrase an option (`one` for `1pcs`): the
            // visible expert sets only what the instruction names.
            if self.choice == Choice::Visible && !instruction.contains(&v) {
                continue;
            }
            let hit = p.options.iter().filter(|(n, _)| name.is_empty() || n.to_lowercase() == name.to_lowercase()).find_map(|(n, vals)| {
                vals.iter().find(|x| x.to_lowercase() == v).or_else(|| vals.iter().find(|x| x.to_lowercase().contains(&v))).map(|x| (n.clone(), x.clone()))
            });
            if let Some(h) = hit {
                out.push(h);
            }
        }
        out
    }

    /// The goal's option values the instruction names (all of them for [`Choice::Target`]): a
    /// human-written instruction may paraphrase one (`one` for `1pcs`), and the visible expert
    /// knows only what it reads.
    fn named_options(&self) -> Vec<String> {
        let instruction = self.goal().instruction_text.to_lowercase();
        let values = self.goal().goal_options.iter().map(|(_, v)| v.to_lowercase());
        values.filter(|v| self.choice != Choice::Visible || instruction.contains(v.as_str())).collect()
    }

    /// The reward of buying `asin` with the goal's options (what the expert aims for).
    fn value(&self, asin: &str) -> f64 {
        let opts: Vec<(String, String)> = self.wanted_options(asin).into_iter().map(|(n, v)| (n.to_lowercase(), v)).collect();
        self.store.reward(self.goal(), asin, &opts).map(|(r, _)| r).unwrap_or(0.0)
    }

    /// Candidate queries, best first by where the target ranks (the words come from the
    /// instruction; only the choice among them uses the goal).
    fn queries(&self) -> Vec<String> {
        let g = self.goal();
        let core = core_query(&g.instruction_text);
        let words: Vec<&str> = core.split_whitespace().collect();
        let opts = self.named_options();
        let mut cands = Vec::new();
        if !opts.is_empty() {
            cands.push(format!("{core} {}", opts.join(" ")));
        }
        cands.push(core.clone());
        if words.len() > 6 {
            cands.push(words[..6].join(" "));
        }
        if words.len() > 3 {
            cands.push(words[words.len() - 3..].join(" "));
        }
        // A query the constrained action could not write would teach a student to be cut off.
        let mut cands: Vec<String> = cands.into_iter().map(|c| fit_query(&c)).collect();
        cands.retain(|c| !c.trim().is_empty() && !self.notes.searched.contains(c));
        cands.dedup();
        // The usual form first when it finds the target on the first page (a consistent habit
        // to imitate); otherwise the one that ranks it best.
        if self.choice == Choice::Target {
            let target = g.asin.clone();
            let rank = |q: &String| self.store.search(q).iter().position(|&i| self.store.catalog.products[i].asin == target).unwrap_or(usize::MAX);
            cands.sort_by_key(|q| rank(q).max(9));
        }
        cands
    }

    fn turn(&self, think: &str, action: &str) -> String {
        let p = &self.protocol;
        let think = p.reasoning.as_ref().map(|t| t.wrap(think)).unwrap_or_default();
        format!("{think}{}{}", p.memory.wrap(&self.notes.render()), p.action.wrap(action))
    }

    fn search_turn(&mut self) -> String {
        if self.choice == Choice::Rule {
            let q: String = self.goal().instruction_text.chars().filter(|c| !matches!(c, '[' | ']')).collect();
            self.notes.searched.push(q.clone());
            return self.turn("I search with the instruction.", &format!("search[{q}]"));
        }
        let mut qs = self.queries();
        if qs.is_empty() {
            qs.push(fit_query(&core_query(&self.goal().instruction_text)));
        }
        // Detour: start with the weakest query, then recover from its results.
        let q = if self.detour_planned == Some(Detour::WeakQuery) && !self.detour_taken && qs.len() > 1 && self.notes.searched.is_empty() {
            self.detour_taken = true;
            qs.last().cloned().unwrap_or_default()
        } else {
            qs[0].clone()
        };
        self.notes.searched.push(q.clone());
        self.page = 1;
        let think = if self.notes.searched.len() == 1 {
            "I search with the key words of the instruction.".to_string()
        } else if self.choice == Choice::Visible {
            "The earlier search found nothing under the price limit, so I try other words.".to_string()
        } else {
            "The earlier search found no good match, so I try other words.".to_string()
        };
        self.turn(&think, &format!("search[{q}]"))
    }

    /// [`Choice::Visible`] and [`Choice::Rule`] on a results page: the first result (priced
    /// under the limit, for `Visible`); the next page when none is, then a new search.
    fn visible_results_turn(&mut self, prods: &[String], obs: &Observation) -> String {
        let limit = self.goal().price_upper;
        let under = |a: &String| limit <= 0.0 || self.store.product(a).and_then(|p| p.pricing.first().copied()).is_some_and(|lo| lo <= limit);
        let pick = match self.choice {
            Choice::Rule => prods.first(),
            _ => prods.iter().find(|a| under(a)),
        };
        self.notes.remember(&self.store, prods.iter().filter(|a| under(a)).take(2));
        let limit_text = format!("${limit:.2}");
        match pick {
            Some(a) => {
                let a = a.clone();
                self.item = Some(a.clone());
                let price = self.store.product(&a).map(|p| p.price_text.clone()).unwrap_or_default();
                let think = match self.choice {
                    Choice::Rule => format!("{a} is the first result; I open it."),
                    // After a turn-down the think says which items it skips (the summary's
                    // "rejected"), so the choice follows from the prompt in words.
                    _ if !self.notes.rejected.is_empty() => {
                        let skipped: Vec<&str> = self.notes.rejected.iter().map(|(a, _)| a.as_str()).collect();
                        format!("{} turned down; {a} is the first other result under {limit_text} ({price}); I open it.", skipped.join(" and "))
                    }
                    _ => format!("{a} is the first result under {limit_text} ({price}); I open it."),
                };
                self.turn(&think, &format!("click[{}]", a.to_lowercase()))
            }
            None if obs.find_clickable("next >").is_some() && self.page < 3 => {
                self.page += 1;
                self.turn(&format!("No result on this page is under {limit_text}; I look at the next page."), "click[next >]")
            }
            None => self.turn(&format!("No result is under {limit_text}; I go back to search again."), "click[back to search]"),
        }
    }

    fn results_turn(&mut self, obs: &Observation) -> String {
        let prods: Vec<String> = obs
            .clickables
            .iter()
            .filter(|c| matches!(c.kind, ClickKind::Link { product: true }))
            .map(|c| c.key.to_uppercase())
            .filter(|a| !self.notes.rejected.iter().any(|(r, _)| r == a))
            .collect();
        if self.choice != Choice::Target {
            return self.visible_results_turn(&prods, obs);
        }
        let mut scored: Vec<(String, f64)> = prods.iter().map(|a| (a.clone(), self.value(a))).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        // Remember the best few on this page.
        self.notes.remember(&self.store, scored.iter().take(2).map(|(a, _)| a));
        let target = self.goal().asin.clone();
        let best = scored.first().cloned();
        let has_target = scored.iter().any(|(a, _)| *a == target);
        let can_next = obs.find_clickable("next >").is_some() && self.page < 3;
        let more_queries = self.notes.searched.len() < 3 && !self.queries().is_empty();
        let pick = if has_target {
            Some(target.clone())
        } else if can_next || more_queries {
            None
        } else {
            best.as_ref().filter(|b| b.1 > 0.0).map(|b| b.0.clone())
        };
        match pick {
            Some(a) => {
                // Detour: first look at a worse candidate, then come back.
                if self.detour_planned == Some(Detour::WorseItem) && !self.detour_taken {
                    if let Some((d, _)) = scored.iter().find(|(x, v)| *x != a && *v < self.value(&a) - 0.05) {
                        self.detour_taken = true;
                        let d = d.clone();
                        self.item = Some(d.clone());
                        self.decoy = Some(d.clone());
                        return self.turn(&format!("{d} might fit; I open it to check."), &format!("click[{}]", d.to_lowercase()));
                    }
                }
                self.item = Some(a.clone());
                let price = self.store.product(&a).map(|p| p.price_text.clone()).unwrap_or_default();
                self.turn(&format!("{a} matches the instruction best ({price}); I open it."), &format!("click[{}]", a.to_lowercase()))
            }
            None if can_next => {
                self.page += 1;
                self.turn("No result on this page matches well; I look at the next page.", "click[next >]")
            }
            None => self.turn("These results do not match; I go back to search again.", "click[back to search]"),
        }
    }

    fn item_turn(&mut self, obs: &Observation) -> String {
        let Some(asin) = self.item.clone() else {
            return self.turn("I do not know this item; back to the search.", "click[back to search]");
        };
        if self.decoy.as_ref() == Some(&asin) && obs.find_clickable("< prev").is_some() {
            self.notes.rejected.push((asin.clone(), None));
            self.notes.chosen = None;
            self.item = None;
            self.decoy = None;
            return self.turn(&format!("{asin} does not fit the instruction well; I go back to the results."), "click[< prev]");
        }
        // An item that does not offer an option value the instruction names cannot fully match:
        // back to the results for the next candidate (twice at most for an item of the task).
        if self.choice == Choice::Visible && self.notes.chosen.as_ref() != Some(&asin) && self.notes.rejected.len() < MAX_REJECTED && obs.find_clickable("< prev").is_some() {
            let offered = |v: &str| obs.clickables.iter().any(|c| matches!(c.kind, ClickKind::Option { .. }) && c.key.to_lowercase().contains(v));
            let missing: Vec<String> = self.named_options().into_iter().filter(|v| !offered(v)).collect();
            if !missing.is_empty() {
                let missing = missing.join(" or ");
                self.notes.rejected.push((asin.clone(), Some(format!("no {missing}"))));
                self.item = None;
                return self.turn(&format!("{asin} does not offer {missing}; I go back to the results."), "click[< prev]");
            }
        }
        // The summary is the state after this turn's action: the option this turn selects is
        // already under "options set", so the next turn's think copies the last summary's
        // "options left" and selects its first one (Buy Now after "none"), without having to
        // work out from its last action which option that was.
        let wanted = if self.choice == Choice::Rule { Vec::new() } else { self.wanted_options(&asin) };
        let on_page = |v: &str| obs.clickables.iter().any(|c| matches!(&c.kind, ClickKind::Option { .. }) && c.key.to_lowercase() == v.to_lowercase());
        let label = |(n, v): &(String, String)| format!("{n}: {v}");
        if self.notes.chosen.as_ref() != Some(&asin) {
            self.notes.chosen = Some(asin.clone());
            self.notes.set.clear();
        }
        let left: Vec<(String, String)> = wanted.into_iter().filter(|o| !self.notes.set.contains(&label(o)) && on_page(&o.1)).collect();
        let listed: Vec<String> = left.iter().map(label).collect();
        self.notes.left = listed.iter().skip(1).cloned().collect();
        match left.first() {
            Some(o) => {
                self.notes.set.push(label(o));
                self.turn(&format!("Options left: {}. I select {}.", listed.join(", "), o.1), &format!("click[{}]", o.1.to_lowercase()))
            }
            // The same words as an option turn, so on a later item turn the think copies
            // "options left: none" from the last summary as it copies any other list.
            None if self.task().is_list() && obs.find_clickable("add to cart").is_some() => {
                self.next_item(asin);
                self.turn("Options left: none. I add it to the cart.", "click[add to cart]")
            }
            None => self.turn("Options left: none. I buy it.", "click[buy now]"),
        }
    }
}

impl Policy for Expert {
    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply> {
        let obs = req.observation;
        let is = |k: &str| obs.find_clickable(k).is_some();
        let has_products = obs.clickables.iter().any(|c| matches!(c.kind, ClickKind::Link { product: true }));
        let text = if is("checkout") && self.task().is_list() {
            self.cart_turn()
        } else if is("buy now") {
            self.item_turn(obs)
        } else if has_products {
            self.results_turn(obs)
        } else if obs.has_search_bar {
            self.search_turn()
        } else if is("< prev") {
            self.turn("This is a detail page; I go back to the item.", "click[< prev]")
        } else if is("back to search") {
            self.turn("Nothing here helps; I go back to search.", "click[back to search]")
        } else {
            self.turn("There is nothing to do on this page.", "click[buy now]")
        };
        Ok(TurnReply { text, prefill_tokens: req.context.len(), kv_tokens: req.context.len(), ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::core_query;

    #[test]
    fn core_query_keeps_the_product_words() {
        assert_eq!(
            core_query("Find me loose fit women's tops, tees & blouses with short sleeve, long sleeve with color: c5-purple, and size: x-large, and price lower than 50.00 dollars"),
            "loose fit women's tops, tees & blouses with short sleeve, long sleeve"
        );
        assert_eq!(core_query("i am looking for a gluten free chocolate bar, and price lower than 30.00 dollars"), "gluten free chocolate bar");
        assert_eq!(core_query("I need some [red] shoes."), "red shoes");
    }
}
