//! The conversation API front ends implement, and the checks that stand between it and libpam.
//!
//! libpam hands the application a batch of messages per call. Front ends get the whole batch at once
//! (several notices and a prompt belong on one screen), already sanitized, and answer every prompt
//! in it. Everything libpam could do wrong — no messages, too many, styles we do not speak — is
//! refused here with `PAM_CONV_ERR` before a front end sees it.

use std::time::Duration;

use crate::sanitize::SafeText;
use crate::secret::Secret;

/// Linux-PAM's `PAM_MAX_NUM_MSG`: the most messages one conversation call may carry.
pub const MAX_MESSAGES: usize = 32;

/// One message of a conversation call, as a front end sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `PAM_PROMPT_ECHO_OFF`: ask for something that must not be shown (a password).
    PromptHidden(SafeText),
    /// `PAM_PROMPT_ECHO_ON`: ask for something shown while typed (a user name, a code).
    PromptVisible(SafeText),
    /// `PAM_TEXT_INFO`: a notice; it never needs an answer.
    Info(SafeText),
    /// `PAM_ERROR_MSG`: an error to show; it never needs an answer and never ends the conversation.
    Error(SafeText),
}

impl Message {
    pub fn text(&self) -> &SafeText {
        match self {
            Message::PromptHidden(t) | Message::PromptVisible(t) | Message::Info(t) | Message::Error(t) => t,
        }
    }

    pub fn is_prompt(&self) -> bool {
        matches!(self, Message::PromptHidden(_) | Message::PromptVisible(_))
    }
}

/// Why a front end could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvError {
    /// The user went away (end of input, Escape, window closed): stop, do not retry.
    #[error("cancelled by the user")]
    Cancelled,
    /// The front end failed (I/O error, input too long); the PAM call fails, the login may retry.
    #[error("{0}")]
    Failed(String),
}

/// What a front end implements to talk to PAM modules.
pub trait Conversation {
    /// Shows one call's messages and answers its prompts.
    ///
    /// Returns one entry per message, in order: `Some(answer)` for every prompt, `None` for info and
    /// error messages (anything given for those is dropped).
    fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ConvError>;

    /// libpam asks the application to wait after a failed attempt (`pam_fail_delay`); a front end
    /// may show the wait, but must not return early.
    fn fail_delay(&mut self, delay: Duration) {
        std::thread::sleep(delay);
    }

    /// The login goes on to change an expired password (`pam_chauthtok`): the calls from now on
    /// belong to the password change. Front ends that show this (vestibuled's extension carries
    /// it as the conversation's `context`) override it; the default does nothing.
    fn password_change(&mut self) {}
}

/// A conversation that answers nothing: for transactions with no user present (closing a session
/// for someone else); prompts fail, notices go to the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUser;

impl Conversation for NoUser {
    fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ConvError> {
        if messages.iter().any(Message::is_prompt) {
            return Err(ConvError::Failed("no user present to answer".into()));
        }
        Ok(messages.iter().map(|_| None).collect())
    }

    fn fail_delay(&mut self, _delay: Duration) {}
}

/// Linux-PAM message styles, as sent by modules.
pub(crate) mod style {
    pub const PROMPT_ECHO_OFF: i32 = 1;
    pub const PROMPT_ECHO_ON: i32 = 2;
    pub const ERROR_MSG: i32 = 3;
    pub const TEXT_INFO: i32 = 4;
}

/// A message as libpam passed it: its style and its bytes (`None` for a NULL text pointer).
pub(crate) type RawMessage<'a> = (i32, Option<&'a [u8]>);

/// Whether the user can still be asked anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    Interactive,
    /// Cleanup (close_session, delete_cred, pam_end): prompts fail at once, nothing waits on a
    /// user who may be gone.
    Closing,
}

/// The application data libpam's callbacks receive: the front end plus what the transaction
/// needs to learn from the conversation afterwards.
pub(crate) struct Bridge {
    conversation: Box<dyn Conversation>,
    pub(crate) presence: Presence,
    /// Set when the user cancelled during the last call: the login stops instead of retrying.
    pub(crate) cancelled: bool,
    /// The front end's last failure, to explain a `PAM_CONV_ERR`.
    pub(crate) last_failure: Option<String>,
}

impl Bridge {
    pub(crate) fn new(conversation: Box<dyn Conversation>) -> Bridge {
        Bridge {
            conversation,
            presence: Presence::Interactive,
            cancelled: false,
            last_failure: None,
        }
    }

    pub(crate) fn conversation_mut(&mut self) -> &mut dyn Conversation {
        self.conversation.as_mut()
    }

    /// Validates one call from libpam and asks the front end. `Err` means `PAM_CONV_ERR`.
    pub(crate) fn converse_raw(&mut self, raw: &[RawMessage<'_>]) -> Result<Vec<Option<Secret>>, ()> {
        if raw.is_empty() || raw.len() > MAX_MESSAGES {
            return self.refuse(format!("a module sent {} messages in one call", raw.len()));
        }
        let mut messages = Vec::with_capacity(raw.len());
        for &(style, bytes) in raw {
            let text = SafeText::from_module(bytes.unwrap_or_default());
            messages.push(match style {
                style::PROMPT_ECHO_OFF => Message::PromptHidden(text),
                style::PROMPT_ECHO_ON => Message::PromptVisible(text),
                style::ERROR_MSG => Message::Error(text),
                style::TEXT_INFO => Message::Info(text),
                other => return self.refuse(format!("a module sent a message of unsupported style {other}")),
            });
        }
        if self.presence == Presence::Closing {
            return self.converse_unattended(&messages);
        }
        match self.conversation.converse(&messages) {
            Ok(answers) => self.check_answers(&messages, answers),
            Err(ConvError::Cancelled) => {
                self.cancelled = true;
                Err(())
            }
            Err(ConvError::Failed(reason)) => self.refuse(reason),
        }
    }

    /// A call while closing: notices go to the log, prompts fail without waiting.
    fn converse_unattended(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ()> {
        for m in messages {
            tracing::info!(message = %m.text(), "PAM message during cleanup");
        }
        if messages.iter().any(Message::is_prompt) {
            return self.refuse("a module prompted during cleanup".into());
        }
        Ok(messages.iter().map(|_| None).collect())
    }

    fn check_answers(
        &mut self,
        messages: &[Message],
        answers: Vec<Option<Secret>>,
    ) -> Result<Vec<Option<Secret>>, ()> {
        if answers.len() != messages.len() {
            return self.refuse(format!(
                "front end gave {} answers to {} messages",
                answers.len(),
                messages.len()
            ));
        }
        let mut checked = Vec::with_capacity(answers.len());
        for (message, answer) in messages.iter().zip(answers) {
            match (message.is_prompt(), answer) {
                (true, Some(a)) => checked.push(Some(a)),
                (true, None) => return self.refuse("front end left a prompt unanswered".into()),
                (false, _) => checked.push(None),
            }
        }
        Ok(checked)
    }

    fn refuse<T>(&mut self, reason: String) -> Result<T, ()> {
        tracing::warn!(%reason, "conversation refused");
        self.last_failure = Some(reason);
        Err(())
    }

    pub(crate) fn fail_delay(&mut self, delay: Duration) {
        self.conversation.fail_delay(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every prompt with its own text, recording what it saw.
    struct Echo(Vec<Vec<Message>>);
    impl Conversation for Echo {
        fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ConvError> {
            self.0.push(messages.to_vec());
            Ok(messages
                .iter()
                .map(|m| m.is_prompt().then(|| Secret::from_bytes(b"answer").unwrap()))
                .collect())
        }
    }

    #[test]
    fn batch_reaches_front_end_together_and_sanitized() {
        let mut b = Bridge::new(Box::new(Echo(vec![])));
        let raw = [
            (style::TEXT_INFO, Some(&b"\x1b[2Jhi"[..])),
            (style::ERROR_MSG, None),
            (style::PROMPT_ECHO_OFF, Some(&b"Password: "[..])),
        ];
        let answers = b.converse_raw(&raw).unwrap();
        assert!(answers[0].is_none() && answers[1].is_none());
        assert_eq!(answers[2].as_ref().unwrap().as_bytes(), b"answer");
    }

    #[test]
    fn empty_oversized_and_unknown_styles_are_refused() {
        let mut b = Bridge::new(Box::new(Echo(vec![])));
        assert!(b.converse_raw(&[]).is_err());
        let many = vec![(style::TEXT_INFO, Some(&b"x"[..])); MAX_MESSAGES + 1];
        assert!(b.converse_raw(&many).is_err());
        assert!(b.converse_raw(&[(7, Some(&b"\x01\x02"[..]))]).is_err());
        assert!(b.converse_raw(&[(5, Some(&b"radio"[..]))]).is_err());
        assert!(b.last_failure.as_deref().unwrap().contains("style 5"));
        let exactly_max = vec![(style::TEXT_INFO, Some(&b"x"[..])); MAX_MESSAGES];
        assert!(b.converse_raw(&exactly_max).is_ok());
    }

    #[test]
    fn closing_never_asks_the_user() {
        let mut b = Bridge::new(Box::new(Echo(vec![])));
        b.presence = Presence::Closing;
        assert!(b
            .converse_raw(&[(style::PROMPT_ECHO_ON, Some(&b"user: "[..]))])
            .is_err());
        assert_eq!(
            b.converse_raw(&[(style::TEXT_INFO, Some(&b"bye"[..]))])
                .unwrap()
                .len(),
            1
        );
    }

    struct Bad(usize);
    impl Conversation for Bad {
        fn converse(&mut self, _m: &[Message]) -> Result<Vec<Option<Secret>>, ConvError> {
            match self.0 {
                0 => Err(ConvError::Cancelled),
                1 => Ok(vec![None]),
                _ => Ok(vec![]),
            }
        }
    }

    #[test]
    fn cancel_and_bad_answers_fail_the_call() {
        let prompt = [(style::PROMPT_ECHO_OFF, Some(&b"Password: "[..]))];
        let mut b = Bridge::new(Box::new(Bad(0)));
        assert!(b.converse_raw(&prompt).is_err());
        assert!(b.cancelled);
        let mut b = Bridge::new(Box::new(Bad(1)));
        assert!(b.converse_raw(&prompt).is_err());
        assert!(!b.cancelled);
        let mut b = Bridge::new(Box::new(Bad(2)));
        assert!(b.converse_raw(&prompt).is_err());
    }

    #[test]
    fn no_user_answers_notices_but_not_prompts() {
        let mut n = NoUser;
        let info = [Message::Info(SafeText::from_trusted("x"))];
        assert_eq!(n.converse(&info).unwrap().len(), 1);
        let prompt = [Message::PromptHidden(SafeText::from_trusted("p"))];
        assert!(n.converse(&prompt).is_err());
    }
}
