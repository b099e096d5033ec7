//! The greeter worker: the greeter's own PAM session (service `vestibule-greeter`, class
//! `greeter`, no authentication, as greetd runs it), its command run by `sh -c` as the greeter
//! user, on the terminal, with `GREETD_SOCK` in its environment.

use std::time::Duration;

use vestibule_core::{begin_without_authentication, AuthLog, ConfigDir, Items, LoginOptions, Service};
use vestibule_ipc::worker::{DaemonToGreeter, GreeterToDaemon};

use super::chan::Chan;
use super::session::{open_and_run, Plan};

pub fn run(mut chan: Chan) -> i32 {
    let Some(DaemonToGreeter::Setup(setup)) = chan.recv::<DaemonToGreeter>() else {
        tracing::error!("no setup from the daemon");
        return 2;
    };
    let options = LoginOptions {
        config: setup
            .pam_confdir
            .clone()
            .map_or(ConfigDir::System, ConfigDir::Override),
        items: Items {
            user: Some(setup.user.clone()),
            tty: setup
                .terminal
                .path
                .as_ref()
                .map(|p| vestibule_core::utmp::line_of(&p.to_string_lossy()).to_owned()),
            ..Items::default()
        },
        max_tries: 1,
        fail_delay: Duration::ZERO,
        log: AuthLog::new("vestibule-greeter"),
        notice_after_last_try: true,
    };
    let auth =
        match begin_without_authentication(Service::Greeter, &options, Box::new(vestibule_core::NoUser)) {
            Ok(a) => a,
            Err(e) => {
                let description = format!("the greeter's session could not start: {e}");
                tracing::error!("{description}");
                chan.send(&GreeterToDaemon::Failed { description });
                return 1;
            }
        };
    let plan = Plan {
        terminal: &setup.terminal,
        class: "greeter",
        command: setup.command.clone(),
        source_profile: setup.source_profile,
        env: setup.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        agent_bus: setup.agent_bus.clone(),
        runtime_dir: &setup.runtime_dir,
        records: None,
    };
    let mut started = |pid: u32| {
        chan.send(&GreeterToDaemon::Started { pid });
    };
    open_and_run(auth, plan, &mut started)
}
