//! Episodes on a live page (the extension: the shopper's tab), and the guard's verdict on one
//! action (for the hostile-page tests).
//!
//! The page is seen through snapshots its content script takes (HTML with each element's layout
//! and id, see [`crate::observe::LAYOUT_ATTR`]) and acted on through JavaScript: `perform(cmd)`
//! carries out a [`Command`] and resolves to the next snapshot; `confirm({action, target, url,
//! reason})` asks the shopper before a purchase and resolves to a boolean.
//!
//! The rules are [`guard::check`]'s: every action judged by where it really leads (resolved as the
//! browser resolves it); refused off the site or off the web; a purchase waits for a yes (a no
//! ends the episode), or goes through unasked only on the demo store "buy without asking" names;
//! a page that ends up on another origin ends the episode.
use super::demo::{Demo, ModelInfo, RunOptions};
use super::report::{Event, Tap};
use super::{call, from_js, js_err, js_text, to_js, Busy};
use crate::agent::guard::{self, Command, Decision};
use crate::agent::{Episode, Shop};
use crate::observe::{Observation, LIVE_BUDGET};
use crate::shop::task::{list_instruction, typed_list};
use crate::shop::StepResult;
use crate::{Error, Result};
use js_sys::{Function, Promise};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

/// A page snapshot as the content script takes it (other fields it carries are ignored).
#[derive(Deserialize, Default)]
struct Snapshot {
    html: String,
    #[serde(default)]
    url: String,
}

/// What [`Demo::check_action`] says: the guard's verdict (`allow`, `confirm` or `refuse`), why,
/// where the action really leads, and the command `runLive` would hand to `perform`; `bad` when
/// the action could not be judged at all (unreadable, or naming nothing on the page).
#[derive(Serialize)]
struct Check<'a> {
    verdict: &'static str,
    reason: &'a str,
    target: Option<&'a str>,
    command: Option<&'a Command>,
    purchase: bool,
    bad: bool,
}

/// The question put to the shopper before a purchase.
#[derive(Serialize)]
struct Question<'a> {
    action: &'a str,
    /// The control's name (what the agent clicks or types).
    target: &'a str,
    /// Where it leads (or the page, when the page's script decides).
    url: &'a str,
    reason: &'a str,
}

/// An episode on a live page, as `runLive` resolves it.
#[derive(Serialize)]
struct LiveResult<'a> {
    episode: &'a Episode,
    purchased: bool,
    declined: bool,
    stopped: bool,
    url: &'a str,
    error: Option<&'a str>,
    model: &'a ModelInfo,
}

#[wasm_bindgen]
impl Demo {
    /// Runs one episode on a live page (the extension: the shopper's tab). `task` is what to buy;
    /// `page` the first snapshot `{html, url}`; `perform(cmd)` carries out a command (`{kind:
    /// "click", node, key, text, href}`, `{kind: "search", node, text, action}` or `{kind:
    /// "select", node, key}`, see [`Command`]) on the page and resolves to the next snapshot;
    /// `confirm({action, target, url, reason})` asks the shopper before a purchase and resolves to
    /// true or false. `opts` and `on_event` as in [`Demo::run`], and `opts.autoConfirm` with
    /// `opts.demoStore` (an origin) buys without asking on that demo store only; elsewhere it is
    /// ignored and an `{type: "note", text}` event says so. A `task` of several lines (or `1) …
    /// 2) …`) is a shopping list: numbered as the store's lists are, shopped into the shop's own
    /// cart, with `opts.maxTurns` for each item. Resolves to `{episode, purchased, declined,
    /// stopped, url, error, model}`.
    #[wasm_bindgen(js_name = runLive)]
    pub fn run_live(&self, task: String, page: JsValue, opts: JsValue, perform: Function, confirm: Function, on_event: Function) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let _busy = Busy::take(&inner.busy).map_err(js_err)?;
            let r = async {
                if task.trim().is_empty() {
                    return Err(Error::usage("say what to buy"));
                }
                let mut opts: RunOptions = from_js(&opts, "options")?;
                let auto = if opts.auto_confirm { Some(opts.demo_store.clone().unwrap_or_default()) } else { None };
                let live = LivePage::new(task.trim(), from_js(&page, "page snapshot")?, perform, confirm, on_event.clone(), auto)?;
                // The turn budget is an item's: a list gets it for each of its items.
                opts.max_turns = Some(opts.max_turns.unwrap_or(10) * live.items);
                inner.episode(Tap::new(live), &opts, on_event).await
            };
            let (shop, ep, info) = r.await.map_err(js_err)?;
            let stopped = inner.stop.replace(false);
            let live = shop.inner;
            to_js(&LiveResult {
                episode: &ep,
                purchased: live.purchased,
                declined: live.declined,
                stopped,
                url: &live.url,
                error: ep.error.as_deref().or(live.error.as_deref()),
                model: &info,
            })
        })
    }

    /// The guard's verdict on `action` on a page snapshot at `url` (as `runLive` judges it):
    /// `{verdict, reason, target, command, purchase, bad}`.
    #[wasm_bindgen(js_name = checkAction)]
    pub fn check_action(html: &str, url: &str, action: &str) -> std::result::Result<JsValue, JsValue> {
        let obs = crate::observe::web::observe_snapshot(html).map_err(js_err)?.clip(LIVE_BUDGET);
        match guard::check(&obs, url, action) {
            Ok(v) => to_js(&Check {
                verdict: v.decision.name(),
                reason: &v.reason,
                target: v.target.as_deref(),
                command: Some(&v.command),
                purchase: v.decision == Decision::Confirm,
                bad: false,
            }),
            Err(e) => to_js(&Check { verdict: "refuse", reason: &e.0, target: None, command: None, purchase: false, bad: true }),
        }
    }

    /// The observation of a page snapshot (as `runLive` reads it): `{text, actions}`.
    #[wasm_bindgen(js_name = observeSnapshot)]
    pub fn observe_snapshot(html: &str) -> std::result::Result<JsValue, JsValue> {
        let o = crate::observe::web::observe_snapshot(html).map_err(js_err)?.clip(LIVE_BUDGET);
        to_js(&serde_json::json!({"text": o.text, "actions": o.available_actions()}))
    }
}

/// A page in the shopper's tab.
struct LivePage {
    task: String,
    /// Items of a typed shopping list (1: one request).
    pub(crate) items: usize,
    obs: Observation,
    url: String,
    /// Where the episode started; it never acts anywhere else.
    origin: Option<String>,
    perform: Function,
    confirm: Function,
    events: Function,
    /// "Buy without asking", with the demo store's origin it is for.
    auto_confirm: Option<String>,
    purchased: bool,
    declined: bool,
    error: Option<String>,
}

impl LivePage {
    fn new(task: &str, page: Snapshot, perform: Function, confirm: Function, events: Function, auto_confirm: Option<String>) -> Result<LivePage> {
        let (obs, url) = Self::read(page)?;
        let origin = guard::origin(&url);
        // A typed shopping list is numbered as the store's lists are, and shopped into the
        // shop's own cart (its checkout is a purchase like any other: the guard asks first).
        let items = typed_list(task);
        Ok(LivePage {
            items: items.as_ref().map_or(1, Vec::len),
            task: match &items {
                Some(items) => list_instruction(&items.iter().map(String::as_str).collect::<Vec<_>>()),
                None => task.to_string(),
            },
            obs,
            url,
            origin,
            perform,
            confirm,
            events,
            auto_confirm,
            purchased: false,
            declined: false,
            error: None,
        })
    }

    /// A snapshot → its observation (within [`LIVE_BUDGET`]) and URL.
    fn read(page: Snapshot) -> Result<(Observation, String)> {
        if page.html.is_empty() {
            return Err(Error::usage("page snapshot without html"));
        }
        Ok((crate::observe::web::observe_snapshot(&page.html)?.clip(LIVE_BUDGET), page.url))
    }

    /// Calls a JavaScript callback that answers with a promise (or a plain value).
    async fn ask<T: Serialize>(f: &Function, arg: &T) -> Result<JsValue> {
        let arg = to_js(arg).map_err(|e| Error::usage(js_text(&e)))?;
        let v = f.call1(&JsValue::NULL, &arg).map_err(|e| Error::usage(format!("the page callback failed: {}", js_text(&e))))?;
        JsFuture::from(Promise::resolve(&v)).await.map_err(|e| Error::usage(js_text(&e)))
    }

    /// Whether the shopper lets a purchase through: asked, unless "buy without asking" is on and
    /// this is the demo store it is for (elsewhere the setting is ignored, and said to be).
    async fn allowed(&self, action: &str, what: &str, target: &str, reason: &str) -> Result<bool> {
        if let Some(demo) = &self.auto_confirm {
            if guard::is_demo_store(&self.url, demo) {
                call(&self.events, &Event::Note { text: format!("Bought without asking (the demo store, {demo}; see the settings): {what}") });
                return Ok(true);
            }
            let here = guard::origin(&self.url).unwrap_or_else(|| self.url.clone());
            call(&self.events, &Event::Note {
                text: format!("“Buy without asking” is ignored here: {here} is not the demo store ({demo}); asking you instead."),
            });
        }
        let ok = Self::ask(&self.confirm, &Question { action, target: what, url: target, reason }).await?;
        Ok(ok.as_bool() == Some(true))
    }

    async fn try_act(&mut self, action: &str) -> Result<StepResult> {
        let invalid = |why: String| Ok(StepResult { reward: 0.0, done: false, valid: false, reason: Some(why) });
        let v = match guard::check(&self.obs, &self.url, action) {
            Err(bad) => return invalid(bad.0),
            Ok(v) if v.decision == Decision::Refuse => return invalid(v.reason),
            Ok(v) => v,
        };
        if v.command.node().is_none() {
            return invalid(format!("{action} names nothing on the live page"));
        }
        let purchase = v.decision == Decision::Confirm;
        if purchase {
            let what = match &v.command {
                Command::Click { key, .. } | Command::Select { key, .. } => key.clone(),
                Command::Search { text, .. } => format!("search for {text}"),
            };
            let target = v.target.clone().unwrap_or_else(|| self.url.clone());
            if !self.allowed(action, &what, &target, &v.reason).await? {
                self.declined = true;
                return Ok(StepResult { reward: 0.0, done: true, valid: false, reason: Some("the shopper declined the purchase".into()) });
            }
        }
        let next = Self::ask(&self.perform, &v.command).await?;
        let (obs, url) = Self::read(from_js(&next, "the page snapshot after the action")?)?;
        self.obs = obs;
        self.url = url;
        if guard::origin(&self.url) != self.origin {
            let why = format!("the page left the site for {}; the agent stopped there", self.url);
            self.error = Some(why.clone());
            return Ok(StepResult { reward: 0.0, done: true, valid: false, reason: Some(why) });
        }
        self.purchased |= purchase;
        Ok(StepResult { reward: 0.0, done: purchase, valid: true, reason: None })
    }
}

impl Shop for LivePage {
    fn instruction(&self) -> String {
        self.task.clone()
    }
    fn observation(&self) -> Observation {
        self.obs.clone()
    }
    async fn act(&mut self, action: &str) -> StepResult {
        match self.try_act(action).await {
            Ok(r) => r,
            Err(e) => {
                // The tab is gone, the page did not answer: the episode ends, saying why.
                self.error = Some(e.to_string());
                StepResult { reward: 0.0, done: true, valid: false, reason: Some(e.to_string()) }
            }
        }
    }
    fn items(&self) -> usize {
        self.items
    }
    fn reward(&self) -> f64 {
        0.0
    }
    /// A live shop scores nothing.
    fn item_rewards(&self) -> Vec<f64> {
        vec![0.0; self.items]
    }
    /// Bought, declined, or stopped by an error (off the site, the tab gone).
    fn is_done(&self) -> bool {
        self.purchased || self.declined || self.error.is_some()
    }
    fn page(&self) -> String {
        self.url.clone()
    }
}
