//! What the agent may do on a live page (the extension): never leave the site, never buy without
//! the shopper's yes. Pure functions over the observation's targets, so the rules are tested
//! natively and the browser only carries them out.
use crate::observe::Observation;
use crate::shop::action::{parse_action, Action};

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

/// Whether following `target` (a link's or form's URL) looks like placing an order or paying:
/// a path segment that names checkout, placing an order, a purchase or payment, or starts with
/// "buy", whatever the button that leads there says.
pub fn is_purchase_target(target: &str) -> bool {
    let t = normalize_url(target);
    let path = t.split(['?', '#']).next().unwrap_or("");
    path.split('/').map(squash).any(|seg| {
        ["checkout", "placeorder", "purchase", "payment", "paynow"].iter().any(|w| seg.contains(w)) || seg == "pay" || seg.starts_with("buy")
    })
}

/// A URL reference as a browser's URL parser reads it, for the parts that decide where it goes:
/// leading and trailing spaces and control characters stripped, tabs and newlines anywhere
/// removed, and backslashes read as slashes (as they are in http(s) URLs: `/\\evil.example` is
/// another host).
pub fn normalize_url(url: &str) -> String {
    url.trim_matches(|c: char| c <= ' ').chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).map(|c| if c == '\\' { '/' } else { c }).collect()
}

/// `scheme://host[:port]` of an absolute URL, lowercased, default ports dropped; `None` for a
/// relative reference.
pub fn origin(url: &str) -> Option<String> {
    let u = url.trim();
    let colon = u.find(':')?;
    let scheme = &u[..colon];
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let rest = &u[colon + 1..];
    let Some(rest) = rest.strip_prefix("//") else {
        // mailto:, javascript:, data:, ...: an origin of its own kind.
        return Some(format!("{scheme}:"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    let host = match (scheme.as_str(), host.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_string(),
        _ => host,
    };
    Some(format!("{scheme}://{host}"))
}

/// Why following `target` from the page at `page_url` would leave the site, or `None` when it
/// stays (a relative link, the same origin, or no target at all: a script handler, checked
/// after the fact by the caller).
pub fn leaves_site(target: Option<&str>, page_url: &str) -> Option<String> {
    let t = normalize_url(target?);
    let t = t.as_str();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let here = origin(page_url);
    let there = if let Some(rest) = t.strip_prefix("//") {
        // Scheme-relative: the page's scheme, another host perhaps.
        let scheme = here.as_deref().and_then(|h| h.split_once("://")).map(|(s, _)| s).unwrap_or("https");
        origin(&format!("{scheme}://{rest}"))
    } else {
        origin(t)
    };
    match there {
        None => None,
        Some(o) if o == "javascript:" => None,
        Some(o) if Some(&o) == here.as_ref() => None,
        Some(o) => Some(format!("it leads to {o}, off this site ({})", here.unwrap_or_else(|| "?".into()))),
    }
}

/// What the agent may do with an action on a live page.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Not carried out; why (the model sees it as the turn's invalid-action reason).
    Refused(String),
    /// Type `text` into the search box with this snapshot id and submit.
    Search { node: String, text: String },
    /// Click the element with this snapshot id. The page must still show it as `key` (leading to
    /// `target`) when the click happens; a `purchase` waits for the shopper's yes.
    Click { node: String, key: String, target: Option<String>, purchase: bool },
}

/// Decides `action` on the page at `url` observed as `obs`: only the page's own search box and
/// listed clickables, nothing that leads off the site, and every purchase-like click (by its
/// text or by where it leads) marked for confirmation.
pub fn check(obs: &Observation, url: &str, action: &str) -> Verdict {
    match parse_action(action) {
        Err(e) => Verdict::Refused(e),
        Ok(Action::Search(text)) => match obs.search_node.clone().filter(|_| obs.has_search_bar) {
            Some(node) => Verdict::Search { node, text },
            None => Verdict::Refused("there is no search box on this page".into()),
        },
        Ok(Action::Click(k)) => {
            let Some(c) = obs.find_clickable(&k) else {
                return Verdict::Refused(format!("there is no {k:?} to click on this page"));
            };
            let Some(node) = c.node.clone() else { return Verdict::Refused(format!("{k:?} is not on the live page")) };
            if let Some(why) = leaves_site(c.target.as_deref(), url) {
                return Verdict::Refused(format!("refused to click {k:?}: {why}"));
            }
            let purchase = is_purchase(&c.key) || c.target.as_deref().is_some_and(is_purchase_target);
            Verdict::Click { node, key: c.key.clone(), target: c.target.clone(), purchase }
        }
    }
}

#[cfg(test)]
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
        assert_eq!(leaves_site(None, page), None);
        assert_eq!(leaves_site(Some("javascript:void(0)"), page), None);
        assert!(leaves_site(Some("http://evil.example/steal"), page).unwrap().contains("evil.example"));
        assert!(leaves_site(Some("//evil.example/x"), page).is_some());
        assert!(leaves_site(Some("http://127.0.0.1:3001/"), page).is_some());
        assert!(leaves_site(Some("mailto:x@y"), page).is_some());
        // What a browser's URL parser makes of odd references.
        assert!(leaves_site(Some("/\\evil.example/x"), page).is_some(), "backslash: another host");
        assert!(leaves_site(Some("\\\\evil.example/x"), page).is_some());
        assert!(leaves_site(Some(" \n//evil.example"), page).is_some());
        assert!(leaves_site(Some("ht\ttp://evil.example/"), page).is_some());
        assert!(leaves_site(Some("data:text/html,hi"), page).is_some());
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
            <a href="/no-id">Unnumbered</a></body>"#;
        let o = observe_html(html);
        let refused = |a: &str| matches!(check(&o, page, a), Verdict::Refused(_));
        assert_eq!(check(&o, page, "search[red shoes]"), Verdict::Search { node: "1".into(), text: "red shoes".into() });
        assert!(matches!(check(&o, page, "click[next item]"), Verdict::Click { purchase: false, .. }));
        assert!(refused("click[you won a prize]") && refused("click[deals]"), "off the site");
        assert!(matches!(check(&o, page, "click[buy\u{200b}now]"), Verdict::Click { purchase: true, .. }));
        assert!(matches!(check(&o, page, "click[continue]"), Verdict::Click { purchase: true, .. }), "by where it leads");
        assert!(refused("click[unnumbered]") && refused("click[nothing]") && refused("go to evil.example"));
        let no_search = observe_html(r#"<body><a data-mem1-id="1" href="/x">x</a></body>"#);
        assert!(matches!(check(&no_search, page, "search[x]"), Verdict::Refused(_)));
    }
}
