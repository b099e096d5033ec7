//! The channel between a UI thread and a thread that runs PAM in this process: today only the
//! lock screen's (`unlock_worker.rs`), since every login runs in the daemon's worker process.
//!
//! libpam's conversation is a blocking callback, and the UI must keep drawing (clock, resizes,
//! the fail delay) while a module works, so PAM cannot run on the UI thread. [`PamEvent`] is also
//! what the greeter-protocol client reports, so both greeters' state machines read one model.

use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use vestibule_core::{ConvError, Conversation, Message, Secret};

/// What the PAM worker reports.
#[derive(Debug)]
pub enum PamEvent {
    /// One conversation call. With prompts in it, the worker waits for [`ToWorker::Answers`].
    Messages(Vec<Message>),
    /// libpam's fail delay started; the worker is waiting this long.
    FailDelay(Duration),
    /// The login ended without a session, with the sentence to show.
    Failed(String),
    /// Authenticated and the PAM session is open: the session is about to start.
    SessionStarting,
    /// The session ended; a line saying how.
    SessionEnded(String),
}

/// What the UI tells the worker.
#[derive(Debug)]
pub enum ToWorker {
    /// Answers to the current conversation call.
    Answers(Vec<Option<Secret>>),
    /// Stop: answer the current (or next) call with a cancellation.
    Cancel,
}

/// How the worker's login ended, for the UI loop.
#[derive(Debug)]
pub enum Report {
    Event(PamEvent),
    /// A lock screen's attempt succeeded: the session may be shown again.
    Unlocked,
}

/// A conversation that hands each call to the UI and waits for its answers.
pub(crate) struct ChannelConversation {
    to_ui: Sender<Report>,
    from_ui: std::sync::Arc<std::sync::Mutex<Receiver<ToWorker>>>,
    /// Once cancelled, every later call is cancelled too: the login is over.
    cancelled: bool,
}

impl ChannelConversation {
    pub(crate) fn new(
        to_ui: Sender<Report>,
        from_ui: std::sync::Arc<std::sync::Mutex<Receiver<ToWorker>>>,
    ) -> ChannelConversation {
        ChannelConversation {
            to_ui,
            from_ui,
            cancelled: false,
        }
    }

    fn next(&self) -> Option<ToWorker> {
        self.from_ui.lock().ok()?.recv().ok()
    }

    /// Notices a Cancel sent while PAM was busy (stale answers are dropped).
    fn cancelled_meanwhile(&mut self) -> bool {
        let Ok(rx) = self.from_ui.lock() else {
            return true;
        };
        while let Ok(message) = rx.try_recv() {
            if matches!(message, ToWorker::Cancel) {
                self.cancelled = true;
            }
        }
        self.cancelled
    }
}

impl Conversation for ChannelConversation {
    fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ConvError> {
        if self.cancelled_meanwhile() {
            return Err(ConvError::Cancelled);
        }
        let send = self
            .to_ui
            .send(Report::Event(PamEvent::Messages(messages.to_vec())));
        if send.is_err() {
            return Err(ConvError::Cancelled);
        }
        if !messages.iter().any(Message::is_prompt) {
            return Ok(messages.iter().map(|_| None).collect());
        }
        match self.next() {
            Some(ToWorker::Answers(answers)) => Ok(answers),
            Some(ToWorker::Cancel) | None => {
                self.cancelled = true;
                Err(ConvError::Cancelled)
            }
        }
    }

    fn fail_delay(&mut self, delay: Duration) {
        let _ = self.to_ui.send(Report::Event(PamEvent::FailDelay(delay)));
        std::thread::sleep(delay);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    use vestibule_core::SafeText;

    use super::*;

    fn conversation() -> (ChannelConversation, Receiver<Report>, Sender<ToWorker>) {
        let (to_ui, from_worker) = mpsc::channel();
        let (to_worker, from_ui) = mpsc::channel();
        let c = ChannelConversation::new(to_ui, Arc::new(Mutex::new(from_ui)));
        (c, from_worker, to_worker)
    }

    fn prompt() -> Vec<Message> {
        vec![
            Message::Info(SafeText::from_trusted("hello")),
            Message::PromptHidden(SafeText::from_trusted("Password: ")),
        ]
    }

    #[test]
    fn a_batch_goes_to_the_ui_whole_and_its_answers_come_back() {
        let (mut c, ui, answer) = conversation();
        // The UI answers once it has the batch, as the greeter does.
        let front = std::thread::spawn(move || match ui.recv() {
            Ok(Report::Event(PamEvent::Messages(m))) => {
                assert_eq!(m, prompt());
                let secret = Secret::from_bytes(b"pw").unwrap();
                answer.send(ToWorker::Answers(vec![None, Some(secret)])).unwrap();
            }
            other => panic!("{other:?}"),
        });
        let got = c.converse(&prompt()).unwrap();
        assert_eq!(got[1].as_ref().unwrap().as_bytes(), b"pw");
        front.join().unwrap();
    }

    #[test]
    fn notices_alone_do_not_wait() {
        let (mut c, ui, _answer) = conversation();
        let info = [Message::Error(SafeText::from_trusted("Login incorrect"))];
        assert_eq!(c.converse(&info).unwrap().len(), 1);
        assert!(matches!(ui.try_recv(), Ok(Report::Event(PamEvent::Messages(_)))));
    }

    #[test]
    fn cancel_answers_cancelled_now_and_for_every_later_call() {
        let (mut c, _ui, answer) = conversation();
        answer.send(ToWorker::Cancel).unwrap();
        assert_eq!(c.converse(&prompt()).unwrap_err(), ConvError::Cancelled);
        assert_eq!(c.converse(&prompt()).unwrap_err(), ConvError::Cancelled);
        let info = [Message::Info(SafeText::from_trusted("x"))];
        assert_eq!(c.converse(&info).unwrap_err(), ConvError::Cancelled);
    }

    #[test]
    fn a_vanished_ui_cancels() {
        let (mut c, ui, answer) = conversation();
        drop(answer);
        assert_eq!(c.converse(&prompt()).unwrap_err(), ConvError::Cancelled);
        drop(ui);
        let info = [Message::Info(SafeText::from_trusted("x"))];
        assert_eq!(c.converse(&info).unwrap_err(), ConvError::Cancelled);
    }

    #[test]
    fn the_fail_delay_is_reported_then_waited() {
        let (mut c, ui, _answer) = conversation();
        let start = std::time::Instant::now();
        c.fail_delay(Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(matches!(
            ui.try_recv(),
            Ok(Report::Event(PamEvent::FailDelay(d))) if d == Duration::from_millis(30)
        ));
    }
}
