//! The login card as plain state, for the greeter and the lock screen alike: what PAM said, what
//! it asks now, and whether an answer is expected. The GTK code (`conversation_view.rs`) draws it
//! and feeds it events; everything that decides something lives here, where a unit test reaches
//! it.
//!
//! The text itself — notes, the pending call in PAM's order, how answers line up — is
//! `vestibule_greeter::card`, the model the console greeter uses too; this adds the phases of the
//! desktop card. One conversation call is one batch: its info and error texts and its prompts are
//! shown together, in PAM's order. A batch without prompts only adds notes (they stay on the card
//! until the next attempt). Answers are accepted only while a batch with prompts is pending, so
//! text typed during an attempt or the fail delay can never be sent as a further attempt.

use std::time::Duration;

use vestibule_core::Message;
pub use vestibule_greeter::card::Item;
use vestibule_greeter::card::{Card as Text, Note as CardNote};

/// Most notes kept on the card; older ones scroll away.
pub const MAX_NOTES: usize = 8;

/// A sentence of the greeter's own for the card (a power action's confirmation, a failure); it
/// is kept, like PAM's texts, as sanitized text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Info(String),
    Error(String),
}

impl From<Note> for CardNote {
    fn from(n: Note) -> CardNote {
        match n {
            Note::Info(t) => CardNote::info(&t),
            Note::Error(t) => CardNote::error(&t),
        }
    }
}

/// A note as the view shows it.
pub use vestibule_greeter::card::Note as Shown;

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
    text: Text,
}

impl Default for Card {
    fn default() -> Self {
        Card {
            phase: Phase::Idle,
            text: Text::new(MAX_NOTES),
        }
    }
}

impl Card {
    /// A new attempt starts: earlier notes go unless `keep_notes` (a lock screen keeps the
    /// last failure visible under the next prompt).
    pub fn start(&mut self, keep_notes: bool) {
        if keep_notes {
            self.text.drop_pending();
        } else {
            self.text.clear();
        }
        self.phase = Phase::Working;
    }

    /// The notes to show above the pending batch (whose own notes sit in place between its
    /// fields), oldest first.
    pub fn notes(&self) -> impl Iterator<Item = &Shown> {
        self.text.settled_notes()
    }

    /// One conversation call arrived. True if it asks something (the view must show fields).
    pub fn messages(&mut self, messages: &[Message]) -> bool {
        if !self.text.messages(messages) {
            if !matches!(self.phase, Phase::Delayed(_)) {
                self.phase = Phase::Working;
            }
            return false;
        }
        self.phase = Phase::Asking(self.text.pending.clone());
        true
    }

    /// The user submitted the fields. True if answers were expected (the caller sends them);
    /// false means stray input, which the caller drops.
    pub fn submit(&mut self) -> bool {
        if matches!(self.phase, Phase::Asking(_)) {
            self.text.drop_pending();
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
        self.text.drop_pending();
        self.text.push(CardNote::error(reason));
        self.phase = Phase::Idle;
    }

    /// The greeter's own message (a power command failed, the session ended).
    pub fn say(&mut self, note: Note) {
        self.text.push(note.into());
    }

    pub fn done(&mut self) {
        self.phase = Phase::Done;
    }

    /// Whether input fields may take text now.
    pub fn accepts_input(&self) -> bool {
        matches!(self.phase, Phase::Asking(_) | Phase::Idle)
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
    use vestibule_greeter::card::Prompt;

    use super::*;

    fn t(s: &str) -> SafeText {
        SafeText::from_trusted(s)
    }

    fn shown(c: &Card) -> Vec<String> {
        c.notes().map(|n| n.text().as_str().to_owned()).collect()
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
                Item::Note(Shown::Info(t("Token 1 of 2"))),
                Item::Prompt(Prompt {
                    label: t("Code: "),
                    hidden: false
                }),
                Item::Note(Shown::Error(t("careful"))),
                Item::Prompt(Prompt {
                    label: t("PIN: "),
                    hidden: true
                }),
            ])
        );
        assert!(
            shown(&c).is_empty(),
            "the batch's texts are in place, not above it"
        );
        assert!(c.submit());
        assert_eq!(shown(&c), ["Token 1 of 2", "careful"], "they stay once answered");
    }

    #[test]
    fn notices_alone_become_notes_and_ask_nothing() {
        let mut c = Card::default();
        c.start(false);
        assert!(!c.messages(&[Message::Error(t("Your password has expired"))]));
        assert_eq!(c.phase, Phase::Working);
        assert_eq!(shown(&c), ["Your password has expired"]);
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
        assert_eq!(shown(&c), ["Wrong password."]);
        c.start(false);
        assert!(shown(&c).is_empty());
    }

    #[test]
    fn notes_are_capped_and_the_greeters_own_are_sanitized() {
        let mut c = Card::default();
        for i in 0..(MAX_NOTES + 5) {
            c.say(Note::Info(format!("n{i}")));
        }
        let notes = shown(&c);
        assert_eq!(notes.len(), MAX_NOTES);
        assert_eq!(
            notes.last().map(String::as_str),
            Some(format!("n{}", MAX_NOTES + 4).as_str())
        );
        c.say(Note::Error("bad\u{1b}[2J".into()));
        assert_eq!(shown(&c).last().map(String::as_str), Some("bad^[[2J"));
    }

    #[test]
    fn labels_lose_the_terminal_colon() {
        assert_eq!(label_text("Password: "), "Password");
        assert_eq!(label_text("New password:"), "New password");
        assert_eq!(label_text("Code"), "Code");
    }
}
