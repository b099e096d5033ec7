//! One PAM transaction, from `pam_start_confdir` to `pam_end`, as a safe value.
//!
//! Each step is a method returning `Result<_, PamCode>`, so no status can be dropped on the floor
//! (the guide's first security rule). After every call PAM_USER is read again, because any module
//! may change it (the guide, "The identity of the user"). Dropping a `Transaction` at any stage
//! undoes what was done — `pam_close_session` if a session is open, `pam_setcred(PAM_DELETE_CRED)`
//! if credentials were established, then `pam_end` with the last status — with the conversation
//! switched to "closing" so nothing waits on a user who may be gone.

use std::ffi::{c_int, CString};
use std::path::PathBuf;
use std::time::Duration;

use crate::code::PamCode;
use crate::conversation::{Bridge, Conversation, Message, Presence};
use crate::ffi::{Call, Handle, Item};
use crate::secret::Secret;

/// The PAM services Vestibule uses. Hard-wired (the guide, "Choice of a service name"): never
/// derived from argv[0] or any input, so nobody can pick a weaker stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Logins from the greeters: `/etc/pam.d/vestibule`.
    Login,
    /// Unlocking a running session: `/etc/pam.d/vestibule-lock`.
    Lock,
    /// The greeter's own session under `vestibuled`: `/etc/pam.d/vestibule-greeter`. No
    /// authentication (the greeter user has no password); account, credentials and session only,
    /// so pam_systemd can give the greeter seat access (class `greeter`).
    Greeter,
    /// `vestibuled`'s `[initial_session]` (autologin): `/etc/pam.d/vestibule-autologin`. No
    /// authentication, by the administrator's choice in the configuration.
    Autologin,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Login => "vestibule",
            Service::Lock => "vestibule-lock",
            Service::Greeter => "vestibule-greeter",
            Service::Autologin => "vestibule-autologin",
        }
    }
}

/// `pam_setcred` and `pam_chauthtok` flags (`security/_pam_types.h`).
pub mod flags {
    pub const SILENT: i32 = 0x8000;
    pub const ESTABLISH_CRED: i32 = 0x0002;
    pub const DELETE_CRED: i32 = 0x0004;
    pub const REINITIALIZE_CRED: i32 = 0x0008;
    pub const REFRESH_CRED: i32 = 0x0010;
    pub const CHANGE_EXPIRED_AUTHTOK: i32 = 0x0020;
}

/// What the application tells PAM about the login before authenticating.
#[derive(Debug, Clone, Default)]
pub struct Items {
    /// The user, when the front end already knows it; otherwise a module asks for it.
    pub user: Option<String>,
    /// PAM_TTY: the terminal line (`tty1`) or, for graphical logins, the display.
    pub tty: Option<String>,
    /// PAM_RHOST: the remote host, for remote logins only.
    pub rhost: Option<String>,
    /// PAM_RUSER: the requesting user, when known.
    pub ruser: Option<String>,
    /// PAM_XDISPLAY: the X display of a graphical login.
    pub xdisplay: Option<String>,
    /// PAM_USER_PROMPT: how modules ask for the user name (`login: `).
    pub user_prompt: Option<String>,
}

/// Where libpam reads the service file from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConfigDir {
    /// The system configuration (`/etc/pam.d`).
    #[default]
    System,
    /// Another directory: only for tests and the demo. Front ends must refuse it when running
    /// with elevated privileges they did not start with (setuid).
    Override(PathBuf),
}

/// Errors starting a transaction.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what} contains a NUL byte")]
    Nul { what: &'static str },
    #[error("pam_start_confdir failed: {0}")]
    Pam(PamCode),
}

/// An open PAM transaction.
pub struct Transaction {
    handle: Handle,
    service: Service,
    user: Option<String>,
    credentials: bool,
    session: bool,
}

impl Transaction {
    /// `pam_start_confdir` and the items. The conversation lives as long as the transaction.
    pub fn start(
        service: Service,
        config: &ConfigDir,
        items: &Items,
        conversation: Box<dyn Conversation>,
    ) -> Result<Transaction, StartError> {
        let service_c = CString::new(service.name()).expect("service names have no NUL");
        let user = c_string(items.user.as_deref(), "user name")?;
        let confdir = match config {
            ConfigDir::System => None,
            ConfigDir::Override(dir) => Some(CString::new(dir.as_os_str().as_encoded_bytes()).map_err(
                |_| StartError::Nul {
                    what: "PAM config dir",
                },
            )?),
        };
        let handle = Handle::start(
            &service_c,
            user.as_deref(),
            confdir.as_deref(),
            Bridge::new(conversation),
        )
        .map_err(StartError::Pam)?;
        let mut tx = Transaction {
            handle,
            service,
            user: None,
            credentials: false,
            session: false,
        };
        for (item, value, what) in [
            (Item::Tty, &items.tty, "tty"),
            (Item::Rhost, &items.rhost, "remote host"),
            (Item::Ruser, &items.ruser, "remote user"),
            (Item::Xdisplay, &items.xdisplay, "X display"),
            (Item::UserPrompt, &items.user_prompt, "user prompt"),
        ] {
            if let Some(v) = c_string(value.as_deref(), what)? {
                tx.handle.set_item(item, Some(&v)).ok().map_err(StartError::Pam)?;
            }
        }
        tx.refresh_user().map_err(StartError::Pam)?;
        Ok(tx)
    }

    pub fn service(&self) -> Service {
        self.service
    }

    /// PAM_USER as of the last call: the account the session must run as.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether the user cancelled during the last call (end of input, Escape).
    pub fn cancelled(&self) -> bool {
        self.handle.bridge_ref().cancelled
    }

    /// The front end's reason for the last `PAM_CONV_ERR`, if it gave one.
    pub fn conversation_failure(&mut self) -> Option<String> {
        self.handle.bridge().last_failure.take()
    }

    /// Asks libpam to wait at least `delay` after a failed attempt (`pam_fail_delay`).
    pub fn request_fail_delay(&mut self, delay: Duration) -> Result<(), PamCode> {
        self.handle.request_fail_delay(delay).ok()
    }

    /// Shows the user a message of the application's own (not a module's) through the same
    /// conversation, so front ends have one path for everything the user reads.
    pub fn notify(&mut self, message: Message) {
        let bridge = self.handle.bridge();
        if bridge.presence == Presence::Closing {
            return;
        }
        if let Err(e) = bridge.conversation_mut().converse(std::slice::from_ref(&message)) {
            tracing::debug!(error = %e, "front end could not show a notice");
        }
    }

    /// The conversation, for front ends that keep state in it between steps.
    pub fn conversation_mut(&mut self) -> &mut dyn Conversation {
        self.handle.bridge().conversation_mut()
    }

    pub fn authenticate(&mut self, flags: i32) -> Result<(), PamCode> {
        self.run(Call::Authenticate, flags)
    }

    pub fn acct_mgmt(&mut self, flags: i32) -> Result<(), PamCode> {
        self.run(Call::AcctMgmt, flags)
    }

    pub fn chauthtok(&mut self, flags: i32) -> Result<(), PamCode> {
        self.run(Call::Chauthtok, flags)
    }

    /// `pam_setcred(PAM_ESTABLISH_CRED)`; remembered so drop deletes them.
    pub fn establish_credentials(&mut self) -> Result<(), PamCode> {
        self.run(Call::Setcred, flags::ESTABLISH_CRED)?;
        self.credentials = true;
        Ok(())
    }

    /// `pam_setcred` with REINITIALIZE or REFRESH (lock screens refresh after unlocking).
    pub fn renew_credentials(&mut self, flag: i32) -> Result<(), PamCode> {
        debug_assert!(flag == flags::REINITIALIZE_CRED || flag == flags::REFRESH_CRED);
        self.run(Call::Setcred, flag)
    }

    /// `pam_setcred(PAM_DELETE_CRED)` if credentials were established. Never prompts.
    pub fn delete_credentials(&mut self) -> Result<(), PamCode> {
        if !self.credentials {
            return Ok(());
        }
        self.credentials = false;
        self.closing(|tx| tx.run(Call::Setcred, flags::DELETE_CRED))
    }

    pub fn open_session(&mut self, flags: i32) -> Result<(), PamCode> {
        self.run(Call::OpenSession, flags)?;
        self.session = true;
        Ok(())
    }

    /// `pam_close_session` if a session is open. Never prompts.
    pub fn close_session(&mut self) -> Result<(), PamCode> {
        if !self.session {
            return Ok(());
        }
        self.session = false;
        self.closing(|tx| tx.run(Call::CloseSession, 0))
    }

    /// Closes a session that another process opened and can no longer close (its supervisor
    /// died): `pam_close_session`, then `pam_setcred(PAM_DELETE_CRED)`, both in this fresh
    /// transaction of the same service, user and tty, as Linux-PAM allows (modules keep no state
    /// across processes that close_session would need). Never prompts. Both calls run even if the
    /// first fails; the first failure is returned. This transaction's own flags are untouched,
    /// so dropping it does not repeat either call.
    pub fn close_foreign_session(&mut self) -> Result<(), PamCode> {
        let closed = self.closing(|tx| tx.run(Call::CloseSession, 0));
        let deleted = self.closing(|tx| tx.run(Call::Setcred, flags::DELETE_CRED));
        closed.and(deleted)
    }

    /// A string item as PAM holds it now (`None`: unset or not UTF-8).
    pub(crate) fn text_item(&self, item: Item) -> Option<String> {
        self.handle
            .with_item(item, |v| {
                v.and_then(|b| std::str::from_utf8(b).ok().map(str::to_owned))
            })
            .ok()
            .flatten()
    }

    /// Forgets PAM_USER so the next `authenticate` asks for a user name again (login(1) retries).
    pub fn forget_user(&mut self) -> Result<(), PamCode> {
        self.handle.set_item(Item::User, None).ok()?;
        self.user = None;
        Ok(())
    }

    /// The PAM environment (`pam_getenvlist`), as `NAME=value` entries.
    pub fn env_list(&mut self) -> Result<Vec<CString>, PamCode> {
        self.handle.env_list()
    }

    /// Sets PAM_TTY again (the worker learns the final line only once the session starts).
    pub fn set_tty(&mut self, tty: &std::ffi::CStr) -> Result<(), PamCode> {
        self.handle.set_item(Item::Tty, Some(tty)).ok()
    }

    /// `pam_putenv("NAME=value")`: sets a variable in the PAM environment, which modules read
    /// (pam_systemd reads `XDG_SESSION_TYPE`, `XDG_SEAT`, `XDG_VTNR` during open_session) and
    /// which becomes part of the session's environment.
    pub fn putenv(&mut self, name: &str, value: &str) -> Result<(), PamCode> {
        if name.is_empty() || name.contains('=') {
            return Err(PamCode::BAD_ITEM);
        }
        let entry = CString::new(format!("{name}={value}")).map_err(|_| PamCode::BAD_ITEM)?;
        self.handle.putenv(&entry).ok()
    }

    /// Closes what is open and calls `pam_end`, reporting the first failure.
    pub fn end(mut self) -> Result<(), PamCode> {
        let closed = self.close_session();
        let deleted = self.delete_credentials();
        let ended = self.handle.end().ok();
        closed.and(deleted).and(ended)
    }

    /// In a forked session child: drop this copy of the handle silently before exec.
    pub(crate) fn end_in_forked_child(&mut self) {
        self.session = false;
        self.credentials = false;
        self.handle.end_in_forked_child();
    }

    fn run(&mut self, call: Call, flags: c_int) -> Result<(), PamCode> {
        self.handle.bridge().cancelled = false;
        let rc = self.handle.call(call, flags);
        tracing::debug!(call = call.name(), flags, status = ?rc, "PAM call");
        // PAM_USER is re-read after every call, success or not.
        let refreshed = self.refresh_user();
        rc.ok().and(refreshed)
    }

    fn refresh_user(&mut self) -> Result<(), PamCode> {
        let current = &self.user;
        // Copied only when a module changed it: the common case allocates nothing.
        let changed = self.handle.with_item(Item::User, |now| match (now, current) {
            (Some(now), Some(known)) if now == known.as_bytes() => None,
            (None, None) => None,
            (now, _) => Some(now.map(<[u8]>::to_vec)),
        })?;
        if let Some(now) = changed {
            self.user = match now {
                None => None,
                // A user name that is not UTF-8 cannot be any account we can look up.
                Some(bytes) => Some(String::from_utf8(bytes).map_err(|_| PamCode::USER_UNKNOWN)?),
            };
        }
        Ok(())
    }

    fn closing<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let bridge = self.handle.bridge();
        let before = std::mem::replace(&mut bridge.presence, Presence::Closing);
        let out = f(self);
        self.handle.bridge().presence = before;
        out
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.handle.bridge().presence = Presence::Closing;
        if let Err(rc) = self.close_session() {
            tracing::warn!(status = ?rc, "pam_close_session failed during cleanup");
        }
        if let Err(rc) = self.delete_credentials() {
            tracing::warn!(status = ?rc, "pam_setcred(PAM_DELETE_CRED) failed during cleanup");
        }
        // The handle's own Drop calls pam_end with the last status.
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("service", &self.service.name())
            .field("user", &self.user)
            .field("credentials", &self.credentials)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

fn c_string(value: Option<&str>, what: &'static str) -> Result<Option<CString>, StartError> {
    value
        .map(|v| CString::new(v).map_err(|_| StartError::Nul { what }))
        .transpose()
}

/// Answers a transaction's prompts from a fixed list: for tools and benchmarks that run a login
/// non-interactively. Echo-off prompts get the secret; echo-on prompts get the user name.
pub struct Scripted {
    pub user: String,
    pub secret: Secret,
}

impl Conversation for Scripted {
    fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, crate::ConvError> {
        messages
            .iter()
            .map(|m| match m {
                Message::PromptHidden(_) => Secret::from_bytes(self.secret.as_bytes()).map(Some),
                Message::PromptVisible(_) => Secret::from_bytes(self.user.as_bytes()).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| crate::ConvError::Failed(e.to_string()))
    }

    fn fail_delay(&mut self, _delay: Duration) {}
}
