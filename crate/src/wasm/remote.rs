//! The browser's [`Transport`] for a served policy: fetch (gloo-net), the reply read from the
//! body's stream as it arrives (so the page can show a served model's tokens as they come), and
//! aborted when the server stays silent for `timeout_ms` (a server that dies mid-reply ends the
//! request, and the episode, with that error instead of a hang).
use crate::agent::remote::{HttpReply, Transport};
use crate::{Error, Result};
use gloo_net::http::{Method, RequestBuilder, Response};
use gloo_timers::callback::Timeout;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, ReadableStreamDefaultReader};

pub struct Fetch {
    /// The longest the server may stay silent while a reply is due.
    pub timeout_ms: u32,
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

fn js(e: &JsValue) -> String {
    super::js_text(e)
}

/// Aborts a request unless it is fed within `ms` each time.
struct Watchdog {
    controller: AbortController,
    ms: u32,
    timer: Option<Timeout>,
}

impl Watchdog {
    fn new(ms: u32) -> Result<Watchdog> {
        let controller = AbortController::new().map_err(|e| io(js(&e)))?;
        let mut w = Watchdog { controller, ms, timer: None };
        w.feed();
        Ok(w)
    }
    fn feed(&mut self) {
        let c = self.controller.clone();
        self.timer = Some(Timeout::new(self.ms, move || c.abort()));
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            t.cancel();
        }
    }
}

async fn send(url: &str, method: Method, key: Option<&str>, body: Option<&str>, dog: &Watchdog) -> Result<Response> {
    let mut b = RequestBuilder::new(url).method(method).abort_signal(Some(&dog.controller.signal()));
    if let Some(k) = key {
        b = b.header("Authorization", &format!("Bearer {k}"));
    }
    let r = match body {
        Some(body) => b.header("Content-Type", "application/json").body(body).map_err(io)?.send().await,
        None => b.send().await,
    };
    r.map_err(|e| io(format!("{e} (server down, CORS not allowed, or no reply in {} s?)", dog.ms / 1000)))
}

/// Reads a reply's body as it arrives, feeding the watchdog and handing each piece to `chunk`.
async fn read(resp: &Response, dog: &mut Watchdog, chunk: &mut dyn FnMut(&str)) -> Result<String> {
    let Some(stream) = resp.body() else { return Ok(String::new()) };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let (mut all, mut pending) = (String::new(), Vec::new());
    loop {
        let r = JsFuture::from(reader.read()).await.map_err(|e| io(format!("the reply broke off: {}", js(&e))))?;
        dog.feed();
        if js_sys::Reflect::get(&r, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            break;
        }
        let value = js_sys::Reflect::get(&r, &"value".into()).map_err(|e| io(js(&e)))?;
        pending.extend_from_slice(&Uint8Array::new(&value).to_vec());
        let valid = match std::str::from_utf8(&pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => return Err(io("the reply is not UTF-8 text")),
        };
        let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
        pending.drain(..valid);
        if !text.is_empty() {
            chunk(&text);
            all.push_str(&text);
        }
    }
    Ok(all)
}

impl Transport for Fetch {
    async fn get(&mut self, url: &str, key: Option<&str>) -> Result<HttpReply> {
        let mut dog = Watchdog::new(self.timeout_ms)?;
        let resp = send(url, Method::GET, key, None, &dog).await?;
        let body = read(&resp, &mut dog, &mut |_| {}).await?;
        Ok(HttpReply { status: resp.status(), body })
    }

    async fn post(&mut self, url: &str, key: Option<&str>, body: &str, chunk: &mut dyn FnMut(&str)) -> Result<HttpReply> {
        let mut dog = Watchdog::new(self.timeout_ms)?;
        let resp = send(url, Method::POST, key, Some(body), &dog).await?;
        let body = read(&resp, &mut dog, chunk).await?;
        Ok(HttpReply { status: resp.status(), body })
    }

    async fn sleep(&mut self, ms: u32) {
        crate::web::pause(ms).await;
    }
}
