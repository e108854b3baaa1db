//! Every input a fuzzer crashed on (`tests/fuzz/<target>/`, named for the bug), replayed through
//! the same code the fuzz target runs (`mem1::fuzzing`). A file here is added with its fix.
use std::path::Path;

fn replay(target: &str, run: impl Fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("{target}: {}", path.file_name().unwrap().to_string_lossy());
        run(&data);
        n += 1;
    }
    n
}

#[test]
fn gguf_crashes_stay_fixed() {
    assert!(replay("gguf", mem1::fuzzing::gguf) > 0);
}

#[test]
fn tokenizer_crashes_stay_fixed() {
    assert!(replay("tokenizer", mem1::fuzzing::tokenizer) > 0);
}

#[test]
fn action_crashes_stay_fixed() {
    replay("action", |d| mem1::fuzzing::action(&String::from_utf8_lossy(d)));
}

#[test]
fn observe_crashes_stay_fixed() {
    replay("observe", |d| mem1::fuzzing::observe(&String::from_utf8_lossy(d)));
}

#[test]
fn a_tensor_too_large_for_any_file_is_an_error() {
    // 2 x 2^62 + 16 f32 elements: the byte size once wrapped to 128 and passed the end-of-file check.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/gguf/tensor-byte-size-overflows");
    let data = std::fs::read(dir).unwrap();
    let err = mem1::gguf::parse(&data, data.len() as u64).err().expect("the header must not parse");
    assert!(err.to_string().contains("larger than any file"), "{err}");
}
