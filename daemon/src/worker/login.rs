//! The login worker: authenticate (or autologin), wait for the daemon's go, run the session.

use std::path::PathBuf;
use std::time::Duration;

use vestibule_core::{
    authenticate_login, begin_without_authentication, AuthLog, ConfigDir, Items, LoginError, LoginOptions,
    Service,
};
use vestibule_ipc::worker::{DaemonToLogin, LoginSetup, LoginToDaemon};
use vestibule_ipc::ErrorType;

use super::chan::Chan;
use super::conversation::Relayed;
use super::session::{open_and_run, Plan};

/// greetd's error kinds for a failed login: the user's answers, or anything else.
fn error_type(e: &LoginError) -> ErrorType {
    match e {
        LoginError::Authentication(_)
        | LoginError::TooManyTries { .. }
        | LoginError::Account(_)
        | LoginError::PasswordChange(_)
        | LoginError::NoUser
        | LoginError::NoAccount(_) => ErrorType::AuthError,
        _ => ErrorType::Error,
    }
}

/// The sentence for the greeter. With one try (plain greetd greeters), "maximum number of tries
/// exceeded (1)" would be odd: the failure itself is said instead.
fn description(e: &LoginError, max_tries: u32) -> String {
    match e {
        LoginError::TooManyTries { last, .. } if max_tries <= 1 => {
            LoginError::Authentication(*last).user_message()
        }
        other => other.user_message(),
    }
}

fn line_of(path: &Option<PathBuf>) -> Option<String> {
    path.as_ref()
        .map(|p| vestibule_core::utmp::line_of(&p.to_string_lossy()).to_owned())
}

pub fn run(mut chan: Chan) -> i32 {
    let Some(DaemonToLogin::Setup(setup)) = chan.recv::<DaemonToLogin>() else {
        tracing::error!("no setup from the daemon");
        return 2;
    };
    let conv_chan = match chan.try_clone() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot share the daemon socket");
            return 2;
        }
    };
    let options = LoginOptions {
        config: setup
            .pam_confdir
            .clone()
            .map_or(ConfigDir::System, ConfigDir::Override),
        items: Items {
            user: Some(setup.username.clone()),
            tty: line_of(&setup.terminal.path),
            user_prompt: Some("login: ".into()),
            ..Items::default()
        },
        max_tries: setup.max_tries.max(1),
        fail_delay: Duration::from_millis(setup.fail_delay_ms),
        log: AuthLog::new("vestibule"),
        // One try (a plain greetd greeter): the failure reply is the notice.
        notice_after_last_try: setup.max_tries > 1,
    };
    let conversation = Box::new(Relayed::new(conv_chan));
    let result = if setup.autologin {
        begin_without_authentication(Service::Autologin, &options, conversation)
    } else {
        authenticate_login(Service::Login, &options, conversation)
    };
    let auth = match result {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(error = %e, "login failed");
            chan.send(&LoginToDaemon::Failed {
                error_type: error_type(&e),
                description: description(&e, setup.max_tries),
            });
            return 1;
        }
    };
    chan.send(&LoginToDaemon::Authenticated {
        user: auth.user().to_owned(),
    });
    let mut start = None;
    loop {
        match chan.recv::<DaemonToLogin>() {
            Some(DaemonToLogin::StartSession { cmd, env }) => start = Some((cmd, env)),
            Some(DaemonToLogin::Go) if start.is_some() => break,
            Some(DaemonToLogin::Cancel) | None => {
                tracing::info!("login cancelled before the session started");
                drop(auth);
                return 1;
            }
            Some(other) => tracing::warn!(?other, "unexpected message while waiting to start"),
        }
    }
    let (cmd, env) = start.expect("checked above");
    run_session(chan, &setup, auth, cmd, env)
}

fn run_session(
    mut chan: Chan,
    setup: &LoginSetup,
    auth: vestibule_core::Authenticated,
    cmd: Vec<String>,
    env: Vec<String>,
) -> i32 {
    let plan = Plan {
        terminal: &setup.terminal,
        class: "user",
        command: crate::command::join(&cmd),
        source_profile: setup.source_profile,
        env,
        agent_bus: setup.agent_bus.clone(),
        runtime_dir: &setup.runtime_dir,
        records: setup.records.as_ref(),
    };
    let mut started = |pid: u32| {
        chan.send(&LoginToDaemon::SessionStarted { pid });
    };
    open_and_run(auth, plan, &mut started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_core::PamCode;

    #[test]
    fn one_try_reads_as_the_failure_itself() {
        let e = LoginError::TooManyTries {
            tries: 1,
            last: PamCode::AUTH_ERR,
        };
        assert_eq!(description(&e, 1), "Login incorrect.");
        assert!(description(&e, 3).contains("(1)"));
        assert_eq!(error_type(&e), ErrorType::AuthError);
        assert_eq!(error_type(&LoginError::Cancelled), ErrorType::Error);
    }
}
