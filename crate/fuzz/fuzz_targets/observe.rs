#![no_main]
//! See mem1::fuzzing::observe.
libfuzzer_sys::fuzz_target!(|s: &str| mem1::fuzzing::observe(s));
