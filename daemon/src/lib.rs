//! vestibuled: the login daemon for one terminal, and its per-login worker.
//!
//! The daemon (`vestibuled`, [`server`]) is one single-threaded process around one `poll`: the
//! greeter socket, the greeter connections, the workers' sockets and a signalfd. It never calls
//! libpam. Each greeter and each login runs in a fresh `vestibule-worker` process ([`worker`]),
//! which runs vestibule-core's whole PAM lifecycle and supervises the session, so whatever PAM
//! modules do to a process (limits, loginuid, keyrings, the logind session) belongs to that
//! login alone.
//!
//! I/O helpers: [`link`] (a framed non-blocking socket), [`terminal`] (which terminal, its socket
//! directory, no descriptor of our own on it).
//!
//! Pure parts, unit-tested: [`config`] (greetd's file format), [`relay`] (greetd's protocol, one
//! message at a time, or the extension's whole batches, against the worker's batches), [`env`]
//! (what a greeter may put into a session's environment), [`command`] (greetd's `sh -c`).

pub mod command;
pub mod config;
pub mod env;
pub mod link;
pub mod relay;
pub mod server;
pub mod terminal;
pub mod worker;
