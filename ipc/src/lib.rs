//! vestibule-ipc: the protocol between a greeter and `vestibuled`, and nothing else — types,
//! framing and limits, no I/O policy and no PAM (like greetd's `greetd_ipc`).
//!
//! The wire format is greetd's (greetd-ipc(7)): each message is a `u32` length in native byte
//! order followed by that many bytes of JSON; the JSON is an object whose `type` names the
//! message. Unmodified greetd greeters (agreety, tuigreet, ReGreet) therefore talk to
//! `vestibuled`, and a Vestibule greeter talks to greetd.
//!
//! greetd's protocol hands the greeter one PAM message at a time and loses the rest of what PAM
//! said; the Vestibule extension ([`greeter`], the `x_vestibule_*` messages, documented in
//! `ipc/PROTOCOL.md`) carries whole conversation calls, the fail delay and the password-change
//! context. A greeter must ask for it (`x_vestibule_hello`); a greeter that does not ask never
//! sees an extension message.

pub mod frame;
pub mod greeter;
pub mod secret;
pub mod worker;

pub use frame::{FrameDecoder, FrameError, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
pub use greeter::{
    AuthMessageType, ConversationContext, ErrorType, ExtMessage, Request, Response, EXTENSION_ENV,
    EXTENSION_VERSION,
};
pub use secret::Answer;
