//! Writes the seed corpora for the fuzz targets (`crate/fuzz`): `cargo run --release --example
//! fuzz_seeds -- DIR` fills DIR/{gguf,tokenizer,action,observe}
//! with small well-formed inputs (tiny models with tokenizers, the store's pages, the test pages,
//! model turns), so the fuzzers start from the shapes real inputs have.

// Native only: `wasm-pack test` builds every example for wasm32 too.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use mem1::gguf::Value;
    use mem1::quant::GgmlType;
    use mem1::shop::env::{Env, Store};
    use mem1::shop::goal::dev_goals;
    use mem1::synthetic::{synthetic_gguf_with, Shape};
    use serde_json::json;
    use std::path::Path;
    use std::sync::Arc;

    /// GPT-2's byte → printable-character map (byte-level BPE vocabularies are written in it).
    fn byte_chars() -> Vec<char> {
        let printable = |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        let mut extra = 0;
        (0..256u32)
            .map(|b| {
                if !printable(b) {
                    extra += 1;
                }
                char::from_u32(if printable(b) { b } else { 255 + extra }).unwrap()
            })
            .collect()
    }

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a shopper.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";

    /// Tokens, merges and types of a toy byte-level BPE: the 256 bytes, a few merges, ChatML tokens.
    fn toy_vocab() -> (Vec<String>, Vec<String>, Vec<i32>) {
        let bc = byte_chars();
        let mut tokens: Vec<String> = bc.iter().map(|c| c.to_string()).collect();
        let g = bc[b' ' as usize];
        let merges: Vec<String> = vec![format!("{g} s"), "e r".into(), "h e".into(), format!("{g}s h"), "o e".into()];
        for m in &merges {
            tokens.push(m.replace(' ', ""));
        }
        let mut types = vec![1; tokens.len()];
        for special in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
            tokens.push(special.into());
            types.push(3);
        }
        (tokens, merges, types)
    }

    fn tokenizer_meta(pre: &str) -> Vec<(&'static str, Value)> {
        let (tokens, merges, types) = toy_vocab();
        let n = tokens.len() as u32;
        vec![
            ("tokenizer.ggml.model", Value::Str("gpt2".into())),
            ("tokenizer.ggml.pre", Value::Str(pre.into())),
            ("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::Str).collect())),
            ("tokenizer.ggml.merges", Value::Array(merges.into_iter().map(Value::Str).collect())),
            ("tokenizer.ggml.token_type", Value::Array(types.into_iter().map(Value::I32).collect())),
            ("tokenizer.ggml.eos_token_id", Value::U32(n - 1)),
            ("tokenizer.ggml.bos_token_id", Value::U32(n - 3)),
            ("tokenizer.chat_template", Value::Str(CHATML.into())),
        ]
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    pub fn main() {
        let root = std::env::args().nth(1).expect("usage: fuzz_seeds DIR");
        let root = Path::new(&root);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for t in ["gguf", "tokenizer", "action", "observe"] {
            std::fs::create_dir_all(root.join(t)).unwrap();
        }

        // gguf: tiny models of both architectures, in the block types the engine reads, with tokenizers.
        let vocab = toy_vocab().0.len();
        let tiny = |arch: &'static str, d: usize| Shape { arch, layers: 1, d, heads: 2, kv: 1, ff: d * 2, vocab, tied: arch == "qwen2" };
        let dir = root.join("gguf");
        for (arch, ty, d, pre) in [
            ("llama", GgmlType::Q8_0, 32, "smollm"),
            ("qwen2", GgmlType::Q8_0, 32, "qwen2"),
            ("llama", GgmlType::Q4_0, 32, "llama-bpe"),
            ("qwen2", GgmlType::F32, 16, "default"),
            ("qwen2", GgmlType::Q4K, 256, "qwen2"),
        ] {
            let meta = tokenizer_meta(pre);
            write(&dir, &format!("{arch}-{ty:?}-{d}"), &synthetic_gguf_with(&tiny(arch, d), ty, 64, &meta));
        }

        // gguf: a LoRA adapter for the model adapters are merged into (mem1::fuzzing::adapter_base).
        let mut base = mem1::fuzzing::adapter_base();
        let g = pollster::block_on(mem1::gguf::read_header(&mut base)).unwrap();
        let mut ts = Vec::new();
        for t in g.tensors.iter().filter(|t| t.dims.len() == 2 && t.name.starts_with("blk.")) {
            let (rows, cols) = t.rows_cols();
            let f32s = |n: u64| (0..n).flat_map(|i| ((i % 7) as f32 * 0.01).to_le_bytes()).collect::<Vec<u8>>();
            ts.push(mem1::gguf::write::Tensor { name: format!("{}.lora_a", t.name), dims: vec![cols, 2], ty: GgmlType::F32, data: f32s(cols * 2) });
            ts.push(mem1::gguf::write::Tensor { name: format!("{}.lora_b", t.name), dims: vec![2, rows], ty: GgmlType::F32, data: f32s(rows * 2) });
        }
        let meta = [
            ("general.architecture", Value::Str("llama".into())),
            ("general.type", Value::Str("adapter".into())),
            ("adapter.type", Value::Str("lora".into())),
            ("adapter.lora.alpha", Value::F32(4.0)),
        ];
        write(&dir, "lora-adapter", &mem1::gguf::write::gguf(&meta, &ts));

        // tokenizer: mode byte, then tokens / merges / template separated by blank lines; and JSON.
        let dir = root.join("tokenizer");
        let (tokens, merges, _) = toy_vocab();
        for mode in 1..=7u8 {
            let mut s = vec![mode];
            s.extend(format!("{}\n\n{}\n\n{}", tokens.join("\n"), merges.join("\n"), CHATML).bytes());
            write(&dir, &format!("gguf-{mode}"), &s);
        }
        let json = serde_json_tokenizer(&tokens, &merges);
        let mut s = vec![0u8];
        s.extend(json.bytes());
        write(&dir, "json", &s);

        // action: model turns and actions, good and bad.
        let dir = root.join("action");
        for (i, t) in [
            "<think>need red shoes</think><summary>goal: red shoes under $40; tried: nothing</summary><answer>search[red shoes]</answer>",
            "<summary>on item B07; size 8 set</summary><answer>click[buy now]</answer>",
            "<think>x</think><search>who wrote it</search>",
            "<answer>click[< prev]",
            "click[https://evil.example/pay]",
            "search[]",
            "javascript:alert(1)",
            "//evil.example/x",
            "HTTPS://Shop.Example:443/item",
            "Place   ORDER",
        ]
        .iter()
        .enumerate()
        {
            write(&dir, &format!("a{i}"), t.as_bytes());
        }

        // observe: every kind of store page (a short scripted walk per goal), the test pages.
        let dir = root.join("observe");
        let store = Arc::new(Store::builtin(0).unwrap());
        for (i, goal) in dev_goals().unwrap().into_iter().take(3).enumerate() {
            let mut env = Env::new(store.clone(), goal).unwrap();
            write(&dir, &format!("g{i}-search"), env.html().as_bytes());
            let words: Vec<&str> = env.task().instruction_text.split_whitespace().take(4).collect();
            env.step(&format!("search[{}]", words.join(" ")));
            write(&dir, &format!("g{i}-results"), env.html().as_bytes());
            let first = env.observe().clickables.iter().find(|c| c.key.starts_with('b') && c.key.len() == 10).map(|c| c.key.clone());
            if let Some(asin) = first {
                env.step(&format!("click[{asin}]"));
                write(&dir, &format!("g{i}-item"), env.html().as_bytes());
                env.step("click[description]");
                write(&dir, &format!("g{i}-description"), env.html().as_bytes());
            }
        }
        for f in ["checkout.html", "ordered.html"] {
            write(&dir, f, &std::fs::read(repo.join("tests/pages").join(f)).unwrap());
        }
        // A page snapshot as the extension's content script makes it: layout facts on each element
        // (see observe::LAYOUT_ATTR), clip paths, transforms and backgrounds among them.
        let lay = |id: u32, paint: &str| format!(r#"data-mem1-id="{id}" data-mem1-layout="block|visible|visible|1|300|20|1|10|{}|16|0|{paint}""#, 20 * id);
        let snapshot = format!(
            "<html {}><body {}><form action=\"/search\" {}><input type=\"search\" name=\"q\" {}></form>\
             <div {}><p {}>dark on dark</p></div><p {}>clipped</p><p {}>dot</p><p {}>squashed</p>\
             <a href=\"/item/1\" {}>over an image</a><button {}>Buy Now</button></body></html>",
            lay(0, "rgb(0, 0, 0)|rgb(255, 255, 255)|none|none|none"),
            lay(1, "rgb(0, 0, 0)|rgba(0, 0, 0, 0)|none|none|none"),
            lay(2, "rgb(0, 0, 0)|rgba(0, 0, 0, 0)|none|none|none"),
            lay(3, "rgb(0, 0, 0)|rgb(255, 255, 255)|none|none|none"),
            lay(4, "rgb(255, 255, 255)|rgb(17, 17, 17)|none|none|none"),
            lay(5, "rgb(21, 21, 21)|rgba(0, 0, 0, 0)|none|none|none"),
            lay(6, "rgb(0, 0, 0)|rgba(0, 0, 0, 0)|none|none|inset(0px 0px 20px 0px round 4px)"),
            lay(7, "rgb(0, 0, 0)|rgba(0, 0, 0, 0)|none|none|circle(0px at 50% 50%)"),
            lay(8, "rgb(0, 0, 0)|rgba(0, 0, 0, 0)|none|matrix(1, 0, 0, 0, 0, 0)|none"),
            lay(9, "rgb(0, 0, 0)|rgba(0, 0, 0, 0)|image|none|ellipse(10px 0% at 50% 50%)"),
            lay(10, "rgb(0, 0, 0)|rgb(240, 173, 78)|none|matrix(0, 1, -1, 0, 0, 0)|inset(10%)"),
        );
        write(&dir, "snapshot", snapshot.as_bytes());
        eprintln!("seeds written under {}", root.display());
    }

    /// A minimal `tokenizer.json` for the same toy vocabulary.
    fn serde_json_tokenizer(tokens: &[String], merges: &[String]) -> String {
        let vocab: serde_json::Map<String, serde_json::Value> =
            tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
        let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true});
        json!({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
            "pre_tokenizer": byte_level, "post_processor": null, "decoder": byte_level,
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges}})
        .to_string()
    }
}
