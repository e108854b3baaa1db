//! Server robustness (in-process and over real HTTP on 127.0.0.1), replay CLI, goals, catalog.
// Native: the browser tests are web_*.rs (wasm-pack test builds every test for wasm32).
#![cfg(not(target_arch = "wasm32"))]
use mem1::shop::catalog::Catalog;
use mem1::shop::goal::{dev_goals, draw_price_upper, generate_goals, parse_goals, Rng};
use mem1::shop::server::App;
use mem1::shop::Store;
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

fn app() -> Arc<App> {
    static APP: OnceLock<Arc<App>> = OnceLock::new();
    APP.get_or_init(|| Arc::new(App::new(Arc::new(Store::builtin(7).unwrap()), 7).unwrap())).clone()
}

#[test]
fn pages_and_errors_in_process() {
    let app = app();
    let r = app.handle("/dev_0");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"search_input\""));
    let r = app.handle("/search/dev_0?search_query=Loose+Fit+Tops");
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/search_results/dev_0/loose%20fit%20tops/1")));
    let r = app.handle("/search_results/dev_0/loose%20fit%20tops/1");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Page 1 (Total results: 50)") && r.body.contains("class=\"product-link\""));
    let asin = &app.store.catalog.products[app.store.search("loose fit tops")[0]].asin;
    let r = app.handle(&format!("/item_page/dev_0/{asin}/loose%20fit%20tops/1/%7B%7D"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Buy Now"));
    let r = app.handle(&format!("/item_sub_page/dev_0/{asin}/loose%20fit%20tops/1/Features/%7B%7D"));
    assert_eq!(r.status, 200);
    let r = app.handle(&format!("/done/dev_0/{asin}/%7B%7D"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Your score (min 0.0, max 1.0)") && r.body.contains("reward-breakdown"));
    let goal = app.handle("/api/goal/dev_3");
    assert!(goal.body.contains("\"asin\""));
    assert_eq!(app.handle("/fixed_0").status, 200);
    assert_eq!(app.handle("/some-user-17").status, 200);

    let long = "a".repeat(10_000);
    let bad = [
        ("/fixed_99999999", 404),
        ("/dev_20", 404),
        ("/bad%20session!", 404),
        ("/item_page/dev_0/B000NOPE00/x/1/%7B%7D", 404),
        ("/item_page/dev_0/B09P87V3LZ'/x/1/%7B%7D", 404),
        (&*format!("/item_page/dev_0/{asin}/x/1/not-json"), 400),
        (&*format!("/item_page/dev_0/{asin}/x/1/%5B1%2C2%5D"), 400),
        (&*format!("/item_page/dev_0/{asin}/x/0/%7B%7D"), 400),
        (&*format!("/item_sub_page/dev_0/{asin}/x/1/Secrets/%7B%7D"), 400),
        ("/search_results/dev_0/shoes/0", 404),
        ("/search_results/dev_0/shoes/6", 404),
        ("/search_results/dev_0/shoes/99999999999999999999999", 400),
        ("/search_results/dev_0/shoes/-1", 400),
        ("/search_results/dev_0/%FF%FE%00/1", 400),
        ("/search_results/dev_0/%zz/1", 400),
        ("/search_results/dev_0/a%00b/1", 400),
        (&*format!("/search_results/dev_0/{}/1", "x".repeat(600)), 400),
        (&*format!("/{long}"), 414),
        ("/done/dev_0/B000NOPE00/%7B%7D", 404),
        ("/nothing/here/at/all", 404),
        ("/search_results/dev_0", 404),
    ];
    for (url, status) in bad {
        let r = app.handle(url);
        assert_eq!(r.status, status, "{url}: {}", r.body);
        assert!(r.body.contains("Error"), "{url}");
    }
    // a search with no hits still renders a page
    let r = app.handle("/search_results/dev_0/qqqqzzzz/1");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Total results: 0"));
}

fn http_get(port: u16, path: &[u8]) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    s.write_all(b"GET ").ok()?;
    s.write_all(path).ok()?;
    s.write_all(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf[..buf.len().min(20)]).to_string();
    head.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn server_survives_a_burst_of_bad_requests() {
    let app = app();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    std::thread::spawn(move || mem1::shop::server::serve(app, "127.0.0.1", port, 2));
    let mut up = false;
    for _ in 0..100 {
        if http_get(port, b"/dev_0") == Some(200) {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(up, "server did not come up");
    let mut rng = Rng::new(1);
    for i in 0..120u32 {
        let path: Vec<u8> = match i % 6 {
            0 => format!("/search_results/dev_0/{}/{}", "%41".repeat(i as usize * 10), i).into_bytes(),
            1 => (0..200).map(|_| (rng.next_u64() % 94 + 33) as u8).filter(|b| *b != b'?').collect::<Vec<u8>>(),
            2 => format!("/item_page/fixed_{}/B0{}/q/1/%7B", i * 1000, i).into_bytes(),
            3 => format!("/done/dev_1/B09P87V3LZ/{}", "%7B%22a%22%3A1%7D").into_bytes(),
            4 => {
                let mut p = b"/search/dev_0?search_query=".to_vec();
                p.extend((0..300).map(|_| (rng.next_u64() % 256) as u8).map(|b| if b.is_ascii_whitespace() { b'x' } else { b }));
                p
            }
            _ => format!("/search_results/dev_0/shoes/{}", u64::MAX).into_bytes(),
        };
        let _ = http_get(port, &[b"/".as_slice(), &path].concat());
    }
    assert_eq!(http_get(port, b"/search_results/dev_0/shoes/1"), Some(200), "server down after the burst");
}

#[test]
fn replay_cli_prints_one_line_per_state() {
    let goal = format!("{}/data/dev_goals.json", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mem1"))
        .args(["shop", "replay", "--goal", &goal, "--index", "1"])
        .args(["--action", "search[women's blazer]", "--action", "click[nonsense]", "--action", "click[Back to Search]"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert!(l["observation"].is_string() && l["available_actions"].is_array());
        assert_eq!(l["reward"], 0.0);
        assert_eq!(l["done"], false);
    }
    assert!(lines[0]["observation"].as_str().unwrap().starts_with("WebShop [SEP] Instruction: [SEP] "));
    assert_eq!(lines[0]["available_actions"], serde_json::json!(["search[...]"]));
    assert!(lines[1]["observation"].as_str().unwrap().contains("Page 1 (Total results: 50)"));
    assert_eq!(lines[2]["observation"], lines[1]["observation"]);
    assert_eq!(lines[2]["info"]["valid"], false);
    assert_eq!(lines[3]["observation"], lines[0]["observation"]);

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_mem1"))
        .args(["shop", "replay", "--goal", "/nonexistent.json"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn goals_generate_reproducibly() {
    let store = Store::builtin(0).unwrap();
    let a = generate_goals(&store.catalog, &store.prices, &mut Rng::new(5)).unwrap();
    let b = generate_goals(&store.catalog, &store.prices, &mut Rng::new(5)).unwrap();
    assert_eq!(a, b);
    let templates: serde_json::Value = serde_json::from_slice(mem1::shop::goal::GOAL_TEMPLATES_JSON).unwrap();
    let expected: u64 = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["extra"]["n_option_combinations"].as_u64().unwrap_or(1))
        .sum();
    println!("{} goals from {} templates (expected {expected})", a.len(), templates.as_array().unwrap().len());
    assert_eq!(a.len() as u64, expected);
    for g in &a {
        let p = store.catalog.get(&g.asin).unwrap();
        let price = store.prices[store.catalog.index_of(&g.asin).unwrap()];
        if g.price_upper < 1_000_000.0 {
            let cands: Vec<f64> = mem1::shop::goal::price_range().filter(|x| *x > price).take(4).collect();
            assert!(cands.contains(&g.price_upper) && g.price_upper > cands[0], "{} {price} {}", g.asin, g.price_upper);
            assert!(g.instruction_text.ends_with(&format!(", and price lower than {:.2} dollars", g.price_upper)));
        }
        for (k, v) in &g.goal_options {
            if !k.is_empty() {
                assert!(p.option_values(k).unwrap().contains(v));
                assert!(g.instruction_text.contains(&format!("{k}: {v}")));
            }
        }
    }
    let mut rng = Rng::new(3);
    assert_eq!(draw_price_upper(985.0, &mut rng).0, 1_000_000.0);
    let devs = dev_goals().unwrap();
    assert_eq!(devs.len(), 20);
    assert_eq!(devs[0].goal_options, vec![("color".to_string(), "c5-purple".to_string()), ("size".into(), "x-large".into())]);
    assert_eq!(parse_goals(br#"{"asin": "B0", "instruction_text": "x", "goal_options": ["a"]}"#).unwrap()[0].price_upper, 1_000_000.0);
    assert!(parse_goals(b"[1, 2]").is_err());
    assert!(parse_goals(b"nope").is_err());
}

#[test]
fn catalog_loads_fast_and_rejects_bad_input() {
    let t = std::time::Instant::now();
    let c = Catalog::from_gzip(mem1::shop::catalog::PRODUCTS_GZ).unwrap();
    println!("catalog: {} products in {:?}", c.len(), t.elapsed());
    assert_eq!(c.len(), 1000);
    assert!(Catalog::from_json(b"{}").unwrap_err().to_string().contains("malformed"));
    assert!(Catalog::from_json(b"[]").is_err());
    let dup = br#"[{"asin":"B1","Title":"t","pricing":[1.0],"Price":"$1.0"},{"asin":"B1","Title":"u","pricing":[2.0],"Price":"$2.0"}]"#;
    assert!(Catalog::from_json(dup).unwrap_err().to_string().contains("duplicate"));
    let neg = br#"[{"asin":"B1","Title":"t","pricing":[-1.0],"Price":"$1.0"}]"#;
    assert!(Catalog::from_json(neg).is_err());
    assert!(Catalog::from_gzip(b"not gzip").unwrap_err().to_string().contains("decompress"));
}
