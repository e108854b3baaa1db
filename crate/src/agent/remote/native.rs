//! The native [`Transport`]: blocking HTTP (ureq) on the episode loop's own thread, with a
//! connect timeout and a read timeout (a server that dies mid-reply ends the request, and the
//! episode, with that error instead of a hang).
use super::{HttpReply, Transport};
use crate::{Error, Result};
use std::io::Read;
use std::time::Duration;

pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    /// `read_timeout`: the longest the server may stay silent while a reply is due.
    pub fn new(read_timeout: Duration) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(read_timeout))
            .timeout_recv_body(Some(read_timeout))
            .http_status_as_error(false)
            .build();
        Http { agent: config.into() }
    }
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

/// Reads a body as it arrives, handing each piece to `chunk` (never splitting a UTF-8 character).
fn read_body(mut r: impl Read, chunk: &mut dyn FnMut(&str)) -> Result<String> {
    let (mut all, mut pending) = (String::new(), Vec::new());
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let valid = match std::str::from_utf8(&pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => return Err(io("the reply is not UTF-8 text")),
        };
        let text = std::str::from_utf8(&pending[..valid]).expect("checked above").to_string();
        pending.drain(..valid);
        if !text.is_empty() {
            chunk(&text);
            all.push_str(&text);
        }
    }
    if !pending.is_empty() {
        return Err(io("the reply ends inside a UTF-8 character"));
    }
    Ok(all)
}

impl Transport for Http {
    async fn get(&mut self, url: &str, key: Option<&str>) -> Result<HttpReply> {
        let mut req = self.agent.get(url);
        if let Some(k) = key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let resp = req.call().map_err(io)?;
        let status = resp.status().as_u16();
        let body = read_body(resp.into_body().into_reader(), &mut |_| {})?;
        Ok(HttpReply { status, body })
    }

    async fn post(&mut self, url: &str, key: Option<&str>, body: &str, chunk: &mut dyn FnMut(&str)) -> Result<HttpReply> {
        let mut req = self.agent.post(url).header("Content-Type", "application/json");
        if let Some(k) = key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let resp = req.send(body).map_err(io)?;
        let status = resp.status().as_u16();
        let body = read_body(resp.into_body().into_reader(), chunk)?;
        Ok(HttpReply { status, body })
    }

    async fn sleep(&mut self, ms: u32) {
        std::thread::sleep(Duration::from_millis(ms as u64));
    }
}
