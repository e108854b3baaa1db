//! Browser byte sources: a model streamed tensor by tensor from an HTTP server ([`HttpSource`],
//! `fetch` with `Range` requests) or from a user-picked file ([`BlobSource`], `Blob.slice`), so a
//! multi-gigabyte GGUF reaches the GPU buffers without ever being whole in wasm memory.
//!
//! Both work in a window and in a worker (they use the global scope's `fetch`).
use crate::gguf::ByteSource;
use crate::{Error, Result};
use gloo_net::http::{Method, RequestBuilder, Response};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

/// A server that ignores `Range` may still serve a file up to this size whole (kept in memory).
const MAX_WHOLE_BYTES: u64 = 16 << 20;

fn io(msg: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(msg.to_string()))
}

/// A readable message from a JS exception (an `Error`'s message, a string, or its debug form).
fn js_msg(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// `method url`, with `Range: bytes=a-b` when given (gloo's fetch: a window's or a worker's).
async fn fetch(url: &str, method: Method, range: Option<(u64, u64)>) -> Result<Response> {
    let mut req = RequestBuilder::new(url).method(method.clone());
    if let Some((a, b)) = range {
        req = req.header("Range", &format!("bytes={a}-{b}"));
    }
    req.send().await.map_err(|e| io(format!("{method} {url} failed: {e} (server down, or CORS not allowed?)")))
}

async fn body(resp: &Response, what: &str) -> Result<Vec<u8>> {
    resp.binary().await.map_err(|e| io(format!("{what}: reading the body: {e}")))
}

/// Drops a response body we do not want without downloading it.
fn discard(resp: &Response) {
    if let Some(b) = resp.body() {
        let _ = b.cancel();
    }
}

/// The total size from `Content-Range: bytes a-b/total` (`None` if absent, unreadable, or `*`).
fn content_range_total(resp: &Response) -> Option<u64> {
    let v = resp.headers().get("content-range")?;
    v.rsplit('/').next()?.trim().parse().ok()
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers().get("content-length")?.trim().parse().ok()
}

/// A file on an HTTP(S) server, read with `Range` requests. The server must answer ranged GETs with
/// 206 and, when cross-origin, allow the `Range` request header and expose `Content-Range` (or
/// `Content-Length` on HEAD) through CORS.
pub struct HttpSource {
    url: String,
    len: u64,
    /// The whole file, when a server that ignores `Range` sent a small one in full.
    whole: Option<Vec<u8>>,
    /// Requests made and bytes received (for tests and progress displays).
    pub requests: u64,
    pub bytes_read: u64,
}

impl HttpSource {
    /// Finds the file's length with a one-byte ranged GET (falling back on a HEAD request for the
    /// length when `Content-Range` is not exposed), and checks that the server honours `Range`.
    pub async fn open(url: &str) -> Result<HttpSource> {
        let resp = fetch(url, Method::GET, Some((0, 0))).await?;
        let status = resp.status();
        let mut src = HttpSource { url: url.to_string(), len: 0, whole: None, requests: 1, bytes_read: 0 };
        match status {
            206 => {
                let total = content_range_total(&resp);
                let _ = body(&resp, url).await?;
                src.bytes_read += 1;
                src.len = match total {
                    Some(n) => n,
                    None => src.head_length().await?,
                };
            }
            200 => {
                // The server ignored Range: acceptable only for a small file, read whole once.
                let n = content_length(&resp);
                match n {
                    Some(n) if n <= MAX_WHOLE_BYTES => {
                        let all = body(&resp, url).await?;
                        src.bytes_read += all.len() as u64;
                        src.len = all.len() as u64;
                        src.whole = Some(all);
                    }
                    _ => {
                        discard(&resp);
                        let size = n.map(|n| format!("the whole {n}-byte file")).unwrap_or("the whole file".into());
                        return Err(io(format!(
                            "the server at {url} ignores HTTP Range requests (it answered a ranged GET with 200 and \
                             {size}); models are streamed in pieces, so serve them from a server that supports Range \
                             (status 206 Partial Content)"
                        )));
                    }
                }
            }
            416 => {
                // Range not satisfiable for bytes=0-0: an empty file.
                discard(&resp);
                src.len = content_range_total(&resp).unwrap_or(0);
            }
            s => {
                discard(&resp);
                return Err(io(format!("GET {url}: HTTP {s} {}", resp.status_text())));
            }
        }
        Ok(src)
    }

    async fn head_length(&mut self) -> Result<u64> {
        self.requests += 1;
        let resp = fetch(&self.url, Method::HEAD, None).await?;
        if !resp.ok() {
            return Err(io(format!("HEAD {}: HTTP {} {}", self.url, resp.status(), resp.status_text())));
        }
        content_length(&resp).ok_or_else(|| {
            io(format!(
                "cannot tell the size of {}: neither Content-Range (ranged GET) nor Content-Length (HEAD) is \
                 readable; a cross-origin server must send Access-Control-Expose-Headers: Content-Range",
                self.url
            ))
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl ByteSource for HttpSource {
    fn len(&self) -> u64 {
        self.len
    }

    async fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset.checked_add(len as u64).filter(|&e| e <= self.len).ok_or_else(|| {
            Error::gguf(format!("read of {len} bytes at {offset} past the end of {} ({} bytes)", self.url, self.len))
        })?;
        if let Some(all) = &self.whole {
            return Ok(all[offset as usize..end as usize].to_vec());
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        self.requests += 1;
        let resp = fetch(&self.url, Method::GET, Some((offset, end - 1))).await?;
        match resp.status() {
            206 => {}
            200 => {
                discard(&resp);
                return Err(io(format!(
                    "the server at {} ignored a Range request (answered 200 with the whole file); serve the model \
                     from a server that supports Range",
                    self.url
                )));
            }
            s => {
                discard(&resp);
                return Err(io(format!("GET {} bytes {offset}-{}: HTTP {s} {}", self.url, end - 1, resp.status_text())));
            }
        }
        let data = body(&resp, &self.url).await?;
        if data.len() != len {
            return Err(io(format!(
                "GET {} bytes {offset}-{}: got {} bytes instead of {len} (file changed on the server?)",
                self.url,
                end - 1,
                data.len()
            )));
        }
        self.bytes_read += len as u64;
        Ok(data)
    }
}

/// A `Blob` or `File` (e.g. from `<input type=file>` or drag and drop), read slice by slice.
pub struct BlobSource {
    blob: Blob,
    len: u64,
}

impl BlobSource {
    pub fn new(blob: Blob) -> BlobSource {
        let len = blob.size() as u64;
        BlobSource { blob, len }
    }
    /// A `File` is a `Blob`.
    pub fn from_file(file: &web_sys::File) -> BlobSource {
        Self::new(file.clone().unchecked_into::<Blob>())
    }
}

impl ByteSource for BlobSource {
    fn len(&self) -> u64 {
        self.len
    }

    async fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset.checked_add(len as u64).filter(|&e| e <= self.len).ok_or_else(|| {
            Error::gguf(format!("read of {len} bytes at {offset} past the end of the file ({} bytes)", self.len))
        })?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let part = self
            .blob
            .slice_with_f64_and_f64(offset as f64, end as f64)
            .map_err(|e| io(format!("Blob.slice: {}", js_msg(&e))))?;
        let buf = JsFuture::from(part.array_buffer())
            .await
            .map_err(|e| io(format!("reading the file at {offset}: {}", js_msg(&e))))?;
        let data = Uint8Array::new(&buf).to_vec();
        if data.len() != len {
            return Err(io(format!("read {} bytes at {offset} instead of {len}", data.len())));
        }
        Ok(data)
    }
}

/// Resolves after `ms` milliseconds (`setTimeout` of the global scope: a window or a worker), so
/// that tasks the browser has queued (a device's `lost` promise, say) run meanwhile.
pub async fn pause(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}
