//! Shopping tasks: one WebShop goal, or a shopping list of several composed into one instruction
//! (MEM1's multi-objective tasks). A single goal is WebShop exactly (Buy Now ends it, its reward
//! is `get_reward`); a list is shopped into a cart and ends at Checkout, and is scored by
//! [`score_cart`]: each goal's WebShop reward against the cart's items under the best one-to-one
//! assignment, averaged over the goals.
use super::env::Store;
use super::goal::{file_entries, parse_goal, Goal};
use super::pages::Options;
use crate::{Error, Result};

/// Most goals in one list (MEM1 composes up to 16 objectives).
pub const MAX_ITEMS: usize = 16;
/// Most items a cart holds (twice the longest list: room for mistakes, not for flooding).
pub const MAX_CART: usize = 2 * MAX_ITEMS;
/// What each item bought beyond the list's length costs, in units of one item's reward.
pub const EXTRA_ITEM_PENALTY: f64 = 0.1;

/// A task: the goals to buy and the instruction the shopper gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub goals: Vec<Goal>,
    pub instruction_text: String,
}

impl From<Goal> for Task {
    fn from(g: Goal) -> Task {
        Task { instruction_text: g.instruction_text.clone(), goals: vec![g] }
    }
}

impl Task {
    /// A list of `goals` (one goal is a plain WebShop task); each goal's own instruction,
    /// numbered, makes the list's.
    pub fn list(goals: Vec<Goal>) -> Result<Task> {
        match goals.len() {
            0 => Err(Error::Shop("a shopping list needs at least one goal".into())),
            1 => Ok(Task::from(goals.into_iter().next().unwrap_or_else(|| unreachable!()))),
            n if n > MAX_ITEMS => Err(Error::Shop(format!("a shopping list holds at most {MAX_ITEMS} items, not {n}"))),
            _ => {
                let items: Vec<&str> = goals.iter().map(|g| g.instruction_text.as_str()).collect();
                Ok(Task { instruction_text: list_instruction(&items), goals })
            }
        }
    }

    /// Whether this is a shopping list (a cart and Checkout) rather than one WebShop goal.
    pub fn is_list(&self) -> bool {
        self.goals.len() > 1
    }

    pub fn items(&self) -> usize {
        self.goals.len()
    }

    /// The task as JSON: a goal object for one goal, a list of goal objects for a list (the
    /// forms `--goals FILE` reads back).
    pub fn to_json(&self) -> serde_json::Value {
        match self.goals.as_slice() {
            [g] => g.to_json(),
            gs => gs.iter().map(Goal::to_json).collect(),
        }
    }
}

/// A list's instruction: its items numbered in one line (`Buy 2 items: 1) …; 2) ….`).
pub fn list_instruction(items: &[&str]) -> String {
    let numbered: Vec<String> = items.iter().enumerate().map(|(i, t)| format!("{}) {}", i + 1, t.trim().trim_end_matches(['.', ';']))).collect();
    format!("Buy {} items: {}.", items.len(), numbered.join("; "))
}

/// The items of a shopping list a shopper typed: one a line (a leading `1)`, `1.`, `-` or `*`
/// dropped), or `1) … 2) …` numbered on one line. `None` for a single request.
pub fn typed_list(text: &str) -> Option<Vec<String>> {
    let strip = |l: &str| -> String {
        let l = l.trim();
        let digits = l.len() - l.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let rest = if digits > 0 && l[digits..].starts_with([')', '.']) { &l[digits + 1..] } else { l.trim_start_matches(['-', '*', '•']) };
        rest.trim().trim_end_matches([';', ',']).trim().to_string()
    };
    let lines: Vec<String> = text.lines().map(strip).filter(|l| !l.is_empty()).collect();
    if lines.len() > 1 {
        return Some(lines);
    }
    // One line: "1) a; 2) b" (after an optional lead-in such as "Buy 2 items:").
    let mut items = Vec::new();
    let mut rest = text.trim();
    for k in 1.. {
        let mark = format!("{k})");
        let Some(at) = rest.find(&mark) else { break };
        if let Some(last) = items.last_mut() {
            *last = strip(&rest[..at]);
        }
        rest = &rest[at + mark.len()..];
        items.push(String::new());
    }
    if let Some(last) = items.last_mut() {
        *last = strip(rest.trim_end_matches('.'));
    }
    items.retain(|i| !i.is_empty());
    (items.len() > 1).then_some(items)
}

/// Groups `goals` into lists of `n` consecutive goals. A last, shorter group is left out (so every
/// list has `n` items) and returned as the count of goals left.
pub fn compose(goals: Vec<Goal>, n: usize) -> Result<(Vec<Task>, usize)> {
    if n == 0 || n > MAX_ITEMS {
        return Err(Error::Shop(format!("a shopping list has 1 to {MAX_ITEMS} items, not {n}")));
    }
    let left = goals.len() % n;
    let mut out = Vec::with_capacity(goals.len() / n);
    let mut it = goals.into_iter();
    for _ in 0..out.capacity() {
        out.push(Task::list(it.by_ref().take(n).collect())?);
    }
    Ok((out, left))
}

/// Tasks from a goal file: a goal object, or a list whose entries are goal objects (one goal
/// each) or lists of goal objects (one shopping list each), in the `dev_goals.json` schema.
pub fn parse_tasks(json: &[u8]) -> Result<Vec<Task>> {
    file_entries(json, "a goal object, or a list of goals and lists of goals")?
        .into_iter()
        .enumerate()
        .map(|(i, e)| match e {
            serde_json::Value::Array(list) => {
                let goals = list.into_iter().enumerate().map(|(j, g)| parse_goal(&format!("entry #{i}, goal #{j}"), g)).collect::<Result<_>>()?;
                Task::list(goals).map_err(|e| Error::Shop(format!("entry #{i}: {e}")))
            }
            g => parse_goal(&format!("goal #{i}"), g).map(Task::from),
        })
        .collect()
}

/// An item in the cart: a product with the options chosen on its page.
#[derive(Clone, Debug, PartialEq)]
pub struct CartItem {
    pub asin: String,
    pub options: Options,
}

/// A list session's cart (the in-process store's and the server's): at most [`MAX_CART`] items,
/// each removed by its number on the cart page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cart(Vec<CartItem>);

impl Cart {
    pub fn items(&self) -> &[CartItem] {
        &self.0
    }
    pub fn add(&mut self, item: CartItem) -> Result<()> {
        if self.0.len() >= MAX_CART {
            return Err(Error::Shop(format!("the cart is full ({MAX_CART} items)")));
        }
        self.0.push(item);
        Ok(())
    }
    /// Removes item `number` (counted from 1, as the cart page numbers them).
    pub fn remove(&mut self, number: usize) -> Result<()> {
        if number == 0 || number > self.0.len() {
            return Err(Error::Shop(format!("the cart has no item {number}")));
        }
        self.0.remove(number - 1);
        Ok(())
    }
    /// Empties the cart, giving its items (a checkout).
    pub fn take(&mut self) -> Vec<CartItem> {
        std::mem::take(&mut self.0)
    }
}

/// How a checked-out cart scored against a list.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CartScore {
    /// The task's reward: (the assigned items' rewards − the extra-item penalty) / goals, at least 0.
    pub reward: f64,
    /// Each goal's reward from the item assigned to it (0 when none is).
    pub item_rewards: Vec<f64>,
    /// Each goal's cart item (its index), if any.
    pub assigned: Vec<Option<usize>>,
    /// Items bought beyond the list's length.
    pub extra: usize,
}

/// Scores a cart against a task's goals: the one-to-one assignment of items to goals with the
/// largest total WebShop reward (exact: a dynamic program over the subsets of goals).
pub fn score_cart(store: &Store, task: &Task, cart: &[CartItem]) -> Result<CartScore> {
    let n = task.goals.len();
    if n == 0 || n > MAX_ITEMS || cart.len() > MAX_CART {
        return Err(Error::Shop(format!("cannot score {} items against {n} goals", cart.len())));
    }
    let reward: Vec<Vec<f64>> = cart
        .iter()
        .map(|c| task.goals.iter().map(|g| store.reward(g, &c.asin, &c.options).map(|r| r.0)).collect::<Result<Vec<f64>>>())
        .collect::<Result<_>>()?;
    // table[k][mask]: the largest total of the first k items with exactly the goals in `mask`
    // taken (each goal by one item, each item by at most one goal); −∞ where impossible.
    let full = 1usize << n;
    let mut table = vec![vec![f64::NEG_INFINITY; full]];
    table[0][0] = 0.0;
    for r in &reward {
        let prev = table.last().map(Vec::as_slice).unwrap_or_default();
        let mut next = prev.to_vec();
        for (mask, &v) in prev.iter().enumerate() {
            if v == f64::NEG_INFINITY {
                continue;
            }
            for (g, &rg) in r.iter().enumerate() {
                if mask & (1 << g) == 0 {
                    let to = mask | (1 << g);
                    next[to] = next[to].max(v + rg);
                }
            }
        }
        table.push(next);
    }
    let last = table.last().map(Vec::as_slice).unwrap_or_default();
    let mut mask = (0..full).fold(0, |b, m| if last[m] > last[b] { m } else { b });
    // Walk back: an item took goal g where its table entry is reached through it.
    let mut assigned = vec![None; n];
    for item in (0..cart.len()).rev() {
        let here = table[item + 1][mask];
        if table[item][mask] == here {
            continue;
        }
        if let Some(g) = (0..n).find(|&g| mask & (1 << g) != 0 && table[item][mask ^ (1 << g)] + reward[item][g] == here) {
            assigned[g] = Some(item);
            mask ^= 1 << g;
        }
    }
    let item_rewards: Vec<f64> = assigned.iter().enumerate().map(|(g, a)| a.map_or(0.0, |i| reward[i][g])).collect();
    let extra = cart.len().saturating_sub(n);
    let sum: f64 = item_rewards.iter().sum();
    Ok(CartScore { reward: ((sum - EXTRA_ITEM_PENALTY * extra as f64) / n as f64).max(0.0), item_rewards, assigned, extra })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::goal::{dev_goals, Rng};

    fn store() -> Store {
        Store::builtin(0).unwrap()
    }

    /// The best total over every one-to-one assignment, by brute force.
    fn brute(r: &[Vec<f64>], item: usize, used: u32) -> f64 {
        if item == r.len() {
            return 0.0;
        }
        let skip = brute(r, item + 1, used);
        (0..r[item].len()).filter(|g| used & (1 << g) == 0).map(|g| r[item][g] + brute(r, item + 1, used | (1 << g))).fold(skip, f64::max)
    }

    #[test]
    fn a_cart_scores_its_best_one_to_one_assignment() {
        let store = store();
        let dev = dev_goals().unwrap();
        let mut rng = Rng::new(3);
        for case in 0..40 {
            let n = 2 + case % 3;
            let goals: Vec<Goal> = (0..n).map(|_| dev[rng.below(dev.len())].clone()).collect();
            let task = Task::list(goals.clone()).unwrap();
            // Items: some goals' own products (with their options), some other dev products.
            let m = 1 + rng.below(n + 2);
            let cart: Vec<CartItem> = (0..m)
                .map(|_| {
                    let g = &dev[rng.below(dev.len())];
                    let options = if rng.below(2) == 0 { g.goal_options.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect() } else { Vec::new() };
                    CartItem { asin: g.asin.clone(), options }
                })
                .collect();
            let r: Vec<Vec<f64>> = cart.iter().map(|c| goals.iter().map(|g| store.reward(g, &c.asin, &c.options).unwrap().0).collect()).collect();
            let s = score_cart(&store, &task, &cart).unwrap();
            let total: f64 = s.item_rewards.iter().sum();
            assert!((total - brute(&r, 0, 0)).abs() < 1e-9, "case {case}: {total} against {}", brute(&r, 0, 0));
            // The assignment is one to one and its rewards are the items' own.
            let mut taken: Vec<usize> = s.assigned.iter().flatten().copied().collect();
            taken.sort_unstable();
            taken.dedup();
            assert_eq!(taken.len(), s.assigned.iter().flatten().count());
            for (g, a) in s.assigned.iter().enumerate() {
                assert_eq!(s.item_rewards[g], a.map_or(0.0, |i| r[i][g]));
            }
            assert_eq!(s.extra, m.saturating_sub(n));
            let want = ((total - EXTRA_ITEM_PENALTY * s.extra as f64) / n as f64).max(0.0);
            assert!((s.reward - want).abs() < 1e-12);
        }
    }

    #[test]
    fn each_goal_bought_right_scores_one_and_extras_cost() {
        let store = store();
        let dev = dev_goals().unwrap();
        let task = Task::list(dev[..3].to_vec()).unwrap();
        let right = |g: &Goal| CartItem { asin: g.asin.clone(), options: g.goal_options.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect() };
        // In any order, the goals' own products with their options score what each scores alone.
        let cart: Vec<CartItem> = dev[..3].iter().rev().map(right).collect();
        let s = score_cart(&store, &task, &cart).unwrap();
        for (g, r) in dev[..3].iter().zip(&s.item_rewards) {
            let alone = store.reward(g, &g.asin, &right(g).options).unwrap().0;
            assert_eq!(*r, alone);
        }
        assert_eq!(s.assigned, vec![Some(2), Some(1), Some(0)]);
        // An item not bought scores 0; one bought twice is an extra item.
        let s2 = score_cart(&store, &task, &cart[..2]).unwrap();
        assert_eq!(s2.item_rewards[0], 0.0);
        let mut more = cart.clone();
        more.push(cart[0].clone());
        let s3 = score_cart(&store, &task, &more).unwrap();
        assert_eq!(s3.extra, 1);
        assert!((s3.reward - (s.reward - EXTRA_ITEM_PENALTY / 3.0)).abs() < 1e-12);
        assert_eq!(score_cart(&store, &task, &[]).unwrap().reward, 0.0);
    }

    #[test]
    fn lists_are_numbered_goals_and_read_back() {
        let dev = dev_goals().unwrap();
        let (lists, left) = compose(dev.clone(), 3).unwrap();
        assert_eq!((lists.len(), left), (6, 2));
        let t = &lists[1];
        assert!(t.is_list() && t.items() == 3);
        assert!(t.instruction_text.starts_with("Buy 3 items: 1) "), "{}", t.instruction_text);
        for (i, g) in t.goals.iter().enumerate() {
            assert!(t.instruction_text.contains(&format!("{}) {}", i + 1, g.instruction_text.trim_end_matches('.'))));
        }
        // One goal is WebShop's task, unchanged.
        let one = Task::list(vec![dev[0].clone()]).unwrap();
        assert!(!one.is_list());
        assert_eq!(one.instruction_text, dev[0].instruction_text);
        // A file may mix goals and lists.
        let file = serde_json::json!([dev[0].to_json(), [dev[1].to_json(), dev[2].to_json()]]);
        let tasks = parse_tasks(file.to_string().as_bytes()).unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].goals, vec![dev[0].clone()]);
        assert_eq!(tasks[1].items(), 2);
        let again = parse_tasks(serde_json::json!([tasks[1].to_json()]).to_string().as_bytes()).unwrap();
        assert_eq!(again, vec![tasks[1].clone()]);
        let err = parse_tasks(br#"[[{"asin": "B1", "instruction_text": "x"}, {"asin": ""}]]"#).unwrap_err().to_string();
        assert!(err.contains("entry #0, goal #1"), "{err}");
        assert!(Task::list(Vec::new()).is_err());
        assert!(Task::list(vec![dev[0].clone(); MAX_ITEMS + 1]).is_err());
        assert!(compose(dev, 0).is_err());
    }

    #[test]
    fn a_typed_list_is_its_lines_or_its_numbers() {
        let want = Some(vec!["a phone case".to_string(), "a 65 w charger".to_string(), "two usb-c cables".to_string()]);
        assert_eq!(typed_list("a phone case\na 65 w charger\n\ntwo usb-c cables\n"), want);
        assert_eq!(typed_list("1) a phone case\n2. a 65 w charger\n- two usb-c cables"), want);
        assert_eq!(typed_list("Buy 3 items: 1) a phone case; 2) a 65 w charger; 3) two usb-c cables."), want);
        assert_eq!(typed_list("i need a 65 w charger, and price lower than 30.00 dollars"), None);
        assert_eq!(typed_list("a charger with 2) ports"), None);
        let t = Task::list(dev_goals().unwrap()[..3].to_vec()).unwrap();
        assert_eq!(typed_list(&t.instruction_text).map(|v| v.len()), Some(3));
        assert_eq!(list_instruction(&["a phone case", "a charger."]), "Buy 2 items: 1) a phone case; 2) a charger.");
    }
}
