//! How a rendered element is laid out and painted, as the browser computes it, and the rules
//! that decide from those facts what a reader can see: hidden boxes, unreadable ink.

/// How a rendered element is laid out and painted, as the browser computes it: the facts
/// [`Layout::hidden`], [`Layout::behind`] and [`Layout::text_hidden`] decide from. Collected
/// as they are, without judging them, by the browser (the content script for a snapshot,
/// `web::WebNode` for a live page); the rules are only here.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Computed `display`, `visibility` and `overflow`.
    pub display: String,
    pub visibility: String,
    pub overflow: String,
    /// Number of layout boxes (`getClientRects().length`).
    pub rects: u32,
    /// Bounding box size in CSS pixels.
    pub width: f64,
    pub height: f64,
    /// Computed opacity.
    pub opacity: f64,
    /// The box's top-left corner in document coordinates (CSS pixels).
    pub left: f64,
    pub top: f64,
    /// Computed `font-size` and `text-indent`, in pixels.
    pub font_size: f64,
    pub text_indent: f64,
    /// Computed text colour, `background-color` and whether there is a `background-image`.
    pub color: String,
    pub background_color: String,
    pub background_image: bool,
    /// Computed `transform` (`none`, or `matrix(a, b, c, d, e, f)`/`matrix3d(…)`).
    pub transform: String,
    /// Computed `clip-path` (`none`, `inset(…)`, `circle(…)`, …).
    pub clip_path: String,
}

/// The colour behind an element's text: a background colour, or `None` when unknown (an image
/// is painted behind it). The page's canvas is white.
pub type Behind = Option<[f64; 4]>;
pub const CANVAS: Behind = Some([255.0, 255.0, 255.0, 1.0]);

/// Least contrast ratio (WCAG's, 1 to 21) at which text counts as readable: white on #f4f4f4 is
/// 1.1, light grey #bbb on white 1.9.
pub const MIN_CONTRAST: f64 = 1.25;

impl Layout {
    /// Whether the element and everything in it renders nothing: `display: none`, `visibility:
    /// hidden|collapse`, no layout box, fully transparent, scaled to nothing by a transform
    /// (`scale(0)`: `matrix(0, 0, 0, 0, …)`) or clipped to nothing (`clip-path: inset(50%)`,
    /// `circle(0)`), placed wholly above or left of the
    /// page (`left: -9999px`), or a box at most one pixel wide or high that clips its content
    /// (the "visually hidden" pattern). A zero-size box that does not clip still shows its
    /// children, and a transparent form `control` still takes clicks (WebShop's radio inputs are
    /// styled `width:0; opacity:0` and are clicked through their labels), so neither is hidden;
    /// nor is `display: contents`, which makes no box of its own.
    pub fn hidden(&self, control: bool) -> bool {
        if self.display == "none" || matches!(self.visibility.as_str(), "hidden" | "collapse") {
            return true;
        }
        if self.display == "contents" {
            return false;
        }
        if self.rects == 0 || ((self.opacity <= 0.0 || self.scaled_away()) && !control) || self.clipped_away() {
            return true;
        }
        if (self.left < 0.0 && self.left + self.width <= 0.0) || (self.top < 0.0 && self.top + self.height <= 0.0) {
            return true;
        }
        (self.width <= 1.0 || self.height <= 1.0) && self.overflow != "visible"
    }

    /// A 2D transform that scales the element to nothing in one direction (`scale(0)`,
    /// `scaleX(0)`: computed as `matrix(0, 0, c, d, …)` or `matrix(a, b, 0, 0, …)`).
    fn scaled_away(&self) -> bool {
        let Some(m) = self.transform.strip_prefix("matrix(").and_then(|m| m.strip_suffix(')')) else { return false };
        let v: Vec<f64> = m.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        matches!(v.as_slice(), [a, b, c, d, ..] if (*a == 0.0 && *b == 0.0) || (*c == 0.0 && *d == 0.0))
    }

    /// A clip path that leaves nothing of the box: an `inset()` whose opposite sides meet, a
    /// `circle()` or `ellipse()` of radius 0. (Other shapes are not judged.)
    fn clipped_away(&self) -> bool {
        let c = self.clip_path.as_str();
        let Some((shape, args)) = c.strip_suffix(')').and_then(|c| c.split_once('(')) else { return false };
        // A length: pixels, or a percentage of `of`.
        let len = |v: &str, of: f64| -> Option<f64> {
            match v.strip_suffix('%') {
                Some(p) => p.parse::<f64>().ok().map(|p| p / 100.0 * of),
                None => v.trim_end_matches("px").parse().ok(),
            }
        };
        match shape.trim() {
            "inset" => {
                let v: Vec<&str> = args.split(" round ").next().unwrap_or("").split_whitespace().collect();
                // CSS's shorthand: top [right [bottom [left]]].
                let (t, r, b, l) = match v.as_slice() {
                    [a] => (*a, *a, *a, *a),
                    [a, b] => (*a, *b, *a, *b),
                    [a, b, c] => (*a, *b, *c, *b),
                    [a, b, c, d] => (*a, *b, *c, *d),
                    _ => return false,
                };
                let (w, h) = (self.width, self.height);
                let sum = |x: &str, y: &str, of: f64| Some(len(x, of)? + len(y, of)?);
                sum(t, b, h).is_some_and(|s| s >= h) || sum(l, r, w).is_some_and(|s| s >= w)
            }
            "circle" | "ellipse" => {
                let radii = args.split(" at ").next().unwrap_or("");
                radii.split_whitespace().any(|r| len(r, 1.0) == Some(0.0))
            }
            _ => false,
        }
    }

    /// The colour behind this element's text, given the colour behind its parent's (`outer`;
    /// [`CANVAS`] at the root): its own background colour unless that is transparent, unknown
    /// past a background image, else the parent's.
    pub fn behind(&self, outer: Behind) -> Behind {
        match parse_rgba(&self.background_color) {
            Some(c) if c[3] > 0.0 => Some(c),
            _ if self.background_image => None,
            _ => outer,
        }
    }

    /// Whether the element's own text (its text nodes, not its child elements, which have their
    /// own style) cannot be read: zero font size, transparent ink, ink the colour of what is
    /// `behind` it (see [`Layout::behind`]), or indented off the page.
    pub fn text_hidden(&self, behind: Behind) -> bool {
        if self.font_size <= 0.0 || self.text_indent < -500.0 {
            return true;
        }
        match parse_rgba(&self.color) {
            Some(c) if c[3] <= 0.0 => true,
            Some(c) => behind.is_some_and(|b| contrast(c, b) < MIN_CONTRAST),
            None => false,
        }
    }

    /// Parses the [`LAYOUT_ATTR`] form; `None` when malformed.
    pub fn decode(s: &str) -> Option<Layout> {
        let f: Vec<&str> = s.split('|').map(str::trim).collect();
        if f.len() != 6 && f.len() != 16 {
            return None;
        }
        let num = |i: usize, default: f64| -> Option<f64> {
            match f.get(i) {
                None => Some(default),
                Some(x) => x.parse::<f64>().ok().filter(|v| !v.is_nan()),
            }
        };
        Some(Layout {
            display: f[0].to_ascii_lowercase(),
            visibility: f[1].to_ascii_lowercase(),
            overflow: f[2].to_ascii_lowercase(),
            rects: f[3].parse().ok()?,
            width: num(4, 0.0)?,
            height: num(5, 0.0)?,
            opacity: num(6, 1.0)?,
            left: num(7, 0.0)?,
            top: num(8, 0.0)?,
            font_size: num(9, 16.0)?,
            text_indent: num(10, 0.0)?,
            color: f.get(11).unwrap_or(&"").to_string(),
            background_color: f.get(12).unwrap_or(&"").to_string(),
            background_image: f.get(13).is_some_and(|i| !i.is_empty() && !i.eq_ignore_ascii_case("none")),
            transform: f.get(14).unwrap_or(&"none").to_ascii_lowercase(),
            clip_path: f.get(15).unwrap_or(&"none").to_ascii_lowercase(),
        })
    }
}

/// A computed CSS colour, `rgb(r, g, b)` or `rgba(r, g, b, a)` (what `getComputedStyle` gives),
/// as `[r, g, b, a]` with r, g, b in 0..=255 and a in 0..=1.
pub fn parse_rgba(s: &str) -> Option<[f64; 4]> {
    let s = s.trim();
    let inner = s.strip_prefix("rgba(").or_else(|| s.strip_prefix("rgb("))?.strip_suffix(')')?;
    let v: Vec<f64> = inner.split([',', ' ', '/']).filter(|x| !x.is_empty()).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    match v.as_slice() {
        [r, g, b] => Some([*r, *g, *b, 1.0]),
        [r, g, b, a] => Some([*r, *g, *b, *a]),
        _ => None,
    }
}

/// WCAG contrast ratio of text colour `fg` (its alpha blended over `bg`) against `bg`.
pub fn contrast(fg: [f64; 4], bg: [f64; 4]) -> f64 {
    let lum = |c: [f64; 3]| {
        let ch = |v: f64| {
            let v = (v / 255.0).clamp(0.0, 1.0);
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])
    };
    let a = fg[3].clamp(0.0, 1.0);
    let blended = [0, 1, 2].map(|i| fg[i] * a + bg[i] * (1.0 - a));
    let (l1, l2) = (lum(blended), lum([bg[0], bg[1], bg[2]]));
    (l1.max(l2) + 0.05) / (l1.min(l2) + 0.05)
}
