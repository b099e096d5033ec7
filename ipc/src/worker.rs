//! The protocol between `vestibuled` and its workers (`vestibule-worker`), one message type per
//! direction and per kind of worker. Same framing as the greeter protocol ([`crate::frame`]):
//! each message is one frame of JSON on the socket the worker inherits (its fd number is on the
//! worker's command line).
//!
//! A login worker (`vestibule-worker login`) receives [`LoginSetup`] first, then runs PAM and
//! reports every conversation call ([`LoginToDaemon::Conversation`]), the fail delay, and how
//! the authentication ended. After [`LoginToDaemon::Authenticated`] it waits for
//! [`DaemonToLogin::StartSession`] and then [`DaemonToLogin::Go`] (sent once the greeter has
//! exited and the terminal was revoked), opens the PAM session on the terminal, reports
//! [`LoginToDaemon::SessionStarted`] and supervises the session; its exit is the session's end.
//! An autologin worker is a login worker that skips authentication (`LoginSetup::autologin`).
//!
//! A greeter worker (`vestibule-worker greeter`) receives [`GreeterSetup`], opens the greeter's
//! PAM session, runs the greeter, reports [`GreeterToDaemon::Started`] (or `Failed`) and exits
//! when the greeter does. The daemon stops it with SIGTERM.
//!
//! Answers cross as [`Answer`] (wiped when dropped, never in `Debug`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::greeter::{ConversationContext, ErrorType, ExtMessage};
use crate::secret::Answer;

/// Largest message either side of a worker socket accepts: a whole conversation call
/// (32 messages of at most 2,048 characters, JSON-escaped) fits.
pub const MAX_WORKER_MESSAGE_BYTES: usize = 1024 * 1024;

/// How the worker finds its terminal and where it keeps records: what both kinds share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    /// The terminal's path (`/dev/tty1`, `/dev/pts/3`); `None` runs without one (greetd's
    /// `vt = "none"`: the worker's inherited stdio).
    pub path: Option<PathBuf>,
    /// Make it the session's own controlling terminal and stdio (root on a terminal of our own);
    /// false: share the terminal we were started on, in the foreground (the unprivileged demo).
    pub own: bool,
}

/// Everything a login worker needs, sent once, first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSetup {
    /// The name from `create_session` (autologin: the configured user).
    pub username: String,
    /// Skip authentication: `[initial_session]`, service `vestibule-autologin`.
    pub autologin: bool,
    pub terminal: Terminal,
    /// PAM service files from this directory instead of /etc/pam.d (tests, the demo).
    pub pam_confdir: Option<PathBuf>,
    pub max_tries: u32,
    pub fail_delay_ms: u64,
    /// Source /etc/profile and ~/.profile before the command (greetd's `source_profile`).
    pub source_profile: bool,
    /// The session agent's bus (`--agent-bus`), if given.
    pub agent_bus: Option<String>,
    /// The daemon's runtime directory (state for `XDG_RUNTIME_DIR` bookkeeping).
    pub runtime_dir: PathBuf,
    /// utmp and wtmp files; `None`: do not write records (not root).
    pub records: Option<Records>,
}

/// Where utmp and wtmp records go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    pub utmp: PathBuf,
    pub wtmp: PathBuf,
}

/// The daemon to a login worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DaemonToLogin {
    Setup(LoginSetup),
    /// The answers to the last conversation call, one per message (`None` for notices).
    Answers {
        answers: Vec<Option<Answer>>,
    },
    /// Stop: the greeter cancelled or went away. The worker ends its transaction and exits.
    Cancel,
    /// What to run once the session starts: greetd's `start_session`, already validated and
    /// with the environment filtered.
    StartSession {
        cmd: Vec<String>,
        env: Vec<String>,
    },
    /// The greeter has exited and the terminal is revoked: open the session and run it.
    Go,
}

/// A login worker to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LoginToDaemon {
    /// One PAM conversation call. With prompts in it the worker waits for `Answers`; without,
    /// it goes on at once.
    Conversation {
        messages: Vec<ExtMessage>,
        context: ConversationContext,
    },
    /// PAM's fail delay started; the worker waits this long before going on.
    FailDelay { ms: u64 },
    /// Authentication and account checks passed for `user` (the final PAM_USER).
    Authenticated { user: String },
    /// The login ended without a session: the one-line reason for the person at the screen.
    Failed {
        error_type: ErrorType,
        description: String,
    },
    /// The session's first process runs (`pid`).
    SessionStarted { pid: u32 },
}

/// Everything a greeter worker needs, sent once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreeterSetup {
    /// The greeter user (`[default_session] user`).
    pub user: String,
    /// The greeter command, run as `/bin/sh -c "exec CMD"`.
    pub command: String,
    pub terminal: Terminal,
    pub pam_confdir: Option<PathBuf>,
    /// Added to the greeter's environment: `GREETD_SOCK`, `VESTIBULE_GREETER_PROTOCOL`.
    pub env: Vec<(String, String)>,
    pub source_profile: bool,
    pub agent_bus: Option<String>,
    pub runtime_dir: PathBuf,
}

/// The daemon to a greeter worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DaemonToGreeter {
    Setup(GreeterSetup),
}

/// A greeter worker to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GreeterToDaemon {
    /// The greeter's process runs.
    Started { pid: u32 },
    /// The greeter's session could not be opened or started.
    Failed { description: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, encode};

    #[test]
    fn worker_messages_survive_the_wire() {
        let m = DaemonToLogin::Answers {
            answers: vec![None, Some(Answer::new("pw"))],
        };
        let f = encode(&m).unwrap();
        assert_eq!(decode::<DaemonToLogin>(&f[4..]).unwrap(), m);
        assert!(!format!("{m:?}").contains("pw"));
        let r = LoginToDaemon::Failed {
            error_type: ErrorType::AuthError,
            description: "Login incorrect.".into(),
        };
        let f = encode(&r).unwrap();
        assert_eq!(decode::<LoginToDaemon>(&f[4..]).unwrap(), r);
    }
}
