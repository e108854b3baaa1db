//! A tiny flag parser: `--name value`, `--flag`, repeated flags. Unknown flags are errors.
use crate::{Error, Result};

pub struct Args {
    pairs: Vec<(String, Option<String>)>,
}

impl Args {
    /// `switches` are flags that take no value; every other `--flag` takes the next word.
    pub fn parse(raw: &[String], valued: &[&str], switches: &[&str]) -> Result<Args> {
        let mut pairs = Vec::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(Error::usage(format!("unexpected argument '{a}'")));
            };
            if switches.contains(&name) {
                pairs.push((name.to_string(), None));
            } else if valued.contains(&name) {
                let v = it.next().ok_or_else(|| Error::usage(format!("--{name} needs a value")))?;
                pairs.push((name.to_string(), Some(v.clone())));
            } else {
                return Err(Error::usage(format!("unknown flag --{name}")));
            }
        }
        Ok(Args { pairs })
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(n, _)| n == name).filter_map(|(_, v)| v.as_deref()).collect()
    }
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }
    pub fn required(&self, name: &str) -> Result<&str> {
        self.get(name).ok_or_else(|| Error::usage(format!("--{name} is required")))
    }
    pub fn parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| Error::usage(format!("--{name}: cannot parse '{v}'"))),
        }
    }
}
