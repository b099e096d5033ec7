//! Module text is untrusted: turn it into text any front end can show as-is.
//!
//! A PAM module (or whoever controls its input, like a remote directory) chooses the bytes of every
//! message and prompt. Shown raw, they could clear the screen, retitle the terminal, move the cursor
//! over a password field or flood the display. [`SafeText`] can only be built through
//! [`SafeText::from_module`], so front ends cannot show anything else.
//!
//! Rules, applied to the whole message:
//! - invalid UTF-8 becomes U+FFFD (lossy decoding), so no byte sequence can smuggle a control code;
//! - `\n` is kept (modules send multi-line notices) and `\t` becomes one space;
//! - every other C0 control and DEL is shown in caret notation (`ESC` → `^[`, `BEL` → `^G`), so an
//!   escape sequence stays visible as harmless text;
//! - C1 controls (U+0080–U+009F, e.g. the 8-bit CSI U+009B) and invisible format characters that can
//!   reorder or hide text (bidi overrides, zero-width marks, BOM) become `<U+XXXX>`;
//! - at most [`MAX_CHARS`] characters and [`MAX_LINES`] lines are kept; the rest is replaced by a
//!   marker saying how much was cut.

use std::fmt;

/// Cap on the characters kept from one message: room for any real notice (MOTD-sized), far below
/// what would flood a screen or a log.
pub const MAX_CHARS: usize = 2048;

/// Cap on the lines kept from one message.
pub const MAX_LINES: usize = 32;

/// Text from a PAM module, made safe to display: no control characters but `\n`, bounded size.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SafeText(String);

impl SafeText {
    /// Sanitizes raw module bytes; see the module docs for the rules.
    pub fn from_module(raw: &[u8]) -> SafeText {
        let decoded = String::from_utf8_lossy(raw);
        let mut out = String::with_capacity(decoded.len().min(MAX_CHARS + 64));
        let mut lines = 1usize;
        let mut cut_at = None;
        for (chars, (offset, c)) in decoded.char_indices().enumerate() {
            if chars >= MAX_CHARS || (c == '\n' && lines >= MAX_LINES) {
                cut_at = Some(offset);
                break;
            }
            match c {
                '\n' => {
                    lines += 1;
                    out.push('\n');
                }
                '\t' => out.push(' '),
                '\u{0}'..='\u{1f}' => {
                    out.push('^');
                    out.push(char::from(c as u8 + b'@'));
                }
                '\u{7f}' => out.push_str("^?"),
                c if is_hidden_control(c) => {
                    out.push_str(&format!("<U+{:04X}>", c as u32));
                }
                c => out.push(c),
            }
        }
        if let Some(offset) = cut_at {
            let rest = decoded.len() - offset;
            out.push_str(&format!(" [… {rest} more bytes not shown]"));
        }
        SafeText(out)
    }

    /// Text the program itself wrote (already trusted), passed through the same rules anyway.
    pub fn from_trusted(text: &str) -> SafeText {
        SafeText::from_module(text.as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Characters that change how surrounding text renders without being visible themselves.
fn is_hidden_control(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9f}'          // C1 controls, including 8-bit CSI and OSC
        | '\u{200b}'..='\u{200f}'    // zero-width space/joiners, LRM/RLM
        | '\u{2028}'..='\u{202e}'    // line/paragraph separators, bidi embeddings and overrides
        | '\u{2060}'..='\u{206f}'    // word joiner, invisible operators, bidi isolates
        | '\u{feff}'                 // BOM / zero-width no-break space
        | '\u{fff9}'..='\u{fffb}'    // interlinear annotations
    )
}

impl fmt::Display for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &[u8]) -> String {
        SafeText::from_module(raw).as_str().to_owned()
    }

    #[test]
    fn escape_sequences_become_visible_text() {
        let out = clean(b"\x1b[2J\x1b]0;pwned\x07hello\rX");
        assert_eq!(out, "^[[2J^[]0;pwned^Ghello^MX");
        assert!(!out.chars().any(|c| c.is_control()));
    }

    #[test]
    fn newlines_kept_tabs_flattened_del_shown() {
        assert_eq!(clean(b"a\tb\nc\x7f"), "a b\nc^?");
    }

    #[test]
    fn c1_and_bidi_controls_are_named() {
        let out = clean("x\u{9b}31m \u{202e}evil\u{200b}".as_bytes());
        assert_eq!(out, "x<U+009B>31m <U+202E>evil<U+200B>");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let out = clean(b"bad \xff\xfe \xc3\x28 utf8");
        assert_eq!(out, "bad \u{fffd}\u{fffd} \u{fffd}( utf8");
    }

    #[test]
    fn huge_text_is_capped_with_a_marker() {
        let raw = vec![b'A'; 65536];
        let out = clean(&raw);
        assert!(out.starts_with(&"A".repeat(MAX_CHARS)));
        assert!(out.ends_with(&format!(" [… {} more bytes not shown]", 65536 - MAX_CHARS)));
        assert!(out.len() < MAX_CHARS + 64);
    }

    #[test]
    fn too_many_lines_are_capped() {
        let raw = "line\n".repeat(100);
        let out = clean(raw.as_bytes());
        assert_eq!(out.matches('\n').count(), MAX_LINES - 1);
        assert!(out.contains("more bytes not shown"));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Longest expansion of one input character: `<U+XXXX>`.
        const WIDEST: usize = 8;

        fn check(out: &str) -> Result<(), TestCaseError> {
            for c in out.chars() {
                prop_assert!(c == '\n' || !c.is_control(), "control {:?} in {:?}", c, out);
                prop_assert!(!is_hidden_control(c), "hidden {:?} in {:?}", c, out);
            }
            prop_assert!(out.chars().count() <= MAX_CHARS * WIDEST + 64);
            prop_assert!(out.matches('\n').count() < MAX_LINES);
            Ok(())
        }

        proptest! {
            /// Whatever bytes a module sends: no panic, nothing a terminal would interpret, and a
            /// bounded result.
            #[test]
            fn any_bytes_come_out_safe_and_bounded(raw in proptest::collection::vec(any::<u8>(), 0..6_000)) {
                check(SafeText::from_module(&raw).as_str())?;
            }

            /// The same for text made of the characters that matter most: controls, C1, bidi
            /// and zero-width marks, newlines, mixed with ordinary text.
            #[test]
            fn hostile_text_comes_out_safe_and_bounded(
                parts in proptest::collection::vec(prop_oneof![
                    "[\\x00-\\x1f\\x7f]{1,4}",
                    "[\\u{80}-\\u{9f}\\u{200b}-\\u{200f}\\u{2028}-\\u{202e}\\u{2060}-\\u{206f}\\u{feff}]{1,4}",
                    "\n{1,40}",
                    ".{0,30}",
                ], 0..600)
            ) {
                let raw = parts.concat();
                let out = SafeText::from_module(raw.as_bytes());
                check(out.as_str())?;
                // What comes out is already safe: sanitizing it again changes nothing (unless the
                // expansions themselves pushed it over the cap).
                if out.as_str().chars().count() <= MAX_CHARS && !out.as_str().contains("more bytes not shown") {
                    let again = SafeText::from_module(out.as_str().as_bytes());
                    prop_assert_eq!(again.as_str(), out.as_str());
                }
            }

            /// Printable text under the caps passes through untouched.
            #[test]
            fn printable_text_is_kept(text in "[^\\p{C}\\u{2028}\\u{2029}]{0,300}") {
                let out = SafeText::from_module(text.as_bytes());
                prop_assert_eq!(out.as_str(), text.as_str());
            }
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let text = "Password for Zoë (ünïcödé 密码): ";
        assert_eq!(clean(text.as_bytes()), text);
    }
}
