//! What the console greeter (`vestibule-tui`) and the desktop greeter (`vestibule-gtk`) share,
//! so that both read one config file and one state file with the same keys and the same meaning,
//! offer the same sessions, and talk to the login daemon the same way.
//!
//! Nothing here draws: the front ends keep their own UI state and view.

pub mod card;
pub mod config;
pub mod desktop_entry;
pub mod greetd_client;
pub mod hardening;
pub mod pam_channel;
pub mod sessions;
pub mod signals;
pub mod state;
pub mod unlock_worker;

pub use pam_channel::PamEvent;
