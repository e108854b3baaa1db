//! Text analysis as Pyserini's default English analyzer does it (Anserini's
//! `DefaultEnglishAnalyzer`): Lucene `StandardTokenizer` (UAX #29 word boundaries, simplified to
//! the classes that occur in product text), English possessive removal, lowercasing, Lucene's
//! English stop words, and Porter stemming (Lucene's `PorterStemmer`, i.e. Porter's reference
//! implementation including its `logi`/`bli` departures and no stemming of words of 1-2 letters).

/// Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`.
pub const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cls {
    Letter,
    Numeric,
    ExtendNumLet,
    MidLetter,
    MidNumLet,
    SingleQuote,
    MidNum,
    Ideo,
    Other,
}

fn is_ideographic(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

fn class(c: char) -> Cls {
    match c {
        '\'' => Cls::SingleQuote,
        '.' | '\u{2018}' | '\u{2019}' | '\u{2024}' | '\u{FE52}' | '\u{FF07}' | '\u{FF0E}' => Cls::MidNumLet,
        ':' | '\u{00B7}' | '\u{0387}' | '\u{05F4}' | '\u{2027}' | '\u{FE13}' | '\u{FE55}' | '\u{FF1A}' => Cls::MidLetter,
        ',' | ';' | '\u{037E}' | '\u{0589}' | '\u{060C}' | '\u{060D}' | '\u{066C}' | '\u{07F8}' | '\u{2044}'
        | '\u{FE10}' | '\u{FE14}' | '\u{FE50}' | '\u{FE54}' | '\u{FF0C}' | '\u{FF1B}' => Cls::MidNum,
        '_' | '\u{203F}' | '\u{2040}' | '\u{2054}' | '\u{FE33}' | '\u{FE34}' | '\u{FE4D}' | '\u{FE4E}'
        | '\u{FE4F}' | '\u{FF3F}' => Cls::ExtendNumLet,
        c if c.is_ascii_digit() => Cls::Numeric,
        c if is_ideographic(c) => Cls::Ideo,
        c if c.is_alphabetic() => Cls::Letter,
        c if c.is_numeric() => Cls::Numeric,
        _ => Cls::Other,
    }
}

/// Splits text into word tokens like Lucene's `StandardTokenizer` (UAX #29 rules WB5-WB13b).
pub fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let cls: Vec<Cls> = chars.iter().map(|&c| class(c)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    let n = chars.len();
    let wordish = |c: Cls| matches!(c, Cls::Letter | Cls::Numeric | Cls::ExtendNumLet);
    while i < n {
        match cls[i] {
            Cls::Ideo => {
                out.push(chars[i].to_string());
                i += 1;
            }
            c if wordish(c) => {
                let start = i;
                let mut last = c; // class of the last letter/digit/connector in the token
                i += 1;
                while i < n {
                    let c = cls[i];
                    if wordish(c) {
                        last = c;
                        i += 1;
                        continue;
                    }
                    // a middle character joins only between two letters or two digits
                    if i + 1 < n {
                        let next = cls[i + 1];
                        let letters = last == Cls::Letter
                            && next == Cls::Letter
                            && matches!(c, Cls::MidLetter | Cls::MidNumLet | Cls::SingleQuote);
                        let digits = last == Cls::Numeric
                            && next == Cls::Numeric
                            && matches!(c, Cls::MidNum | Cls::MidNumLet | Cls::SingleQuote);
                        if letters || digits {
                            i += 2;
                            last = next;
                            continue;
                        }
                    }
                    break;
                }
                let tok: String = chars[start..i].iter().collect();
                // tokens made only of connectors ("___") are not words
                if tok.chars().any(|c| !matches!(class(c), Cls::ExtendNumLet)) {
                    out.push(tok);
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// The full analysis chain: tokens -> possessive removal -> lowercase -> stop words -> Porter.
pub fn analyze(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for mut t in tokenize(text) {
        // EnglishPossessiveFilter
        let cs: Vec<char> = t.chars().collect();
        if cs.len() >= 2 {
            let q = cs[cs.len() - 2];
            let s = cs[cs.len() - 1];
            if matches!(q, '\'' | '\u{2019}' | '\u{FF07}') && (s == 's' || s == 'S') {
                t = cs[..cs.len() - 2].iter().collect();
            }
        }
        let t = t.to_lowercase();
        if t.is_empty() || STOP_WORDS.contains(&t.as_str()) {
            continue;
        }
        out.push(porter_stem(&t));
    }
    out
}

/// Porter's stemming algorithm, as in Lucene's `PorterStemmer`.
pub fn porter_stem(word: &str) -> String {
    let b: Vec<char> = word.chars().collect();
    if b.len() <= 2 {
        return word.to_string();
    }
    let mut s = Porter { b, k: 0, j: 0 };
    s.k = s.b.len() - 1;
    s.step1ab();
    if s.k > 0 {
        s.step1c();
        s.step2();
        s.step3();
        s.step4();
        s.step5();
    }
    s.b[..=s.k].iter().collect()
}

struct Porter {
    b: Vec<char>,
    k: usize,
    j: usize,
}

impl Porter {
    fn cons(&self, i: usize) -> bool {
        match self.b[i] {
            'a' | 'e' | 'i' | 'o' | 'u' => false,
            'y' => i == 0 || !self.cons(i - 1),
            _ => true,
        }
    }
    /// Number of consonant-vowel sequences in b[0..=j].
    fn m(&self) -> usize {
        let j = self.j as isize;
        let mut n = 0;
        let mut i: isize = 0;
        loop {
            if i > j {
                return n;
            }
            if !self.cons(i as usize) {
                break;
            }
            i += 1;
        }
        i += 1;
        loop {
            loop {
                if i > j {
                    return n;
                }
                if self.cons(i as usize) {
                    break;
                }
                i += 1;
            }
            i += 1;
            n += 1;
            loop {
                if i > j {
                    return n;
                }
                if !self.cons(i as usize) {
                    break;
                }
                i += 1;
            }
            i += 1;
        }
    }
    fn vowel_in_stem(&self) -> bool {
        (0..=self.j).any(|i| !self.cons(i))
    }
    fn doublec(&self, j: usize) -> bool {
        j >= 1 && self.b[j] == self.b[j - 1] && self.cons(j)
    }
    fn cvc(&self, i: usize) -> bool {
        if i < 2 || !self.cons(i) || self.cons(i - 1) || !self.cons(i - 2) {
            return false;
        }
        !matches!(self.b[i], 'w' | 'x' | 'y')
    }
    fn ends(&mut self, s: &str) -> bool {
        let s: Vec<char> = s.chars().collect();
        let l = s.len();
        if l > self.k + 1 {
            return false;
        }
        let o = self.k + 1 - l;
        if self.b[o..=self.k] != s[..] {
            return false;
        }
        // j = k - l (may be "-1": encoded by wrapping and guarded where used)
        self.j = (self.k + 1 - l).wrapping_sub(1);
        true
    }
    fn setto(&mut self, s: &str) {
        let s: Vec<char> = s.chars().collect();
        let start = self.j.wrapping_add(1);
        self.b.truncate(start);
        self.b.extend_from_slice(&s);
        self.k = (start + s.len()).wrapping_sub(1);
    }
    fn r(&mut self, s: &str) {
        if self.j != usize::MAX && self.m() > 0 {
            self.setto(s);
        }
    }
    fn step1ab(&mut self) {
        if self.b[self.k] == 's' {
            if self.ends("sses") {
                self.k -= 2;
            } else if self.ends("ies") {
                self.setto("i");
            } else if self.b[self.k - 1] != 's' {
                self.k -= 1;
            }
        }
        if self.ends("eed") {
            if self.m() > 0 {
                self.k -= 1;
            }
        } else if (self.ends("ed") || self.ends("ing")) && self.j != usize::MAX && self.vowel_in_stem() {
            self.k = self.j;
            if self.ends("at") {
                self.setto("ate");
            } else if self.ends("bl") {
                self.setto("ble");
            } else if self.ends("iz") {
                self.setto("ize");
            } else if self.doublec(self.k) {
                self.k -= 1;
                if matches!(self.b[self.k], 'l' | 's' | 'z') {
                    self.k += 1;
                }
            } else if {
                self.j = self.k;
                self.m() == 1
            } && self.cvc(self.k)
            {
                self.setto("e");
            }
        }
        self.b.truncate(self.k + 1);
    }
    fn step1c(&mut self) {
        if self.ends("y") && self.vowel_in_stem() {
            self.b[self.k] = 'i';
        }
    }
    fn step2(&mut self) {
        if self.k < 1 {
            return;
        }
        let rules: &[(&str, &str)] = match self.b[self.k - 1] {
            'a' => &[("ational", "ate"), ("tional", "tion")],
            'c' => &[("enci", "ence"), ("anci", "ance")],
            'e' => &[("izer", "ize")],
            'l' => &[("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")],
            'o' => &[("ization", "ize"), ("ation", "ate"), ("ator", "ate")],
            's' => &[("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")],
            't' => &[("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")],
            'g' => &[("logi", "log")],
            _ => &[],
        };
        self.first_rule(rules);
    }
    /// Applies the first rule whose suffix the word ends with (steps 2 and 3 of Porter's algorithm).
    fn first_rule(&mut self, rules: &[(&str, &str)]) {
        for (suf, rep) in rules {
            if self.ends(suf) {
                self.r(rep);
                break;
            }
        }
        self.b.truncate(self.k + 1);
    }
    fn step3(&mut self) {
        let rules: &[(&str, &str)] = match self.b[self.k] {
            'e' => &[("icate", "ic"), ("ative", ""), ("alize", "al")],
            'i' => &[("iciti", "ic")],
            'l' => &[("ical", "ic"), ("ful", "")],
            's' => &[("ness", "")],
            _ => &[],
        };
        self.first_rule(rules);
    }
    fn step4(&mut self) {
        if self.k < 1 {
            return;
        }
        let matched = match self.b[self.k - 1] {
            'a' => self.ends("al"),
            'c' => self.ends("ance") || self.ends("ence"),
            'e' => self.ends("er"),
            'i' => self.ends("ic"),
            'l' => self.ends("able") || self.ends("ible"),
            'n' => self.ends("ant") || self.ends("ement") || self.ends("ment") || self.ends("ent"),
            'o' => {
                (self.ends("ion") && self.j != usize::MAX && matches!(self.b[self.j], 's' | 't'))
                    || self.ends("ou")
            }
            's' => self.ends("ism"),
            't' => self.ends("ate") || self.ends("iti"),
            'u' => self.ends("ous"),
            'v' => self.ends("ive"),
            'z' => self.ends("ize"),
            _ => false,
        };
        if matched && self.j != usize::MAX && self.m() > 1 {
            self.k = self.j;
        }
        self.b.truncate(self.k + 1);
    }
    fn step5(&mut self) {
        self.j = self.k;
        if self.b[self.k] == 'e' {
            let a = self.m();
            if a > 1 || (a == 1 && self.k >= 1 && !self.cvc(self.k - 1)) {
                self.k -= 1;
            }
        }
        if self.b[self.k] == 'l' && self.doublec(self.k) && self.m() > 1 {
            self.k -= 1;
        }
        self.b.truncate(self.k + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porter_reference_words() {
        let cases = [
            ("caresses", "caress"), ("ponies", "poni"), ("ties", "ti"), ("caress", "caress"), ("cats", "cat"),
            ("feed", "feed"), ("agreed", "agre"), ("plastered", "plaster"), ("bled", "bled"),
            ("motoring", "motor"), ("sing", "sing"), ("conflated", "conflat"), ("troubled", "troubl"),
            ("sized", "size"), ("hopping", "hop"), ("tanned", "tan"), ("falling", "fall"), ("hissing", "hiss"),
            ("fizzed", "fizz"), ("failing", "fail"), ("filing", "file"), ("happy", "happi"), ("sky", "sky"),
            ("relational", "relat"), ("conditional", "condit"), ("rational", "ration"), ("valenci", "valenc"),
            ("digitizer", "digit"), ("conformabli", "conform"), ("radicalli", "radic"), ("differentli", "differ"),
            ("vileli", "vile"), ("analogousli", "analog"), ("vietnamization", "vietnam"), ("predication", "predic"),
            ("operator", "oper"), ("feudalism", "feudal"), ("decisiveness", "decis"), ("hopefulness", "hope"),
            ("callousness", "callous"), ("formaliti", "formal"), ("sensitiviti", "sensit"), ("sensibiliti", "sensibl"),
            ("triplicate", "triplic"), ("formative", "form"), ("formalize", "formal"), ("electriciti", "electr"),
            ("electrical", "electr"), ("hopeful", "hope"), ("goodness", "good"), ("revival", "reviv"),
            ("allowance", "allow"), ("inference", "infer"), ("airliner", "airlin"), ("gyroscopic", "gyroscop"),
            ("adjustable", "adjust"), ("defensible", "defens"), ("irritant", "irrit"), ("replacement", "replac"),
            ("adjustment", "adjust"), ("dependent", "depend"), ("adoption", "adopt"), ("homologou", "homolog"),
            ("communism", "commun"), ("activate", "activ"), ("angulariti", "angular"), ("homologous", "homolog"),
            ("effective", "effect"), ("bowdlerize", "bowdler"), ("probate", "probat"), ("rate", "rate"),
            ("cease", "ceas"), ("controll", "control"), ("roll", "roll"), ("sleeve", "sleev"), ("women", "women"),
            ("blouses", "blous"), ("large", "larg"), ("loose", "loos"), ("as", "as"), ("is", "is"),
        ];
        for (w, s) in cases {
            assert_eq!(porter_stem(w), s, "stem({w})");
        }
    }

    #[test]
    fn standard_tokenizer_rules() {
        assert_eq!(tokenize("women's x-large, 50.00 dollars"), ["women's", "x", "large", "50.00", "dollars"]);
        assert_eq!(tokenize("color:christmas a01#purple 39x59in u.s.a. 1,000"), [
            "color:christmas", "a01", "purple", "39x59in", "u.s.a", "1,000"
        ]);
        assert_eq!(tokenize("(Gray,) foo_bar --"), ["Gray", "foo_bar"]);
        assert_eq!(analyze("Women's Tops, Tees & Blouses"), ["women", "top", "tee", "blous"]);
        assert_eq!(analyze("the price is < 50.00"), ["price", "50.00"]);
    }
}
