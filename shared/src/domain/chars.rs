//! Lengths as people count them.

/// Counts characters the way a person does for length limits (Unicode scalar values).
pub(super) fn char_len(s: &str) -> usize {
    s.chars().count()
}
