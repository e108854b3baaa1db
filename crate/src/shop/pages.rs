//! HTML pages of the store, with the markup of WebShop's templates (the version the recorded
//! trajectories were made with): search page, results, item page, item sub-pages, done page,
//! plus an error page. Ids and classes are stable: `instruction-text`, `search_input`,
//! `product-link`, `product-title`, `product-price`, radio inputs named by option, `btn` buttons.
use super::catalog::Product;
use super::reward::RewardInfo;
use super::url::encode;

/// A product sub-page (WebShop's `ACTION_TO_TEMPLATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubPage {
    Description,
    Features,
    Reviews,
    Attributes,
}

impl SubPage {
    pub const ALL: [SubPage; 4] = [SubPage::Description, SubPage::Features, SubPage::Reviews, SubPage::Attributes];
    pub fn name(self) -> &'static str {
        match self {
            SubPage::Description => "Description",
            SubPage::Features => "Features",
            SubPage::Reviews => "Reviews",
            SubPage::Attributes => "Attributes",
        }
    }
    /// Case-insensitive lookup by name.
    pub fn from_name(s: &str) -> Option<SubPage> {
        SubPage::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }
}

/// Escapes text for HTML like Jinja's autoescape.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A float as Python prints it (`1.0`, `0.5`, `0.3333333333333333`).
pub fn py_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Options chosen on an item page, in the order they were chosen (WebShop's `options` dict).
pub type Options = Vec<(String, String)>;

/// Serializes options as a JSON object (the URL form, like WebShop's).
pub fn options_json(options: &Options) -> String {
    let mut m = String::from("{");
    for (i, (k, v)) in options.iter().enumerate() {
        if i > 0 {
            m.push_str(", ");
        }
        m.push_str(&serde_json::to_string(k).unwrap_or_default());
        m.push_str(": ");
        m.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    m.push('}');
    m
}

/// URL builders for one session. A shopping-list session (`list`) also links its cart; a
/// single-goal session's pages are WebShop's, byte for byte.
pub struct Links<'a> {
    pub session: &'a str,
    pub list: bool,
}

impl Links<'_> {
    pub fn index(&self) -> String {
        format!("/{}", encode(self.session))
    }
    pub fn search_form(&self) -> String {
        format!("/search/{}", encode(self.session))
    }
    pub fn results(&self, keywords: &str, page: usize) -> String {
        format!("/search_results/{}/{}/{page}", encode(self.session), encode(keywords))
    }
    pub fn item(&self, asin: &str, keywords: &str, page: usize, options: &Options) -> String {
        format!(
            "/item_page/{}/{}/{}/{page}/{}",
            encode(self.session),
            encode(asin),
            encode(keywords),
            encode(&options_json(options))
        )
    }
    pub fn sub(&self, asin: &str, keywords: &str, page: usize, sub: SubPage, options: &Options) -> String {
        format!(
            "/item_sub_page/{}/{}/{}/{page}/{}/{}",
            encode(self.session),
            encode(asin),
            encode(keywords),
            sub.name(),
            encode(&options_json(options))
        )
    }
    pub fn done(&self, asin: &str, options: &Options) -> String {
        format!("/done/{}/{}/{}", encode(self.session), encode(asin), encode(&options_json(options)))
    }
    pub fn cart(&self) -> String {
        format!("/cart/{}", encode(self.session))
    }
    pub fn cart_add(&self, asin: &str, options: &Options) -> String {
        format!("/cart_add/{}/{}/{}", encode(self.session), encode(asin), encode(&options_json(options)))
    }
    /// Removes the cart's item `index` (counted from 1, as the page numbers them).
    pub fn cart_remove(&self, index: usize) -> String {
        format!("/cart_remove/{}/{index}", encode(self.session))
    }
    pub fn checkout(&self) -> String {
        format!("/checkout/{}", encode(self.session))
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:0}.container{max-width:1100px;margin:auto;padding:16px}\
.top-buffer{margin-top:12px}.btn{padding:6px 12px;margin:2px;cursor:pointer;border:1px solid #888;border-radius:4px;background:#eee}\
.btn-success{background:#5cb85c;color:#fff}.btn-primary{background:#337ab7;color:#fff}.purchase{background:#f0ad4e;font-size:1.2em}\
.list-group-item{border-bottom:1px solid #ddd;padding:8px;overflow:hidden}.result-img{max-height:120px;float:left;margin-right:12px}\
.item-page-img{max-height:300px}.radio-toolbar label{border:1px solid #aaa;padding:2px 8px;margin:2px;display:inline-block;cursor:pointer}\
.radio-toolbar input[type=radio]{opacity:0;position:fixed;width:0}.radio-toolbar input[type=radio]:checked+label{background:#337ab7;color:#fff}";

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n  <head>\n    <meta charset=\"utf-8\">\n    <title>{}</title>\n    <style>{STYLE}</style>\n  </head>\n",
        esc(title)
    )
}

fn instruction_block(instruction: &str) -> String {
    format!(
        "      <div class=\"row top-buffer\">\n        <div class=\"col-sm-6\">\n          <div id=\"instruction-text\" class=\"text-center\">\n            <h4>Instruction:<br>{}</h4>\n          </div>\n        </div>\n      </div>\n",
        esc(instruction)
    )
}

fn button_form(action: &str, class: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\">\n          <button type=\"submit\" class=\"btn {class}\">{}</button>\n        </form>",
        esc(action),
        esc(label)
    )
}

fn back_to_search(l: &Links) -> String {
    format!(
        "      <div class=\"row top-buffer\">\n        {}{}\n      </div>\n",
        button_form(&l.index(), "btn-success", "Back to Search"),
        view_cart(l)
    )
}

/// The View Cart button of a list session's pages ("" in a single-goal session).
fn view_cart(l: &Links) -> String {
    if l.list {
        format!("\n        {}", button_form(&l.cart(), "btn-primary", "View Cart"))
    } else {
        String::new()
    }
}

/// The search page: instruction and search box.
pub fn search_page(l: &Links, instruction: &str) -> String {
    format!(
        "{}  <body>\n    <div class=\"container\" style=\"margin-top: 8%;\">\n      <div class=\"col-md-6 col-md-offset-3\">\n        <div class=\"row\">\n          <div id=\"logo\" class=\"text-center\">\n            <h2>WebShop</h2>\n          </div>\n          <div id=\"instruction-text\" class=\"text-center\">\n            <h4>Instruction: <br>{}</h4>\n          </div>\n          <form role=\"search\" id=\"form-buscar\" method=\"get\" action=\"{}\">\n            <div class=\"input-group\">\n              <input id=\"search_input\" class=\"form-control\" type=\"text\" name=\"search_query\" placeholder=\"Search...\" required/>\n              <span class=\"input-group-btn\">\n                <button class=\"btn btn-success\" type=\"submit\"><i class=\"glyphicon glyphicon-search\" aria-hidden=\"true\"></i>Search</button>\n              </span>\n            </div>\n          </form>{}\n        </div>\n      </div>\n    </div>\n  </body>\n</html>\n",
        head("WebShop"),
        esc(instruction),
        esc(&l.search_form()),
        view_cart(l)
    )
}

/// A results page: `products` are the ones on this page, `total` the number of results.
pub fn results_page(l: &Links, instruction: &str, keywords: &str, page: usize, total: usize, products: &[&Product]) -> String {
    let mut h = head("WebShop - Results");
    h.push_str("  <body>\n    <div class=\"container py-5\">\n");
    h.push_str(&instruction_block(instruction));
    h.push_str(&back_to_search(l));
    h.push_str(&format!(
        "      <div class=\"row top-buffer\">\n        <div class=\"col-sm-8\">\n          <div class=\"display-4\">\n            <h3>Page {page} (Total results: {total})</h3>\n          </div>\n"
    ));
    if page > 1 {
        h.push_str(&format!(
            "          <div class=\"col-sm-2\">\n            {}\n          </div>\n",
            button_form(&l.results(keywords, page - 1), "btn-primary", "< Prev")
        ));
    }
    if page.saturating_mul(10) < total {
        h.push_str(&format!(
            "          <div class=\"col-sm-2\">\n            {}\n          </div>\n",
            button_form(&l.results(keywords, page + 1), "btn-primary", "Next >")
        ));
    }
    h.push_str("        </div>\n      </div>\n      <div class=\"row top-buffer\" id=\"results\">\n");
    for p in products {
        h.push_str(&format!(
            "        <div class=\"col-lg-12 mx-auto list-group-item searched-product\">\n          <img src=\"{}\" class=\"result-img\" alt=\"\">\n          <h4 class=\"product-asin\"><a class=\"product-link\" href=\"{}\">{}</a></h4>\n          <h4 class=\"product-title\">{}</h4>\n          <h5 class=\"product-price\">{}</h5>\n        </div>\n",
            esc(&p.main_image),
            esc(&l.item(&p.asin, keywords, page, &Vec::new())),
            esc(&p.asin),
            esc(&p.title),
            esc(&p.price_text)
        ));
    }
    h.push_str("      </div>\n    </div>\n  </body>\n</html>\n");
    h
}

/// An item page: option radio groups, title, price, rating, sub-page buttons, Buy Now.
pub fn item_page(
    l: &Links,
    instruction: &str,
    p: &Product,
    keywords: &str,
    page: usize,
    options: &Options,
    show_attrs: bool,
) -> String {
    let mut h = head(&format!("WebShop - {}", p.asin));
    h.push_str("  <body>\n    <div class=\"container py-5\">\n");
    h.push_str(&instruction_block(instruction));
    h.push_str(&back_to_search(l));
    h.push_str(&format!(
        "      <div class=\"row top-buffer\">\n        {}\n      </div>\n",
        button_form(&l.results(keywords, page), "btn-primary", "< Prev")
    ));
    h.push_str(&format!(
        "      <div class=\"row top-buffer\" id=\"product\" data-asin=\"{}\">\n        <div class=\"col-md-4 mb-4 mb-md-0\">\n          <div class=\"row top-buffer\">\n            <img id=\"product-image\" src=\"{}\" class=\"item-page-img\" alt=\"\">\n          </div>\n",
        esc(&p.asin),
        esc(&p.main_image)
    ));
    for (name, values) in &p.options {
        h.push_str(&format!(
            "          <div class=\"row top-buffer option-group\">\n            <h4>{}</h4>\n            <div class=\"radio-toolbar\" role=\"radiogroup\">\n",
            esc(name)
        ));
        let chosen = options.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        for (i, v) in values.iter().enumerate() {
            let mut next = options.clone();
            match next.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = v.clone(),
                None => next.push((name.clone(), v.clone())),
            }
            let url = l.item(&p.asin, keywords, page, &next);
            let id = format!("radio_{name}{i}");
            h.push_str(&format!(
                "              <input type=\"radio\" id=\"{id}\" name=\"{n}\" value=\"{v}\" data-url=\"{u}\"{c} onclick=\"window.location.href=this.dataset.url\">\n              <label for=\"{id}\">{v}</label>\n",
                id = esc(&id),
                n = esc(name),
                v = esc(v),
                u = esc(&url),
                c = if chosen == Some(v.as_str()) { " checked" } else { "" }
            ));
        }
        h.push_str("            </div>\n          </div>\n");
    }
    h.push_str(&format!(
        "        </div>\n        <div class=\"col-md-6\">\n          <h2 class=\"product-title\">{}</h2>\n          <h4 class=\"product-price\">Price: {}</h4>\n          <h4 class=\"product-rating\">Rating: {}</h4>\n          <div class=\"row top-buffer\">\n",
        esc(&p.title),
        esc(&p.price_text),
        esc(&p.rating)
    ));
    for sub in SubPage::ALL {
        if sub == SubPage::Attributes && !show_attrs {
            continue;
        }
        h.push_str(&format!(
            "            <div class=\"col-sm-3\" name=\"{}\">\n              {}\n            </div>\n",
            sub.name().to_lowercase(),
            button_form(&l.sub(&p.asin, keywords, page, sub, options), "btn-primary", sub.name())
        ));
    }
    h.push_str(&format!(
        "          </div>\n        </div>\n        <div class=\"col-sm-2\">\n          <div class=\"row top-buffer\">\n            {}\n          </div>\n        </div>\n      </div>\n    </div>\n  </body>\n</html>\n",
        add_to_cart(l, p, options) + &button_form(&l.done(&p.asin, options), "btn-lg purchase", "Buy Now")
    ));
    h
}

/// A list session's Add to Cart button, before Buy Now ("" in a single-goal session).
fn add_to_cart(l: &Links, p: &Product, options: &Options) -> String {
    if l.list {
        format!("{}\n            ", button_form(&l.cart_add(&p.asin, options), "btn-success", "Add to Cart"))
    } else {
        String::new()
    }
}

/// A product in the cart, as the cart and receipt pages show it.
pub struct CartLine<'a> {
    pub product: &'a Product,
    pub options: &'a Options,
}

fn cart_line(h: &mut String, i: usize, line: &CartLine) {
    let opts: Vec<String> = line.options.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    h.push_str(&format!(
        "        <div class=\"col-lg-12 mx-auto list-group-item cart-item\">\n          <h4 class=\"product-asin\">{i}. {}</h4>\n          <h4 class=\"product-title\">{}</h4>\n          <h5 class=\"product-price\">{}</h5>\n          <p class=\"cart-options\">{}</p>\n",
        esc(&line.product.asin),
        esc(&line.product.title),
        esc(&line.product.price_text),
        esc(&if opts.is_empty() { "no options".to_string() } else { opts.join(", ") })
    ));
}

/// A list session's cart: each item with its options and a Remove button, then Checkout.
pub fn cart_page(l: &Links, instruction: &str, lines: &[CartLine]) -> String {
    let mut h = head("WebShop - Cart");
    h.push_str("  <body>\n    <div class=\"container py-5\">\n");
    h.push_str(&instruction_block(instruction));
    h.push_str(&format!(
        "      <div class=\"row top-buffer\">\n        {}\n      </div>\n",
        button_form(&l.index(), "btn-success", "Back to Search")
    ));
    h.push_str(&format!("      <div class=\"row top-buffer\" id=\"cart\">\n        <h3>Cart ({} item{})</h3>\n", lines.len(), if lines.len() == 1 { "" } else { "s" }));
    if lines.is_empty() {
        h.push_str("        <p>Your cart is empty.</p>\n");
    }
    for (i, line) in lines.iter().enumerate() {
        cart_line(&mut h, i + 1, line);
        h.push_str(&format!("          {}\n        </div>\n", button_form(&l.cart_remove(i + 1), "btn-primary", &format!("Remove {}", i + 1))));
    }
    if !lines.is_empty() {
        h.push_str(&format!("        <div class=\"row top-buffer\">\n          {}\n        </div>\n", button_form(&l.checkout(), "btn-lg purchase", "Checkout")));
    }
    h.push_str("      </div>\n    </div>\n  </body>\n</html>\n");
    h
}

/// The receipt of a checked-out list: the score, each goal's reward and the item it went to.
pub fn receipt_page(lines: &[CartLine], reward: f64, item_rewards: &[f64], assigned: &[Option<usize>], extra: usize) -> String {
    let mut h = head("WebShop - Done");
    h.push_str("  <body>\n    <div class=\"container\" style=\"margin-top: 8%;\">\n      <div id=\"thankyou\" class=\"text-center\">\n        <h1>Thank you for shopping with us!</h1>\n      </div>\n      <div id=\"stats\" class=\"text-center\">\n");
    h.push_str(&format!("        <h3 id=\"reward\">Your score (min 0.0, max 1.0)<pre>{}</pre></h3>\n", py_float(reward)));
    h.push_str("        <table id=\"item-rewards\">\n");
    for (g, (r, a)) in item_rewards.iter().zip(assigned).enumerate() {
        let what = match a {
            Some(i) => format!("cart item {}", i + 1),
            None => "nothing bought".to_string(),
        };
        h.push_str(&format!("          <tr><th>item {}</th><td>{}</td><td>{}</td></tr>\n", g + 1, py_float(*r), esc(&what)));
    }
    if extra > 0 {
        h.push_str(&format!("          <tr><th>extra items</th><td>{extra}</td><td></td></tr>\n"));
    }
    h.push_str("        </table>\n      </div>\n      <div id=\"purchased\">\n");
    for (i, line) in lines.iter().enumerate() {
        cart_line(&mut h, i + 1, line);
        h.push_str("        </div>\n");
    }
    h.push_str("      </div>\n    </div>\n  </body>\n</html>\n");
    h
}

/// A sub-page of an item (Description, Features, Reviews, Attributes).
pub fn sub_page(l: &Links, instruction: &str, p: &Product, keywords: &str, page: usize, sub: SubPage, options: &Options) -> String {
    let mut h = head(&format!("WebShop - {} - {}", p.asin, sub.name()));
    h.push_str("  <body>\n    <div class=\"container py-5\">\n");
    h.push_str(&instruction_block(instruction));
    h.push_str(&back_to_search(l));
    h.push_str(&format!(
        "      <div class=\"row top-buffer\">\n        {}\n      </div>\n",
        button_form(&l.item(&p.asin, keywords, page, options), "btn-primary", "< Prev")
    ));
    let name = match sub {
        SubPage::Features => "bulletpoints",
        other => match other {
            SubPage::Description => "description",
            SubPage::Reviews => "reviews",
            _ => "attributes",
        },
    };
    h.push_str(&format!(
        "      <div class=\"row top-buffer\">\n        <div class=\"col-md-12\">\n          <div class=\"col-sm-6\" name=\"{name}\" id=\"{name}\">\n            <div class=\"card card-body\">\n"
    ));
    match sub {
        SubPage::Description => {
            h.push_str(&format!("              <p class=\"product-info\">{}</p>\n", esc(&p.description)));
        }
        SubPage::Features => {
            h.push_str("              <ul>\n");
            for b in &p.bullet_points {
                h.push_str(&format!("                <li><p class=\"product-info\">{}</p></li>\n", esc(b)));
            }
            h.push_str("              </ul>\n");
        }
        SubPage::Reviews => {
            if p.reviews.is_empty() {
                h.push_str("              <h4>No reviews found</h4>\n");
            }
            for r in &p.reviews {
                let field = |k: &str| match r.get(k) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                };
                let score = if r.get("score").is_some() { field("score") } else { field("stars") };
                let body = if r.get("body").is_some() { field("body") } else { field("review") };
                h.push_str(&format!(
                    "              <div class=\"card review\">\n                <h4 class=\"blue-text mt-3\">\"{}\"</h4>\n                <p class=\"text-left\"><span>{}</span></p>\n                <p class=\"content\">{}</p>\n              </div>\n",
                    esc(&field("title")),
                    esc(&score),
                    esc(&body)
                ));
            }
        }
        SubPage::Attributes => {
            h.push_str("              <ul>\n");
            for a in &p.attributes {
                h.push_str(&format!("                <li><p class=\"product-info\">{}</p></li>\n", esc(a)));
            }
            h.push_str("              </ul>\n");
        }
    }
    h.push_str("            </div>\n          </div>\n        </div>\n      </div>\n    </div>\n  </body>\n</html>\n");
    h
}

/// The done page: the reward and its breakdown.
pub fn done_page(asin: &str, options: &Options, reward: f64, info: &RewardInfo) -> String {
    let mut h = head("WebShop - Done");
    h.push_str("  <body>\n    <div class=\"container\" style=\"margin-top: 8%;\">\n      <div id=\"thankyou\" class=\"text-center\">\n        <h1>Thank you for shopping with us!</h1>\n      </div>\n      <div id=\"stats\" class=\"text-center\">\n");
    h.push_str(&format!(
        "        <h3 id=\"reward\">Your score (min 0.0, max 1.0)<pre>{}</pre></h3>\n",
        py_float(reward)
    ));
    h.push_str(&format!(
        "        <h4 id=\"asin\">Purchased<pre>{}</pre></h4>\n        <h4 id=\"options\">Options<pre>{}</pre></h4>\n",
        esc(asin),
        esc(&options_json(options))
    ));
    h.push_str("        <table id=\"reward-breakdown\">\n");
    for (k, v) in info.rows() {
        h.push_str(&format!("          <tr><th>{}</th><td>{}</td></tr>\n", esc(&k), esc(&v)));
    }
    h.push_str("        </table>\n      </div>\n    </div>\n  </body>\n</html>\n");
    h
}

/// An error page; offers Back to Search when the session is known.
pub fn error_page(session: Option<&str>, message: &str) -> String {
    let mut h = head("WebShop - Error");
    h.push_str("  <body>\n    <div class=\"container py-5\">\n      <h1>Error</h1>\n");
    h.push_str(&format!("      <p class=\"error\" id=\"error\">{}</p>\n", esc(message)));
    if let Some(s) = session {
        h.push_str(&back_to_search(&Links { session: s, list: false }));
    }
    h.push_str("    </div>\n  </body>\n</html>\n");
    h
}
