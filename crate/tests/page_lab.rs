//! The page lab (`mem1 page observe|check`) on the hostile pages of `tests/hostile/`: the
//! guard's verdicts natively, from the saved markup, must be the ones `tests/hostile.mjs` checks
//! in Chromium through the content script and the wasm build (`tests/hostile/attacks.json`);
//! and bad input is an error with exit code 2, never a panic.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `mem1 page ARGS`: (exit code, stdout, stderr).
fn page(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mem1")).arg("page").args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The verdict on `action` on `file` served at a local address, as JSON; `None` when the action
/// names nothing on the page (exit code 2: there is nothing to carry out).
fn verdict(file: &Path, url: &str, action: &str) -> Option<serde_json::Value> {
    let (code, out, err) = page(&["check", "--html", file.to_str().unwrap(), "--url", url, "--action", action, "--json"]);
    assert!(!err.contains("panicked"), "{err}");
    match code {
        0 => Some(serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out}: {e}"))),
        2 => None,
        c => panic!("{action} on {}: exit {c}: {err}", file.display()),
    }
}

#[test]
fn hostile_pages_get_the_same_verdicts_natively() {
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("tests/hostile/attacks.json")).unwrap()).unwrap();
    let (mut checked, mut failures) = (0, Vec::new());
    for (name, s) in spec.as_object().unwrap() {
        let lists = ["refused", "confirm", "allowed"].map(|k| s[k].as_array().cloned().unwrap_or_default());
        if lists.iter().all(Vec::is_empty) {
            continue;
        }
        let file = root().join("tests/hostile").join(name);
        assert!(file.exists(), "{} is in attacks.json with verdicts to check but is missing", file.display());
        let url = format!("http://127.0.0.1:8000/{name}");
        for (want, actions) in ["refuse", "confirm", "allow"].iter().zip(&lists) {
            for a in actions {
                let a = a.as_str().unwrap();
                let v = verdict(&file, &url, a);
                let got = v.as_ref().map(|v| v["verdict"].as_str().unwrap_or("?").to_string()).unwrap_or_else(|| "refuse (names nothing)".into());
                checked += 1;
                if !got.starts_with(want) {
                    failures.push(format!("{name}: {a}: {got} (want {want}): {v:?}"));
                }
            }
        }
    }
    eprintln!("page lab: {checked} verdicts checked on the hostile pages");
    assert!(failures.is_empty(), "{} verdicts differ:\n  {}", failures.len(), failures.join("\n  "));
    assert!(checked >= 50, "only {checked} verdicts: attacks.json lost its verdict lists?");
}

#[test]
fn observe_shows_what_the_agent_sees() {
    let file = root().join("tests/hostile/select.html");
    let (code, out, err) = page(&["observe", "--html", file.to_str().unwrap(), "--url", "https://shop.example/item", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let actions: Vec<&str> = v["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(actions, ["click[add to cart]", "click[ocean blue]", "click[sand]", "click[9]", "click[10]"]);
    assert!(v["observation"].as_str().unwrap().contains("Colour [SEP] ocean blue [SEP] sand"), "{v}");
    // The plain form: the observation, a blank line, an action a line.
    let (code, out, _) = page(&["observe", "--html", file.to_str().unwrap(), "--url", "https://shop.example/item"]);
    assert_eq!(code, 0);
    assert!(out.contains("\n\nclick[add to cart]\nclick[ocean blue]\n"), "{out}");
    // A real shop's page, cut to the live budget as the extension cuts it.
    let amz = root().join("../shared/webshop/pages/mock_parse_results_amz");
    assert!(amz.exists(), "{} is missing (the real shop pages live in ../shared/webshop)", amz.display());
    let (code, out, err) = page(&["observe", "--html", amz.to_str().unwrap(), "--url", "https://www.amazon.com/s?k=headphones", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["observation"].as_str().unwrap().contains("[page cut here: "));
    assert!(v["actions"].as_array().unwrap().len() <= 61);
}

#[test]
fn check_says_where_an_action_really_leads() {
    let file = root().join("tests/hostile/base.html");
    let v = verdict(&file, "http://127.0.0.1:8000/base.html", "click[next item]").unwrap();
    assert_eq!(v["verdict"], "refuse");
    assert_eq!(v["target"], "https://evil.example/shop/item/2", "resolved against <base href>");
    assert!(v["reason"].as_str().unwrap().contains("off this site"), "{v}");
    let (code, out, _) = page(&["check", "--html", file.to_str().unwrap(), "--url", "http://127.0.0.1:8000/base.html", "--action", "click[reviews]"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("refuse: ") && out.trim_end().ends_with("(https://evil.example/reviews)"), "{out}");
}

#[test]
fn bad_input_is_exit_code_2_with_a_message() {
    let file = root().join("tests/hostile/forms.html");
    let f = file.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["check", "--html", "/nonexistent.html", "--url", "https://a.example/", "--action", "click[x]"], "--html /nonexistent.html"),
        (&["check", "--html", f, "--url", "https://a.example/", "--action", "buy it all"], "not an action"),
        (&["check", "--html", f, "--url", "https://a.example/", "--action", "click[nothing here]"], "there is no \"nothing here\""),
        (&["check", "--html", f, "--url", "not a url", "--action", "click[update cart]"], "is not an http(s) URL"),
        (&["check", "--html", f, "--url", "https://a.example/"], "--action is required"),
        (&["observe", "--html", f], "--url is required"),
        (&["frobnicate"], "unknown command"),
    ];
    for (args, says) in cases {
        let (code, _, err) = page(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says) && !err.contains("panicked"), "{args:?}: {err}");
    }
}
