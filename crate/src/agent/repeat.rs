//! A guard against degenerate loops in generated text. A small greedy policy can fall into
//! writing one word (or a few) over and over (`women women women …`) until the turn's token
//! budget runs out; the memory block then holds nothing useful and the next turn starts from it.
//! The guard forbids the token that would write the same run of tokens a third time in a row, so
//! the model takes its best other choice instead. Runs without letters are left alone: digits
//! and codes repeat legitimately (`$1000.00`, `B000…`).
use super::constrain::Vocab;

/// The longest run of tokens checked for repetition.
pub const MAX_PERIOD: usize = 16;
/// A run counts only when it holds at least this many ASCII letters.
pub const MIN_LETTERS: usize = 3;
/// Consecutive copies of a run that are allowed; the token that would complete one more is
/// forbidden.
pub const MAX_COPIES: usize = 2;

/// Whether appending `next` to `gen` ends `gen` with the same run of tokens written
/// `MAX_COPIES + 1` times in a row, where the run holds at least `MIN_LETTERS` letters.
pub fn loops(gen: &[u32], next: u32, vocab: &Vocab) -> bool {
    let copies = MAX_COPIES + 1;
    let n = gen.len() + 1;
    let at = |i: usize| if i < gen.len() { gen[i] } else { next };
    (1..=MAX_PERIOD).filter(|p| p * copies <= n).any(|p| {
        let repeated = (n - p..n).all(|i| (1..copies).all(|c| at(i) == at(i - c * p)));
        repeated && (n - p..n).flat_map(|i| vocab.get(at(i)).iter()).filter(|b| b.is_ascii_alphabetic()).count() >= MIN_LETTERS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        Vocab { bytes: [" women", " kelly", " green", "0", "B", " size", "."].iter().map(|s| s.as_bytes().to_vec()).collect() }
    }

    #[test]
    fn a_third_copy_of_a_word_or_phrase_is_a_loop() {
        let v = vocab();
        assert!(!loops(&[5], 0, &v));
        assert!(!loops(&[5, 0], 0, &v), "two copies are allowed");
        assert!(loops(&[5, 0, 0], 0, &v));
        assert!(!loops(&[1, 2, 1, 2], 6, &v));
        assert!(!loops(&[1, 2, 1, 2, 1], 6, &v));
        assert!(loops(&[1, 2, 1, 2, 1], 2, &v), "kelly green kelly green kelly green");
    }

    #[test]
    fn runs_without_letters_may_repeat() {
        let v = vocab();
        assert!(!loops(&[3, 3, 3, 3], 3, &v), "digits");
        assert!(!loops(&[4, 3, 4, 3, 4], 3, &v), "a code with one letter per run");
    }
}
