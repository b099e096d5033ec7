//! The login's PAM conversation, relayed to the daemon: each call goes out as one
//! `Conversation` report, and a call with prompts waits for the daemon's `Answers`.

use std::time::Duration;

use vestibule_core::{ConvError, Conversation, Message, Secret};
use vestibule_ipc::worker::{DaemonToLogin, LoginToDaemon};
use vestibule_ipc::{AuthMessageType, ConversationContext, ExtMessage};

use super::chan::Chan;

pub struct Relayed {
    chan: Chan,
    context: ConversationContext,
    /// Once cancelled, every later call is cancelled too: the login is over.
    cancelled: bool,
}

impl Relayed {
    pub fn new(chan: Chan) -> Relayed {
        Relayed {
            chan,
            context: ConversationContext::Login,
            cancelled: false,
        }
    }
}

fn wire(m: &Message) -> ExtMessage {
    let kind = match m {
        Message::PromptHidden(_) => AuthMessageType::Secret,
        Message::PromptVisible(_) => AuthMessageType::Visible,
        Message::Info(_) => AuthMessageType::Info,
        Message::Error(_) => AuthMessageType::Error,
    };
    ExtMessage {
        kind,
        text: m.text().as_str().to_owned(),
    }
}

impl Conversation for Relayed {
    fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ConvError> {
        if self.cancelled {
            return Err(ConvError::Cancelled);
        }
        let report = LoginToDaemon::Conversation {
            messages: messages.iter().map(wire).collect(),
            context: self.context,
        };
        let sent = self.chan.send(&report);
        if !messages.iter().any(Message::is_prompt) {
            return Ok(messages.iter().map(|_| None).collect());
        }
        if !sent {
            self.cancelled = true;
            return Err(ConvError::Cancelled);
        }
        loop {
            match self.chan.recv::<DaemonToLogin>() {
                Some(DaemonToLogin::Answers { answers }) => {
                    if answers.len() != messages.len() {
                        return Err(ConvError::Failed(format!(
                            "{} answers for {} messages",
                            answers.len(),
                            messages.len()
                        )));
                    }
                    return messages
                        .iter()
                        .zip(answers)
                        .map(|(m, a)| match (m.is_prompt(), a) {
                            (true, Some(a)) => Secret::from_bytes(a.as_bytes())
                                .map(Some)
                                .map_err(|e| ConvError::Failed(e.to_string())),
                            (true, None) => Ok(Some(Secret::new())),
                            (false, _) => Ok(None),
                        })
                        .collect();
                }
                Some(DaemonToLogin::Cancel) | None => {
                    self.cancelled = true;
                    return Err(ConvError::Cancelled);
                }
                Some(other) => tracing::warn!(?other, "unexpected message during the conversation"),
            }
        }
    }

    fn fail_delay(&mut self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.chan.send(&LoginToDaemon::FailDelay { ms });
        std::thread::sleep(delay);
    }

    fn password_change(&mut self) {
        self.context = ConversationContext::PasswordChange;
    }
}
