//! The browser API (wasm-bindgen), one file per thing it exports or reports:
//!
//! * [`demo`]: [`Demo`], at most one loaded model; for the demo the WebShop-style store rendered
//!   into a live document (an iframe the visitor watches) and its goals.
//! * [`live`]: episodes on a live page (the extension: the shopper's tab, seen through snapshots
//!   its content script takes), and the guard's verdict on one action.
//! * [`report`]: how an episode is reported to JavaScript as it runs (turn starts, prompt
//!   progress, tokens, finished turns).
//! * [`remote`]: fetch for a policy served by an OpenAI-compatible server ([`crate::agent::remote`]).
//! * [`sha`]: SHA-256 over a stream of chunks (model downloads are checked as they are written).
//!
//! Values cross as typed serde structs through `serde-wasm-bindgen` (plain JavaScript objects,
//! maps as objects); errors as `Error`s whose message is the crate's [`crate::Error`] text.
pub mod demo;
pub mod live;
pub mod remote;
pub mod report;
pub mod sha;

pub use demo::Demo;
pub use sha::Sha256;

use crate::{Error, Result};
use js_sys::Function;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::Cell;
use wasm_bindgen::prelude::*;

pub(crate) fn js_err(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// A value as a plain JavaScript object (maps as objects, not `Map`s, as JSON would have them).
pub(crate) fn to_js<T: Serialize + ?Sized>(v: &T) -> std::result::Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_err)
}

/// A JavaScript value as `T`; `undefined` and `null` give `T`'s default. `what` names it in errors.
pub(crate) fn from_js<T: DeserializeOwned + Default>(v: &JsValue, what: &str) -> Result<T> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(v.clone()).map_err(|e| Error::usage(format!("{what}: {e}")))
}

/// Calls a JavaScript callback with `v`; an exception in it is reported on the console, not
/// propagated (a broken display must not kill the episode).
pub(crate) fn call<T: Serialize + ?Sized>(f: &Function, v: &T) {
    let arg = to_js(v).unwrap_or(JsValue::NULL);
    if let Err(e) = f.call1(&JsValue::NULL, &arg) {
        web_sys::console::error_2(&"mem1: callback failed:".into(), &e);
    }
}

/// A JavaScript exception's message.
pub(crate) fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

/// Marks the agent busy for the guard's lifetime (one load or episode at a time).
pub(crate) struct Busy<'a>(&'a Cell<bool>);

impl<'a> Busy<'a> {
    pub(crate) fn take(c: &'a Cell<bool>) -> Result<Busy<'a>> {
        if c.replace(true) {
            return Err(Error::usage("busy: a model is loading or an episode is running"));
        }
        Ok(Busy(c))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}
