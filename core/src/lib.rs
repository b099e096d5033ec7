//! vestibule-core: the PAM application side of Vestibule, shared by every front end.
//!
//! A front end implements [`Conversation`], calls [`login`] to go from `pam_start` to an open
//! session, and [`OpenSession::run`] to start and supervise the user's program; everything PAM
//! requires of an application (return values checked, PAM_USER re-read, a hard-wired service name,
//! a robust conversation, cleanup in every path) happens here, once.
//!
//! Module map: `ffi` is the only code that touches libpam; `sys` wraps the few unsafe OS calls;
//! the rest is safe Rust.

mod authlog;
mod code;
mod conversation;
mod coredump;
mod environment;
mod ffi;
mod groups;
mod login;
pub mod record;
pub mod runtime_dir;
mod sanitize;
mod secret;
mod session;
mod sys;
pub mod tracker;
mod transaction;
pub mod tty;
mod unlock;
pub mod utmp;

pub use authlog::{AuthLog, Severity};
pub use code::PamCode;
pub use conversation::{ConvError, Conversation, Message, NoUser, MAX_MESSAGES};
pub use coredump::{disable_core_dumps, with_original_core_limit, CoreDumpError};
pub use environment::{build as build_environment, EnvSpec, Environment};
pub use login::{
    authenticate_login, begin_without_authentication, login, lookup, Authenticated, LoginError, LoginOptions,
};
pub use sanitize::{SafeText, MAX_CHARS, MAX_LINES};
pub use secret::{Secret, SecretError, MAX_SECRET_BYTES};
pub use session::{
    Account, Identity, OpenSession, SessionCommand, SessionEnd, SessionError, SessionReport, SessionSpec,
    TerminalMode, SUPERVISED_SIGNALS,
};
pub use sys::{catch_interrupts, pending_interrupt, take_interrupt};
pub use tracker::SessionTracker;
pub use transaction::{flags, ConfigDir, Items, Scripted, Service, StartError, Transaction};
pub use unlock::{unlock, UnlockError, UnlockOptions};
