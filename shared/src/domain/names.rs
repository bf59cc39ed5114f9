//! What every name people show to each other (display names, room names) must be: something
//! a reader can see, that cannot reorder the text around it.

use super::chars::char_len;
use super::invalid::Invalid;

/// `raw` trimmed, when it is 1 to `max` characters that can be shown: the rule of every name
/// and text people write for each other to read (display names, room names and topics, ban
/// reasons).
pub(super) fn showable(raw: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if !(1..=max).contains(&char_len(trimmed)) {
        return Err(Invalid::Length(1, max));
    }
    match unshowable(trimmed) {
        Some(why) => Err(why),
        None => Ok(trimmed.to_owned()),
    }
}

/// Why `name` (already trimmed) cannot be shown, if it cannot.
pub(super) fn unshowable(name: &str) -> Option<Invalid> {
    if name.chars().any(char::is_control) {
        return Some(Invalid::ControlCharacters);
    }
    if name.chars().any(is_bidi_control) {
        return Some(Invalid::BidiControls);
    }
    if !name.chars().any(|c| !c.is_whitespace() && !is_default_ignorable(c)) {
        return Some(Invalid::Invisible);
    }
    None
}

/// Embeddings, overrides and isolates: they reorder the text that follows them, so a name
/// made with one can pass for another or garble what is shown after it.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's Default_Ignorable_Code_Point: characters that render as nothing (zero-width
/// spaces and joiners, fillers, variation selectors, tags).
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_nothing_visible_are_refused() {
        for invisible in
            ["\u{200B}", "\u{200B}\u{200C}\u{200D}", "\u{3164}\u{3164}", "\u{FEFF}", "\u{2060} \u{00AD}"]
        {
            assert_eq!(unshowable(invisible), Some(Invalid::Invisible), "{invisible:?}");
        }
    }

    #[test]
    fn names_that_reorder_text_are_refused() {
        for reordering in ["ann\u{202E}nib.exe", "\u{2067}bob", "x\u{202A}y"] {
            assert!(unshowable(reordering).is_some(), "{reordering:?}");
        }
    }

    #[test]
    fn ordinary_names_in_any_script_pass_even_with_joiners_inside() {
        for fine in ["Ann", "Zoë", "李雷", "محمد", "👩\u{200D}💻 dev", "a\u{00AD}b", "O'Brien-Smith"]
        {
            assert_eq!(unshowable(fine), None, "{fine:?}");
        }
    }
}
