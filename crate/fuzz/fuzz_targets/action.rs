#![no_main]
//! See mem1::fuzzing::action.
libfuzzer_sys::fuzz_target!(|s: &str| mem1::fuzzing::action(s));
