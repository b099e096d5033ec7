//! The login card as plain state, for the greeter and the lock screen alike: what PAM said, what
//! it asks now, and whether an answer is expected. The GTK code (`conversation_view.rs`) draws it
//! and feeds it events; everything that decides something lives here, where a unit test reaches
//! it.
//!
//! One conversation call is one batch: its info and error texts and its prompts are shown
//! together, in PAM's order. A batch without prompts only adds notes (they stay on the card until
//! the next attempt). Answers are accepted only while a batch with prompts is pending, so text
//! typed during an attempt or the fail delay can never be sent as a further attempt.

use std::collections::VecDeque;
use std::time::Duration;

use vestibule_core::Message;

/// Most notes kept on the card; older ones scroll away.
pub const MAX_NOTES: usize = 8;

/// A line of text from PAM or from the greeter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Info(String),
    Error(String),
}

/// One element of a pending batch, in PAM's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Note(Note),
    /// A prompt: its text (the label) and whether the answer is hidden (a password).
    Field {
        label: String,
        hidden: bool,
    },
}

/// Where the card is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the user name (greeter) or for nothing (lock screen before its first prompt).
    Idle,
    /// PAM is working; nothing can be answered.
    Working,
    /// PAM waits for answers to these items.
    Asking(Vec<Item>),
    /// A failure's delay runs; nothing can be answered.
    Delayed(Duration),
    /// The session runs (greeter) or the screen is unlocked (lock screen).
    Done,
}

/// The card's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub phase: Phase,
    pub notes: VecDeque<Note>,
}

impl Default for Card {
    fn default() -> Self {
        Card {
            phase: Phase::Idle,
            notes: VecDeque::new(),
        }
    }
}

impl Card {
    /// A new attempt starts: earlier notes go unless `keep_notes` (a lock screen keeps the
    /// last failure visible under the next prompt).
    pub fn start(&mut self, keep_notes: bool) {
        if !keep_notes {
            self.notes.clear();
        }
        self.phase = Phase::Working;
    }

    /// One conversation call arrived. True if it asks something (the view must show fields).
    pub fn messages(&mut self, messages: &[Message]) -> bool {
        let asks = messages.iter().any(Message::is_prompt);
        if !asks {
            for m in messages {
                if let Some(n) = note_of(m) {
                    self.push_note(n);
                }
            }
            if !matches!(self.phase, Phase::Delayed(_)) {
                self.phase = Phase::Working;
            }
            return false;
        }
        let items = messages
            .iter()
            .map(|m| match m {
                Message::PromptVisible(t) => Item::Field {
                    label: t.as_str().to_owned(),
                    hidden: false,
                },
                Message::PromptHidden(t) => Item::Field {
                    label: t.as_str().to_owned(),
                    hidden: true,
                },
                other => Item::Note(note_of(other).unwrap_or(Note::Info(String::new()))),
            })
            .collect();
        self.phase = Phase::Asking(items);
        true
    }

    /// The user submitted the fields. True if answers were expected (the caller sends them);
    /// false means stray input, which the caller drops.
    pub fn submit(&mut self) -> bool {
        if matches!(self.phase, Phase::Asking(_)) {
            self.phase = Phase::Working;
            true
        } else {
            false
        }
    }

    /// libpam's fail delay began.
    pub fn fail_delay(&mut self, delay: Duration) {
        self.phase = Phase::Delayed(delay);
    }

    /// The attempt (or the whole login) failed with this sentence.
    pub fn failed(&mut self, reason: &str) {
        self.push_note(Note::Error(reason.to_owned()));
        self.phase = Phase::Idle;
    }

    /// The greeter's own message (a power command failed, the session ended).
    pub fn say(&mut self, note: Note) {
        self.push_note(note);
    }

    pub fn done(&mut self) {
        self.phase = Phase::Done;
    }

    /// Whether input fields may take text now.
    pub fn accepts_input(&self) -> bool {
        matches!(self.phase, Phase::Asking(_) | Phase::Idle)
    }

    fn push_note(&mut self, note: Note) {
        if matches!(&note, Note::Info(s) | Note::Error(s) if s.is_empty()) {
            return;
        }
        if self.notes.len() == MAX_NOTES {
            self.notes.pop_front();
        }
        self.notes.push_back(note);
    }
}

fn note_of(m: &Message) -> Option<Note> {
    match m {
        Message::Info(t) => Some(Note::Info(t.as_str().to_owned())),
        Message::Error(t) => Some(Note::Error(t.as_str().to_owned())),
        _ => None,
    }
}

/// A prompt's text as a field label: PAM prompts end in ": " for a terminal; the label keeps the
/// words and drops the trailing colon and blanks.
pub fn label_text(prompt: &str) -> String {
    let t = prompt.trim_end();
    t.strip_suffix(':').unwrap_or(t).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use vestibule_core::SafeText;

    use super::*;

    fn t(s: &str) -> SafeText {
        SafeText::from_trusted(s)
    }

    #[test]
    fn a_batch_keeps_pam_order_with_texts_in_place() {
        let mut c = Card::default();
        c.start(false);
        let asks = c.messages(&[
            Message::Info(t("Token 1 of 2")),
            Message::PromptVisible(t("Code: ")),
            Message::Error(t("careful")),
            Message::PromptHidden(t("PIN: ")),
        ]);
        assert!(asks);
        assert_eq!(
            c.phase,
            Phase::Asking(vec![
                Item::Note(Note::Info("Token 1 of 2".into())),
                Item::Field {
                    label: "Code: ".into(),
                    hidden: false
                },
                Item::Note(Note::Error("careful".into())),
                Item::Field {
                    label: "PIN: ".into(),
                    hidden: true
                },
            ])
        );
    }

    #[test]
    fn notices_alone_become_notes_and_ask_nothing() {
        let mut c = Card::default();
        c.start(false);
        assert!(!c.messages(&[Message::Error(t("Your password has expired"))]));
        assert_eq!(c.phase, Phase::Working);
        assert_eq!(c.notes, [Note::Error("Your password has expired".into())]);
    }

    #[test]
    fn input_outside_a_prompt_is_stray() {
        let mut c = Card::default();
        c.start(false);
        assert!(!c.submit(), "nothing asked yet");
        c.messages(&[Message::PromptHidden(t("Password: "))]);
        assert!(c.submit());
        assert!(!c.submit(), "a second Enter during the attempt is not an answer");
        c.fail_delay(Duration::from_secs(2));
        assert!(!c.submit(), "nor during the fail delay");
        assert!(!c.accepts_input());
    }

    #[test]
    fn a_failure_is_kept_for_the_next_lock_attempt_but_not_a_new_login() {
        let mut c = Card::default();
        c.start(false);
        c.failed("Wrong password.");
        c.start(true);
        assert_eq!(c.notes, [Note::Error("Wrong password.".into())]);
        c.start(false);
        assert!(c.notes.is_empty());
    }

    #[test]
    fn notes_are_capped() {
        let mut c = Card::default();
        for i in 0..(MAX_NOTES + 5) {
            c.say(Note::Info(format!("n{i}")));
        }
        assert_eq!(c.notes.len(), MAX_NOTES);
        assert_eq!(c.notes.back(), Some(&Note::Info(format!("n{}", MAX_NOTES + 4))));
    }

    #[test]
    fn labels_lose_the_terminal_colon() {
        assert_eq!(label_text("Password: "), "Password");
        assert_eq!(label_text("New password:"), "New password");
        assert_eq!(label_text("Code"), "Code");
    }
}
