#![no_main]
//! See mem1::fuzzing::gguf.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mem1::fuzzing::gguf(data));
