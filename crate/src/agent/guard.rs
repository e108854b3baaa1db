//! What the agent may do on a live page (the extension): never leave the site, never buy without
//! the shopper's yes. Every action is judged by where it really leads: the URL a browser would go
//! to, resolved as the browser resolves it (the document's base URL, `<base href>` included, a
//! link's `href`, a submit button's `formaction` or its form's `action`, the search box's own
//! form), never by its label alone. Pure functions over the observation, so the rules are tested
//! natively (and in the page lab, `mem1 page check`) and the browser only carries them out.
use crate::observe::{ClickKind, Observation};
use crate::shop::action::{parse_action, Action};
use serde::Serialize;
use url::Url;

/// Words of a purchase-like control (lowercased, whole phrase inside the key).
const PURCHASE: [&str; 17] = [
    "buy now",
    "buy it now",
    "place order",
    "place your order",
    "submit order",
    "confirm order",
    "complete order",
    "complete purchase",
    "order now",
    "checkout",
    "check out",
    "proceed to payment",
    "payment",
    "pay now",
    "purchase",
    "1-click",
    "one-click",
];

/// Whether clicking a control with this key (its text) could spend money: "Buy Now", "Place
/// order", checkout, payment. Such a click needs the shopper's confirmation first.
pub fn is_purchase(key: &str) -> bool {
    // Letters and digits only, look-alikes folded, so that "B u y  N o w", "Buy\u{200b}Now",
    // "ＢＵＹ ＮＯＷ" and Cyrillic "Вuу Nоw" match too.
    let k = squash(key);
    k == "buy" || k == "pay" || PURCHASE.iter().any(|p| k.contains(&squash(p)))
}

/// Lowercase letters and digits of `s`, look-alikes of Latin letters folded to them (fullwidth
/// forms, mathematical alphanumerics, small capitals, Cyrillic and Greek homoglyphs: see
/// [`latin_lookalike`]); everything else (spaces, punctuation, zero-width and other invisible
/// format characters) dropped.
fn squash(s: &str) -> String {
    s.chars().map(|c| latin_lookalike(c).unwrap_or(c)).filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The ASCII letter or digit `c` is drawn like, for characters a page may use to write "Buy Now"
/// that does not read as it: `Ｂｕｙ`, `𝐁𝐮𝐲`, `ʙᴜʏ`, Cyrillic `Вυу`.
fn latin_lookalike(c: char) -> Option<char> {
    const AZ: &[u8; 52] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let u = c as u32;
    let ascii = match u {
        // Fullwidth ASCII.
        0xFF01..=0xFF5E => return char::from_u32(u - 0xFEE0),
        // Mathematical alphanumeric symbols: 13 alphabets of A-Z a-z (bold, italic, script,
        // fraktur, double-struck, sans-serif, monospace…), then bold…monospace digits.
        0x1D400..=0x1D6A3 => AZ[((u - 0x1D400) % 52) as usize],
        0x1D7CE..=0x1D7FF => b'0' + ((u - 0x1D7CE) % 10) as u8,
        _ => {
            let table: &[(char, u8)] = &[
                // Cyrillic.
                ('а', b'a'), ('в', b'b'), ('е', b'e'), ('к', b'k'), ('м', b'm'), ('н', b'h'), ('о', b'o'),
                ('р', b'p'), ('с', b'c'), ('т', b't'), ('у', b'y'), ('х', b'x'), ('ѕ', b's'), ('і', b'i'),
                ('ј', b'j'), ('һ', b'h'), ('ԁ', b'd'), ('ԛ', b'q'), ('ԝ', b'w'), ('ү', b'y'), ('ӏ', b'l'),
                ('А', b'a'), ('В', b'b'), ('Е', b'e'), ('К', b'k'), ('М', b'm'), ('Н', b'h'), ('О', b'o'),
                ('Р', b'p'), ('С', b'c'), ('Т', b't'), ('У', b'y'), ('Х', b'x'), ('Ѕ', b's'), ('І', b'i'),
                ('Ј', b'j'), ('Ү', b'y'),
                // Greek.
                ('Α', b'a'), ('Β', b'b'), ('Ε', b'e'), ('Ζ', b'z'), ('Η', b'h'), ('Ι', b'i'), ('Κ', b'k'),
                ('Μ', b'm'), ('Ν', b'n'), ('Ο', b'o'), ('Ρ', b'p'), ('Τ', b't'), ('Υ', b'y'), ('Χ', b'x'),
                ('α', b'a'), ('ι', b'i'), ('κ', b'k'), ('ν', b'v'), ('ο', b'o'), ('ρ', b'p'), ('υ', b'u'),
                // Small capitals and other Latin look-alikes.
                ('ᴀ', b'a'), ('ʙ', b'b'), ('ᴄ', b'c'), ('ᴅ', b'd'), ('ᴇ', b'e'), ('ɢ', b'g'), ('ʜ', b'h'),
                ('ɪ', b'i'), ('ᴊ', b'j'), ('ᴋ', b'k'), ('ʟ', b'l'), ('ᴍ', b'm'), ('ɴ', b'n'), ('ᴏ', b'o'),
                ('ᴘ', b'p'), ('ʀ', b'r'), ('ꜱ', b's'), ('ᴛ', b't'), ('ᴜ', b'u'), ('ᴠ', b'v'), ('ᴡ', b'w'),
                ('ʏ', b'y'), ('ᴢ', b'z'), ('ı', b'i'), ('ℓ', b'l'),
            ];
            table.iter().find(|(k, _)| *k == c)?.1
        }
    };
    Some(ascii as char)
}

/// Whether a URL path looks like placing an order or paying: a segment (percent-decoded) that
/// names checkout, placing an order, a purchase or payment, or starts with "buy", whatever the
/// control that leads there says. `target` is a URL or a path.
pub fn is_purchase_target(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or("");
    path.split(['/', '\\']).map(|seg| squash(&percent_encoding::percent_decode_str(seg).decode_utf8_lossy())).any(|seg| {
        ["checkout", "placeorder", "purchase", "payment", "paynow"].iter().any(|w| seg.contains(w)) || seg == "pay" || seg.starts_with("buy")
    })
}

/// `scheme://host[:port]` of an absolute URL as a browser reads it (host lowercased, default
/// ports dropped), or `scheme:` for a URL with no host (`mailto:`, `javascript:`); `None` for
/// what is not an absolute URL.
pub fn origin(url: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    match u.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => Some(format!("{}:", u.scheme())),
    }
}

/// Where `reference` leads from the page at `page_url` whose first `<base href>` is `base`,
/// resolved as a browser resolves it (WHATWG URL: the base against the page's address, the
/// reference against the base; spaces, tabs and newlines, backslashes and case as a browser
/// reads them). An unusable `<base href>` is ignored, as browsers ignore it.
pub fn resolve(page_url: &str, base: Option<&str>, reference: &str) -> Result<Url, String> {
    let page = Url::parse(page_url).map_err(|e| format!("the page's address {page_url:?} is not a URL ({e})"))?;
    let base = base.and_then(|b| page.join(b).ok()).unwrap_or(page);
    base.join(reference).map_err(|e| format!("{reference:?} does not resolve to a URL ({e})"))
}

/// Why the agent may not go from `page` to `target`, if it may not: not a web page (a
/// `javascript:`, `data:`, `blob:` or `mailto:` URL, any scheme but http and https), or another
/// site (another origin).
fn off_limits(page: &Url, target: &Url) -> Option<String> {
    if !matches!(target.scheme(), "http" | "https") {
        return Some(format!("it is a {}: URL, not a web page", target.scheme()));
    }
    if target.origin() != page.origin() {
        return Some(format!("it leads to {}, off this site ({})", target.origin().ascii_serialization(), page.origin().ascii_serialization()));
    }
    None
}

/// Why following `target` from the page at `page_url` would leave the site (or leave the web),
/// or `None` when it stays (no target at all: a script handler, checked after the fact by the
/// caller).
pub fn leaves_site(target: Option<&str>, page_url: &str) -> Option<String> {
    let page = match Url::parse(page_url) {
        Ok(p) => p,
        Err(e) => return Some(format!("the page's address {page_url:?} is not a URL ({e})")),
    };
    match resolve(page_url, None, target?) {
        Ok(t) => off_limits(&page, &t),
        Err(e) => Some(e),
    }
}

/// Whether "buy without asking" may apply on the page at `url`: only on the demo store (`mem1
/// shop serve`) at `demo_origin`, which must be on this machine (http on a loopback address): a
/// real shop never is, so the setting cannot buy anywhere else.
pub fn is_demo_store(url: &str, demo_origin: &str) -> bool {
    let (Ok(page), Ok(demo)) = (Url::parse(url), Url::parse(demo_origin)) else { return false };
    let loopback = match demo.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    demo.scheme() == "http" && loopback && page.origin() == demo.origin()
}

/// What the agent does with an action on a live page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Carried out.
    Allow,
    /// Carried out once the shopper says yes (a purchase).
    Confirm,
    /// Not carried out (the model sees why as the turn's invalid-action reason).
    Refuse,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Confirm => "confirm",
            Decision::Refuse => "refuse",
        }
    }
}

/// What the content script is asked to do. `node` is the element's id in the page snapshot
/// (`None` on markup that has none: the page lab judges it, nothing acts on it). Each carries
/// what the agent saw, and the content script acts only if the page still shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// Type `text` into the search box and submit its form, whose `action` attribute was this.
    Search { node: Option<String>, text: String, action: Option<String> },
    /// Click the element, which reads `text` (all its text) and leads to `target` as its markup
    /// writes it (an href, a submit button's formaction or form action, a radio's data-url).
    Click { node: Option<String>, key: String, text: String, target: Option<String> },
    /// Select the option of a `<select>` menu that reads `key`.
    Select { node: Option<String>, key: String },
}

impl Command {
    /// The element acted on.
    pub fn node(&self) -> Option<&str> {
        match self {
            Command::Search { node, .. } | Command::Click { node, .. } | Command::Select { node, .. } => node.as_deref(),
        }
    }
}

/// The guard's judgement of one action: the decision, the rule that decided, where the action
/// really leads (an absolute URL, when the page says), and what to do when it is carried out.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    pub reason: String,
    pub target: Option<String>,
    pub command: Command,
}

/// An action the guard cannot judge: unreadable, or naming nothing on the page.
#[derive(Clone, Debug, PartialEq)]
pub struct BadAction(pub String);

impl std::fmt::Display for BadAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Judges `action` on the page at `url` observed as `obs`: only the page's own search box and
/// listed clickables; nothing that leads off the site or off the web; every purchase-like
/// action (by the control's text, or by where it really leads) waits for confirmation.
pub fn check(obs: &Observation, url: &str, action: &str) -> Result<Verdict, BadAction> {
    let verdict = |decision, reason: String, target: Option<&Url>, command| Verdict { decision, reason, target: target.map(|t| t.to_string()), command };
    let page = Url::parse(url);
    // A target's verdict: refused off the site, confirmed when it looks like a purchase.
    let judge = |what: &str, target: &str, purchase_text: bool, command: Command| -> Verdict {
        let resolved = match (&page, resolve(url, obs.base.as_deref(), target)) {
            (Err(e), _) => return verdict(Decision::Refuse, format!("refused to {what}: the page's address {url:?} is not a URL ({e})"), None, command),
            (_, Err(e)) => return verdict(Decision::Refuse, format!("refused to {what}: {e}"), None, command),
            (Ok(p), Ok(t)) => (p.clone(), t),
        };
        let (page, t) = resolved;
        if let Some(why) = off_limits(&page, &t) {
            return verdict(Decision::Refuse, format!("refused to {what}: {why}"), Some(&t), command);
        }
        if is_purchase_target(t.path()) {
            return verdict(Decision::Confirm, format!("{what} leads to {}, which looks like a purchase", t.path()), Some(&t), command);
        }
        if purchase_text {
            return verdict(Decision::Confirm, format!("{what}: its text says it buys"), Some(&t), command);
        }
        verdict(Decision::Allow, format!("{what} stays on this site"), Some(&t), command)
    };
    match parse_action(action).map_err(BadAction)? {
        Action::Search(text) => {
            if !obs.has_search_bar {
                return Err(BadAction("there is no search box on this page".into()));
            }
            let form = obs.search_form.as_ref();
            let command = Command::Search { node: obs.search_node.clone(), text, action: form.map(|f| f.action.clone()) };
            match form {
                Some(f) if f.method != "dialog" => Ok(judge("search", &f.action, false, command)),
                _ => Ok(verdict(Decision::Allow, "search: the page's own script runs it".into(), None, command)),
            }
        }
        Action::Click(k) => {
            let c = obs.find_clickable(&k).ok_or_else(|| BadAction(format!("there is no {k:?} to click on this page")))?;
            let what = format!("click {:?}", c.key);
            if let ClickKind::Choice { name } = &c.kind {
                let command = Command::Select { node: c.node.clone(), key: c.key.clone() };
                let menu = if name.is_empty() { "its menu".to_string() } else { format!("the {name:?} menu") };
                return Ok(verdict(Decision::Allow, format!("select {:?} in {menu}", c.key), None, command));
            }
            let command = Command::Click { node: c.node.clone(), key: c.key.clone(), text: c.text.clone(), target: c.target.clone() };
            let purchase = is_purchase(&c.key);
            let dialog = c.method.as_deref() == Some("dialog");
            Ok(match c.target.as_deref().filter(|_| !dialog) {
                Some(t) => judge(&what, t, purchase, command),
                None if purchase => verdict(Decision::Confirm, format!("{what}: its text says it buys"), None, command),
                None => verdict(Decision::Allow, format!("{what}: the page's own script handles it"), None, command),
            })
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn purchase_controls() {
        for k in ["Buy Now", "buy now", "BUY  IT NOW", "Place your order", "Proceed to checkout", "Check out", "Pay", "Complete purchase", "Buy with 1-Click"] {
            assert!(is_purchase(k), "{k}");
        }
        for k in ["add to cart", "back to search", "< prev", "next >", "description", "buyer reviews", "paypal help"] {
            assert!(!is_purchase(k), "{k}");
        }
        // Disguised: spaced letters, invisible characters, fullwidth forms.
        for k in ["B u y  N o w", "Buy\u{200b}Now", "ＢＵＹ ＮＯＷ", "place\u{00ad}order", "Check-out"] {
            assert!(is_purchase(k), "{k}");
        }
        // Homoglyphs: Cyrillic and Greek letters, mathematical bold and italic, small capitals.
        for k in ["Вuу Nоw", "Рlасе оrdеr", "ΒUΥ ΝΟW", "𝐁𝐮𝐲 𝐍𝐨𝐰", "𝘉𝘶𝘺 𝘕𝘰𝘸", "ʙᴜʏ ɴᴏᴡ", "Ρау"] {
            assert!(is_purchase(k), "{k}");
        }
        // Other scripts are not folded into false alarms.
        for k in ["Корзина", "Σύνοψη", "購入手続き"] {
            assert!(!is_purchase(k), "{k}");
        }
        for t in ["/checkout/step2", "https://shop.example/gp/buy/spc", "/cart/place-order?x=1", "/Payment", "/pay"] {
            assert!(is_purchase_target(t), "{t}");
        }
        for t in ["/search?q=checkout", "/item/B01", "/reviews#payment", "/paypal-help"] {
            assert!(!is_purchase_target(t), "{t}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(origin("http://127.0.0.1:3000/x?y").as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(origin("HTTPS://Shop.Example:443/a").as_deref(), Some("https://shop.example"));
        assert_eq!(origin("http://user@evil.example:80/").as_deref(), Some("http://evil.example"));
        assert_eq!(origin("/item/1"), None);
        assert_eq!(origin("item/1:2"), None);
        assert_eq!(origin("mailto:a@b").as_deref(), Some("mailto:"));
    }

    #[test]
    fn leaving_the_site() {
        let page = "http://127.0.0.1:3000/item_page/s/B01";
        assert_eq!(leaves_site(Some("/done/s/B01"), page), None);
        assert_eq!(leaves_site(Some("http://127.0.0.1:3000/search"), page), None);
        assert_eq!(leaves_site(Some("#reviews"), page), None);
        assert_eq!(leaves_site(Some(""), page), None, "the page itself");
        assert_eq!(leaves_site(None, page), None);
        assert!(leaves_site(Some("http://evil.example/steal"), page).unwrap().contains("evil.example"));
        assert!(leaves_site(Some("//evil.example/x"), page).is_some());
        assert!(leaves_site(Some("http://127.0.0.1:3001/"), page).is_some());
        // Off the web: scripts, inline documents, blobs, mail.
        for t in ["javascript:void(0)", " JavaScript:alert(1)", "java\tscript:x", "data:text/html,hi", "blob:http://127.0.0.1:3000/x", "mailto:x@y"] {
            assert!(leaves_site(Some(t), page).is_some_and(|w| w.contains("not a web page")), "{t}");
        }
        // What a browser's URL parser makes of odd references.
        assert!(leaves_site(Some("/\\evil.example/x"), page).is_some(), "backslash: another host");
        assert!(leaves_site(Some("\\\\evil.example/x"), page).is_some());
        assert!(leaves_site(Some(" \n//evil.example"), page).is_some());
        assert!(leaves_site(Some("ht\ttp://evil.example/"), page).is_some());
        assert!(leaves_site(Some("http://127.1:3000/"), page).is_none(), "127.1 is 127.0.0.1 to a browser");
        assert!(leaves_site(Some("http://0x7f.0.0.1:3000/"), page).is_none());
    }

    #[test]
    fn references_resolve_against_the_document_base() {
        let page = "https://shop.example/dir/item?x=1";
        let r = |base: Option<&str>, t: &str| resolve(page, base, t).unwrap().to_string();
        assert_eq!(r(None, "next"), "https://shop.example/dir/next");
        assert_eq!(r(None, "../cart"), "https://shop.example/cart");
        assert_eq!(r(None, ""), page);
        assert_eq!(r(Some("https://other.example/a/"), "next"), "https://other.example/a/next");
        assert_eq!(r(Some("/base/"), "next"), "https://shop.example/base/next");
        assert_eq!(r(Some("http://[bad"), "next"), "https://shop.example/dir/next", "an unusable base is ignored");
        assert!(resolve("not a url", None, "/x").is_err());
        assert!(is_purchase_target(&r(None, "/cart/place%2Dorder")), "percent-encoded");
        assert_eq!(r(None, "/Check\\out\\pay"), "https://shop.example/Check/out/pay", "backslashes are slashes");
        assert!(is_purchase_target(&r(None, "/Check\\out\\pay")));
    }

    #[test]
    fn the_demo_store_is_on_this_machine() {
        assert!(is_demo_store("http://127.0.0.1:3000/item_page/a", "http://127.0.0.1:3000"));
        assert!(is_demo_store("http://localhost:3000/x", "http://localhost:3000/"));
        assert!(!is_demo_store("http://127.0.0.1:3001/x", "http://127.0.0.1:3000"), "another port");
        assert!(!is_demo_store("https://shop.example/x", "https://shop.example"), "not loopback");
        assert!(!is_demo_store("http://127.0.0.1:3000/x", ""));
    }

    fn decision(o: &Observation, page: &str, a: &str) -> Decision {
        check(o, page, a).unwrap_or_else(|e| panic!("{a}: {e}")).decision
    }

    #[test]
    fn checking_actions_on_a_page() {
        use crate::observe::native::observe_html;
        let page = "http://127.0.0.1:3000/item";
        let html = r#"<body><form action="/search"><input data-mem1-id="1" type="search" name="q"></form>
            <a data-mem1-id="2" href="/item/2">Next item</a>
            <a data-mem1-id="3" href="http://evil.example/win">You won a prize</a>
            <a data-mem1-id="4" href="/\evil.example/x">Deals</a>
            <button data-mem1-id="5" class="btn">Buy&#8203;Now</button>
            <a data-mem1-id="6" href="/cart/place-order">Continue</a>
            <a href="/no-id">Unnumbered</a><a data-mem1-id="7" href="javascript:go()">Script link</a></body>"#;
        let o = observe_html(html);
        let v = check(&o, page, "search[red shoes]").unwrap();
        assert_eq!(v.command, Command::Search { node: Some("1".into()), text: "red shoes".into(), action: Some("/search".into()) });
        assert_eq!((v.decision, v.target.as_deref()), (Decision::Allow, Some("http://127.0.0.1:3000/search")));
        assert_eq!(decision(&o, page, "click[next item]"), Decision::Allow);
        assert_eq!(decision(&o, page, "click[you won a prize]"), Decision::Refuse);
        assert_eq!(decision(&o, page, "click[deals]"), Decision::Refuse, "off the site");
        assert_eq!(decision(&o, page, "click[script link]"), Decision::Refuse, "javascript:");
        assert_eq!(decision(&o, page, "click[buy\u{200b}now]"), Decision::Confirm);
        assert_eq!(decision(&o, page, "click[continue]"), Decision::Confirm, "by where it leads");
        assert_eq!(check(&o, page, "click[unnumbered]").unwrap().command.node(), None, "judged; nothing to act on");
        assert!(check(&o, page, "click[nothing]").is_err() && check(&o, page, "go to evil.example").is_err());
        let no_search = observe_html(r#"<body><a data-mem1-id="1" href="/x">x</a></body>"#);
        assert!(check(&no_search, page, "search[x]").is_err());
    }

    #[test]
    fn forms_are_judged_by_where_they_send() {
        use crate::observe::native::observe_html;
        let page = "https://shop.example/item/7";
        let at = |html: &str, a: &str| {
            let o = observe_html(html);
            let v = check(&o, page, a).unwrap();
            (v.decision, v.target.unwrap_or_default())
        };
        // The search box's own form.
        let off = r#"<form action="https://evil.example/collect"><input type="search" name="q"></form>"#;
        assert_eq!(at(off, "search[shoes]").0, Decision::Refuse);
        let order = r#"<form method="post" action="/checkout/place-order"><input type="search" name="q"></form>"#;
        assert_eq!(at(order, "search[shoes]"), (Decision::Confirm, "https://shop.example/checkout/place-order".into()));
        let same = r#"<form><input type="search" name="q"></form>"#;
        assert_eq!(at(same, "search[shoes]"), (Decision::Allow, page.into()), "no action: the document itself");
        let owned = r#"<input type="search" name="q" form="f"><form id="f" action="//evil.example/s"></form>"#;
        assert_eq!(at(owned, "search[shoes]").0, Decision::Refuse, "form= names the form it submits");
        // A submit button's formaction wins over its form's action; a type=button submits nothing.
        let fa = r#"<form action="/search"><button formaction="https://evil.example/x">Apply coupon</button>
            <button type="button" onclick="x()">Show more</button><input type="submit" value="Update"></form>"#;
        assert_eq!(at(fa, "click[apply coupon]").0, Decision::Refuse);
        assert_eq!(at(fa, "click[show more]"), (Decision::Allow, String::new()));
        assert_eq!(at(fa, "click[update]"), (Decision::Allow, "https://shop.example/search".into()));
        let disguised = r#"<form method="post" action="/cart/place_order"><button class="btn">See more colours</button></form>"#;
        assert_eq!(at(disguised, "click[see more colours]").0, Decision::Confirm);
        // <base href> elsewhere sends every relative link there.
        let based = r##"<head><base href="https://other.example/"></head><body><a href="item/2">Next item</a><a href="#top">Top</a></body>"##;
        assert_eq!(at(based, "click[next item]"), (Decision::Refuse, "https://other.example/item/2".into()));
        assert_eq!(at(based, "click[top]").0, Decision::Refuse, "even a fragment");
        // A menu's option is selected on the page, going nowhere.
        let menu = r#"<select name="color"><option>Ocean Blue</option><option disabled>Sold out</option></select>"#;
        let o = observe_html(menu);
        let v = check(&o, page, "click[ocean blue]").unwrap();
        assert_eq!((v.decision, v.command), (Decision::Allow, Command::Select { node: None, key: "ocean blue".into() }));
        assert!(check(&o, page, "click[sold out]").is_err());
    }
}
