//! `vestibule-login` and the session agent on a real dbus-daemon: the line mode's binary has its
//! own small D-Bus client (`vestibule_login::agent`, no zbus), so its registration is proved here
//! against the real agent, as `agent.rs` proves the zbus client of `vestibule-tui`.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vestibule_agent::client::Client;
use vestibule_agent::wire::WireSession;
use vestibule_e2e::*;

/// A private dbus-daemon with the agent's policy and a running `vestibule-agent`, both killed
/// when dropped.
struct Agent {
    agent: Child,
    bus: PrivateBus,
}

impl Agent {
    fn start(work: &Work) -> Agent {
        let bus = PrivateBus::start(work);
        let agent = Command::new(binary("vestibule-agent"))
            .arg("--bus-address")
            .arg(&bus.address)
            .arg("--state")
            .arg(work.path().join("run/vestibule/sessions.json"))
            .arg("--pam-confdir")
            .arg(work.pam_dir())
            .env("VESTIBULE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(work.path().join("agent.log")).unwrap())
            .spawn()
            .expect("start vestibule-agent");
        let this = Agent { agent, bus };
        let start = Instant::now();
        while this.client().list().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the agent did not answer; its log:\n{}",
                work.read("agent.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        this
    }

    fn client(&self) -> Client {
        self.bus.client()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // The agent first; the bus goes when `bus` is dropped after this.
        let _ = self.agent.kill();
        let _ = self.agent.wait();
    }
}

/// `vestibule-login --user alice --tty tty9 --agent-bus ADDR -- COMMAND…` in the sandbox.
fn start_login(work: &Work, address: &str, command: &[&str]) -> Child {
    let mut extra = vec!["--user", "alice", "--tty", "tty9", "--agent-bus", address, "--"];
    extra.extend_from_slice(command);
    let mut cmd = sandboxed(work, &login_args(work, &extra));
    cmd.env("VESTIBULE_LOG", "debug");
    spawn(&mut cmd)
}

fn registered(client: &Client, login: &mut Child) -> WireSession {
    let start = Instant::now();
    loop {
        if let Some(s) = client.list().unwrap().into_iter().next() {
            return s;
        }
        assert!(
            login.try_wait().unwrap().is_none(),
            "the login ended before registering"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the session was not registered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_agent_names_are_the_agents_own() {
    use vestibule_login::agent;
    assert_eq!(agent::BUS_NAME, vestibule_agent::BUS_NAME);
    assert_eq!(agent::OBJECT_PATH, vestibule_agent::OBJECT_PATH);
    assert_eq!(agent::INTERFACE, vestibule_agent::INTERFACE);
    assert_eq!(agent::AGENT_BUS_ENV, vestibule_agent::client::AGENT_BUS_ENV);
}

#[test]
fn vestibule_login_registers_its_session_and_unregisters_it_once_closed() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    let agent = Agent::start(&work);
    let client = agent.client();
    let mut login = start_login(&work, &agent.bus.address, &["sleep", "2"]);
    let s = registered(&client, &mut login);
    assert_alice_on_tty9(&s, "vestibule-login");
    // The supervisor makes its calls from its own thread: no bus thread, nothing to block.
    let threads = fs::read_dir(format!("/proc/{}/task", s.supervisor))
        .unwrap()
        .count();
    assert_eq!(threads, 1, "the supervisor has threads");

    let run = wait_limited(login, LIMIT);
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert!(client.list().unwrap().is_empty(), "still registered");
    let log = work.read("agent.log");
    assert!(log.contains("session unregistered"), "{log}");
    let records = work.record();
    let closes: Vec<_> = records.iter().filter(|r| r.function == "close_session").collect();
    assert_eq!(closes.len(), 1, "{records:?}");
    assert_eq!(
        closes[0].pid, s.supervisor,
        "closed by the supervisor: {records:?}"
    );
}

#[test]
fn a_session_the_agent_closes_is_closed_by_vestibule_login_in_its_own_transaction() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    let agent = Agent::start(&work);
    let client = agent.client();
    let mut login = start_login(&work, &agent.bus.address, &["sleep", "600"]);
    let s = registered(&client, &mut login);
    // The agent answers once the supervisor has closed PAM and unregistered.
    client.close(&s.id).expect("CloseSession");
    assert!(client.list().unwrap().is_empty());
    let records = work.record();
    let closes: Vec<_> = records.iter().filter(|r| r.function == "close_session").collect();
    assert_eq!(closes.len(), 1, "{records:?}");
    assert_eq!(closes[0].pid, s.supervisor, "{records:?}");
    let run = wait_limited(login, LIMIT);
    assert_eq!(
        run.code(),
        Some(128 + 15),
        "sleep ended by SIGTERM: {}",
        run.all()
    );
}

#[test]
fn an_unreachable_agent_bus_does_not_stop_the_login() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "")]);
    let bus = format!("unix:path={}", work.path().join("no-bus").display());
    let login = start_login(&work, &bus, &["sh", "-c", "echo SESSION-RAN"]);
    let run = wait_limited(login, LIMIT);
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert!(run.stdout.contains("SESSION-RAN"), "{}", run.all());
    assert!(
        run.stderr.contains("the session is not registered"),
        "a warning says why: {}",
        run.stderr
    );
    assert_eq!(count(&work.record(), "close_session"), 1);
}
