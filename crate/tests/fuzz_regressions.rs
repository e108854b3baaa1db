//! Every input a fuzzer crashed on (`tests/fuzz/<target>/`, named for its bug), replayed through
//! the same code the fuzz target runs (`mem1::fuzzing`, whose own invariants it checks), and then
//! held to what its fix made of it: each kept input has an expectation below, and a kept input
//! without one fails the test. A file here is added with its fix and its expectation.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
use mem1::gguf::{self, Parse};
use mem1::observe::native::observe_html;
use mem1::observe::{ClickKind, MAX_CLICK_TEXT};
use mem1::tokenizer::Tokenizer;
use std::path::Path;

/// The kept inputs of `target`, by file name.
fn kept(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Replays every kept input of `target` through `run` (the fuzz body), then through its
/// expectation in `expect`; fails on a kept input `expect` does not name.
fn replay(target: &str, run: impl Fn(&[u8]), expect: &[(&str, fn(&[u8]))]) {
    let inputs = kept(target);
    assert!(!inputs.is_empty(), "no kept input for the {target} target");
    for (name, data) in &inputs {
        eprintln!("{target}: {name}");
        run(data);
        let (_, check) = expect
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("tests/fuzz/{target}/{name} has no expectation in fuzz_regressions.rs: say what its fix guarantees"));
        check(data);
    }
    for (n, _) in expect {
        assert!(inputs.iter().any(|(name, _)| name == n), "tests/fuzz/{target}/{n} is expected but missing");
    }
}

/// The GGUF header parse's error message (it must be one, not a header).
fn gguf_error(data: &[u8]) -> String {
    match gguf::parse(data, data.len() as u64) {
        Err(e) => e.to_string(),
        Ok(Parse::Done(_)) => panic!("the header parses"),
        Ok(Parse::NeedBytes(n)) => panic!("the parser asks for {n} bytes of a {}-byte file", data.len()),
    }
}

#[test]
fn gguf_crashes_stay_fixed() {
    replay(
        "gguf",
        mem1::fuzzing::gguf,
        &[
            // A string length near 2^64 once wrapped the read position around.
            ("string-length-overflows-position", |d| {
                let e = gguf_error(d);
                assert!(e.contains("truncated file"), "{e}");
            }),
            // 2 x 2^62 + 16 f32 elements: the byte size once wrapped to 128 and passed the
            // end-of-file check.
            ("tensor-byte-size-overflows", |d| {
                let e = gguf_error(d);
                assert!(e.contains("larger than any file"), "{e}");
            }),
            // The loader had kept one copy's bytes while the config checked the other's shape.
            ("tensor-named-twice", |d| {
                let e = gguf_error(d);
                assert!(e.contains("appears twice"), "{e}");
            }),
        ],
    );
}

#[test]
fn tokenizer_crashes_stay_fixed() {
    replay(
        "tokenizer",
        mem1::fuzzing::tokenizer,
        &[("json-cut-inside-decoder", |d| {
            // A tokenizer.json cut short is refused with a message, not loaded half.
            assert_eq!(d[0], 0, "a tokenizer.json input");
            let text = std::str::from_utf8(&d[1..]).unwrap();
            let e = Tokenizer::from_json(text, None).err().expect("a cut tokenizer.json must not load").to_string();
            assert!(e.contains("tokenizer.json"), "{e}");
        })],
    );
}

#[test]
fn observe_crashes_stay_fixed() {
    replay(
        "observe",
        |d| mem1::fuzzing::observe(&String::from_utf8_lossy(d)),
        &[
            // A 211-character radio value had become a click action: values over the cap are
            // not offered.
            ("option-value-over-the-click-cap", |d| {
                let o = observe_html(&String::from_utf8_lossy(d));
                let options: Vec<_> = o.clickables.iter().filter(|c| matches!(c.kind, ClickKind::Option { .. })).collect();
                assert!(!options.is_empty(), "the page's short option is no longer offered");
                assert!(options.iter().all(|c| c.key.chars().count() <= MAX_CLICK_TEXT), "{options:?}");
            }),
            // A value starting with a line break: offered trimmed, without control characters,
            // so its own click action names it.
            ("option-value-with-a-line-break", |d| {
                let o = observe_html(&String::from_utf8_lossy(d));
                let options: Vec<_> = o.clickables.iter().filter(|c| matches!(c.kind, ClickKind::Option { .. })).collect();
                assert!(options.len() >= 3, "{options:?}");
                for c in options {
                    assert!(c.key == c.key.trim() && !c.key.chars().any(char::is_control), "{:?}", c.key);
                    assert!(o.find_clickable(&c.key).is_some(), "{:?} is not found by its own name", c.key);
                }
            }),
        ],
    );
}

