//! The greeter protocol's messages: greetd's, field for field, and Vestibule's extension.
//!
//! greetd's exchange is strictly request → response. A greeter sends `create_session`; each
//! response is either `auth_message` (answer it with `post_auth_message_response`), `success`
//! (authenticated: send `start_session`) or `error` (the login is over; `cancel_session` resets).
//!
//! The extension (version [`EXTENSION_VERSION`]) is switched on per connection by
//! `x_vestibule_hello`, which a greeter sends only when `vestibuled` offers it in the greeter's
//! environment ([`EXTENSION_ENV`]). After that, PAM's messages arrive as whole calls
//! (`x_vestibule_conversation`, answered by `x_vestibule_answers`, one entry per message), a
//! fail delay as `x_vestibule_fail_delay` (acknowledged by `x_vestibule_next`), and `error`
//! descriptions are the one-line sentence the login core wrote for the person at the screen.
//! See `ipc/PROTOCOL.md`.

use serde::{Deserialize, Serialize};

use crate::secret::{Answer, MAX_ANSWER_BYTES};

/// The extension's version, sent in `x_vestibule_hello` and answered in `x_vestibule_welcome`.
pub const EXTENSION_VERSION: u32 = 1;

/// Set (to the version) in the greeter's environment by `vestibuled`: the extension is offered.
/// greetd does not set it, so a Vestibule greeter under greetd speaks the plain protocol.
pub const EXTENSION_ENV: &str = "VESTIBULE_GREETER_PROTOCOL";

/// Longest user name a `create_session` may carry (bytes).
pub const MAX_USERNAME_BYTES: usize = 256;

/// Most arguments and environment entries a `start_session` may carry.
pub const MAX_COMMAND_ARGS: usize = 256;
pub const MAX_ENV_ENTRIES: usize = 256;

/// Most messages in one conversation call (Linux-PAM's `PAM_MAX_NUM_MSG`).
pub const MAX_MESSAGES: usize = 32;

/// A greeter's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Start a login for `username`.
    CreateSession { username: String },
    /// The answer to the last `auth_message` (`None` for info and error messages).
    PostAuthMessageResponse { response: Option<Answer> },
    /// Run `cmd` once the greeter has exited: joined with spaces and run by `sh -c` (greetd's
    /// semantics), with `env` (`KEY=VALUE`) added to the session's environment.
    StartSession {
        cmd: Vec<String>,
        #[serde(default)]
        env: Vec<String>,
    },
    /// Abandon the login being set up.
    CancelSession,
    /// Extension: switch this connection to the extension.
    #[serde(rename = "x_vestibule_hello")]
    Hello { version: u32 },
    /// Extension: the answers to a whole `x_vestibule_conversation`, one per message
    /// (`None` for info and error messages).
    #[serde(rename = "x_vestibule_answers")]
    Answers { answers: Vec<Option<Answer>> },
    /// Extension: go on after an `x_vestibule_fail_delay`.
    #[serde(rename = "x_vestibule_next")]
    Next,
}

impl Request {
    /// The request's name on the wire, for logs (never its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            Request::CreateSession { .. } => "create_session",
            Request::PostAuthMessageResponse { .. } => "post_auth_message_response",
            Request::StartSession { .. } => "start_session",
            Request::CancelSession => "cancel_session",
            Request::Hello { .. } => "x_vestibule_hello",
            Request::Answers { .. } => "x_vestibule_answers",
            Request::Next => "x_vestibule_next",
        }
    }

    /// Checks the limits a well-behaved greeter never reaches; the sentence says what was wrong.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Request::CreateSession { username } => {
                if username.is_empty() {
                    return Err("the user name is empty".into());
                }
                if username.len() > MAX_USERNAME_BYTES {
                    return Err(format!("the user name is longer than {MAX_USERNAME_BYTES} bytes"));
                }
                if username.chars().any(char::is_control) {
                    return Err("the user name contains control characters".into());
                }
                Ok(())
            }
            Request::PostAuthMessageResponse { response } => check_answer(response.as_ref()),
            Request::Answers { answers } => {
                if answers.len() > MAX_MESSAGES {
                    return Err(format!("more than {MAX_MESSAGES} answers"));
                }
                answers.iter().try_for_each(|a| check_answer(a.as_ref()))
            }
            Request::StartSession { cmd, env } => {
                if cmd.is_empty() || cmd.iter().all(|a| a.trim().is_empty()) {
                    return Err("the session command is empty".into());
                }
                if cmd.len() > MAX_COMMAND_ARGS {
                    return Err(format!(
                        "the session command has more than {MAX_COMMAND_ARGS} arguments"
                    ));
                }
                if cmd.iter().any(|a| a.contains('\0')) {
                    return Err("the session command contains a NUL byte".into());
                }
                if env.len() > MAX_ENV_ENTRIES {
                    return Err(format!("more than {MAX_ENV_ENTRIES} environment entries"));
                }
                env.iter().try_for_each(|e| check_env_entry(e))
            }
            Request::Hello { .. } | Request::CancelSession | Request::Next => Ok(()),
        }
    }
}

fn check_answer(answer: Option<&Answer>) -> Result<(), String> {
    match answer {
        Some(a) if a.len() > MAX_ANSWER_BYTES => {
            Err(format!("an answer is longer than {MAX_ANSWER_BYTES} bytes"))
        }
        Some(a) if a.as_bytes().contains(&0) => Err("an answer contains a NUL byte".into()),
        _ => Ok(()),
    }
}

/// `KEY=VALUE`, with a key a shell could export: letters, digits and `_`, not starting with a
/// digit. (A key like `LD_PRELOAD` is well-formed; the daemon decides what it lets through.)
pub fn check_env_entry(entry: &str) -> Result<(), String> {
    let Some((key, _)) = entry.split_once('=') else {
        return Err("an environment entry has no '='".into());
    };
    let ok = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok || entry.contains('\0') {
        return Err("an environment entry has an invalid name".into());
    }
    Ok(())
}

/// greetd's two error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// Something went wrong that is not the user's answer.
    Error,
    /// Authentication failed.
    AuthError,
}

/// greetd's message kinds, which are also PAM's four message styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMessageType {
    /// A prompt whose answer may be shown (`PAM_PROMPT_ECHO_ON`).
    Visible,
    /// A prompt whose answer must not be shown (`PAM_PROMPT_ECHO_OFF`).
    Secret,
    /// A notice (`PAM_TEXT_INFO`).
    Info,
    /// An error notice (`PAM_ERROR_MSG`).
    Error,
}

impl AuthMessageType {
    pub fn is_prompt(self) -> bool {
        matches!(self, AuthMessageType::Visible | AuthMessageType::Secret)
    }
}

/// Extension: one message of a conversation call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtMessage {
    pub kind: AuthMessageType,
    pub text: String,
}

/// Extension: what PAM is doing while it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationContext {
    /// Authenticating (or any other step).
    #[default]
    Login,
    /// Changing an expired password (`pam_chauthtok`).
    PasswordChange,
}

/// The daemon's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Success,
    Error {
        error_type: ErrorType,
        description: String,
    },
    AuthMessage {
        auth_message_type: AuthMessageType,
        auth_message: String,
    },
    /// Extension: the answer to `x_vestibule_hello`.
    #[serde(rename = "x_vestibule_welcome")]
    Welcome {
        version: u32,
    },
    /// Extension: one whole PAM conversation call.
    #[serde(rename = "x_vestibule_conversation")]
    Conversation {
        messages: Vec<ExtMessage>,
        #[serde(default)]
        context: ConversationContext,
    },
    /// Extension: PAM's fail delay started; the next response comes after it.
    #[serde(rename = "x_vestibule_fail_delay")]
    FailDelay {
        ms: u64,
    },
}

impl Response {
    pub fn error(description: impl Into<String>) -> Response {
        Response::Error {
            error_type: ErrorType::Error,
            description: description.into(),
        }
    }

    pub fn auth_error(description: impl Into<String>) -> Response {
        Response::Error {
            error_type: ErrorType::AuthError,
            description: description.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, encode, FrameDecoder, MAX_REQUEST_BYTES};
    use proptest::prelude::*;

    fn json(v: &impl Serialize) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn requests_are_spelled_as_greetd_spells_them() {
        assert_eq!(
            json(&Request::CreateSession {
                username: "alice".into()
            }),
            r#"{"type":"create_session","username":"alice"}"#
        );
        assert_eq!(
            json(&Request::PostAuthMessageResponse {
                response: Some(Answer::new("pw"))
            }),
            r#"{"type":"post_auth_message_response","response":"pw"}"#
        );
        assert_eq!(
            json(&Request::PostAuthMessageResponse { response: None }),
            r#"{"type":"post_auth_message_response","response":null}"#
        );
        assert_eq!(json(&Request::CancelSession), r#"{"type":"cancel_session"}"#);
        // greetd's env is optional.
        let start: Request = decode(br#"{"type":"start_session","cmd":["sway"]}"#).unwrap();
        assert_eq!(
            start,
            Request::StartSession {
                cmd: vec!["sway".into()],
                env: vec![]
            }
        );
    }

    #[test]
    fn responses_are_spelled_as_greetd_spells_them() {
        assert_eq!(json(&Response::Success), r#"{"type":"success"}"#);
        assert_eq!(
            json(&Response::auth_error("Login incorrect.")),
            r#"{"type":"error","error_type":"auth_error","description":"Login incorrect."}"#
        );
        assert_eq!(
            json(&Response::AuthMessage {
                auth_message_type: AuthMessageType::Secret,
                auth_message: "Password: ".into()
            }),
            r#"{"type":"auth_message","auth_message_type":"secret","auth_message":"Password: "}"#
        );
    }

    #[test]
    fn extension_messages_carry_the_prefix() {
        assert_eq!(
            json(&Request::Hello { version: 1 }),
            r#"{"type":"x_vestibule_hello","version":1}"#
        );
        assert_eq!(json(&Request::Next), r#"{"type":"x_vestibule_next"}"#);
        let conv = Response::Conversation {
            messages: vec![ExtMessage {
                kind: AuthMessageType::Info,
                text: "hi".into(),
            }],
            context: ConversationContext::PasswordChange,
        };
        assert_eq!(
            json(&conv),
            r#"{"type":"x_vestibule_conversation","messages":[{"kind":"info","text":"hi"}],"context":"password_change"}"#
        );
    }

    #[test]
    fn unknown_types_and_missing_fields_are_errors_not_panics() {
        assert!(decode::<Request>(br#"{"type":"rm_rf"}"#).is_err());
        assert!(decode::<Request>(br#"{"type":"create_session"}"#).is_err());
        assert!(decode::<Request>(b"not json").is_err());
        assert!(decode::<Request>(br#"[1,2,3]"#).is_err());
    }

    #[test]
    fn limits_are_checked() {
        let long = Request::PostAuthMessageResponse {
            response: Some(Answer::new(&"x".repeat(512))),
        };
        assert!(long.validate().unwrap_err().contains("511"));
        let name = Request::CreateSession {
            username: "a\u{1b}[2J".into(),
        };
        assert!(name.validate().is_err());
        let env = Request::StartSession {
            cmd: vec!["sh".into()],
            env: vec!["1X=y".into()],
        };
        assert!(env.validate().is_err());
        let empty = Request::StartSession {
            cmd: vec![" ".into()],
            env: vec![],
        };
        assert!(empty.validate().is_err());
        let ok = Request::StartSession {
            cmd: vec!["sway".into()],
            env: vec!["XDG_SESSION_TYPE=wayland".into()],
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn a_one_mebibyte_answer_does_not_fit_in_a_request() {
        let huge = Request::PostAuthMessageResponse {
            response: Some(Answer::new(&"x".repeat(1 << 20))),
        };
        let frame = encode(&huge).unwrap();
        let mut d = FrameDecoder::new(MAX_REQUEST_BYTES);
        d.feed(&frame[..4]);
        assert!(d.next_body().is_err());
    }

    fn arb_answer() -> impl Strategy<Value = Option<Answer>> {
        proptest::option::of(".{0,40}".prop_map(|s: String| Answer::from(s)))
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            ".{0,40}".prop_map(|username| Request::CreateSession { username }),
            arb_answer().prop_map(|response| Request::PostAuthMessageResponse { response }),
            (
                proptest::collection::vec(".{0,20}", 0..4),
                proptest::collection::vec(".{0,20}", 0..4)
            )
                .prop_map(|(cmd, env)| Request::StartSession { cmd, env }),
            Just(Request::CancelSession),
            any::<u32>().prop_map(|version| Request::Hello { version }),
            proptest::collection::vec(arb_answer(), 0..40).prop_map(|answers| Request::Answers { answers }),
            Just(Request::Next),
        ]
    }

    proptest! {
        /// Every request survives the wire unchanged.
        #[test]
        fn requests_round_trip(req in arb_request()) {
            let frame = encode(&req).unwrap();
            prop_assert_eq!(decode::<Request>(&frame[4..]).unwrap(), req);
        }

        /// Arbitrary bytes never panic the parser or the validator.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(req) = decode::<Request>(&body) {
                let _ = req.validate();
            }
            let _ = decode::<Response>(&body);
        }

        /// JSON-shaped garbage with the right `type` names never panics either.
        #[test]
        fn typed_garbage_never_panics(
            kind in prop_oneof![
                Just("create_session"), Just("post_auth_message_response"), Just("start_session"),
                Just("cancel_session"), Just("x_vestibule_hello"), Just("x_vestibule_answers"),
                Just("x_vestibule_next"), Just("nonsense")
            ],
            field in "[a-z_]{0,12}",
            value in prop_oneof![
                Just("null".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()),
                any::<i64>().prop_map(|n| n.to_string()), ".{0,30}".prop_map(|s| serde_json::to_string(&s).unwrap())
            ],
        ) {
            let body = format!(r#"{{"type":"{kind}","{field}":{value}}}"#);
            if let Ok(req) = decode::<Request>(body.as_bytes()) {
                let _ = req.validate();
            }
        }
    }
}
