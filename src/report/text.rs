//! Text helper of the renderers: characters that could act on a terminal escaped.

use std::fmt;

/// Whether `c` acts on a terminal or on the text around it instead of showing as itself: C0
/// and C1 controls (ESC starts terminal sequences), DEL, the Unicode bidirectional controls
/// (U+202E shows `lmay.gnp` as `gnp.yaml`: "Trojan Source"), the line and paragraph
/// separators, the zero-width space and the byte-order mark.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Writes `c` as `\u{202e}`: visible, and what a Rust or JavaScript string would read back.
pub fn push_escaped(out: &mut String, c: char) {
    use fmt::Write as _;
    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
}

/// `s` with every [`is_unsafe_char`] escaped as `\u{…}`, line breaks included: one line of
/// text that shows what the manifest holds and cannot act on the terminal.
pub fn escape_unsafe(s: &str) -> std::borrow::Cow<'_, str> {
    escape_unsafe_except(s, &[])
}

/// Like [`escape_unsafe`], but each char of `keep` passes as it is (a renderer that handles
/// line breaks itself keeps `\n`).
pub fn escape_unsafe_except<'a>(s: &'a str, keep: &[char]) -> std::borrow::Cow<'a, str> {
    if !s.chars().any(|c| is_unsafe_char(c) && !keep.contains(&c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) && !keep.contains(&c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
