//! [`DomNode`] over a parsed HTML document (html5ever through `scraper`), for native use.
use super::{observe, DomNode, NodeKind, Observation};
use scraper::{Html, Node};

/// A node of a parsed document.
#[derive(Clone, Copy)]
pub struct ParsedNode<'a>(pub ego_tree::NodeRef<'a, Node>);

impl<'a> DomNode for ParsedNode<'a> {
    fn kind(&self) -> NodeKind {
        match self.0.value() {
            Node::Document | Node::Fragment => NodeKind::Document,
            Node::Element(_) => NodeKind::Element,
            Node::Text(_) => NodeKind::Text,
            Node::Comment(_) => NodeKind::Comment,
            _ => NodeKind::Other,
        }
    }
    fn tag(&self) -> String {
        match self.0.value() {
            Node::Element(e) => e.name().to_ascii_lowercase(),
            _ => String::new(),
        }
    }
    fn attr(&self, name: &str) -> Option<String> {
        match self.0.value() {
            Node::Element(e) => e.attr(name).map(str::to_string),
            _ => None,
        }
    }
    fn children(&self) -> Vec<Self> {
        self.0.children().map(ParsedNode).collect()
    }
    fn text(&self) -> String {
        match self.0.value() {
            Node::Text(t) => t.to_string(),
            _ => String::new(),
        }
    }
}

/// Parses an HTML document (never fails: html5ever recovers from any input).
pub fn parse(html: &str) -> Html {
    Html::parse_document(html)
}

/// The observation of an HTML page.
pub fn observe_html(html: &str) -> Observation {
    let doc = parse(html);
    observe(&ParsedNode(doc.tree.root()))
}

/// WebShop simple-mode text of an HTML page.
pub fn simple_text_html(html: &str) -> String {
    let doc = parse(html);
    super::simple_text(&ParsedNode(doc.tree.root()))
}
