//! [`DomNode`] over the browser's live DOM (`web_sys::Node`), and rendering a store page's HTML
//! into a live document so it can be observed there.
//!
//! A live DOM knows what is rendered: [`DomNode::layout`] reads each element's computed style and
//! boxes, and [`super::Layout::hidden`] decides. A document parsed from a snapshot (the
//! extension's) has no layout of its own; the snapshot carries it in `data-mem1-layout`.
use super::{observe, DomNode, Layout, NodeKind, Observation};
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Node};

/// A node of a live document.
#[derive(Clone)]
pub struct WebNode(pub Node);

impl WebNode {
    /// The node as an element. By node type, not `instanceof`: nodes of an iframe's document come
    /// from another realm, whose `Element` is not this window's.
    fn element(&self) -> Option<&Element> {
        (self.0.node_type() == Node::ELEMENT_NODE).then(|| self.0.unchecked_ref::<Element>())
    }
}

impl DomNode for WebNode {
    fn kind(&self) -> NodeKind {
        match self.0.node_type() {
            Node::DOCUMENT_NODE | Node::DOCUMENT_FRAGMENT_NODE => NodeKind::Document,
            Node::ELEMENT_NODE => NodeKind::Element,
            Node::TEXT_NODE | Node::CDATA_SECTION_NODE => NodeKind::Text,
            Node::COMMENT_NODE => NodeKind::Comment,
            _ => NodeKind::Other,
        }
    }
    fn tag(&self) -> String {
        match self.element() {
            Some(e) => e.local_name().to_ascii_lowercase(),
            None => String::new(),
        }
    }
    fn attr(&self, name: &str) -> Option<String> {
        self.element()?.get_attribute(name)
    }
    fn children(&self) -> Vec<Self> {
        let list = self.0.child_nodes();
        (0..list.length()).filter_map(|i| list.item(i)).map(WebNode).collect()
    }
    fn text(&self) -> String {
        match self.kind() {
            NodeKind::Text => self.0.node_value().unwrap_or_default(),
            _ => String::new(),
        }
    }
    fn layout(&self) -> Option<Layout> {
        let el = self.element()?;
        // A document without a window (DOMParser's) has no layout.
        let win = self.0.owner_document()?.default_view()?;
        let st = win.get_computed_style(el).ok().flatten()?;
        let prop = |p: &str| st.get_property_value(p).unwrap_or_default();
        let px = |p: &str| prop(p).trim_end_matches("px").parse::<f64>().unwrap_or(0.0);
        let r = el.get_bounding_client_rect();
        Some(Layout {
            display: prop("display"),
            visibility: prop("visibility"),
            overflow: prop("overflow"),
            rects: if unrendered(el, &prop("display")) { 0 } else { el.get_client_rects().length() },
            width: r.width(),
            height: r.height(),
            opacity: prop("opacity").parse().unwrap_or(1.0),
            left: r.left() + win.scroll_x().unwrap_or(0.0),
            top: r.top() + win.scroll_y().unwrap_or(0.0),
            font_size: px("font-size"),
            text_indent: px("text-indent"),
            color: prop("color"),
            background_color: prop("background-color"),
            background_image: prop("background-image") != "none",
            transform: prop("transform"),
            clip_path: prop("clip-path"),
        })
    }
}

/// Whether the browser does not render the element though it may have boxes (inside a closed
/// `<details>`, under `content-visibility: hidden`): `Element.checkVisibility()`, where there is
/// one. `display: contents` has no box of its own and is judged by its children.
fn unrendered(el: &Element, display: &str) -> bool {
    let Ok(f) = js_sys::Reflect::get(el, &"checkVisibility".into()) else { return false };
    let Some(f) = f.dyn_ref::<js_sys::Function>() else { return false };
    display != "contents" && f.call0(el).ok().and_then(|v| v.as_bool()) == Some(false)
}

/// The observation of a live document (or any subtree of one).
pub fn observe_node(root: &Node) -> Observation {
    observe(&WebNode(root.clone()))
}

/// The observation of a page snapshot: HTML whose elements carry `data-mem1-layout` and
/// `data-mem1-id` (see [`super::LAYOUT_ATTR`]), parsed by the browser's HTML parser without
/// running scripts or loading anything.
pub fn observe_snapshot(html: &str) -> crate::Result<Observation> {
    let doc = parse(html, "reading the page snapshot")?;
    Ok(observe_node(&doc))
}

/// A detached document parsed from `html` by the browser's HTML parser (no scripts run, nothing
/// loads); errors say `doing` what.
fn parse(html: &str, doing: &str) -> crate::Result<Document> {
    let err = |what: &str, e: wasm_bindgen::JsValue| crate::Error::Shop(format!("{doing}: {what}: {e:?}"));
    web_sys::DomParser::new()
        .map_err(|e| err("DOMParser", e))?
        .parse_from_string(html, web_sys::SupportedType::TextHtml)
        .map_err(|e| err("parse", e))
}

/// Replaces `doc`'s content with the page `html` (parsed by the browser's own HTML parser, without
/// running scripts), keeping the document itself, so listeners on it stay. Images keep their
/// markup but load nothing: their `src` moves to `data-src`, so the page never reaches the network
/// (the catalog's image URLs point at a third-party CDN). Inline event handlers (`onclick` on the
/// store's option radios) are dropped: the agent acts through the store session, not the page's
/// scripts, and a document whose scripts are off (the demo's sandboxed frame) would log a
/// "Blocked script execution" error for each one as it is inserted.
pub fn render_into(doc: &Document, html: &str) -> crate::Result<()> {
    const DOING: &str = "rendering the page into the document";
    let err = |what: &str, e: wasm_bindgen::JsValue| crate::Error::Shop(format!("{DOING}: {what}: {e:?}"));
    let parsed = parse(html, DOING)?;
    // One walk over the elements: handlers dropped, image sources parked.
    let all = parsed.query_selector_all("*").map_err(|e| err("querySelectorAll", e))?;
    for i in 0..all.length() {
        if let Some(el) = all.item(i).filter(|n| n.node_type() == Node::ELEMENT_NODE).map(|n| n.unchecked_into::<Element>()) {
            for name in el.get_attribute_names().iter().filter_map(|n| n.as_string()) {
                if name.len() > 2 && name.as_bytes()[..2].eq_ignore_ascii_case(b"on") {
                    let _ = el.remove_attribute(&name);
                }
            }
            if el.local_name() == "img" {
                if let Some(src) = el.get_attribute("src") {
                    let _ = el.remove_attribute("src");
                    let _ = el.set_attribute("data-src", &src);
                }
            }
        }
    }
    let new_root = parsed.document_element().ok_or_else(|| crate::Error::Shop("the page has no root element".into()))?;
    let imported = doc.import_node_with_deep(&new_root, true).map_err(|e| err("importNode", e))?;
    match doc.document_element() {
        Some(old) => doc.replace_child(&imported, &old).map(|_| ()),
        None => doc.append_child(&imported).map(|_| ()),
    }
    .map_err(|e| err("replaceChild", e))
}
