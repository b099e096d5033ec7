//! The greeter side of the greeter protocol as a pure state machine: responses from the daemon and
//! the UI's answers go in, requests to send and [`PamEvent`]s for the UI come out. No I/O here
//! (the socket is `mod.rs`'s), so every exchange — both modes, every response kind, protocol
//! errors, cancel — is a unit test.
//!
//! Two modes, chosen per connection:
//! - **extension** (`x_vestibule_*`, when `vestibuled` offers it): whole conversation calls come
//!   as one batch and are answered together; the fail delay is announced; an `error`'s
//!   description is the login core's sentence for the person at the screen.
//! - **plain** (greetd's own protocol, e.g. under greetd 0.9): one message at a time. Notices
//!   (`info`, `error`) are answered with `null` at once and kept; when a prompt comes, the kept
//!   notices and the prompt go to the card as one batch, so the card reads as it does under the
//!   extension.
//!
//! After any `error` the greeter sends `cancel_session` (greetd keeps the failed session around
//! until it is told), and the login is over once that is answered: one PAM login, one connection.

use std::time::Duration;

use vestibule_core::{Message, SafeText, Secret};
use vestibule_ipc::{Answer, AuthMessageType, ErrorType, ExtMessage, Request, Response, EXTENSION_VERSION};

use crate::PamEvent;

/// What the card says when the person cancelled.
pub const CANCELLED: &str = "Login cancelled.";

/// What the card says when greetd's plain protocol reports a failed authentication.
pub const LOGIN_INCORRECT: &str = "Login incorrect";

/// Which protocol this connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Extension,
}

/// What the UI tells the client.
#[derive(Debug)]
pub enum ToClient {
    /// Answers to the batch last shown, one per message (`None` for notices).
    Answers(Vec<Option<Secret>>),
    /// Abandon the login.
    Cancel,
    /// Authenticated: ask the daemon to run this command (`start_session`) once the greeter
    /// has exited, with these `KEY=VALUE` entries added to its environment.
    Start { cmd: Vec<String>, env: Vec<String> },
}

/// What the client reports to the UI.
#[derive(Debug)]
pub enum Report {
    Event(PamEvent),
    /// The daemon accepted `start_session`: the greeter must exit now so the session can start.
    SessionAccepted,
}

/// One thing the I/O side must do, in order.
#[derive(Debug)]
pub enum Step {
    /// Write this request, then read its response ([`Machine::response`]).
    Send(Request),
    /// Hand this to the UI.
    Report(Report),
    /// Wait for the UI ([`Machine::ui`]); nothing is outstanding on the socket.
    WaitUi,
    /// The extension was refused by closing the connection: connect again and send this
    /// (plain `create_session`).
    Reconnect(Request),
    /// The login is over: close the connection.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// `x_vestibule_hello` sent.
    Hello,
    /// A request is out whose answer may be a message, `success` or `error`.
    Converse,
    /// A batch with prompts is on the card; the UI owes the answers.
    Answering {
        messages: usize,
    },
    /// Authenticated; the UI owes the session command.
    Authenticated,
    /// `start_session` sent.
    Starting,
    /// `cancel_session` sent; then the login ends with this sentence.
    Cancelling(String),
    Done,
}

/// The protocol state of one login.
#[derive(Debug)]
pub struct Machine {
    mode: Mode,
    phase: Phase,
    username: String,
    /// Plain mode: notices received since the last prompt.
    notes: Vec<Message>,
    /// The UI cancelled while a request was out: cancel as soon as its response arrives.
    cancel_pending: bool,
}

impl Machine {
    /// A login for `username`; `extension`: the daemon offers the extension (ask for it).
    pub fn new(username: &str, extension: bool) -> Machine {
        Machine {
            mode: if extension { Mode::Extension } else { Mode::Plain },
            phase: Phase::Done,
            username: username.to_owned(),
            notes: Vec::new(),
            cancel_pending: false,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether the I/O side must read a response now.
    pub fn awaiting_response(&self) -> bool {
        matches!(
            self.phase,
            Phase::Hello | Phase::Converse | Phase::Starting | Phase::Cancelling(_)
        )
    }

    /// The first request.
    pub fn start(&mut self) -> Vec<Step> {
        match self.mode {
            Mode::Extension => {
                self.phase = Phase::Hello;
                vec![Step::Send(Request::Hello {
                    version: EXTENSION_VERSION,
                })]
            }
            Mode::Plain => {
                self.phase = Phase::Converse;
                vec![Step::Send(self.create())]
            }
        }
    }

    fn create(&self) -> Request {
        Request::CreateSession {
            username: self.username.clone(),
        }
    }

    /// The daemon's response to the request last sent.
    pub fn response(&mut self, response: Response) -> Vec<Step> {
        if self.cancel_pending && matches!(self.phase, Phase::Converse) {
            self.cancel_pending = false;
            return self.cancel(CANCELLED.into());
        }
        match (self.phase.clone(), response) {
            (Phase::Hello, Response::Welcome { .. }) => {
                self.phase = Phase::Converse;
                vec![Step::Send(self.create())]
            }
            // Refused (a daemon that does not know it): the plain protocol on this connection.
            (Phase::Hello, Response::Error { .. }) => {
                self.mode = Mode::Plain;
                self.phase = Phase::Converse;
                vec![Step::Send(self.create())]
            }
            (
                Phase::Converse,
                Response::AuthMessage {
                    auth_message_type,
                    auth_message,
                },
            ) => self.plain_message(auth_message_type, &auth_message),
            (Phase::Converse, Response::Conversation { messages, .. }) if self.mode == Mode::Extension => {
                self.batch(&messages)
            }
            (Phase::Converse, Response::FailDelay { ms }) if self.mode == Mode::Extension => vec![
                Step::Report(Report::Event(PamEvent::FailDelay(Duration::from_millis(ms)))),
                Step::Send(Request::Next),
            ],
            (Phase::Converse, Response::Success) => {
                let mut steps = self.flush_notes();
                self.phase = Phase::Authenticated;
                steps.push(Step::Report(Report::Event(PamEvent::SessionStarting)));
                steps.push(Step::WaitUi);
                steps
            }
            (
                Phase::Converse | Phase::Starting,
                Response::Error {
                    error_type,
                    description,
                },
            ) => {
                let mut steps = self.flush_notes();
                steps.extend(self.cancel(self.failure(error_type, &description)));
                steps
            }
            (Phase::Starting, Response::Success) => {
                self.phase = Phase::Done;
                vec![Step::Report(Report::SessionAccepted), Step::Done]
            }
            // greetd answers cancel_session with success; anything is taken as the end.
            (Phase::Cancelling(reason), _) => self.finish(reason),
            (phase, response) => {
                tracing::warn!(?phase, response = response_kind(&response), "unexpected response");
                self.protocol_error()
            }
        }
    }

    /// The connection closed before a response came.
    pub fn disconnected(&mut self) -> Vec<Step> {
        match self.phase.clone() {
            // greetd drops a connection whose request it cannot parse: no extension there.
            Phase::Hello => {
                self.mode = Mode::Plain;
                self.phase = Phase::Converse;
                vec![Step::Reconnect(self.create())]
            }
            Phase::Cancelling(reason) => self.finish(reason),
            Phase::Done => vec![],
            _ => self.finish("The login service closed the connection.".into()),
        }
    }

    /// A response that could not be read or understood: the login is over (the connection is
    /// closed, which also ends the daemon's side of it).
    pub fn protocol_error(&mut self) -> Vec<Step> {
        self.finish("The login service sent something this greeter does not understand.".into())
    }

    /// What the UI said.
    pub fn ui(&mut self, message: ToClient) -> Vec<Step> {
        match (self.phase.clone(), message) {
            (Phase::Answering { messages }, ToClient::Answers(answers)) => {
                self.phase = Phase::Converse;
                match self.mode {
                    Mode::Plain => {
                        // The prompt is the batch's last message; the notes before it were
                        // answered already.
                        let response = answers.into_iter().last().flatten().map(answer);
                        vec![Step::Send(Request::PostAuthMessageResponse { response })]
                    }
                    Mode::Extension => {
                        let mut answers: Vec<Option<Answer>> =
                            answers.into_iter().map(|a| a.map(answer)).collect();
                        answers.resize_with(messages, || None);
                        vec![Step::Send(Request::Answers { answers })]
                    }
                }
            }
            (Phase::Answering { .. } | Phase::Authenticated, ToClient::Cancel) => {
                self.cancel(CANCELLED.into())
            }
            (Phase::Converse | Phase::Hello, ToClient::Cancel) => {
                self.cancel_pending = true;
                vec![]
            }
            (Phase::Authenticated, ToClient::Start { cmd, env }) => {
                self.phase = Phase::Starting;
                vec![Step::Send(Request::StartSession { cmd, env })]
            }
            // Stale input (answers typed after a cancel, a second start): nothing to do.
            (phase, message) => {
                tracing::debug!(?phase, ?message, "dropped");
                if self.awaiting_response() {
                    vec![]
                } else if self.phase == Phase::Done {
                    vec![Step::Done]
                } else {
                    vec![Step::WaitUi]
                }
            }
        }
    }

    fn plain_message(&mut self, kind: AuthMessageType, text: &str) -> Vec<Step> {
        let text = SafeText::from_module(text.as_bytes());
        match kind {
            AuthMessageType::Info | AuthMessageType::Error => {
                self.notes.push(note(kind, text));
                vec![Step::Send(Request::PostAuthMessageResponse { response: None })]
            }
            AuthMessageType::Secret | AuthMessageType::Visible => {
                let mut batch = std::mem::take(&mut self.notes);
                batch.push(if kind == AuthMessageType::Secret {
                    Message::PromptHidden(text)
                } else {
                    Message::PromptVisible(text)
                });
                self.phase = Phase::Answering {
                    messages: batch.len(),
                };
                vec![
                    Step::Report(Report::Event(PamEvent::Messages(batch))),
                    Step::WaitUi,
                ]
            }
        }
    }

    fn batch(&mut self, messages: &[ExtMessage]) -> Vec<Step> {
        let batch: Vec<Message> = messages
            .iter()
            .map(|m| {
                let text = SafeText::from_module(m.text.as_bytes());
                match m.kind {
                    AuthMessageType::Secret => Message::PromptHidden(text),
                    AuthMessageType::Visible => Message::PromptVisible(text),
                    kind => note(kind, text),
                }
            })
            .collect();
        let n = batch.len();
        let prompts = batch.iter().any(Message::is_prompt);
        let mut steps = vec![Step::Report(Report::Event(PamEvent::Messages(batch)))];
        if prompts {
            self.phase = Phase::Answering { messages: n };
            steps.push(Step::WaitUi);
        } else {
            steps.push(Step::Send(Request::Answers {
                answers: (0..n).map(|_| None).collect(),
            }));
        }
        steps
    }

    /// Plain mode: notices kept for a prompt that never came go to the card now.
    fn flush_notes(&mut self) -> Vec<Step> {
        if self.notes.is_empty() {
            return vec![];
        }
        vec![Step::Report(Report::Event(PamEvent::Messages(std::mem::take(
            &mut self.notes,
        ))))]
    }

    /// The sentence for a failed login. The extension's descriptions are written for the person
    /// at the screen. greetd's are PAM status names (`pam_authenticate: AUTH_ERR`): a failed
    /// authentication then reads as login(1) and agreety say it, anything else as it came
    /// (sanitized either way).
    fn failure(&self, kind: ErrorType, description: &str) -> String {
        if self.mode == Mode::Plain && kind == ErrorType::AuthError {
            tracing::info!(description, "authentication failed");
            return LOGIN_INCORRECT.into();
        }
        let text = SafeText::from_module(description.as_bytes());
        if text.is_empty() {
            "The login failed.".into()
        } else {
            text.as_str().to_owned()
        }
    }

    fn cancel(&mut self, reason: String) -> Vec<Step> {
        self.phase = Phase::Cancelling(reason);
        vec![Step::Send(Request::CancelSession)]
    }

    fn finish(&mut self, reason: String) -> Vec<Step> {
        self.phase = Phase::Done;
        let mut steps = self.flush_notes();
        steps.push(Step::Report(Report::Event(PamEvent::Failed(reason))));
        steps.push(Step::Done);
        steps
    }
}

fn note(kind: AuthMessageType, text: SafeText) -> Message {
    match kind {
        AuthMessageType::Error => Message::Error(text),
        _ => Message::Info(text),
    }
}

/// A typed secret as it goes on the wire (both wipe themselves; the text is typed UTF-8).
fn answer(secret: Secret) -> Answer {
    Answer::from(String::from_utf8_lossy(secret.as_bytes()).into_owned())
}

fn response_kind(r: &Response) -> &'static str {
    match r {
        Response::Success => "success",
        Response::Error { .. } => "error",
        Response::AuthMessage { .. } => "auth_message",
        Response::Welcome { .. } => "x_vestibule_welcome",
        Response::Conversation { .. } => "x_vestibule_conversation",
        Response::FailDelay { .. } => "x_vestibule_fail_delay",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_ipc::ConversationContext;

    fn t(s: &str) -> SafeText {
        SafeText::from_trusted(s)
    }

    fn secret(s: &str) -> Option<Secret> {
        Some(Secret::from_bytes(s.as_bytes()).unwrap())
    }

    fn msg(kind: AuthMessageType, text: &str) -> Response {
        Response::AuthMessage {
            auth_message_type: kind,
            auth_message: text.into(),
        }
    }

    /// The requests among the steps.
    fn sent(steps: &[Step]) -> Vec<Request> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(r) | Step::Reconnect(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn events(steps: Vec<Step>) -> Vec<PamEvent> {
        steps
            .into_iter()
            .filter_map(|s| match s {
                Step::Report(Report::Event(e)) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn create() -> Request {
        Request::CreateSession {
            username: "alice".into(),
        }
    }

    fn failed(steps: &[Step]) -> Option<&str> {
        steps.iter().find_map(|s| match s {
            Step::Report(Report::Event(PamEvent::Failed(r))) => Some(r.as_str()),
            _ => None,
        })
    }

    #[test]
    fn plain_notices_are_answered_at_once_and_shown_with_the_next_prompt() {
        let mut m = Machine::new("alice", false);
        assert_eq!(sent(&m.start()), [create()]);
        let s = m.response(msg(AuthMessageType::Info, "Welcome"));
        assert_eq!(sent(&s), [Request::PostAuthMessageResponse { response: None }]);
        assert!(events(s).is_empty(), "kept for the prompt");
        let s = m.response(msg(AuthMessageType::Error, "Caps?"));
        assert_eq!(sent(&s), [Request::PostAuthMessageResponse { response: None }]);
        let s = m.response(msg(AuthMessageType::Secret, "Password: "));
        assert!(matches!(s.last(), Some(Step::WaitUi)));
        match &events(s)[..] {
            [PamEvent::Messages(batch)] => assert_eq!(
                batch,
                &[
                    Message::Info(t("Welcome")),
                    Message::Error(t("Caps?")),
                    Message::PromptHidden(t("Password: "))
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert!(!m.awaiting_response());
        let s = m.ui(ToClient::Answers(vec![None, None, secret("pw")]));
        assert_eq!(
            sent(&s),
            [Request::PostAuthMessageResponse {
                response: Some(Answer::new("pw"))
            }]
        );
        assert!(m.awaiting_response());
    }

    #[test]
    fn plain_visible_prompts_are_shown_as_visible() {
        let mut m = Machine::new("alice", false);
        m.start();
        let e = events(m.response(msg(AuthMessageType::Visible, "Code: ")));
        assert!(matches!(&e[..], [PamEvent::Messages(b)] if b == &[Message::PromptVisible(t("Code: "))]));
    }

    #[test]
    fn success_starts_the_session_and_the_greeter_exits_when_it_is_accepted() {
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(msg(AuthMessageType::Secret, "Password: "));
        m.ui(ToClient::Answers(vec![secret("pw")]));
        let s = m.response(msg(AuthMessageType::Info, "Last login: today"));
        assert_eq!(sent(&s).len(), 1);
        let s = m.response(Response::Success);
        assert!(matches!(s.last(), Some(Step::WaitUi)));
        let e = events(s);
        assert!(matches!(&e[0], PamEvent::Messages(b) if b == &[Message::Info(t("Last login: today"))]));
        assert!(matches!(&e[1], PamEvent::SessionStarting));
        let start = ToClient::Start {
            cmd: vec!["sway".into()],
            env: vec!["XDG_SESSION_TYPE=wayland".into()],
        };
        assert_eq!(
            sent(&m.ui(start)),
            [Request::StartSession {
                cmd: vec!["sway".into()],
                env: vec!["XDG_SESSION_TYPE=wayland".into()]
            }]
        );
        let s = m.response(Response::Success);
        assert!(matches!(
            &s[..],
            [Step::Report(Report::SessionAccepted), Step::Done]
        ));
        assert!(m.is_done());
    }

    #[test]
    fn an_error_is_followed_by_cancel_session_and_then_reported() {
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(msg(AuthMessageType::Secret, "Password: "));
        m.ui(ToClient::Answers(vec![secret("nope")]));
        let s = m.response(Response::auth_error("pam_authenticate: AUTH_ERR"));
        assert_eq!(sent(&s), [Request::CancelSession]);
        assert_eq!(failed(&s), None, "not before the cancel is answered");
        let s = m.response(Response::Success);
        assert_eq!(
            failed(&s),
            Some(LOGIN_INCORRECT),
            "login(1)'s words, not a PAM status"
        );
        assert!(matches!(s.last(), Some(Step::Done)));
        assert!(m.is_done());
    }

    #[test]
    fn a_failed_start_session_is_reported_too() {
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(Response::Success);
        m.ui(ToClient::Start {
            cmd: vec!["x".into()],
            env: vec![],
        });
        let s = m.response(Response::error("cannot start"));
        assert_eq!(sent(&s), [Request::CancelSession]);
        assert_eq!(failed(&m.response(Response::Success)), Some("cannot start"));
    }

    #[test]
    fn descriptions_are_sanitized() {
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(Response::error("bad\u{1b}[2J"));
        assert_eq!(failed(&m.response(Response::Success)), Some("bad^[[2J"));
        let mut m = Machine::new("alice", false);
        m.start();
        let e = events(m.response(msg(AuthMessageType::Secret, "\u{1b}]0;pwned\u{7}")));
        assert!(matches!(&e[..], [PamEvent::Messages(b)] if b[0].text().as_str() == "^[]0;pwned^G"));
    }

    #[test]
    fn notices_before_an_error_still_reach_the_card() {
        let mut m = Machine::new("dave", false);
        m.start();
        m.response(msg(AuthMessageType::Error, "Your account is locked."));
        let e = events(m.response(Response::auth_error("Authentication failure")));
        assert!(
            matches!(&e[..], [PamEvent::Messages(b)] if b == &[Message::Error(t("Your account is locked."))])
        );
    }

    #[test]
    fn extension_hello_then_batches_fail_delay_and_answers() {
        let mut m = Machine::new("alice", true);
        assert_eq!(sent(&m.start()), [Request::Hello { version: 1 }]);
        assert_eq!(sent(&m.response(Response::Welcome { version: 1 })), [create()]);
        assert_eq!(m.mode(), Mode::Extension);
        let conv = Response::Conversation {
            messages: vec![
                ExtMessage {
                    kind: AuthMessageType::Info,
                    text: "hello".into(),
                },
                ExtMessage {
                    kind: AuthMessageType::Secret,
                    text: "Password: ".into(),
                },
                ExtMessage {
                    kind: AuthMessageType::Visible,
                    text: "Code: ".into(),
                },
            ],
            context: ConversationContext::Login,
        };
        let s = m.response(conv);
        assert!(matches!(s.last(), Some(Step::WaitUi)));
        let e = events(s);
        assert!(
            matches!(&e[..], [PamEvent::Messages(b)] if b.len() == 3 && b[2] == Message::PromptVisible(t("Code: ")))
        );
        let s = m.ui(ToClient::Answers(vec![None, secret("pw"), secret("42")]));
        assert_eq!(
            sent(&s),
            [Request::Answers {
                answers: vec![None, Some(Answer::new("pw")), Some(Answer::new("42"))]
            }]
        );
        let s = m.response(Response::FailDelay { ms: 300 });
        assert_eq!(sent(&s), [Request::Next]);
        assert!(matches!(&events(s)[..], [PamEvent::FailDelay(d)] if *d == Duration::from_millis(300)));
        // A batch of notices alone is shown and answered without the UI.
        let notices = Response::Conversation {
            messages: vec![ExtMessage {
                kind: AuthMessageType::Error,
                text: "Login incorrect".into(),
            }],
            context: ConversationContext::Login,
        };
        let s = m.response(notices);
        assert_eq!(sent(&s), [Request::Answers { answers: vec![None] }]);
        let s = m.response(Response::auth_error("Maximum number of tries exceeded (3)."));
        assert_eq!(sent(&s), [Request::CancelSession]);
        assert_eq!(
            failed(&m.response(Response::Success)),
            Some("Maximum number of tries exceeded (3).")
        );
    }

    #[test]
    fn extension_answers_are_padded_to_one_per_message() {
        let mut m = Machine::new("alice", true);
        m.start();
        m.response(Response::Welcome { version: 1 });
        m.response(Response::Conversation {
            messages: vec![
                ExtMessage {
                    kind: AuthMessageType::Secret,
                    text: "a".into(),
                },
                ExtMessage {
                    kind: AuthMessageType::Secret,
                    text: "b".into(),
                },
            ],
            context: ConversationContext::PasswordChange,
        });
        let s = m.ui(ToClient::Answers(vec![secret("x")]));
        assert!(matches!(&sent(&s)[..], [Request::Answers { answers }] if answers.len() == 2));
    }

    #[test]
    fn a_refused_hello_falls_back_to_plain() {
        let mut m = Machine::new("alice", true);
        m.start();
        assert_eq!(sent(&m.response(Response::error("unknown request"))), [create()]);
        assert_eq!(m.mode(), Mode::Plain);
        // greetd closes the connection instead: connect again, plain.
        let mut m = Machine::new("alice", true);
        m.start();
        let s = m.disconnected();
        assert!(matches!(&s[..], [Step::Reconnect(r)] if *r == create()));
        assert_eq!(m.mode(), Mode::Plain);
        // Extension messages are not accepted in plain mode.
        let s = m.response(Response::FailDelay { ms: 1 });
        assert!(failed(&s).is_some());
    }

    #[test]
    fn cancel_at_a_prompt_sends_cancel_session() {
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(msg(AuthMessageType::Secret, "Password: "));
        assert_eq!(sent(&m.ui(ToClient::Cancel)), [Request::CancelSession]);
        // Answers typed meanwhile are dropped.
        assert!(sent(&m.ui(ToClient::Answers(vec![secret("late")]))).is_empty());
        assert_eq!(failed(&m.response(Response::Success)), Some(CANCELLED));
    }

    #[test]
    fn cancel_while_a_request_is_out_waits_for_its_response() {
        let mut m = Machine::new("alice", false);
        m.start();
        assert!(m.ui(ToClient::Cancel).is_empty(), "nothing may be sent now");
        let s = m.response(msg(AuthMessageType::Secret, "Password: "));
        assert_eq!(sent(&s), [Request::CancelSession]);
        assert!(events(s).is_empty(), "the prompt is not shown any more");
        assert_eq!(failed(&m.response(Response::Success)), Some(CANCELLED));
    }

    #[test]
    fn cancel_after_success_cancels_the_session() {
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(Response::Success);
        assert_eq!(sent(&m.ui(ToClient::Cancel)), [Request::CancelSession]);
        assert_eq!(failed(&m.disconnected()), Some(CANCELLED));
    }

    #[test]
    fn unexpected_responses_and_disconnects_end_the_login() {
        let mut m = Machine::new("alice", false);
        m.start();
        let s = m.response(Response::Welcome { version: 1 });
        assert!(failed(&s).unwrap().contains("does not understand"));
        assert!(matches!(s.last(), Some(Step::Done)));
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(msg(AuthMessageType::Info, "note"));
        let s = m.disconnected();
        assert!(
            matches!(&s[0], Step::Report(Report::Event(PamEvent::Messages(_)))),
            "{s:?}"
        );
        assert!(failed(&s).unwrap().contains("closed the connection"));
        // A success while answers are owed is a protocol error too.
        let mut m = Machine::new("alice", false);
        m.start();
        m.response(msg(AuthMessageType::Secret, "Password: "));
        assert!(failed(&m.response(Response::Success)).is_some());
    }
}
