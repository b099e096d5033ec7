//! The login sequence, from `pam_start` to an open session, in util-linux login(1)'s order:
//!
//! 1. `pam_start_confdir`, items, `pam_fail_delay`;
//! 2. `pam_authenticate`, retried on a wrong password or unknown user (PAM_USER cleared so the
//!    name is asked again, unless the front end fixed it);
//! 3. `pam_acct_mgmt`, and on PAM_NEW_AUTHTOK_REQD `pam_chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK)`;
//! 4. the account of the final PAM_USER, `initgroups` (before setcred: modules may add groups);
//! 5. `pam_setcred(PAM_ESTABLISH_CRED)`, `pam_open_session` (on failure
//!    `pam_setcred(PAM_DELETE_CRED)`), then `pam_setcred(PAM_REINITIALIZE_CRED)` (on failure
//!    `pam_close_session`).
//!
//! See login-utils/login.c (`loginpam_auth`, `loginpam_acct`, `loginpam_session`). The result is
//! an [`OpenSession`]; `session::run` starts and supervises the user's program in it.

use std::time::Duration;

use nix::unistd::{Gid, Uid, User};

use crate::authlog::{from_host, AuthLog, Severity};
use crate::code::PamCode;
use crate::conversation::{Conversation, Message};
use crate::groups::UserGroups;
use crate::sanitize::SafeText;
use crate::session::{Account, Identity, OpenSession};
use crate::transaction::{flags, ConfigDir, Items, Service, StartError, Transaction};

/// How a login attempt is run.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub config: ConfigDir,
    pub items: Items,
    /// Authentication attempts before giving up (login(1)'s LOGIN_RETRIES).
    pub max_tries: u32,
    /// Minimum wait after a failure, passed to `pam_fail_delay`.
    pub fail_delay: Duration,
    /// Where auth events are logged.
    pub log: AuthLog,
    /// Whether "Login incorrect" is said after the last failed try too, as login(1) does before
    /// "Maximum number of tries exceeded". False for a caller whose failure reply says it
    /// itself: vestibuled's worker for a plain greetd greeter (one try per attempt, and agreety
    /// prints its own "Login incorrect" on the failure), which would show it twice.
    pub notice_after_last_try: bool,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            config: ConfigDir::System,
            items: Items::default(),
            max_tries: 3,
            fail_delay: Duration::from_secs(2),
            log: AuthLog::new("vestibule"),
            notice_after_last_try: true,
        }
    }
}

/// Why a login did not reach an open session. [`LoginError::user_message`] is what to show.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("cannot start PAM: {0}")]
    Start(#[from] StartError),
    #[error("login cancelled")]
    Cancelled,
    #[error("maximum number of tries exceeded ({tries}): {last}")]
    TooManyTries { tries: u32, last: PamCode },
    #[error("authentication failed: {0}")]
    Authentication(PamCode),
    #[error("account check failed: {0}")]
    Account(PamCode),
    #[error("password change failed: {0}")]
    PasswordChange(PamCode),
    #[error("PAM did not name a user")]
    NoUser,
    #[error("no account named {0:?} in the user database")]
    NoAccount(String),
    #[error("cannot look up account {user:?}: {source}")]
    AccountLookup { user: String, source: nix::Error },
    #[error("cannot set supplementary groups for {user:?}: {source}")]
    Groups { user: String, source: nix::Error },
    #[error("cannot establish credentials: {0}")]
    Credentials(PamCode),
    #[error("cannot open session: {0}")]
    Session(PamCode),
}

impl LoginError {
    /// A one-line message for the person at the screen. Wrong passwords and unknown users read
    /// the same, so the screen does not reveal which accounts exist.
    pub fn user_message(&self) -> String {
        match self {
            LoginError::Cancelled => "Login cancelled.".into(),
            LoginError::TooManyTries { tries, .. } => {
                format!("Maximum number of tries exceeded ({tries}).")
            }
            LoginError::Authentication(code) | LoginError::Account(code) => match *code {
                PamCode::AUTH_ERR | PamCode::USER_UNKNOWN | PamCode::CRED_INSUFFICIENT => {
                    "Login incorrect.".into()
                }
                PamCode::MAXTRIES => "Maximum number of tries exceeded.".into(),
                PamCode::ABORT => "Login aborted by the authentication service.".into(),
                PamCode::AUTHINFO_UNAVAIL => {
                    "The authentication service is unavailable; try again later.".into()
                }
                PamCode::ACCT_EXPIRED => {
                    "Your account has expired; please contact your system administrator.".into()
                }
                PamCode::PERM_DENIED => "Permission denied: you may not log in here now.".into(),
                PamCode::CONV_ERR => "Login failed: the login screen could not answer a question.".into(),
                other => format!("Login failed: {}.", other.description()),
            },
            LoginError::PasswordChange(_) => "Your password was not changed; login refused.".into(),
            LoginError::NoUser | LoginError::NoAccount(_) => "Login incorrect.".into(),
            LoginError::Start(_)
            | LoginError::AccountLookup { .. }
            | LoginError::Groups { .. }
            | LoginError::Credentials(_)
            | LoginError::Session(_) => format!("Cannot log in: {self}."),
        }
    }
}

/// The status codes that mean "try again" at the password prompt: login(1)'s retry set, less
/// PAM_AUTHINFO_UNAVAIL, which gets its own message instead of a misleading "Login incorrect".
fn retryable(code: PamCode) -> bool {
    matches!(
        code,
        PamCode::AUTH_ERR | PamCode::USER_UNKNOWN | PamCode::CRED_INSUFFICIENT
    )
}

/// Status codes after which a password change may be tried again.
fn retryable_chauthtok(code: PamCode) -> bool {
    matches!(
        code,
        PamCode::AUTHTOK_ERR
            | PamCode::AUTHTOK_RECOVERY_ERR
            | PamCode::TRY_AGAIN
            | PamCode::AUTHTOK_LOCK_BUSY
    )
}

/// Runs the login sequence up to an open session: [`authenticate_login`], then
/// [`Authenticated::open`].
pub fn login(
    service: Service,
    options: &LoginOptions,
    conversation: Box<dyn Conversation>,
) -> Result<OpenSession, LoginError> {
    authenticate_login(service, options, conversation)?.open()
}

/// A login that passed authentication and the account check, its PAM session not open yet.
///
/// The split exists for `vestibuled`'s worker, which must wait between the two halves (the
/// greeter exits and the terminal is revoked first) and put `XDG_*` variables into the PAM
/// environment before `pam_open_session`, where pam_systemd reads them. Dropping it ends the
/// transaction (`pam_end`) without opening anything.
pub struct Authenticated {
    tx: Transaction,
    user: String,
    identity: Identity,
    tty: Option<String>,
    host: String,
    log: AuthLog,
    /// The user's supplementary groups on this process, given back if no session starts.
    groups: Option<UserGroups>,
}

impl std::fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated")
            .field("user", &self.user)
            .field("identity", &self.identity)
            .field("tty", &self.tty)
            .finish_non_exhaustive()
    }
}

/// Steps 1 to 4 of the login sequence: start, authenticate (with retries), account check and
/// password change, the account and its groups. The session is opened by [`Authenticated::open`].
pub fn authenticate_login(
    service: Service,
    options: &LoginOptions,
    conversation: Box<dyn Conversation>,
) -> Result<Authenticated, LoginError> {
    let mut tx = Transaction::start(service, &options.config, &options.items, conversation)?;
    let tty = options.items.tty.as_deref().unwrap_or("?");
    let host = from_host(options.items.rhost.as_deref());
    if let Err(rc) = tx.request_fail_delay(options.fail_delay) {
        tracing::warn!(status = ?rc, "pam_fail_delay refused");
    }
    authenticate(&mut tx, options, tty, &host)?;
    check_account(&mut tx, options)?;
    prepare_identity(tx, options, host)
}

/// A session that needs no authentication (`vestibuled`'s greeter and autologin services, as
/// greetd runs them): start with the user fixed in `options.items.user`, `pam_acct_mgmt` (an
/// expired password cannot be changed here: nobody is asked), the account and its groups.
pub fn begin_without_authentication(
    service: Service,
    options: &LoginOptions,
    conversation: Box<dyn Conversation>,
) -> Result<Authenticated, LoginError> {
    if options.items.user.is_none() {
        return Err(LoginError::NoUser);
    }
    let mut tx = Transaction::start(service, &options.config, &options.items, conversation)?;
    let host = from_host(options.items.rhost.as_deref());
    match tx.acct_mgmt(0) {
        Ok(()) => {}
        Err(rc) => return Err(LoginError::Account(rc)),
    }
    prepare_identity(tx, options, host)
}

/// Step 4: the account of the final PAM_USER and `initgroups` (before setcred: modules such as
/// pam_group add groups on top of these).
fn prepare_identity(
    tx: Transaction,
    options: &LoginOptions,
    host: String,
) -> Result<Authenticated, LoginError> {
    let tty = options.items.tty.as_deref().unwrap_or("?");
    let user = tx.user().ok_or(LoginError::NoUser)?.to_owned();
    let identity = resolve_identity(&user).inspect_err(|e| {
        // PAM accepted the name, so it is no stray password: safe to log.
        options.log.send(
            Severity::Notice,
            &format!("FAILED LOGIN ON {tty} FOR '{user}'{host}, {e}"),
        );
    })?;
    let groups = user_groups(&identity, &user)?;
    Ok(Authenticated {
        tx,
        user,
        identity,
        tty: options.items.tty.clone(),
        host,
        log: options.log.clone(),
        groups,
    })
}

impl Authenticated {
    /// The final PAM_USER as of the last call.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Who the session will run as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Sets `NAME=value` in the PAM environment before the session is opened.
    pub fn putenv(&mut self, name: &str, value: &str) -> Result<(), PamCode> {
        self.tx.putenv(name, value)
    }

    /// Changes PAM_TTY (the terminal line) before the session is opened.
    pub fn set_tty(&mut self, tty: &str) -> Result<(), StartError> {
        let value = std::ffi::CString::new(tty).map_err(|_| StartError::Nul { what: "tty" })?;
        self.tx.set_tty(&value).map_err(StartError::Pam)?;
        self.tty = Some(tty.to_owned());
        Ok(())
    }

    /// Step 5: credentials and session. Modules may still change PAM_USER here.
    pub fn open(self) -> Result<OpenSession, LoginError> {
        let Authenticated {
            mut tx,
            user,
            identity,
            tty,
            host,
            log,
            groups,
        } = self;
        // Every early return below drops `groups`, which gives the process its own groups back.
        open(&mut tx)?;
        let final_user = tx.user().ok_or(LoginError::NoUser)?.to_owned();
        let (identity, groups) = if final_user == user {
            (identity, groups)
        } else {
            // A module renamed the user during setcred or open_session: the session gets the
            // groups of the account it runs as, not of the name that was typed.
            drop(groups);
            let identity = resolve_identity(&final_user)?;
            let groups = user_groups(&identity, &final_user)?;
            // Modules that add groups at setcred (pam_group) add them for this user now.
            if let Err(rc) = tx.renew_credentials(flags::REINITIALIZE_CRED) {
                if let Err(c) = tx.close_session() {
                    tracing::warn!(status = ?c, "pam_close_session failed after setcred failed");
                }
                return Err(LoginError::Credentials(rc));
            }
            (identity, groups)
        };
        if let Some(g) = groups {
            g.keep();
        }
        let who = if final_user == "root" {
            "ROOT LOGIN"
        } else {
            "LOGIN"
        };
        let line = tty.as_deref().unwrap_or("?");
        log.send(
            Severity::Notice,
            &format!("{who} ON {line} BY {final_user}{host}"),
        );
        Ok(OpenSession::new(tx, identity, tty, log))
    }
}

fn authenticate(
    tx: &mut Transaction,
    options: &LoginOptions,
    tty: &str,
    host: &str,
) -> Result<(), LoginError> {
    let fixed_user = options.items.user.is_some();
    let tries = options.max_tries.max(1);
    let mut failures = 0;
    loop {
        let rc = match tx.authenticate(0) {
            Ok(()) => return Ok(()),
            Err(rc) => rc,
        };
        if tx.cancelled() {
            return Err(LoginError::Cancelled);
        }
        if let Some(reason) = tx.conversation_failure() {
            tracing::warn!(%reason, "conversation failed during pam_authenticate");
        }
        failures += 1;
        let who = loggable_name(rc, tx.user());
        options.log.send(
            Severity::Notice,
            &format!(
                "FAILED LOGIN {failures} ON {tty} FOR '{who}'{host}, {}",
                rc.description()
            ),
        );
        if !retryable(rc) {
            return Err(LoginError::Authentication(rc));
        }
        if failures < tries || options.notice_after_last_try {
            tx.notify(Message::Error(SafeText::from_trusted("Login incorrect")));
        }
        if failures >= tries {
            options.log.send(
                Severity::Warning,
                &format!("TOO MANY LOGIN TRIES ({failures}) ON {tty} FOR '{who}'{host}"),
            );
            return Err(LoginError::TooManyTries {
                tries: failures,
                last: rc,
            });
        }
        if !fixed_user {
            tx.forget_user().map_err(LoginError::Authentication)?;
        }
    }
}

/// The name a failed attempt is logged under: the typed name only if an account of that name
/// exists (getpwnam), else `UNKNOWN`, as shadow's login does with LOG_UNKFAIL_ENAB=no. A name
/// that is no account may be a password typed into the name field, and the status does not say
/// so: Debian's common-auth turns pam_unix's PAM_USER_UNKNOWN into pam_deny's PAM_AUTH_ERR.
fn loggable_name(rc: PamCode, user: Option<&str>) -> String {
    match user {
        Some(name) if rc != PamCode::USER_UNKNOWN && matches!(User::from_name(name), Ok(Some(_))) => {
            name.to_owned()
        }
        _ => "UNKNOWN".to_owned(),
    }
}

fn check_account(tx: &mut Transaction, options: &LoginOptions) -> Result<(), LoginError> {
    match tx.acct_mgmt(0) {
        Ok(()) => Ok(()),
        Err(PamCode::NEW_AUTHTOK_REQD) => {
            tx.conversation_mut().password_change();
            change_expired_password(tx, options)
        }
        Err(_) if tx.cancelled() => Err(LoginError::Cancelled),
        Err(rc) => Err(LoginError::Account(rc)),
    }
}

fn change_expired_password(tx: &mut Transaction, options: &LoginOptions) -> Result<(), LoginError> {
    let tries = options.max_tries.max(1);
    for attempt in 1..=tries {
        match tx.chauthtok(flags::CHANGE_EXPIRED_AUTHTOK) {
            Ok(()) => return Ok(()),
            Err(_) if tx.cancelled() => return Err(LoginError::Cancelled),
            Err(rc) if retryable_chauthtok(rc) && attempt < tries => {
                tracing::info!(status = ?rc, attempt, "password change failed; asking again");
                tx.notify(Message::Error(SafeText::from_trusted(
                    "Password not changed. Please try again.",
                )));
            }
            Err(rc) => return Err(LoginError::PasswordChange(rc)),
        }
    }
    unreachable!("the last attempt returns")
}

/// Credentials and session, with login(1)'s fallbacks when a step fails.
fn open(tx: &mut Transaction) -> Result<(), LoginError> {
    tx.establish_credentials().map_err(LoginError::Credentials)?;
    if let Err(rc) = tx.open_session(0) {
        if let Err(d) = tx.delete_credentials() {
            tracing::warn!(status = ?d, "pam_setcred(PAM_DELETE_CRED) failed after open_session failed");
        }
        return Err(LoginError::Session(rc));
    }
    if let Err(rc) = tx.renew_credentials(flags::REINITIALIZE_CRED) {
        if let Err(c) = tx.close_session() {
            tracing::warn!(status = ?c, "pam_close_session failed after setcred failed");
        }
        return Err(LoginError::Credentials(rc));
    }
    Ok(())
}

/// Who the session will run as: the PAM user when we can switch to it (root), otherwise the
/// invoking user, said out loud by the front end.
fn resolve_identity(pam_user: &str) -> Result<Identity, LoginError> {
    if Uid::effective().is_root() {
        return lookup(pam_user).map(Identity::Switch);
    }
    let invoker = User::from_uid(Uid::current())
        .map_err(|source| LoginError::AccountLookup {
            user: format!("uid {}", Uid::current()),
            source,
        })?
        .map(Account::from)
        .unwrap_or_else(|| Account::nameless(Uid::current(), Gid::current()));
    Ok(Identity::Invoker {
        invoker,
        pam_user: pam_user.to_owned(),
    })
}

/// The passwd entry of the final PAM user (getpwnam_r, copied: the guide warns modules may
/// clobber getpwnam's static buffer).
pub fn lookup(user: &str) -> Result<Account, LoginError> {
    match User::from_name(user) {
        Ok(Some(u)) => Ok(Account::from(u)),
        Ok(None) => Err(LoginError::NoAccount(user.to_owned())),
        Err(source) => Err(LoginError::AccountLookup {
            user: user.to_owned(),
            source,
        }),
    }
}

/// `initgroups` for the account a root login switches to (before setcred: modules such as
/// pam_group add groups on top of these); nothing when the session runs as the invoker.
fn user_groups(identity: &Identity, user: &str) -> Result<Option<UserGroups>, LoginError> {
    match identity {
        Identity::Switch(account) => {
            UserGroups::set_for(account)
                .map(Some)
                .map_err(|source| LoginError::Groups {
                    user: user.to_owned(),
                    source,
                })
        }
        Identity::Invoker { .. } => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_accounts_reach_the_auth_log() {
        assert_eq!(loggable_name(PamCode::AUTH_ERR, Some("root")), "root");
        assert_eq!(
            loggable_name(PamCode::AUTH_ERR, Some("hunter2-not-a-user")),
            "UNKNOWN"
        );
        assert_eq!(loggable_name(PamCode::AUTH_ERR, Some("")), "UNKNOWN");
        assert_eq!(loggable_name(PamCode::USER_UNKNOWN, Some("root")), "UNKNOWN");
        assert_eq!(loggable_name(PamCode::AUTH_ERR, None), "UNKNOWN");
    }

    #[test]
    fn wrong_password_and_unknown_user_look_the_same() {
        let a = LoginError::Authentication(PamCode::AUTH_ERR).user_message();
        let b = LoginError::Authentication(PamCode::USER_UNKNOWN).user_message();
        let c = LoginError::NoAccount("mallory".into()).user_message();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(!c.contains("mallory"));
    }

    #[test]
    fn every_listed_failure_has_its_own_clear_message() {
        let msgs: Vec<String> = [
            PamCode::MAXTRIES,
            PamCode::ABORT,
            PamCode::AUTHINFO_UNAVAIL,
            PamCode::ACCT_EXPIRED,
            PamCode::PERM_DENIED,
        ]
        .into_iter()
        .map(|c| LoginError::Account(c).user_message())
        .collect();
        for (i, m) in msgs.iter().enumerate() {
            assert!(m.ends_with('.'), "{m}");
            assert!(!m.contains("PAM_"), "{m}");
            assert!(msgs.iter().skip(i + 1).all(|o| o != m), "duplicate: {m}");
        }
        assert!(LoginError::TooManyTries {
            tries: 3,
            last: PamCode::AUTH_ERR
        }
        .user_message()
        .contains("(3)"));
    }

    #[test]
    fn retry_sets_follow_login() {
        assert!(retryable(PamCode::AUTH_ERR) && retryable(PamCode::USER_UNKNOWN));
        assert!(!retryable(PamCode::MAXTRIES) && !retryable(PamCode::ABORT));
        assert!(!retryable(PamCode::AUTHINFO_UNAVAIL));
        assert!(retryable_chauthtok(PamCode::AUTHTOK_ERR));
        assert!(!retryable_chauthtok(PamCode::ABORT));
    }
}
