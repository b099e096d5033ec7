//! The login card's text, one model for both greeters: what PAM said during this attempt, and
//! the call that asks something now. The console greeter (`vestibule-tui`'s `app.rs`) and the
//! desktop greeter (`vestibule-gtk`'s `card.rs`) each keep only their own UI state (focus, typed
//! values, widgets) on top of it, so they agree on what a message becomes, how many notes stay,
//! and how typed answers line up with PAM's messages.
//!
//! Every text here is [`SafeText`]: PAM's messages arrive sanitized from the core or the greeter
//! protocol's client, and the greeters' own sentences are passed through the same rules.

use std::collections::VecDeque;

use vestibule_core::{Message, SafeText, Secret};

/// A line of text on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Info(SafeText),
    Error(SafeText),
}

impl Note {
    /// The greeter's own notice.
    pub fn info(text: &str) -> Note {
        Note::Info(SafeText::from_trusted(text))
    }

    /// The greeter's own error (a failure's sentence, a power command that failed).
    pub fn error(text: &str) -> Note {
        Note::Error(SafeText::from_trusted(text))
    }

    pub fn text(&self) -> &SafeText {
        match self {
            Note::Info(t) | Note::Error(t) => t,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Note::Error(_))
    }
}

/// A prompt of the pending call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// PAM's text, shown as the field's label.
    pub label: SafeText,
    /// The answer must not be shown (a password).
    pub hidden: bool,
}

/// One message of the pending call, in PAM's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Note(Note),
    Prompt(Prompt),
}

/// The card's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Every note of this attempt, oldest first (the pending call's too), at most `max_notes`.
    pub notes: VecDeque<Note>,
    /// The call that asks something now, in PAM's order (empty when nothing is asked).
    pub pending: Vec<Item>,
    /// Notes that arrived since the last answer (a message of the day, "password changed"):
    /// what PAM said last, for a greeter that shows it once more as the session starts.
    pub since_answer: Vec<Note>,
    /// How many of `notes` (at their end) belong to the pending call.
    pending_notes: usize,
    max_notes: usize,
}

impl Card {
    /// An empty card that keeps at most `max_notes` notes (older ones scroll away).
    pub fn new(max_notes: usize) -> Card {
        Card {
            notes: VecDeque::new(),
            pending: Vec::new(),
            since_answer: Vec::new(),
            pending_notes: 0,
            max_notes: max_notes.max(1),
        }
    }

    /// A new attempt: nothing said, nothing asked.
    pub fn clear(&mut self) {
        self.notes.clear();
        self.since_answer.clear();
        self.drop_pending();
    }

    /// One conversation call. Its notes join the card; if it asks something it becomes the
    /// pending call (replacing one left unanswered). True if it asks.
    pub fn messages(&mut self, messages: &[Message]) -> bool {
        self.drop_pending();
        let asks = messages.iter().any(Message::is_prompt);
        for m in messages {
            let item = match m {
                Message::Info(t) => Item::Note(Note::Info(t.clone())),
                Message::Error(t) => Item::Note(Note::Error(t.clone())),
                Message::PromptHidden(t) => Item::Prompt(Prompt {
                    label: t.clone(),
                    hidden: true,
                }),
                Message::PromptVisible(t) => Item::Prompt(Prompt {
                    label: t.clone(),
                    hidden: false,
                }),
            };
            if let Item::Note(n) = &item {
                self.push(n.clone());
                if asks && !n.text().is_empty() {
                    self.pending_notes = (self.pending_notes + 1).min(self.notes.len());
                }
            }
            if asks {
                self.pending.push(item);
            }
        }
        asks
    }

    /// Adds a note (the greeter's own, or PAM's); empty texts are not shown.
    pub fn push(&mut self, note: Note) {
        if note.text().is_empty() {
            return;
        }
        self.since_answer.push(note.clone());
        self.notes.push_back(note);
        while self.notes.len() > self.max_notes {
            self.notes.pop_front();
            self.pending_notes = self.pending_notes.min(self.notes.len());
        }
        if self.since_answer.len() > self.max_notes {
            self.since_answer.remove(0);
        }
    }

    /// Whether a call waits for answers.
    pub fn asking(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The pending call's prompts, in order.
    pub fn prompts(&self) -> impl Iterator<Item = &Prompt> {
        self.pending.iter().filter_map(|i| match i {
            Item::Prompt(p) => Some(p),
            Item::Note(_) => None,
        })
    }

    /// The notes that came before the pending call (a view that shows the call's own notes in
    /// place, between its fields, draws these above it).
    pub fn settled_notes(&self) -> impl Iterator<Item = &Note> {
        self.notes.iter().take(self.notes.len() - self.pending_notes)
    }

    /// Answers the pending call with one value per prompt (in order; missing ones are empty):
    /// returns one entry per message, `None` for its notes, as the conversation wants them.
    /// Nothing is pending afterwards, and what PAM says next starts a new `since_answer`.
    pub fn answer(&mut self, values: Vec<Secret>) -> Vec<Option<Secret>> {
        let mut values = values.into_iter();
        let answers = self
            .pending
            .iter()
            .map(|item| match item {
                Item::Prompt(_) => Some(values.next().unwrap_or_default()),
                Item::Note(_) => None,
            })
            .collect();
        self.drop_pending();
        self.since_answer.clear();
        answers
    }

    /// Forgets the pending call (cancelled, failed or answered); its notes stay on the card.
    pub fn drop_pending(&mut self) {
        self.pending.clear();
        self.pending_notes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SafeText {
        SafeText::from_trusted(s)
    }

    fn batch() -> Vec<Message> {
        vec![
            Message::Info(t("Token 1 of 2")),
            Message::PromptVisible(t("Code: ")),
            Message::Error(t("careful")),
            Message::PromptHidden(t("PIN: ")),
        ]
    }

    #[test]
    fn a_call_keeps_pams_order_and_its_notes_join_the_card() {
        let mut c = Card::new(8);
        c.push(Note::error("Login incorrect"));
        assert!(c.messages(&batch()));
        assert_eq!(
            c.pending,
            [
                Item::Note(Note::info("Token 1 of 2")),
                Item::Prompt(Prompt {
                    label: t("Code: "),
                    hidden: false
                }),
                Item::Note(Note::error("careful")),
                Item::Prompt(Prompt {
                    label: t("PIN: "),
                    hidden: true
                }),
            ]
        );
        assert_eq!(c.notes.len(), 3);
        assert_eq!(
            c.settled_notes().collect::<Vec<_>>(),
            [&Note::error("Login incorrect")]
        );
        let labels: Vec<&str> = c.prompts().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["Code: ", "PIN: "]);
    }

    #[test]
    fn answers_line_up_one_per_message() {
        let mut c = Card::new(8);
        c.messages(&batch());
        let got = c.answer(vec![
            Secret::from_bytes(b"42").unwrap(),
            Secret::from_bytes(b"1234").unwrap(),
        ]);
        let got: Vec<Option<Vec<u8>>> = got
            .into_iter()
            .map(|a| a.map(|s| s.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, [None, Some(b"42".to_vec()), None, Some(b"1234".to_vec())]);
        assert!(!c.asking());
        assert!(c.since_answer.is_empty());
        assert_eq!(c.settled_notes().count(), 2, "the call's notes stay on the card");
        // Too few values: the rest are empty answers, never a shifted one.
        c.messages(&batch());
        let got = c.answer(vec![Secret::from_bytes(b"x").unwrap()]);
        assert_eq!(got[3].as_ref().map(|s| s.len()), Some(0));
    }

    #[test]
    fn notices_alone_ask_nothing_and_are_remembered_since_the_answer() {
        let mut c = Card::new(8);
        assert!(!c.messages(&[Message::Info(t("Welcome"))]));
        assert!(!c.asking());
        assert_eq!(c.since_answer, [Note::info("Welcome")]);
        assert_eq!(c.settled_notes().count(), 1);
        c.clear();
        assert!(c.notes.is_empty() && c.since_answer.is_empty());
    }

    #[test]
    fn notes_are_capped_and_empty_ones_dropped() {
        let mut c = Card::new(3);
        for i in 0..10 {
            c.push(Note::info(&format!("n{i}")));
        }
        c.push(Note::info(""));
        assert_eq!(c.notes.len(), 3);
        assert_eq!(c.notes.back(), Some(&Note::info("n9")));
        // A call with more notes than fit: the settled part is simply empty.
        let many: Vec<Message> = (0..5)
            .map(|i| Message::Info(t(&format!("m{i}"))))
            .chain([Message::PromptHidden(t("Password: "))])
            .collect();
        c.messages(&many);
        assert_eq!(c.settled_notes().count(), 0);
        assert_eq!(c.notes.len(), 3);
    }

    #[test]
    fn the_greeters_own_text_is_sanitized_too() {
        assert_eq!(Note::error("a\u{1b}[2Jb").text().as_str(), "a^[[2Jb");
    }
}
