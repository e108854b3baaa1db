//! Percent-encoding for the store's URLs (path segments and query strings).

/// Encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as space when `plus` is set). Fails on bad escapes or bytes
/// that are not UTF-8.
pub fn decode(s: &str, plus: bool) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or("truncated %-escape")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "bad %-escape")?;
                let v = u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape")?;
                out.push(v);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".to_string())
}

/// Parses `a=1&b=2` into pairs (decoded).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k, true).ok()?, decode(v, true).ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip() {
        let s = "women's tops {\"color\": \"a01#purple\"} / é";
        assert_eq!(decode(&encode(s), false).unwrap(), s);
        assert!(decode("%zz", false).is_err());
        assert!(decode("%ff", false).is_err());
        assert_eq!(parse_query("search_query=red+shoes&x"), vec![("search_query".into(), "red shoes".into()), ("x".into(), "".into())]);
    }
}
