//! DOM -> observation: WebShop's "simple" text mode (visible text joined with ` [SEP] `) and the
//! list of available actions, computed from a rendered page.
//!
//! One implementation for every DOM: the algorithms are generic over [`DomNode`], a minimal
//! read-only view of a DOM node. Natively, [`native`] parses HTML (html5ever via `scraper`);
//! in the browser [`web`] implements the same trait over `web_sys::Node` (the live page, with
//! `hidden_hint` from computed styles and layout boxes).
//!
//! WebShop's text env (`web_agent_text_env.py`) takes every text node whose parent is not
//! style/script/head/title/meta, skips comments, strips each and joins them with ` [SEP] `;
//! clickables are elements with class `btn` and `product-link` (keyed by their lowercased text)
//! and radio inputs (keyed by value); a search bar is the element with id `search_input`. We do
//! the same, generalised so that real shops' pages give sane output: invisible subtrees
//! (hidden attribute, inline display:none / visibility:hidden, script/style/template/noscript/...)
//! are skipped, `<button>`/submit inputs/`role=button` count as buttons, `a[href]` as links, and
//! text search inputs as search bars.

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(target_arch = "wasm32")]
pub mod web;

/// What kind of DOM node this is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeKind {
    Document,
    Element,
    Text,
    Comment,
    Other,
}

/// A read-only view of a DOM node: all the observation builder needs.
pub trait DomNode: Clone {
    fn kind(&self) -> NodeKind;
    /// Lowercase tag name for elements, "" otherwise.
    fn tag(&self) -> String;
    fn attr(&self, name: &str) -> Option<String>;
    fn children(&self) -> Vec<Self>;
    /// The text of a text node ("" for other nodes).
    fn text(&self) -> String;
    /// A live DOM can report that an element is not rendered (computed style, zero size);
    /// a parsed document cannot, so the default says "no information".
    fn hidden_hint(&self) -> bool {
        false
    }
}

/// Separator between text pieces in WebShop's simple mode.
pub const SEP: &str = " [SEP] ";

/// Never rendered, whatever their content.
const INVISIBLE_TAGS: [&str; 12] =
    ["script", "style", "head", "title", "meta", "template", "noscript", "iframe", "object", "link", "base", "datalist"];

/// Whether an element (and so its subtree) is invisible.
pub fn is_hidden<N: DomNode>(n: &N) -> bool {
    if n.kind() != NodeKind::Element {
        return n.kind() == NodeKind::Comment;
    }
    let tag = n.tag();
    if INVISIBLE_TAGS.contains(&tag.as_str()) {
        return true;
    }
    if n.attr("hidden").is_some() || n.hidden_hint() {
        return true;
    }
    if tag == "input" && n.attr("type").map(|t| t.eq_ignore_ascii_case("hidden")).unwrap_or(false) {
        return true;
    }
    if let Some(style) = n.attr("style") {
        let s: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        if s.contains("display:none") || s.contains("visibility:hidden") {
            return true;
        }
    }
    false
}

fn visit_visible<N: DomNode>(n: &N, f: &mut dyn FnMut(&N)) {
    if is_hidden(n) {
        return;
    }
    f(n);
    for c in n.children() {
        visit_visible(&c, f);
    }
}

/// All text under a node (hidden parts included, like BeautifulSoup's `get_text`).
pub fn text_content<N: DomNode>(n: &N) -> String {
    fn rec<N: DomNode>(n: &N, out: &mut String) {
        match n.kind() {
            NodeKind::Text => out.push_str(&n.text()),
            NodeKind::Comment => {}
            _ => {
                if matches!(n.tag().as_str(), "script" | "style" | "template") {
                    return;
                }
                for c in n.children() {
                    rec(&c, out);
                }
            }
        }
    }
    let mut s = String::new();
    rec(n, &mut s);
    s
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The visible text pieces of a page, each trimmed, in document order.
pub fn visible_texts<N: DomNode>(root: &N) -> Vec<String> {
    let mut out = Vec::new();
    visit_visible(root, &mut |n: &N| {
        if n.kind() == NodeKind::Text {
            let t = n.text();
            let t = t.trim();
            if !t.is_empty() {
                out.push(t.to_string());
            }
        }
    });
    out
}

/// WebShop's simple-mode observation text.
pub fn simple_text<N: DomNode>(root: &N) -> String {
    visible_texts(root).join(SEP)
}

/// What clicking a target does, as far as the page says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClickKind {
    /// A button (class `btn`, `<button>`, submit input, role=button).
    Button,
    /// A link; `product` when it has class `product-link` (a WebShop item id).
    Link { product: bool },
    /// A radio option; `name` is its group (the option name).
    Option { name: String },
}

/// One clickable target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clickable {
    /// The key an agent names in `click[...]`: lowercased text for buttons and links, the value
    /// for options.
    pub key: String,
    pub kind: ClickKind,
    /// Where it leads, when the markup says (href, form action, data-url).
    pub target: Option<String>,
}

/// The observation of one page.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Simple-mode text.
    pub text: String,
    pub has_search_bar: bool,
    pub clickables: Vec<Clickable>,
}

/// At most this many clickables are listed (real shop pages have thousands of links).
pub const MAX_CLICKABLES: usize = 400;
/// Link or button texts longer than this are not offered as click targets.
pub const MAX_CLICK_TEXT: usize = 200;

impl Observation {
    /// WebShop's available actions: `search[...]` when there is a search bar, then
    /// `click[key]` for every clickable (the search box's own `search` button is left out:
    /// WebShop refuses `click[search]`; the search is `search[...]`).
    pub fn available_actions(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.clickables.len() + 1);
        if self.has_search_bar {
            v.push("search[...]".to_string());
        }
        v.extend(
            self.clickables
                .iter()
                .filter(|c| !(self.has_search_bar && c.key == "search" && c.kind == ClickKind::Button))
                .map(|c| format!("click[{}]", c.key)),
        );
        v
    }
    /// The clickable an action argument names (case-insensitive, surrounding spaces ignored).
    pub fn find_clickable(&self, arg: &str) -> Option<&Clickable> {
        let a = arg.trim().to_lowercase();
        self.clickables.iter().find(|c| c.key == a).or_else(|| self.clickables.iter().find(|c| c.key.to_lowercase() == a))
    }
}

fn has_class<N: DomNode>(n: &N, class: &str) -> bool {
    n.attr("class").map(|c| c.split_whitespace().any(|x| x == class)).unwrap_or(false)
}

fn is_search_input<N: DomNode>(n: &N) -> bool {
    if n.attr("id").as_deref() == Some("search_input") {
        return true;
    }
    if n.tag() != "input" {
        return false;
    }
    let ty = n.attr("type").unwrap_or_default().to_ascii_lowercase();
    if ty == "search" {
        return true;
    }
    if !(ty.is_empty() || ty == "text") {
        return false;
    }
    let name = n.attr("name").unwrap_or_default().to_ascii_lowercase();
    let hay = format!(
        "{} {} {} {} {}",
        name,
        n.attr("id").unwrap_or_default(),
        n.attr("placeholder").unwrap_or_default(),
        n.attr("aria-label").unwrap_or_default(),
        n.attr("role").unwrap_or_default()
    )
    .to_ascii_lowercase();
    hay.contains("search") || matches!(name.as_str(), "q" | "k" | "_nkw" | "field-keywords" | "query")
}

/// Builds the observation of a page from its DOM.
pub fn observe<N: DomNode>(root: &N) -> Observation {
    let text = simple_text(root);
    let mut has_search_bar = false;
    let mut buttons: Vec<Clickable> = Vec::new();
    let mut links: Vec<Clickable> = Vec::new();
    let mut options: Vec<Clickable> = Vec::new();
    fn walk<N: DomNode>(
        n: &N,
        form: Option<String>,
        acc: &mut (bool, Vec<Clickable>, Vec<Clickable>, Vec<Clickable>),
    ) {
        if is_hidden(n) {
            return;
        }
        let mut form = form;
        if n.kind() == NodeKind::Element {
            let tag = n.tag();
            if tag == "form" {
                form = n.attr("action");
            }
            if is_search_input(n) {
                acc.0 = true;
            }
            let ty = n.attr("type").unwrap_or_default().to_ascii_lowercase();
            let is_btn = has_class(n, "btn")
                || tag == "button"
                || (tag == "input" && matches!(ty.as_str(), "submit" | "button"))
                || n.attr("role").as_deref() == Some("button");
            let is_product = has_class(n, "product-link");
            if tag == "input" && ty == "radio" {
                if let Some(v) = n.attr("value") {
                    acc.3.push(Clickable {
                        key: v,
                        kind: ClickKind::Option { name: n.attr("name").unwrap_or_default() },
                        target: n.attr("data-url").or_else(|| n.attr("href")),
                    });
                }
            } else if is_btn || is_product || (tag == "a" && n.attr("href").is_some()) {
                let label = if tag == "input" { n.attr("value").unwrap_or_default() } else { text_content(n) };
                let key = collapse_ws(&label).to_lowercase();
                if !key.is_empty() && key.chars().count() <= MAX_CLICK_TEXT {
                    if is_btn && !is_product {
                        let target = n.attr("formaction").or_else(|| n.attr("href")).or_else(|| form.clone());
                        acc.1.push(Clickable { key, kind: ClickKind::Button, target });
                    } else {
                        acc.2.push(Clickable { key, kind: ClickKind::Link { product: is_product }, target: n.attr("href") });
                    }
                }
            }
        }
        for c in n.children() {
            walk(&c, form.clone(), acc);
        }
    }
    let mut acc = (false, Vec::new(), Vec::new(), Vec::new());
    walk(root, None, &mut acc);
    has_search_bar |= acc.0;
    buttons.append(&mut acc.1);
    links.append(&mut acc.2);
    options.append(&mut acc.3);
    // WebShop builds a dict: buttons then links (keyed by text), then options (keyed by value);
    // a repeated key keeps its first position.
    let mut clickables: Vec<Clickable> = Vec::new();
    for c in buttons.into_iter().chain(links).chain(options) {
        if clickables.len() >= MAX_CLICKABLES {
            break;
        }
        if let Some(existing) = clickables.iter_mut().find(|e| e.key == c.key) {
            *existing = Clickable { key: existing.key.clone(), ..c };
        } else {
            clickables.push(c);
        }
    }
    Observation { text, has_search_bar, clickables }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::native::observe_html;

    #[test]
    fn hidden_things_are_skipped() {
        let html = r#"<html><head><title>T</title><style>p{}</style></head><body>
            <h1>Shop</h1><!-- comment --><script>var x = 1;</script>
            <div hidden>secret</div><div style="display: none">gone</div>
            <p style="visibility:hidden">nope</p><template><p>tpl</p></template>
            <p>  Visible   text </p><button class="btn">Buy Now</button>
            <input type="radio" name="size" value="X-Large"><label>X-Large</label>
            <a class="product-link" href="/item/B01">B01</a>
            <input id="search_input" type="text"></body></html>"#;
        let o = observe_html(html);
        assert_eq!(o.text, "Shop [SEP] Visible   text [SEP] Buy Now [SEP] X-Large [SEP] B01");
        assert!(o.has_search_bar);
        let keys: Vec<&str> = o.clickables.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["buy now", "b01", "X-Large"]);
        assert_eq!(o.find_clickable("x-large").unwrap().key, "X-Large");
        assert_eq!(o.find_clickable("BUY NOW").unwrap().key, "buy now");
        assert!(o.find_clickable("nothing").is_none());
        assert_eq!(o.available_actions()[0], "search[...]");
    }
}
