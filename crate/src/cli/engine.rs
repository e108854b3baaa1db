//! `mem1 logits | generate | bench` (engine work in progress).
use crate::{Error, Result};
pub fn logits(_a: &[String]) -> Result<()> { Err(Error::usage("not built yet")) }
pub fn generate(_a: &[String]) -> Result<()> { Err(Error::usage("not built yet")) }
pub fn bench(_a: &[String]) -> Result<()> { Err(Error::usage("not built yet")) }
