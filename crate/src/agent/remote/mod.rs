//! A policy served by an OpenAI-compatible server (llama.cpp's server or llama-cpp-python's,
//! vLLM, Ollama): the same MEM1 loop, the context built here exactly as for the local engine and
//! sent as chat messages, the reply read with the same protocol. The page's actions constrain the
//! reply in the server's own language where it has one ([`grammar`]: GBNF for llama.cpp, a
//! regular expression for vLLM); elsewhere the reply is only validated by the shop, as the local
//! unconstrained mode's is. Token counts come from the server's `usage`.
//!
//! The HTTP itself is a [`Transport`]: natively [`native::Http`] (blocking, on the loop's thread);
//! in the browser `crate::wasm::remote` (fetch). Requests time out, retry with backoff on 429 and
//! 5xx and on a refused connection (a bounded number of times), and a reply that is not an
//! OpenAI-compatible one is a clear error, never a panic.
pub mod grammar;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;

use super::policy::{Policy, TurnReply, TurnRequest};
use super::protocol::Protocol;
use crate::engine::now;
use crate::{Error, Result};
use serde_json::{json, Value};

/// An HTTP reply: its status and body (the whole body, also when it was streamed).
pub struct HttpReply {
    pub status: u16,
    pub body: String,
}

/// How the client reaches the server. Errors are for what never got a status (the server is
/// down, the connection broke or timed out); a status of any kind is a reply.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn get(&mut self, url: &str, key: Option<&str>) -> Result<HttpReply>;
    /// POSTs a JSON body, calling `chunk` with each piece of the reply body as it arrives.
    async fn post(&mut self, url: &str, key: Option<&str>, body: &str, chunk: &mut dyn FnMut(&str)) -> Result<HttpReply>;
    /// Waits `ms` milliseconds (between retries).
    async fn sleep(&mut self, ms: u32);
}

/// What kind of server answers, which decides how the action is constrained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// llama.cpp's server or llama-cpp-python's: a GBNF `grammar` field.
    LlamaCpp,
    /// vLLM: structured outputs (`structured_outputs.regex`, and the older `guided_regex`).
    Vllm,
    /// Ollama, or any other OpenAI-compatible server: no constraint the client can send.
    Ollama,
    Other,
}

impl ServerKind {
    pub fn parse(s: &str) -> Option<ServerKind> {
        match s {
            "llamacpp" | "llama.cpp" | "llama-cpp" => Some(ServerKind::LlamaCpp),
            "vllm" => Some(ServerKind::Vllm),
            "ollama" => Some(ServerKind::Ollama),
            "openai" | "other" => Some(ServerKind::Other),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::LlamaCpp => "llama.cpp",
            ServerKind::Vllm => "vLLM",
            ServerKind::Ollama => "Ollama",
            ServerKind::Other => "OpenAI-compatible",
        }
    }
    /// From `/v1/models`' `owned_by`: llama.cpp's server says `llamacpp`, llama-cpp-python's `me`,
    /// vLLM `vllm`, Ollama `library` (or `ollama`).
    fn from_owner(owner: &str) -> ServerKind {
        match owner {
            "llamacpp" | "me" => ServerKind::LlamaCpp,
            "vllm" => ServerKind::Vllm,
            "library" | "ollama" => ServerKind::Ollama,
            _ => ServerKind::Other,
        }
    }
}

/// How a served reply is kept to the page's actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// A GBNF grammar of the turn (llama.cpp).
    Gbnf,
    /// A regular expression of the turn (vLLM).
    Regex,
    /// None can be sent: the reply is checked by the shop, an invalid action counted.
    Validate,
    /// Asked for none (`--no-constrain`).
    Off,
}

impl Constraint {
    pub fn name(self) -> &'static str {
        match self {
            Constraint::Gbnf => "gbnf",
            Constraint::Regex => "regex",
            Constraint::Validate => "validate",
            Constraint::Off => "none",
        }
    }
}

/// A server's address and credentials. The key travels only in the `Authorization` header:
/// never in a URL, a log line or an error message.
#[derive(Clone)]
pub struct Endpoint {
    /// The OpenAI-compatible base, e.g. `http://127.0.0.1:8080/v1` (no trailing slash).
    pub base: String,
    pub model: String,
    pub key: Option<String>,
    pub kind: ServerKind,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("base", &self.base).field("model", &self.model).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Attempts of one request: the first and up to this many retries.
const RETRIES: u32 = 3;

/// Whether a status is worth trying again: the server is busy or failed for now.
fn retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// A short, key-free description of a failed reply.
fn reply_error(base: &str, what: &str, r: &HttpReply) -> Error {
    let body: String = r.body.chars().take(300).collect();
    match r.status {
        401 | 403 => Error::usage(format!("the server at {base} refused the API key ({what}: HTTP {}): give the right one with --api-key", r.status)),
        404 => Error::usage(format!("the server at {base} has no {what} (HTTP 404): is {base} an OpenAI-compatible base URL, ending in /v1? {body}")),
        s => Error::usage(format!("the server at {base} failed {what}: HTTP {s}: {body}")),
    }
}

/// Sends a request, retrying a refused connection and 429/5xx with backoff (0.5, 1, 2 s).
async fn with_retries<T: Transport>(
    t: &mut T,
    base: &str,
    what: &str,
    mut send: impl AsyncFnMut(&mut T) -> Result<HttpReply>,
) -> Result<HttpReply> {
    let mut wait = 500;
    let mut attempt = 0;
    loop {
        let last = attempt >= RETRIES;
        match send(t).await {
            Ok(r) if r.status / 100 == 2 => return Ok(r),
            Ok(r) if retryable(r.status) && !last => {}
            Ok(r) => return Err(reply_error(base, what, &r)),
            Err(e) if !last => {
                let _ = e;
            }
            Err(e) => return Err(Error::usage(format!("cannot reach the server at {base} ({what}, {} tries): {e}", RETRIES + 1))),
        }
        t.sleep(wait).await;
        wait *= 2;
        attempt += 1;
    }
}

/// Opens an endpoint: asks the server for its models (which checks that it answers, that it
/// takes the key, and tells what kind of server it is), and checks that `model` is one of them
/// (the first it lists when `model` is `None`). `kind` overrides the detected kind.
pub async fn connect<T: Transport>(t: &mut T, base: &str, model: Option<&str>, key: Option<&str>, kind: Option<ServerKind>) -> Result<Endpoint> {
    let base = base.trim().trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Error::usage(format!("--remote {base:?} is not an http(s) URL (an OpenAI-compatible base, e.g. http://127.0.0.1:8080/v1)")));
    }
    let url = format!("{base}/models");
    let r = with_retries(t, &base, "the list of models", async |t: &mut T| t.get(&url, key).await).await?;
    let v: Value = serde_json::from_str(&r.body).map_err(|e| {
        Error::usage(format!("the server at {base} did not answer /models as an OpenAI-compatible server does ({e}): {}", r.body.chars().take(200).collect::<String>()))
    })?;
    let models: Vec<(String, String)> = v["data"]
        .as_array()
        .ok_or_else(|| Error::usage(format!("the server at {base} answered /models without a data list: {}", r.body.chars().take(200).collect::<String>())))?
        .iter()
        .filter_map(|m| Some((m["id"].as_str()?.to_string(), m["owned_by"].as_str().unwrap_or("").to_string())))
        .collect();
    let (id, owner) = match model {
        Some(want) => models.iter().find(|(id, _)| id == want).cloned().ok_or_else(|| {
            let have: Vec<&str> = models.iter().map(|(id, _)| id.as_str()).collect();
            Error::usage(format!("the server at {base} has no model {want:?} (it has: {})", have.join(", ")))
        })?,
        None => models.first().cloned().ok_or_else(|| Error::usage(format!("the server at {base} serves no model")))?,
    };
    Ok(Endpoint { base, model: id, key: key.map(str::to_string), kind: kind.unwrap_or_else(|| ServerKind::from_owner(&owner)) })
}

/// Token counts a server reported for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// A streamed or whole chat completion, read: the text, the usage and why it stopped.
#[derive(Debug, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    pub usage: Option<Usage>,
    pub finish: Option<String>,
    /// Streamed events that carried text: a server streams one a token, so this is the reply's
    /// length where the server sends no usage (llama-cpp-python's server does not).
    pub pieces: usize,
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?;
    Some(Usage { prompt_tokens: u["prompt_tokens"].as_u64()? as usize, completion_tokens: u["completion_tokens"].as_u64().unwrap_or(0) as usize })
}

/// Reads a chat completion's body: server-sent events (`data: {...}` lines, `data: [DONE]`) of a
/// streamed reply, or one JSON object.
pub fn read_completion(body: &str) -> std::result::Result<Completion, String> {
    let mut c = Completion::default();
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') {
        let v: Value = serde_json::from_str(trimmed).map_err(|e| format!("not JSON ({e})"))?;
        let choice = v["choices"].get(0).ok_or("no choices in the reply")?;
        c.text = choice["message"]["content"].as_str().ok_or("no message content in the reply")?.to_string();
        c.finish = choice["finish_reason"].as_str().map(str::to_string);
        c.usage = usage_of(&v);
        return Ok(c);
    }
    let mut events = 0;
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
        if data == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(data).map_err(|e| format!("a streamed event is not JSON ({e}): {}", data.chars().take(120).collect::<String>()))?;
        events += 1;
        if let Some(choice) = v["choices"].get(0) {
            if let Some(t) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                c.text.push_str(t);
                c.pieces += 1;
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                c.finish = Some(f.to_string());
            }
        }
        if let Some(u) = usage_of(&v) {
            c.usage = Some(u);
        }
    }
    if events == 0 {
        return Err(format!("neither JSON nor server-sent events: {}", body.chars().take(200).collect::<String>()));
    }
    Ok(c)
}

/// The policy: each turn one chat completion.
pub struct RemotePolicy<T: Transport> {
    pub transport: T,
    pub endpoint: Endpoint,
    pub protocol: Protocol,
    /// Tokens the server may write a turn (the local engine's free, memory and action budgets).
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u64,
    /// Asked to constrain (`--no-constrain` turns it off).
    pub constrain: bool,
    /// Streams the reply (token counts as they come, through `on_text`).
    pub stream: bool,
    /// Called with the text so far as a streamed reply arrives.
    pub on_text: Option<Box<dyn FnMut(&str)>>,
}

impl<T: Transport> RemotePolicy<T> {
    pub fn new(transport: T, endpoint: Endpoint, protocol: Protocol) -> RemotePolicy<T> {
        RemotePolicy { transport, endpoint, protocol, max_tokens: 320, temperature: 0.0, top_p: 1.0, seed: 0, constrain: true, stream: true, on_text: None }
    }

    /// How replies are constrained on this server.
    pub fn constraint(&self) -> Constraint {
        match (self.constrain, self.endpoint.kind) {
            (false, _) => Constraint::Off,
            (true, ServerKind::LlamaCpp) => Constraint::Gbnf,
            (true, ServerKind::Vllm) => Constraint::Regex,
            (true, _) => Constraint::Validate,
        }
    }

    /// The request body of one turn.
    pub fn body(&self, req: &TurnRequest<'_>) -> Value {
        let messages: Vec<Value> = req.messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect();
        let mut b = json!({
            "model": self.endpoint.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stream": self.stream,
        });
        if self.stream {
            b["stream_options"] = json!({"include_usage": true});
        }
        match self.constraint() {
            Constraint::Gbnf => {
                if let Some(g) = grammar::gbnf(&self.protocol, req.actions) {
                    b["grammar"] = g.into();
                }
            }
            Constraint::Regex => {
                if let Some(r) = grammar::regex(&self.protocol, req.actions) {
                    b["structured_outputs"] = json!({"regex": r});
                    b["guided_regex"] = r.into();
                }
            }
            Constraint::Validate | Constraint::Off => {}
        }
        b
    }
}

impl<T: Transport> Policy for RemotePolicy<T> {
    async fn act(&mut self, req: &TurnRequest<'_>) -> Result<TurnReply> {
        let body = self.body(req).to_string();
        let url = format!("{}/chat/completions", self.endpoint.base);
        let (base, key) = (self.endpoint.base.clone(), self.endpoint.key.clone());
        let t0 = now();
        let first = std::cell::Cell::new(None::<f64>);
        let mut seen = String::new();
        let mut on_text = self.on_text.take();
        let r = with_retries(&mut self.transport, &base, "a chat completion", async |t: &mut T| {
            seen.clear();
            t.post(&url, key.as_deref(), &body, &mut |chunk: &str| {
                first.set(first.get().or_else(|| Some(now())));
                seen.push_str(chunk);
                if let Some(f) = on_text.as_mut() {
                    f(&seen);
                }
            })
            .await
        })
        .await;
        self.on_text = on_text;
        let r = r?;
        let c = read_completion(&r.body)
            .map_err(|e| Error::usage(format!("the server at {base} did not answer as an OpenAI-compatible server does: {e}")))?;
        let t1 = first.get().unwrap_or(t0);
        let mut reply = TurnReply {
            text: c.text,
            prefill_seconds: t1 - t0,
            decode_seconds: now() - t1,
            usage: c.usage,
            ..Default::default()
        };
        if let Some(u) = c.usage {
            reply.prefill_tokens = u.prompt_tokens;
            reply.decode_tokens = u.completion_tokens;
            reply.kv_tokens = u.prompt_tokens + u.completion_tokens;
        } else {
            reply.decode_tokens = c.pieces;
        }
        if c.finish.as_deref() == Some("length") {
            reply.repairs.push("max_tokens".into());
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_are_read_whole_or_streamed() {
        let whole = r#"{"choices":[{"message":{"role":"assistant","content":"<answer>click[x]</answer>"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#;
        let c = read_completion(whole).unwrap();
        assert_eq!((c.text.as_str(), c.usage, c.finish.as_deref()), ("<answer>click[x]</answer>", Some(Usage { prompt_tokens: 12, completion_tokens: 5 }), Some("stop")));
        let streamed = "data: {\"choices\":[{\"delta\":{\"content\":\"<ans\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"wer>\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let c = read_completion(streamed).unwrap();
        assert_eq!((c.text.as_str(), c.usage.unwrap().completion_tokens, c.pieces), ("<answer>", 2, 2));
        // No usage (llama-cpp-python's server): the text-carrying events count the tokens.
        let bare = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        let c = read_completion(bare).unwrap();
        assert_eq!((c.text.as_str(), c.usage, c.pieces), ("ab", None, 2));
        for bad in ["", "hello", "<html>502 Bad Gateway</html>", "{\"error\": \"x\"}", "data: not json\n", "{\"choices\": [{}]}"] {
            assert!(read_completion(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn servers_are_told_apart_by_their_models_owner() {
        assert_eq!(ServerKind::from_owner("llamacpp"), ServerKind::LlamaCpp);
        assert_eq!(ServerKind::from_owner("me"), ServerKind::LlamaCpp);
        assert_eq!(ServerKind::from_owner("vllm"), ServerKind::Vllm);
        assert_eq!(ServerKind::from_owner("library"), ServerKind::Ollama);
        assert_eq!(ServerKind::from_owner("openai"), ServerKind::Other);
    }

    #[test]
    fn the_key_is_never_printed() {
        let e = Endpoint { base: "http://x/v1".into(), model: "m".into(), key: Some("sk-secret".into()), kind: ServerKind::Other };
        assert!(!format!("{e:?}").contains("sk-secret"));
        let err = reply_error("http://x/v1", "the list of models", &HttpReply { status: 401, body: "bad key".into() });
        assert!(err.to_string().contains("refused the API key"));
    }
}
