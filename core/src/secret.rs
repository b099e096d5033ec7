//! A password or token typed by the user, kept in one place until libpam takes its own copy.
//!
//! The buffer is allocated once at a fixed size (it never reallocates, so no stale copy is left
//! behind by growth), locked into RAM where the kernel allows (as swaylock and greetd do), zeroed on
//! drop, and invisible to `Debug`. Front ends read input straight into it with [`Secret::push`].

use std::fmt;

use zeroize::Zeroize;

use crate::sys;

/// Largest secret accepted, in bytes: Linux-PAM's `PAM_MAX_RESP_SIZE` less the terminating NUL.
pub const MAX_SECRET_BYTES: usize = 511;

/// Why a byte could not be added to a [`Secret`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("input is longer than {MAX_SECRET_BYTES} bytes")]
    TooLong,
    #[error("input contains a NUL byte")]
    Nul,
}

/// A zeroizing, memory-locked, fixed-capacity byte buffer.
pub struct Secret {
    buf: Box<[u8]>,
    len: usize,
    locked: bool,
}

impl Secret {
    pub fn new() -> Secret {
        let buf = vec![0u8; MAX_SECRET_BYTES + 1].into_boxed_slice();
        let locked = sys::lock_memory(&buf);
        Secret { buf, len: 0, locked }
    }

    /// Builds a secret from text already in memory (tests, scripted answers). Interactive input
    /// should use [`Secret::push`] instead so the text never exists elsewhere.
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, SecretError> {
        let mut secret = Secret::new();
        for &b in bytes {
            secret.push(b)?;
        }
        Ok(secret)
    }

    /// Appends one byte of input.
    pub fn push(&mut self, byte: u8) -> Result<(), SecretError> {
        if byte == 0 {
            return Err(SecretError::Nul);
        }
        if self.len >= MAX_SECRET_BYTES {
            return Err(SecretError::TooLong);
        }
        self.buf[self.len] = byte;
        self.len += 1;
        Ok(())
    }

    /// Removes the last byte (backspace), wiping it.
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let b = self.buf[self.len];
        self.buf[self.len] = 0;
        Some(b)
    }

    /// Removes the last whole UTF-8 character (backspace in a text field).
    pub fn pop_char(&mut self) {
        while let Some(b) = self.pop() {
            if b & 0xC0 != 0x80 {
                break;
            }
        }
    }

    /// Wipes the content, keeping the buffer.
    pub fn clear(&mut self) {
        self.buf[..self.len].zeroize();
        self.len = 0;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The content followed by its NUL terminator, ready to be copied into libpam's buffer.
    pub(crate) fn as_bytes_with_nul(&self) -> &[u8] {
        &self.buf[..=self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of characters, for masked echo.
    pub fn char_count(&self) -> usize {
        self.as_bytes().iter().filter(|&&b| b & 0xC0 != 0x80).count()
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Bytes past `len` are always zero (`pop` and `clear` wipe what they drop).
        self.buf[..self.len].zeroize();
        if self.locked {
            sys::unlock_memory(&self.buf);
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_content() {
        let s = Secret::from_bytes(b"hunter2").unwrap();
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.as_bytes(), b"hunter2");
        assert_eq!(s.as_bytes_with_nul(), b"hunter2\0");
    }

    #[test]
    fn capacity_and_nul_are_enforced() {
        let mut s = Secret::from_bytes(&[b'x'; MAX_SECRET_BYTES]).unwrap();
        assert_eq!(s.push(b'y'), Err(SecretError::TooLong));
        assert_eq!(Secret::new().push(0), Err(SecretError::Nul));
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn pop_char_removes_whole_utf8_characters() {
        let mut s = Secret::from_bytes("añ€".as_bytes()).unwrap();
        assert_eq!(s.char_count(), 3);
        s.pop_char();
        assert_eq!(s.as_bytes(), "añ".as_bytes());
        s.pop_char();
        assert_eq!(s.as_bytes(), b"a");
    }
}
