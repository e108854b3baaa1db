//! What the agent may do on a live page (the extension): never leave the site, never buy without
//! the shopper's yes. Pure functions over the observation's targets, so the rules are tested
//! natively and the browser only carries them out.

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
    let k = key.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    k == "buy" || k == "pay" || PURCHASE.iter().any(|p| k.contains(p))
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
    let t = target?.trim();
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
    }
}
