//! Unlocking a locked session: the lock screen's PAM sequence, on its own hard-wired service
//! (`vestibule-lock`) so an administrator can give the lock screen a different stack from login.
//!
//! One call is one attempt: `pam_authenticate` for the session's own user (PAM_USER is fixed and
//! re-read afterwards; a module that turns it into someone else fails the attempt), then
//! `pam_setcred(PAM_REFRESH_CRED)` to renew what the session holds (Kerberos tickets and the
//! like), as xscreensaver and GNOME's screen shield do; if that refresh fails the failure is
//! logged and the session unlocks all the same (the password was right). No `pam_acct_mgmt` and no new session:
//! the session is already open, and a lock screen that refuses an expired account would trap its
//! user behind it. A lock screen retries for ever; lockouts are the modules' business
//! (pam_faillock), and their messages reach the screen through the conversation.

use crate::authlog::{AuthLog, Severity};
use crate::code::PamCode;
use crate::conversation::Conversation;
use crate::transaction::{flags, ConfigDir, Items, Service, StartError, Transaction};
use std::time::Duration;

/// Why an unlock attempt did not unlock.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error("cannot start PAM: {0}")]
    Start(#[from] StartError),
    #[error("unlock cancelled")]
    Cancelled,
    #[error("authentication failed: {0}")]
    Authentication(PamCode),
    #[error("PAM authenticated {got:?}, not the session's user {expected:?}")]
    OtherUser { expected: String, got: Option<String> },
}

impl UnlockError {
    /// A one-line message for the lock screen.
    pub fn user_message(&self) -> String {
        match self {
            UnlockError::Cancelled => "Unlock cancelled.".into(),
            UnlockError::Authentication(code) => match *code {
                PamCode::AUTH_ERR | PamCode::USER_UNKNOWN | PamCode::CRED_INSUFFICIENT => {
                    "Wrong password.".into()
                }
                PamCode::MAXTRIES => "Too many failed attempts.".into(),
                PamCode::AUTHINFO_UNAVAIL => {
                    "The authentication service is unavailable; try again later.".into()
                }
                PamCode::PERM_DENIED => "Permission denied.".into(),
                PamCode::CONV_ERR => "The lock screen could not answer a question.".into(),
                other => format!("Unlock failed: {}.", other.description()),
            },
            UnlockError::OtherUser { .. } => "Only the session's own user can unlock it.".into(),
            UnlockError::Start(_) => format!("Cannot unlock: {self}."),
        }
    }
}

/// How an unlock attempt is run.
#[derive(Debug, Clone)]
pub struct UnlockOptions {
    pub config: ConfigDir,
    /// PAM_TTY / PAM_XDISPLAY of the locked session.
    pub items: Items,
    /// Minimum wait after a failed attempt, passed to `pam_fail_delay`.
    pub fail_delay: Duration,
    pub log: AuthLog,
}

/// One unlock attempt for `user` (the locked session's owner).
pub fn unlock(
    user: &str,
    options: &UnlockOptions,
    conversation: Box<dyn Conversation>,
) -> Result<(), UnlockError> {
    let items = Items {
        user: Some(user.to_owned()),
        ..options.items.clone()
    };
    let mut tx = Transaction::start(Service::Lock, &options.config, &items, conversation)?;
    if let Err(rc) = tx.request_fail_delay(options.fail_delay) {
        tracing::warn!(status = ?rc, "pam_fail_delay refused");
    }
    let place = items
        .xdisplay
        .as_deref()
        .or(items.tty.as_deref())
        .unwrap_or("?")
        .to_owned();
    if let Err(rc) = tx.authenticate(0) {
        if tx.cancelled() {
            return Err(UnlockError::Cancelled);
        }
        options.log.send(
            Severity::Notice,
            &format!("FAILED UNLOCK ON {place} FOR '{user}', {}", rc.description()),
        );
        return Err(UnlockError::Authentication(rc));
    }
    if tx.user() != Some(user) {
        let got = tx.user().map(str::to_owned);
        options.log.send(
            Severity::Warning,
            &format!("FAILED UNLOCK ON {place} FOR '{user}', a module changed the user"),
        );
        return Err(UnlockError::OtherUser {
            expected: user.to_owned(),
            got,
        });
    }
    // The password was right: a credential refresh that fails (an unreachable Kerberos server)
    // is logged and the session unlocked anyway, as xscreensaver does. Refusing would trap the
    // user behind the lock for as long as the server is down, with nothing they could type.
    let refreshed = tx.renew_credentials(flags::REFRESH_CRED);
    if let Err(rc) = refreshed {
        tracing::warn!(status = %rc, "pam_setcred(PAM_REFRESH_CRED) failed after a correct password");
        options.log.send(
            Severity::Warning,
            &format!(
                "UNLOCK ON {place} FOR '{user}': cannot refresh credentials, {}",
                rc.description()
            ),
        );
    }
    if tx.user() != Some(user) {
        return Err(UnlockError::OtherUser {
            expected: user.to_owned(),
            got: tx.user().map(str::to_owned),
        });
    }
    options
        .log
        .send(Severity::Info, &format!("UNLOCK ON {place} BY {user}"));
    if let Err(rc) = tx.end() {
        tracing::warn!(status = %rc, "pam_end after an unlock failed");
    }
    Ok(())
}
