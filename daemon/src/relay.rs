//! One greeter connection's side of a login: greetd's request/response protocol on one end, the
//! login worker's conversation batches on the other. Pure: events in, actions out.
//!
//! greetd's protocol is strictly one response per request, so worker reports wait in a queue
//! until the greeter has a request outstanding (`owed`). Plain greetd greeters get a batch one
//! message at a time (`auth_message`; notices are acknowledged with a null response) and the
//! worker gets the batch's answers once every message was answered; a fail delay is invisible to
//! them. After `x_vestibule_hello` a batch goes out whole (`x_vestibule_conversation`) and comes
//! back whole (`x_vestibule_answers`), and the fail delay is announced
//! (`x_vestibule_fail_delay`, acknowledged by `x_vestibule_next`).
//!
//! Whatever the greeter does wrong gets an `error` response and ends the login in progress, if
//! any; the connection stays usable (`create_session` starts over). The daemon drops the
//! connection only for what cannot be answered (an oversized or unreadable frame).

use std::collections::VecDeque;

use vestibule_ipc::worker::{DaemonToLogin, LoginToDaemon};
use vestibule_ipc::{Answer, AuthMessageType, ExtMessage, Request, Response, EXTENSION_VERSION};

/// What the daemon must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this response to the greeter.
    Reply(Response),
    /// Send this to the login worker.
    Worker(DaemonToLogin),
    /// Start a login worker for `username` (the extension decides the number of tries).
    Spawn { username: String, extension: bool },
    /// Cancel the login worker (and kill it if it does not exit soon).
    Cancel,
    /// The greeter asked for the authenticated session: `cmd` and `env` as validated; the
    /// daemon filters `env`, hands both to the worker, and stops the greeter.
    StartSession { cmd: Vec<String>, env: Vec<String> },
}

/// Where the login stands, from this connection's point of view.
#[derive(Debug)]
enum State {
    /// No login.
    Idle,
    /// The worker is working; the next report goes to the greeter.
    Working,
    /// Plain protocol: `messages[next]` was sent as `auth_message`.
    Plain {
        messages: Vec<ExtMessage>,
        next: usize,
        answers: Vec<Option<Answer>>,
    },
    /// Extension: a whole batch was sent; `count` answers expected.
    Batch { count: usize, prompts: bool },
    /// Extension: a fail delay was announced; `x_vestibule_next` expected.
    Delay,
    /// `success` was sent: `start_session` or `cancel_session` expected.
    Authenticated,
    /// `start_session` was accepted; the greeter should exit now.
    Starting,
}

/// The relay of one greeter connection.
#[derive(Debug)]
pub struct Relay {
    extension: bool,
    /// The greeter has a request outstanding.
    owed: bool,
    queue: VecDeque<LoginToDaemon>,
    state: State,
}

impl Default for Relay {
    fn default() -> Self {
        Relay::new()
    }
}

impl Relay {
    pub fn new() -> Relay {
        Relay {
            extension: false,
            owed: false,
            queue: VecDeque::new(),
            state: State::Idle,
        }
    }

    /// Whether the greeter is waiting for a response (the daemon reads no further request
    /// until it has one: greetd's one-at-a-time order).
    pub fn owed(&self) -> bool {
        self.owed
    }

    /// Whether a login of this connection exists (worker running or about to).
    pub fn has_login(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Whether `start_session` was accepted.
    pub fn starting(&self) -> bool {
        matches!(self.state, State::Starting)
    }

    pub fn extension(&self) -> bool {
        self.extension
    }

    /// A request from the greeter.
    pub fn request(&mut self, req: Request) -> Vec<Action> {
        debug_assert!(!self.owed, "requests are read only when no response is owed");
        if let Err(reason) = req.validate() {
            return self.fail(format!("invalid {}: {reason}", req.kind()));
        }
        match (req, &mut self.state) {
            (Request::Hello { .. }, State::Idle) if !self.extension => {
                self.extension = true;
                vec![Action::Reply(Response::Welcome {
                    version: EXTENSION_VERSION,
                })]
            }
            (Request::Hello { .. }, _) => self.fail("x_vestibule_hello must come first, once".into()),
            (Request::CreateSession { username }, State::Idle) => {
                self.state = State::Working;
                self.owed = true;
                vec![Action::Spawn {
                    username,
                    extension: self.extension,
                }]
            }
            (Request::CreateSession { .. }, _) => {
                // greetd's answer; the login in progress goes on.
                vec![Action::Reply(Response::error(
                    "a session is already being configured",
                ))]
            }
            (
                Request::PostAuthMessageResponse { response },
                State::Plain {
                    messages,
                    next,
                    answers,
                },
            ) if !self.extension => {
                let prompt = messages[*next].kind.is_prompt();
                answers.push(match (prompt, response) {
                    (true, r) => Some(r.unwrap_or_default()),
                    (false, _) => None,
                });
                *next += 1;
                if let Some(m) = messages.get(*next) {
                    return vec![Action::Reply(auth_message(m))];
                }
                let had_prompts = messages.iter().any(|m| m.kind.is_prompt());
                let answers = std::mem::take(answers);
                self.state = State::Working;
                self.owed = true;
                let mut out = Vec::new();
                if had_prompts {
                    out.push(Action::Worker(DaemonToLogin::Answers { answers }));
                }
                out.extend(self.pump());
                out
            }
            (Request::Answers { answers }, State::Batch { count, prompts }) if self.extension => {
                if answers.len() != *count {
                    let reason = format!("{} answers for {} messages", answers.len(), count);
                    return self.fail(reason);
                }
                let prompts = *prompts;
                self.state = State::Working;
                self.owed = true;
                let mut out = Vec::new();
                if prompts {
                    out.push(Action::Worker(DaemonToLogin::Answers { answers }));
                }
                out.extend(self.pump());
                out
            }
            (Request::Next, State::Delay) if self.extension => {
                self.state = State::Working;
                self.owed = true;
                self.pump()
            }
            (Request::StartSession { cmd, env }, State::Authenticated) => {
                self.state = State::Starting;
                vec![
                    Action::Reply(Response::Success),
                    Action::StartSession { cmd, env },
                ]
            }
            (Request::StartSession { .. }, State::Starting) => {
                vec![Action::Reply(Response::error("the session is already starting"))]
            }
            (Request::StartSession { .. }, _) => self.fail("start_session before the login succeeded".into()),
            (Request::CancelSession, State::Starting) => {
                vec![Action::Reply(Response::error("the session is already starting"))]
            }
            (Request::CancelSession, State::Idle) => vec![Action::Reply(Response::Success)],
            (Request::CancelSession, _) => {
                self.reset();
                vec![Action::Cancel, Action::Reply(Response::Success)]
            }
            (req, State::Idle) => self.fail(format!("{} without a login in progress", req.kind())),
            (req, _) => self.fail(format!("{} was not expected now", req.kind())),
        }
    }

    /// A request that could not be parsed (invalid JSON, an unknown type).
    pub fn malformed(&mut self, reason: &str) -> Vec<Action> {
        self.fail(format!("malformed request: {reason}"))
    }

    /// The daemon could not start the worker (another login runs on this terminal, the worker
    /// binary is missing, …).
    pub fn spawn_failed(&mut self, reason: &str) -> Vec<Action> {
        self.reset();
        self.owed = false;
        vec![Action::Reply(Response::error(reason))]
    }

    /// A report from the login worker.
    pub fn worker(&mut self, msg: LoginToDaemon) -> Vec<Action> {
        if matches!(self.state, State::Idle) {
            return Vec::new();
        }
        self.queue.push_back(msg);
        self.pump()
    }

    /// The login worker's socket closed (after every report it sent was delivered): the worker
    /// ended. If the greeter still waits for a report, it is told the login ended.
    pub fn worker_gone(&mut self) -> Vec<Action> {
        let mut out = self.pump();
        match self.state {
            State::Idle | State::Starting => {}
            _ => {
                let owed = self.owed;
                self.reset();
                if owed {
                    out.push(Action::Reply(Response::error(
                        "the login process ended unexpectedly",
                    )));
                }
            }
        }
        out
    }

    fn pump(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while self.owed {
            let Some(msg) = self.queue.pop_front() else {
                break;
            };
            match msg {
                LoginToDaemon::Conversation { messages, context } if !messages.is_empty() => {
                    self.owed = false;
                    let prompts = messages.iter().any(|m| m.kind.is_prompt());
                    if self.extension {
                        self.state = State::Batch {
                            count: messages.len(),
                            prompts,
                        };
                        out.push(Action::Reply(Response::Conversation { messages, context }));
                    } else {
                        out.push(Action::Reply(auth_message(&messages[0])));
                        self.state = State::Plain {
                            messages,
                            next: 0,
                            answers: Vec::new(),
                        };
                    }
                }
                LoginToDaemon::Conversation { .. } => {}
                LoginToDaemon::FailDelay { ms } => {
                    if self.extension {
                        self.owed = false;
                        self.state = State::Delay;
                        out.push(Action::Reply(Response::FailDelay { ms }));
                    }
                }
                LoginToDaemon::Authenticated { .. } => {
                    self.owed = false;
                    self.state = State::Authenticated;
                    out.push(Action::Reply(Response::Success));
                }
                LoginToDaemon::Failed {
                    error_type,
                    description,
                } => {
                    self.owed = false;
                    self.reset();
                    out.push(Action::Reply(Response::Error {
                        error_type,
                        description,
                    }));
                }
                LoginToDaemon::SessionStarted { .. } => {}
            }
        }
        out
    }

    /// Answers a protocol violation: `error`, and the login in progress (if any) is cancelled.
    fn fail(&mut self, reason: String) -> Vec<Action> {
        let mut out = Vec::new();
        if self.has_login() && !self.starting() {
            self.reset();
            out.push(Action::Cancel);
        }
        out.push(Action::Reply(Response::error(reason)));
        out
    }

    fn reset(&mut self) {
        self.state = State::Idle;
        self.queue.clear();
        self.owed = false;
    }
}

fn auth_message(m: &ExtMessage) -> Response {
    Response::AuthMessage {
        auth_message_type: m.kind,
        auth_message: m.text.clone(),
    }
}

/// The kinds, re-exported for tests.
pub type Kind = AuthMessageType;

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_ipc::{ConversationContext, ErrorType};

    fn msg(kind: Kind, text: &str) -> ExtMessage {
        ExtMessage {
            kind,
            text: text.into(),
        }
    }

    fn batch(messages: Vec<ExtMessage>) -> LoginToDaemon {
        LoginToDaemon::Conversation {
            messages,
            context: ConversationContext::Login,
        }
    }

    fn create(r: &mut Relay) {
        let a = r.request(Request::CreateSession {
            username: "alice".into(),
        });
        assert!(matches!(&a[..], [Action::Spawn { username, .. }] if username == "alice"));
        assert!(r.owed());
    }

    fn reply(a: &[Action]) -> &Response {
        a.iter()
            .find_map(|a| match a {
                Action::Reply(r) => Some(r),
                _ => None,
            })
            .expect("a reply")
    }

    #[test]
    fn plain_greeters_get_one_message_at_a_time_and_the_worker_the_whole_batch() {
        let mut r = Relay::new();
        create(&mut r);
        let a = r.worker(batch(vec![
            msg(Kind::Info, "Welcome"),
            msg(Kind::Secret, "Password: "),
        ]));
        assert_eq!(
            reply(&a),
            &Response::AuthMessage {
                auth_message_type: Kind::Info,
                auth_message: "Welcome".into()
            }
        );
        let a = r.request(Request::PostAuthMessageResponse { response: None });
        assert!(matches!(
            reply(&a),
            Response::AuthMessage {
                auth_message_type: Kind::Secret,
                ..
            }
        ));
        let a = r.request(Request::PostAuthMessageResponse {
            response: Some(Answer::new("wonderland")),
        });
        assert_eq!(
            a,
            vec![Action::Worker(DaemonToLogin::Answers {
                answers: vec![None, Some(Answer::new("wonderland"))]
            })]
        );
        assert!(r.owed());
        let a = r.worker(LoginToDaemon::Authenticated { user: "alice".into() });
        assert_eq!(a, vec![Action::Reply(Response::Success)]);
        let a = r.request(Request::StartSession {
            cmd: vec!["sway".into()],
            env: vec![],
        });
        assert_eq!(a[0], Action::Reply(Response::Success));
        assert!(matches!(&a[1], Action::StartSession { cmd, .. } if cmd == &["sway"]));
        assert!(r.starting());
    }

    #[test]
    fn reports_wait_until_the_greeter_asks() {
        let mut r = Relay::new();
        create(&mut r);
        let a = r.worker(batch(vec![msg(Kind::Error, "Login incorrect")]));
        assert!(matches!(
            reply(&a),
            Response::AuthMessage {
                auth_message_type: Kind::Error,
                ..
            }
        ));
        // Queued while the greeter reads the notice.
        assert!(r
            .worker(LoginToDaemon::Failed {
                error_type: ErrorType::AuthError,
                description: "Login incorrect.".into()
            })
            .is_empty());
        let a = r.request(Request::PostAuthMessageResponse { response: None });
        // A notice-only batch is not answered to the worker (it did not wait).
        assert_eq!(a, vec![Action::Reply(Response::auth_error("Login incorrect."))]);
        assert!(!r.has_login() && !r.owed());
    }

    #[test]
    fn the_extension_carries_whole_batches_and_the_fail_delay() {
        let mut r = Relay::new();
        assert_eq!(
            r.request(Request::Hello { version: 1 }),
            vec![Action::Reply(Response::Welcome { version: 1 })]
        );
        let a = r.request(Request::CreateSession {
            username: "alice".into(),
        });
        assert!(matches!(&a[..], [Action::Spawn { extension: true, .. }]));
        let a = r.worker(LoginToDaemon::Conversation {
            messages: vec![msg(Kind::Info, "i"), msg(Kind::Secret, "p")],
            context: ConversationContext::PasswordChange,
        });
        assert!(
            matches!(reply(&a), Response::Conversation { messages, context: ConversationContext::PasswordChange } if messages.len() == 2)
        );
        let a = r.request(Request::Answers {
            answers: vec![None, Some(Answer::new("x"))],
        });
        assert!(matches!(&a[..], [Action::Worker(DaemonToLogin::Answers { answers })] if answers.len() == 2));
        let a = r.worker(LoginToDaemon::FailDelay { ms: 2000 });
        assert_eq!(reply(&a), &Response::FailDelay { ms: 2000 });
        r.worker(batch(vec![msg(Kind::Secret, "p")]));
        let a = r.request(Request::Next);
        assert!(matches!(reply(&a), Response::Conversation { .. }));
    }

    #[test]
    fn plain_greeters_never_see_the_fail_delay() {
        let mut r = Relay::new();
        create(&mut r);
        let a = r.worker(LoginToDaemon::FailDelay { ms: 2000 });
        assert!(a.is_empty());
        let a = r.worker(batch(vec![msg(Kind::Secret, "Password: ")]));
        assert!(matches!(reply(&a), Response::AuthMessage { .. }));
    }

    #[test]
    fn a_second_create_session_is_refused_and_the_login_goes_on() {
        let mut r = Relay::new();
        create(&mut r);
        r.worker(batch(vec![msg(Kind::Secret, "Password: ")]));
        let a = r.request(Request::CreateSession {
            username: "bob".into(),
        });
        assert_eq!(
            a,
            vec![Action::Reply(Response::error(
                "a session is already being configured"
            ))]
        );
        let a = r.request(Request::PostAuthMessageResponse {
            response: Some(Answer::new("pw")),
        });
        assert!(matches!(&a[..], [Action::Worker(DaemonToLogin::Answers { .. })]));
    }

    #[test]
    fn protocol_violations_get_an_error_and_cancel_the_login() {
        let mut r = Relay::new();
        create(&mut r);
        r.worker(batch(vec![msg(Kind::Secret, "Password: ")]));
        let a = r.request(Request::Answers { answers: vec![] });
        assert_eq!(a[0], Action::Cancel);
        assert!(matches!(
            &a[1],
            Action::Reply(Response::Error {
                error_type: ErrorType::Error,
                ..
            })
        ));
        assert!(!r.has_login());
        // Usable again.
        create(&mut r);
        let a = r.malformed("expected value at line 1 column 1");
        assert_eq!(a[0], Action::Cancel);
        let huge = Request::PostAuthMessageResponse {
            response: Some(Answer::new(&"x".repeat(600))),
        };
        let a = r.request(huge);
        assert!(matches!(reply(&a), Response::Error { description, .. } if description.contains("511")));
    }

    #[test]
    fn start_session_needs_a_successful_login() {
        let mut r = Relay::new();
        let a = r.request(Request::StartSession {
            cmd: vec!["sh".into()],
            env: vec![],
        });
        assert!(matches!(reply(&a), Response::Error { .. }));
        let a = r.request(Request::CancelSession);
        assert_eq!(a, vec![Action::Reply(Response::Success)]);
    }

    #[test]
    fn a_worker_that_dies_ends_the_login_with_an_error() {
        let mut r = Relay::new();
        create(&mut r);
        let a = r.worker_gone();
        assert!(matches!(reply(&a), Response::Error { description, .. } if description.contains("ended")));
        assert!(!r.has_login());
        // A report sent before the end is still delivered first.
        create(&mut r);
        r.worker(LoginToDaemon::Failed {
            error_type: ErrorType::AuthError,
            description: "Login incorrect.".into(),
        });
        assert!(r.worker_gone().is_empty());
    }

    #[test]
    fn cancel_mid_conversation_cancels_the_worker() {
        let mut r = Relay::new();
        create(&mut r);
        r.worker(batch(vec![msg(Kind::Secret, "Password: ")]));
        let a = r.request(Request::CancelSession);
        assert_eq!(a, vec![Action::Cancel, Action::Reply(Response::Success)]);
        assert!(r.worker(batch(vec![msg(Kind::Secret, "x")])).is_empty());
    }
}
