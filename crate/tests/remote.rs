//! `mem1 run --remote`: the MEM1 loop with a policy served by a real OpenAI-compatible server,
//! llama-cpp-python's (llama.cpp), started here with the bundled base model and the shipped LoRA
//! adapter (`--lora_path`), from the venv `scripts/llama-venv.sh` builds; and servers that are
//! not there or not right: clear errors, no panic, no hang.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// llama-cpp-python's server on a free port, stopped when dropped.
struct LlamaServer {
    child: Child,
    url: String,
}

impl LlamaServer {
    fn start() -> LlamaServer {
        let py = repo().join(".cache/llama-venv/bin/python");
        assert!(py.exists(), "{} is missing: run `bash scripts/llama-venv.sh` (scripts/test.sh does)", py.display());
        let model = repo().join(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(model.exists(), "{} is missing: run scripts/fetch-models.sh", model.display());
        let port = free_port();
        let child = Command::new(py)
            .args(["-m", "llama_cpp.server", "--model", model.to_str().unwrap(), "--model_alias", "mem1-smollm2"])
            .args(["--lora_path", repo().join("models/mem1-smollm2-135m.lora.gguf").to_str().unwrap()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--n_ctx", "4096", "--n_threads", "2", "--verbose", "false"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut s = LlamaServer { child, url: format!("http://127.0.0.1:{port}/v1") };
        let t0 = Instant::now();
        while ureq::get(&format!("{}/models", s.url)).call().is_err() {
            if let Some(code) = s.child.try_wait().unwrap() {
                panic!("llama-cpp-python's server exited ({code}) before it answered");
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "llama-cpp-python's server did not answer in 120 s");
            std::thread::sleep(Duration::from_millis(250));
        }
        eprintln!("llama-cpp-python's server ready at {} in {:.1} s", s.url, t0.elapsed().as_secs_f64());
        s
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mem1 run ARGS` from the repository root: (exit code, JSON lines of stdout, stderr).
fn run(args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mem1")).arg("run").args(args).current_dir(repo()).output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (out.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_served_policy_plays_the_dev_goals_like_the_local_engine() {
    let server = LlamaServer::start();
    let goals = ["--goals", "dev", "--limit", "5", "--max-turns", "10", "--json", "--no-prompts"];
    let (code, remote, err) = run(&[&["--remote", &server.url, "--remote-model", "mem1-smollm2"][..], &goals[..]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("mem1 run: policy served \"mem1-smollm2\"") && err.contains("llama.cpp, constraint gbnf"), "{err}");
    let (code, local, err) = run(&[&["--backend", "cpu"][..], &goals[..]].concat());
    assert_eq!(code, 0, "{err}");
    let (rs, ls) = (remote.last().unwrap(), local.last().unwrap());
    let (r, l) = (rs["score"].as_f64().unwrap(), ls["score"].as_f64().unwrap());
    eprintln!("5 dev goals: served (llama.cpp, GBNF) score {r:.1}, {} invalid actions; local engine score {l:.1}, {} invalid", rs["invalid_actions"], ls["invalid_actions"]);
    for ep in &remote[..remote.len() - 1] {
        eprintln!("  served: reward {} turns {} per-turn context {} actions {}", ep["reward"], ep["turns"], ep["context_per_turn"], ep["actions"]);
        assert_eq!(ep["invalid_actions"], 0, "an invalid action through the grammar: {ep}");
        assert!(ep["error"].is_null(), "{ep}");
        // The server's usage: prompt tokens each turn, and the context they make.
        let per_turn = ep["per_turn"].as_array().unwrap();
        assert!(!per_turn.is_empty() && per_turn.iter().all(|t| t.as_u64().unwrap() > 300), "{ep}");
    }
    assert_eq!(rs["constraint"], "gbnf");
    assert_eq!(rs["model"], "mem1-smollm2");
    assert!((r - l).abs() <= 20.0, "served {r:.1} and local {l:.1} are more than 20 points apart");
}

/// A server on a free port that answers every connection with `reply(request line)`; `None`
/// closes the connection without a word (a server dying mid-reply).
fn fake_server(reply: impl Fn(&str) -> Option<String> + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            // The headers, then the body (Content-Length) unread beyond what is needed.
            let mut len = 0;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            match reply(&first) {
                Some(text) => {
                    let _ = s.write_all(text.as_bytes());
                }
                None => drop(s),
            }
        }
    });
    url
}

fn http(status: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

const MODELS: &str = r#"{"object":"list","data":[{"id":"m","object":"model","owned_by":"llamacpp"}]}"#;

#[test]
fn an_unreachable_or_broken_server_is_a_clear_error() {
    let goal = ["--goals", "dev", "--limit", "1", "--max-turns", "2", "--json", "--no-prompts", "--remote-timeout", "5"];
    let check = |url: &str, extra: &[&str], says: &str| {
        let t0 = Instant::now();
        let (code, lines, err) = run(&[&["--remote", url][..], extra, &goal[..]].concat());
        let all = format!("{err}\n{}", lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n"));
        assert!(!all.contains("panicked"), "{all}");
        assert!(all.contains(says), "{url} {extra:?}: wanted {says:?} in:\n{all}");
        assert!(t0.elapsed() < Duration::from_secs(60), "{url}: took {:?}", t0.elapsed());
        eprintln!("{url} {extra:?}: exit {code}: {}", all.lines().find(|l| l.contains(says)).unwrap_or(""));
        code
    };
    // Nothing listens: tried with backoff, then said.
    let closed = format!("http://127.0.0.1:{}/v1", free_port());
    assert_eq!(check(&closed, &[], "cannot reach the server"), 1);
    // Not an OpenAI-compatible server at all.
    let garbage = fake_server(|_| Some("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello garbage".into()));
    assert_eq!(check(&garbage, &[], "did not answer /models as an OpenAI-compatible server"), 1);
    // The key refused; a model it does not serve.
    let locked = fake_server(|_| Some(http("401 Unauthorized", r#"{"error":"invalid api key"}"#)));
    assert_eq!(check(&locked, &["--api-key", "sk-wrong-key"], "refused the API key"), 1);
    let models = fake_server(|_| Some(http("200 OK", MODELS)));
    assert_eq!(check(&models, &["--remote-model", "gpt-9"], "has no model \"gpt-9\" (it has: m)"), 1);
    // Models listed, but the completion is HTML; or the connection dies instead: the episode ends
    // with that error.
    let html = fake_server(|line| Some(if line.contains("/models") { http("200 OK", MODELS) } else { http("200 OK", "<html>oops</html>") }));
    check(&html, &[], "did not answer as an OpenAI-compatible server does");
    let dying = fake_server(|line| line.contains("/models").then(|| http("200 OK", MODELS)));
    check(&dying, &[], "cannot reach the server");
    // The key is never printed.
    let (_, lines, err) = run(&[&["--remote", &locked, "--api-key", "sk-wrong-key"][..], &goal[..]].concat());
    assert!(!err.contains("sk-wrong-key") && !lines.iter().any(|l| l.to_string().contains("sk-wrong-key")), "{err}");
}

#[test]
fn a_bad_remote_url_is_refused_before_anything() {
    let (code, _, err) = run(&["--remote", "ftp://x/v1", "--goals", "dev", "--limit", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not an http(s) URL"), "{err}");
    let (code, _, err) = run(&["--remote", "http://127.0.0.1:1/v1", "--remote-kind", "tgi", "--goals", "dev", "--limit", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("--remote-kind is auto, llamacpp, vllm, ollama or openai"), "{err}");
    let _ = TcpStream::connect("127.0.0.1:1");
}
