//! An answer to a prompt as it crosses the wire: wiped when dropped, never printed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// The longest answer accepted, in bytes: Linux-PAM's `PAM_MAX_RESP_SIZE` less the NUL
/// (`vestibule_core::MAX_SECRET_BYTES` is the same number; a core test checks they agree).
pub const MAX_ANSWER_BYTES: usize = 511;

/// What a greeter typed at a prompt. The text is wiped when the value is dropped, and `Debug`
/// shows only its length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Answer(Zeroizing<String>);

impl Answer {
    pub fn new(text: &str) -> Answer {
        Answer(Zeroizing::new(text.to_owned()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Answer {
    /// Takes ownership of `text`'s buffer (no copy is left behind).
    fn from(text: String) -> Answer {
        Answer(Zeroizing::new(text))
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Answer(<{} bytes>)", self.0.len())
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Answer, D::Error> {
        // Straight into the zeroizing wrapper. (serde_json unescapes into a scratch buffer of
        // its own when the JSON string has escapes; that buffer is not wiped.)
        String::deserialize(d).map(Answer::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_text() {
        let a = Answer::new("hunter2");
        assert_eq!(format!("{a:?}"), "Answer(<7 bytes>)");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"hunter2\"");
        let back: Answer = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(back.as_str(), "hunter2");
    }
}
