//! Terminal input bytes to the greeter's [`Key`]s.
//!
//! The greeter reads standard input itself rather than through crossterm's event reader: that
//! reader spins forever on a terminal that was hung up (read returns 0 and it retries), which on a
//! console would leave a greeter burning a CPU instead of exiting; and reading ourselves keeps
//! typed passwords in buffers we wipe. Only what a login card needs is decoded: printable
//! characters (UTF-8), Enter, Backspace, Tab, Esc, the arrows, F1–F12 in the xterm, VT220 and
//! Linux console forms, and Ctrl-C, Ctrl-L and Ctrl-U. Anything else is dropped.

use zeroize::Zeroize;

use crate::app::Key;

/// Longest escape sequence kept while waiting for its end.
const MAX_SEQUENCE: usize = 16;

/// Turns a stream of input bytes into keys; keeps an incomplete UTF-8 character or escape
/// sequence until the next read.
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// Decodes one read's bytes. An ESC that ends a read is the Esc key (terminals send escape
    /// sequences in one write).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        self.pending.extend_from_slice(bytes);
        let mut keys = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            match decode(&self.pending[i..]) {
                Step::Key(key, used) => {
                    keys.push(key);
                    i += used;
                }
                Step::Skip(used) => i += used,
                Step::Incomplete => {
                    if self.pending[i] == 0x1b && self.pending.len() - i == 1 {
                        keys.push(Key::Esc);
                        i += 1;
                    } else if self.pending.len() - i > MAX_SEQUENCE {
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
        }
        self.pending[..i].zeroize();
        self.pending.drain(..i);
        keys
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.pending.zeroize();
    }
}

enum Step {
    Key(Key, usize),
    Skip(usize),
    Incomplete,
}

fn decode(b: &[u8]) -> Step {
    match b[0] {
        b'\r' | b'\n' => Step::Key(Key::Enter, 1),
        0x7f | 0x08 => Step::Key(Key::Backspace, 1),
        b'\t' => Step::Key(Key::Tab, 1),
        0x03 => Step::Key(Key::CtrlC, 1),
        0x0c => Step::Key(Key::CtrlL, 1),
        0x15 => Step::Key(Key::CtrlU, 1),
        0x1b => escape(b),
        c if c < 0x20 => Step::Skip(1),
        _ => utf8(b),
    }
}

fn utf8(b: &[u8]) -> Step {
    let len = match b[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Step::Skip(1),
    };
    if b.len() < len {
        return Step::Incomplete;
    }
    match std::str::from_utf8(&b[..len]).ok().and_then(|s| s.chars().next()) {
        Some(c) => Step::Key(Key::Char(c), len),
        None => Step::Skip(1),
    }
}

/// ESC-prefixed input: CSI (`ESC [`) and SS3 (`ESC O`) sequences; ESC before anything else is
/// the Esc key.
fn escape(b: &[u8]) -> Step {
    let Some(&kind) = b.get(1) else {
        return Step::Incomplete;
    };
    match kind {
        b'O' => {
            let Some(&f) = b.get(2) else {
                return Step::Incomplete;
            };
            let key = match f {
                b'A' => Some(Key::Up),
                b'B' => Some(Key::Down),
                b'P'..=b'S' => Some(Key::F(f - b'P' + 1)),
                b'M' => Some(Key::Enter),
                _ => None,
            };
            key.map_or(Step::Skip(3), |k| Step::Key(k, 3))
        }
        b'[' => csi(b),
        _ => Step::Key(Key::Esc, 1),
    }
}

fn csi(b: &[u8]) -> Step {
    // The Linux console's F1–F5: ESC [ [ A … E.
    if b.get(2) == Some(&b'[') {
        let Some(&f) = b.get(3) else {
            return Step::Incomplete;
        };
        return match f {
            b'A'..=b'E' => Step::Key(Key::F(f - b'A' + 1), 4),
            _ => Step::Skip(4),
        };
    }
    // Parameters (digits and ';') up to a final byte.
    let mut end = 2;
    while let Some(&c) = b.get(end) {
        if c.is_ascii_digit() || c == b';' {
            end += 1;
        } else {
            break;
        }
    }
    let Some(&final_byte) = b.get(end) else {
        return Step::Incomplete;
    };
    let used = end + 1;
    let first: Option<u8> = std::str::from_utf8(&b[2..end])
        .ok()
        .and_then(|p| p.split(';').next())
        .and_then(|n| n.parse().ok());
    let key = match final_byte {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'Z' => Some(Key::BackTab),
        b'P'..=b'S' => Some(Key::F(final_byte - b'P' + 1)),
        b'~' => match first {
            Some(n @ 11..=15) => Some(Key::F(n - 10)),
            Some(n @ 17..=21) => Some(Key::F(n - 11)),
            Some(23) => Some(Key::F(11)),
            Some(24) => Some(Key::F(12)),
            _ => None,
        },
        _ => None,
    };
    key.map_or(Step::Skip(used), |k| Step::Key(k, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        Decoder::default().feed(bytes)
    }

    #[test]
    fn text_and_editing_keys() {
        assert_eq!(
            keys("añ€😀\r\x7f\t\x03\x0c\x15\x01".as_bytes()),
            [
                Key::Char('a'),
                Key::Char('ñ'),
                Key::Char('€'),
                Key::Char('😀'),
                Key::Enter,
                Key::Backspace,
                Key::Tab,
                Key::CtrlC,
                Key::CtrlL,
                Key::CtrlU,
            ]
        );
    }

    #[test]
    fn function_keys_in_every_dialect() {
        let all = [
            (&b"\x1bOP"[..], 1),
            (b"\x1bOS", 4),
            (b"\x1b[[A", 1),
            (b"\x1b[[E", 5),
            (b"\x1b[11~", 1),
            (b"\x1b[15~", 5),
            (b"\x1b[17~", 6),
            (b"\x1b[21~", 10),
            (b"\x1b[23~", 11),
            (b"\x1b[24~", 12),
            (b"\x1b[1;2P", 1),
            (b"\x1b[24;5~", 12),
        ];
        for (seq, n) in all {
            assert_eq!(keys(seq), [Key::F(n)], "{seq:?}");
        }
    }

    #[test]
    fn arrows_escape_and_unknown_sequences() {
        assert_eq!(keys(b"\x1b[A\x1bOB\x1b[Z"), [Key::Up, Key::Down, Key::BackTab]);
        assert_eq!(keys(b"\x1b"), [Key::Esc]);
        assert_eq!(keys(b"\x1bx"), [Key::Esc, Key::Char('x')]);
        assert_eq!(keys(b"\x1b[C\x1b[3~\x1b[200~x"), [Key::Char('x')]);
        assert_eq!(keys(b"\xff\xc3"), []);
    }

    #[test]
    fn split_reads_are_joined() {
        let mut d = Decoder::default();
        assert_eq!(d.feed(b"\xe2\x82"), []);
        assert_eq!(d.feed(b"\xac\x1b[2"), [Key::Char('€')]);
        assert_eq!(d.feed(b"4~"), [Key::F(12)]);
        assert!(d.pending.is_empty());
    }
}
