#![no_main]
//! See mem1::fuzzing::tokenizer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mem1::fuzzing::tokenizer(data));
