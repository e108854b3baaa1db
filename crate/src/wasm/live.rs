//! Episodes on a live page (the extension: the shopper's tab), and the guard's verdict on one
//! action for the hostile-page tests.
//!
//! The page is seen through snapshots its content script takes (HTML with each element's layout
//! and id, see [`crate::observe::LAYOUT_ATTR`]) and acted on through JavaScript: `perform(cmd)`
//! carries out a [`Command`] and resolves to the next snapshot; `confirm({action, target, url})`
//! asks the shopper before a purchase-like click and resolves to a boolean.
//!
//! The rules ([`guard`]): only the page's own clickables and search box are acted on; a link or
//! form that leads to another origin is refused; a purchase waits for a yes (a no ends the
//! episode); a page that ends up on another origin ends the episode.
use super::demo::{Demo, ModelInfo, RunOptions};
use super::report::Tap;
use super::{from_js, js_err, js_text, to_js, Busy};
use crate::agent::guard::{self, Verdict};
use crate::agent::{Episode, Shop};
use crate::observe::{Observation, LIVE_BUDGET};
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

/// What the content script is asked to do. A click carries the label and destination the agent
/// saw: the content script clicks only if the element still says `key` and leads to `target`.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Command {
    Search { node: String, text: String },
    Click { node: String, key: String, target: Option<String> },
}

/// The content script's command for a verdict, and whether it is a purchase; or why it is refused.
fn command(v: Verdict) -> std::result::Result<(Command, bool), String> {
    match v {
        Verdict::Refused(why) => Err(why),
        Verdict::Search { node, text } => Ok((Command::Search { node, text }, false)),
        Verdict::Click { node, key, target, purchase } => Ok((Command::Click { node, key, target }, purchase)),
    }
}

/// What [`Demo::check_action`] says.
#[derive(Serialize)]
#[serde(untagged)]
enum Check {
    Refused { refused: String },
    Allowed { command: Command, purchase: bool },
}

/// The question put to the shopper before a purchase-like click.
#[derive(Serialize)]
struct Question<'a> {
    action: &'a str,
    target: &'a str,
    url: &'a str,
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
    /// `page` the first snapshot `{html, url}`; `perform(cmd)` carries out `{kind: "click", node,
    /// key, target}` or `{kind: "search", node, text}` on the page and resolves to the next
    /// snapshot; `confirm({action, target, url})` asks the shopper before a purchase-like click
    /// and resolves to true or false. `opts` and `on_event` as in [`Demo::run`]. Resolves to
    /// `{episode, purchased, declined, stopped, url, error, model}`.
    #[wasm_bindgen(js_name = runLive)]
    pub fn run_live(&self, task: String, page: JsValue, opts: JsValue, perform: Function, confirm: Function, on_event: Function) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let _busy = Busy::take(&inner.busy).map_err(js_err)?;
            let r = async {
                if task.trim().is_empty() {
                    return Err(Error::usage("say what to buy"));
                }
                let live = LivePage::new(task.trim(), from_js(&page, "page snapshot")?, perform, confirm)?;
                inner.episode(Tap::new(live), &from_js::<RunOptions>(&opts, "options")?, on_event).await
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

    /// What the agent would do with `action` on a page snapshot at `url` (the rules of
    /// [`guard::check`]): `{refused: why}`, or `{command, purchase}` with the command `runLive`
    /// would hand to `perform`.
    #[wasm_bindgen(js_name = checkAction)]
    pub fn check_action(html: &str, url: &str, action: &str) -> std::result::Result<JsValue, JsValue> {
        let obs = crate::observe::web::observe_snapshot(html).map_err(js_err)?.clip(LIVE_BUDGET);
        to_js(&match command(guard::check(&obs, url, action)) {
            Err(refused) => Check::Refused { refused },
            Ok((command, purchase)) => Check::Allowed { command, purchase },
        })
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
    obs: Observation,
    url: String,
    /// Where the episode started; it never acts anywhere else.
    origin: Option<String>,
    perform: Function,
    confirm: Function,
    purchased: bool,
    declined: bool,
    error: Option<String>,
}

impl LivePage {
    fn new(task: &str, page: Snapshot, perform: Function, confirm: Function) -> Result<LivePage> {
        let (obs, url) = Self::read(page)?;
        let origin = guard::origin(&url);
        Ok(LivePage { task: task.to_string(), obs, url, origin, perform, confirm, purchased: false, declined: false, error: None })
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

    async fn try_act(&mut self, action: &str) -> Result<StepResult> {
        let (cmd, purchase) = match command(guard::check(&self.obs, &self.url, action)) {
            Err(why) => return Ok(StepResult { reward: 0.0, done: false, valid: false, reason: Some(why) }),
            Ok(c) => c,
        };
        if purchase {
            let target = match &cmd {
                Command::Click { key, .. } => key.as_str(),
                Command::Search { text, .. } => text.as_str(),
            };
            let ok = Self::ask(&self.confirm, &Question { action, target, url: &self.url }).await?;
            if ok.as_bool() != Some(true) {
                self.declined = true;
                return Ok(StepResult { reward: 0.0, done: true, valid: false, reason: Some("the shopper declined the purchase".into()) });
            }
        }
        let next = Self::ask(&self.perform, &cmd).await?;
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
    fn reward(&self) -> f64 {
        0.0
    }
    /// Bought, declined, or stopped by an error (off the site, the tab gone).
    fn is_done(&self) -> bool {
        self.purchased || self.declined || self.error.is_some()
    }
    fn page(&self) -> String {
        self.url.clone()
    }
}
