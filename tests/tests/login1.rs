//! The agent's `org.freedesktop.login1` (issue 13) with real clients nobody here wrote: Debian
//! 12's `loginctl` and `busctl` (systemd 252, sd-bus), `xss-lock` (GDBus) and `swayidle` (sd-bus),
//! on a private dbus-daemon whose configuration includes the shipped policies
//! (`data/dbus/org.vestibule.SessionAgent1.conf` and `data/dbus/vestibule-login1.conf`) as they
//! are. The agent runs with `--login1 on` in the sandbox; the sessions are real logins through the
//! core (`vestibule-login`, whose supervisor registers them with the agent), for alice and bob.
//!
//! What is asserted is what a user sees: loginctl's tables and fields (user, uid, TTY, service,
//! class, state, LockedHint), its refusals (message and exit status) with nothing changed, the
//! session's leader getting the signal, the session and its login ending, and a screen locker
//! run by xss-lock or swayidle when the session is locked through login1.
//!
//! Harness: `vestibule_e2e::login1`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vestibule_e2e::login1::*;
use vestibule_e2e::*;

/// A session that records the signals its leader gets (SIGUSR1, SIGHUP) in `marker`, and
/// otherwise waits.
fn recording_leader(marker: &str) -> String {
    format!(
        "trap 'echo USR1 >>{marker}' USR1; trap 'echo HUP >>{marker}' HUP; \
         while :; do sleep 1 & wait $!; done"
    )
}

/// Logs alice in on tty9 and bob on tty10, both with recording leaders.
fn alice_and_bob(work: &Work, agent: &Login1Agent) -> (Login, Login) {
    let a = Login::start(
        work,
        agent,
        "alice",
        "tty9",
        &recording_leader(&work.path().join("alice.signals").to_string_lossy()),
    );
    let b = Login::start(
        work,
        agent,
        "bob",
        "tty10",
        &recording_leader(&work.path().join("bob.signals").to_string_lossy()),
    );
    (a, b)
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

#[test]
fn loginctl_lists_and_shows_real_sessions_as_root_and_as_their_user() {
    let work = Work::new();
    let agent = Login1Agent::start(&work);
    let (alice, bob) = alice_and_bob(&work, &agent);
    let (a, b) = (alice.id().to_owned(), bob.id().to_owned());
    let (auid, buid) = (alice.session.uid, bob.session.uid);
    assert_ne!(auid, buid);

    let out = run_clients(
        &work,
        &agent.bus,
        &[
            loginctl(None, &["list-sessions"]),
            loginctl(None, &["list-users"]),
            loginctl(None, &["show-session", &a]),
            loginctl(None, &["show-session", &a, "-p", "Name", "-p", "LockedHint"]),
            loginctl(None, &["session-status", &a]),
            loginctl(None, &["user-status", "alice"]),
            loginctl(Some("alice"), &["list-sessions"]),
            loginctl(Some("alice"), &["show-session", &a, "-p", "Name", "-p", "TTY"]),
            loginctl(Some("alice"), &["session-status", &a]),
            loginctl(
                None,
                &["show-user", "bob", "-p", "Name", "-p", "UID", "-p", "Linger"],
            ),
        ],
    );
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.code, 0, "call {i}: {o:?}");
    }

    // list-sessions: SESSION UID USER SEAT TTY, one row per session, then the count. Root sees
    // every session; a user sees their own only, as in the agent's own API (logind would list
    // everyone's: the agent keeps who is logged in where from other users).
    let everyone = [(&a, auid, "alice", "tty9"), (&b, buid, "bob", "tty10")];
    for (who, list, shown) in [
        ("root", &out[0], &everyone[..]),
        ("alice", &out[6], &everyone[..1]),
    ] {
        let rows = table_rows(&list.stdout);
        assert_eq!(rows.len(), shown.len(), "as {who}: {}", list.stdout);
        let header: Vec<&str> = list.stdout.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["SESSION", "UID", "USER", "SEAT", "TTY"],
            "{}",
            list.stdout
        );
        for (id, uid, user, tty) in shown {
            let row = rows
                .iter()
                .find(|r| &r[0] == *id)
                .unwrap_or_else(|| panic!("as {who}: no session {id} in {}", list.stdout));
            assert_eq!(row[1], uid.to_string(), "{}", list.stdout);
            assert_eq!(row[2], *user, "{}", list.stdout);
            assert_eq!(row.last().unwrap(), tty, "{}", list.stdout);
        }
        let count = format!("{} sessions listed.", shown.len());
        assert!(list.stdout.contains(&count), "as {who}: {}", list.stdout);
    }

    // list-users: UID USER.
    let rows = table_rows(&out[1].stdout);
    let users: BTreeSet<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(
        users,
        BTreeSet::from([
            (auid.to_string(), "alice".to_owned()),
            (buid.to_string(), "bob".to_owned())
        ]),
        "{}",
        out[1].stdout
    );
    assert!(out[1].stdout.contains("2 users listed."), "{}", out[1].stdout);

    // show-session: Properties.GetAll("") on the session object, every property as KEY=value.
    let p = key_values(&out[2].stdout);
    assert_eq!(value(&p, "Id"), a);
    assert_eq!(value(&p, "Name"), "alice");
    assert_eq!(value(&p, "User"), auid.to_string());
    assert_eq!(value(&p, "TTY"), "tty9");
    assert_eq!(value(&p, "Service"), "vestibule");
    assert_eq!(value(&p, "Class"), "user");
    assert_eq!(value(&p, "State"), "active");
    assert_eq!(value(&p, "Active"), "yes");
    assert_eq!(value(&p, "LockedHint"), "no");
    assert_eq!(value(&p, "Remote"), "no");
    assert_eq!(value(&p, "Leader"), alice.session.leader.to_string());
    assert_eq!(value(&p, "IdleHint"), "no");
    // Numbers are always printed; empty strings (Display, Desktop, Scope here) are left out
    // unless --all.
    for key in ["Timestamp", "TimestampMonotonic", "VTNr", "Audit", "Type"] {
        value(&p, key);
    }
    assert_eq!(
        lines(&out[3].stdout),
        lines("Name=alice\nLockedHint=no\n"),
        "{}",
        out[3].stdout
    );
    assert_eq!(
        lines(&out[7].stdout),
        lines("Name=alice\nTTY=tty9\n"),
        "as alice: {}",
        out[7].stdout
    );

    // session-status: "ID - alice (UID)", then the fields.
    for status in [&out[4], &out[8]] {
        let title = status.stdout.lines().next().unwrap_or_default().trim().to_owned();
        assert_eq!(title, format!("{a} - alice ({auid})"), "{}", status.stdout);
        let f = status_fields(&status.stdout);
        let field = |k: &str| {
            f.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {k}: in {}", status.stdout))
        };
        assert_eq!(field("Leader"), format!("{} (sh)", alice.session.leader));
        assert_eq!(field("TTY"), "tty9");
        assert!(
            field("Service").starts_with("vestibule; type "),
            "{}",
            status.stdout
        );
        assert!(field("Service").ends_with("; class user"), "{}", status.stdout);
        assert_eq!(field("State"), "active");
        assert!(field("Since").contains("ago"), "{}", status.stdout);
    }

    // user-status alice: "alice (UID)", her state, her session, no linger.
    let us = &out[5].stdout;
    assert_eq!(
        us.lines().next().unwrap_or_default().trim(),
        format!("alice ({auid})"),
        "{us}"
    );
    let f = status_fields(us);
    let field = |k: &str| {
        f.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k}: in {us}"))
    };
    assert!(["active", "online"].contains(&field("State").as_str()), "{us}");
    assert_eq!(field("Sessions").trim_start_matches('*'), a, "{us}");
    assert_eq!(field("Linger"), "no", "{us}");

    assert_eq!(
        lines(&out[9].stdout),
        lines(&format!("Name=bob\nUID={buid}\nLinger=no\n")),
        "{}",
        out[9].stdout
    );
}

/// loginctl's refusals of bob's requests on alice's session: its message for each verb (the
/// agent's AccessDenied text after it) and exit status 1.
#[test]
fn another_user_is_refused_every_change_to_a_session_and_nothing_changes() {
    let work = Work::new();
    let agent = Login1Agent::start(&work);
    let (alice, _bob) = alice_and_bob(&work, &agent);
    let a = alice.id().to_owned();
    // What alice's screen locker would act on: no Lock or Unlock may reach it.
    let watch = Watch::signals(
        &agent.bus.address,
        "org.freedesktop.login1.Session",
        Some(session_path(&a)),
    );
    let out = run_clients(
        &work,
        &agent.bus,
        &[
            loginctl(Some("bob"), &["lock-session", &a]),
            loginctl(Some("bob"), &["unlock-session", &a]),
            loginctl(Some("bob"), &["terminate-session", &a]),
            loginctl(Some("bob"), &["kill-session", &a, "--signal=SIGUSR1"]),
            loginctl(Some("bob"), &["terminate-user", "alice"]),
            // And afterwards, as root: alice's session as it was.
            loginctl(None, &["show-session", &a, "-p", "State", "-p", "LockedHint"]),
            loginctl(None, &["list-sessions"]),
        ],
    );
    assert_eq!(out.len(), 7);
    let expected = [
        "Failed to issue method call: ",
        "Failed to issue method call: ",
        "Failed to issue method call: ",
        "Could not kill session: ",
        "Could not terminate user: ",
    ];
    for (i, prefix) in expected.iter().enumerate() {
        let o = &out[i];
        assert_eq!(o.code, 1, "call {i} not refused: {o:?}");
        assert!(o.stderr.starts_with(prefix), "call {i}: {o:?}");
        assert!(o.stdout.is_empty(), "call {i}: {o:?}");
    }
    assert_eq!(
        lines(&out[5].stdout),
        lines("State=active\nLockedHint=no\n"),
        "{}",
        out[5].stdout
    );
    assert!(out[6].stdout.contains("2 sessions listed."), "{}", out[6].stdout);
    assert_eq!(agent.client().list().unwrap().len(), 2);
    assert_eq!(
        watch.next(Duration::from_millis(300)),
        None,
        "bob's calls made login1 signal alice's session"
    );
    assert_eq!(
        work.read("alice.signals"),
        "",
        "alice's leader got a signal from bob's kill-session"
    );
}

/// A bus connection (root) watching `member` signals on `path` from login1's owner: what a
/// screen locker listens to.
struct Watch {
    rx: mpsc::Receiver<String>,
}

impl Watch {
    fn signals(address: &str, interface: &'static str, path: Option<String>) -> Watch {
        let conn = zbus::blocking::connection::Builder::address(address)
            .unwrap()
            .build()
            .unwrap();
        let mut rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(interface)
            .unwrap();
        if let Some(p) = &path {
            rule = rule.path(p.clone()).unwrap();
        }
        let rule = rule.build();
        let it = zbus::blocking::MessageIterator::for_match_rule(rule, &conn, Some(64)).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _keep = conn;
            for m in it.flatten() {
                let h = m.header();
                let line = format!(
                    "{} {} {}",
                    h.sender().map(|s| s.to_string()).unwrap_or_default(),
                    h.path().map(|p| p.to_string()).unwrap_or_default(),
                    h.member().map(|s| s.to_string()).unwrap_or_default()
                );
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watch { rx }
    }

    /// The next signal (sender, path, member) within `limit`.
    fn next(&self, limit: Duration) -> Option<String> {
        self.rx.recv_timeout(limit).ok()
    }
}

#[test]
fn the_sessions_user_locks_unlocks_signals_and_terminates_it_and_root_terminates_a_user() {
    let work = Work::new();
    let agent = Login1Agent::start(&work);
    let (mut alice, mut bob) = alice_and_bob(&work, &agent);
    let a = alice.id().to_owned();
    let path = session_path(&a);
    let owner = name_owner(&agent.bus.address, LOGIN1).unwrap();
    let watch = Watch::signals(
        &agent.bus.address,
        "org.freedesktop.login1.Session",
        Some(path.clone()),
    );

    // lock-session as alice: no Vestibule lock screen here, so login1 signals Lock on the
    // session's path (from the name's owner) for her own locker, and succeeds.
    let out = run_clients(
        &work,
        &agent.bus,
        &[
            loginctl(Some("alice"), &["lock-session", &a]),
            // Her locker reports the screen covered, as xss-lock's and swayidle's lockers do.
            command(
                Some("alice"),
                &[
                    "busctl",
                    "call",
                    LOGIN1,
                    &path,
                    "org.freedesktop.login1.Session",
                    "SetLockedHint",
                    "b",
                    "true",
                ],
            ),
            loginctl(Some("alice"), &["show-session", &a, "-p", "LockedHint"]),
            loginctl(Some("alice"), &["unlock-session", &a]),
            loginctl(
                Some("alice"),
                &["show-session", &a, "-p", "LockedHint", "-p", "State"],
            ),
            loginctl(
                Some("alice"),
                &["kill-session", &a, "--signal=SIGUSR1", "--kill-whom=leader"],
            ),
        ],
    );
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.code, 0, "call {i}: {o:?}");
    }
    assert_eq!(
        watch.next(Duration::from_secs(5)),
        Some(format!("{owner} {path} Lock"))
    );
    assert_eq!(
        watch.next(Duration::from_secs(5)),
        Some(format!("{owner} {path} Unlock"))
    );
    assert_eq!(out[2].stdout, "LockedHint=yes\n");
    assert_eq!(
        lines(&out[4].stdout),
        lines("LockedHint=no\nState=active\n"),
        "{}",
        out[4].stdout
    );
    let signals = wait_for_file(&work.path().join("alice.signals"), Duration::from_secs(5));
    assert_eq!(signals, "USR1\n", "the leader got SIGUSR1 once");

    // Root locks and unlocks her session too, and kill-session reaches every process.
    let out = run_clients(
        &work,
        &agent.bus,
        &[
            loginctl(None, &["lock-session", &a]),
            loginctl(None, &["unlock-session", &a]),
            loginctl(None, &["kill-session", &a, "--signal=SIGHUP", "--kill-whom=all"]),
        ],
    );
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.code, 0, "root call {i}: {o:?}");
    }
    assert_eq!(
        watch.next(Duration::from_secs(5)),
        Some(format!("{owner} {path} Lock"))
    );
    assert_eq!(
        watch.next(Duration::from_secs(5)),
        Some(format!("{owner} {path} Unlock"))
    );
    wait_until(Duration::from_secs(5), "the leader records SIGHUP", || {
        work.read("alice.signals") == "USR1\nHUP\n"
    });

    // terminate-session as alice: her session ends, her login with it.
    let o = run_client(
        &work,
        &agent.bus,
        loginctl(Some("alice"), &["terminate-session", &a]),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        alice.ended_within(Duration::from_secs(10)),
        "alice's login still runs"
    );
    assert!(agent.client().list().unwrap().iter().all(|s| s.id != a));

    // terminate-user bob as root: his session ends.
    let o = run_client(&work, &agent.bus, loginctl(None, &["terminate-user", "bob"]));
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        bob.ended_within(Duration::from_secs(10)),
        "bob's login still runs"
    );
    let listed = run_client(&work, &agent.bus, loginctl(None, &["list-sessions"]));
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(listed.stdout, "No sessions.\n");
    assert!(agent.client().list().unwrap().is_empty());
}

/// Waits for a connection of `uid` on the bus whose process is in the session led by `leader`: a
/// client of the session (xss-lock, swayidle) has connected.
fn wait_for_client(work: &Work, address: &str, uid: u32, leader: u32, log: &std::path::Path) {
    let conn = zbus::blocking::connection::Builder::address(address)
        .unwrap()
        .build()
        .unwrap();
    let call = |member: &str, arg: &str| -> Option<u32> {
        conn.call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            member,
            &(arg,),
        )
        .ok()?
        .body()
        .deserialize::<u32>()
        .ok()
    };
    let what = format!(
        "the session's client on the bus (its log {}: {:?})",
        log.display(),
        log
    );
    let start = std::time::Instant::now();
    let connected = || {
        let names: Vec<String> = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "ListNames",
                &(),
            )
            .unwrap()
            .body()
            .deserialize()
            .unwrap();
        names.iter().filter(|n| n.starts_with(':')).any(|n| {
            call("GetConnectionUnixUser", n) == Some(uid)
                && call("GetConnectionUnixProcessID", n)
                    .map(|pid| processes_in_session(leader).contains(&pid))
                    .unwrap_or(false)
        })
    };
    while !connected() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}: {}\nthe login's log: {}\nthe session's processes: {:?}",
            fs::read_to_string(log).unwrap_or_default(),
            work.read("login-alice.log"),
            processes_in_session(leader)
                .iter()
                .map(|p| fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .unwrap_or_default()
                    .replace('\0', " "))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `loginctl lock-session ID` as root until `marker` appears (a Lock sent before the client
/// subscribed is not queued for it, as with logind), at most four times.
fn lock_until_marker(work: &Work, agent: &Login1Agent, id: &str, marker: &std::path::Path) {
    for _ in 0..4 {
        let o = run_client(work, &agent.bus, loginctl(None, &["lock-session", id]));
        assert_eq!(o.code, 0, "{o:?}");
        for _ in 0..150 {
            if marker.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("the locker never ran: {}", marker.display());
}

#[test]
fn xss_lock_runs_its_locker_when_loginctl_locks_its_session() {
    assert!(
        std::path::Path::new("/usr/bin/xss-lock").is_file(),
        "xss-lock is missing: install xss-lock (scripts/install-deps.sh does)"
    );
    let work = Work::new();
    let agent = Login1Agent::start(&work);
    let x = vestibule_e2e::x11::Xvfb::start(640, 480);
    let marker = work.path().join("xss-lock.locked");
    let log = work.path().join("xss-lock.log");
    // Alice's session runs xss-lock (not as its leader: the agent finds it through its process group), whose
    // locker records that it ran, then holds the lock until killed.
    let script = format!(
        "export DISPLAY={} DBUS_SYSTEM_BUS_ADDRESS={}; \
         xss-lock --verbose -- sh -c 'echo locked >{}; exec sleep 600' >{} 2>&1 & wait",
        x.display,
        sh_quote(&agent.bus.address),
        marker.display(),
        log.display()
    );
    let alice = Login::start(&work, &agent, "alice", "tty9", &script);
    wait_for_client(
        &work,
        &agent.bus.address,
        alice.session.uid,
        alice.session.leader,
        &log,
    );
    assert!(!marker.exists(), "the locker ran before any lock");
    lock_until_marker(&work, &agent, alice.id(), &marker);
    assert_eq!(fs::read_to_string(&marker).unwrap(), "locked\n");
    // The locker runs as alice, in her session.
    let lockers: Vec<u32> = processes_in_session(alice.session.leader)
        .into_iter()
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .starts_with("sleep\u{0}600")
        })
        .collect();
    assert_eq!(
        lockers.len(),
        1,
        "xss-lock's log: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn swayidle_under_sway_runs_its_lock_command_on_the_sessions_lock_signal() {
    assert!(
        std::path::Path::new("/usr/bin/swayidle").is_file(),
        "swayidle is missing: install swayidle (scripts/install-deps.sh does)"
    );
    let work = Work::new();
    let agent = Login1Agent::start(&work);
    let sway = vestibule_e2e::sway::Sway::start(work.path());
    // sway runs as nobody: alice's client may connect to its socket.
    let mut probe = Command::new("true");
    sway.client_env(&mut probe);
    let env: Vec<(String, String)> = probe
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .collect();
    let get = |k: &str| env.iter().find(|(key, _)| key == k).unwrap().1.clone();
    let (runtime, socket) = (get("XDG_RUNTIME_DIR"), get("WAYLAND_DISPLAY"));
    for p in [runtime.clone(), format!("{runtime}/{socket}")] {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
    }
    let marker = work.path().join("swayidle.locked");
    let log = work.path().join("swayidle.log");
    let script = format!(
        "export XDG_RUNTIME_DIR={runtime} WAYLAND_DISPLAY={socket} DBUS_SYSTEM_BUS_ADDRESS={}; \
         swayidle -d -w lock 'echo locked >>{}' >{} 2>&1 & wait",
        sh_quote(&agent.bus.address),
        marker.display(),
        log.display()
    );
    let alice = Login::start(&work, &agent, "alice", "tty9", &script);
    wait_for_client(
        &work,
        &agent.bus.address,
        alice.session.uid,
        alice.session.leader,
        &log,
    );
    assert!(!marker.exists(), "the lock command ran before any lock");
    lock_until_marker(&work, &agent, alice.id(), &marker);
    assert_eq!(
        fs::read_to_string(&marker).unwrap().lines().next(),
        Some("locked"),
        "swayidle's log: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
}

/// busctl introspect's rows for one interface as (member, type, signature, result) tuples.
fn introspect(address: &str, path: &str, interface: &str) -> BTreeSet<(String, String, String, String)> {
    let out = Command::new("busctl")
        .arg(format!("--address={address}"))
        .args(["--no-pager", "--no-legend", "introspect", LOGIN1, path, interface])
        .stdin(Stdio::null())
        .output()
        .expect("busctl (package systemd)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "busctl introspect {path}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 4 && w[0].starts_with('.'))
        .map(|w| {
            let res = if w[1] == "property" {
                "".to_owned()
            } else {
                w[3].to_owned()
            };
            (w[0].to_owned(), w[1].to_owned(), w[2].to_owned(), res)
        })
        .collect()
}

fn rows(spec: &[(&str, &str, &str, &str)]) -> BTreeSet<(String, String, String, String)> {
    spec.iter()
        .map(|(n, t, s, r)| (format!(".{n}"), t.to_string(), s.to_string(), r.to_string()))
        .collect()
}

fn assert_contains_rows(
    live: &BTreeSet<(String, String, String, String)>,
    want: &[(&str, &str, &str, &str)],
    what: &str,
) {
    let missing: Vec<_> = rows(want).difference(live).cloned().collect();
    assert!(
        missing.is_empty(),
        "{what}: missing or wrong {missing:?}; served {live:?}"
    );
}

#[test]
fn busctl_introspect_shows_the_contracts_members_with_loginds_signatures() {
    let work = Work::new();
    let agent = Login1Agent::start(&work);
    let alice = Login::start(&work, &agent, "alice", "tty9", "exec sleep 600");
    let addr = &agent.bus.address;

    let manager = introspect(addr, MANAGER_PATH, "org.freedesktop.login1.Manager");
    assert_contains_rows(
        &manager,
        &[
            ("ListSessions", "method", "-", "a(susso)"),
            ("ListUsers", "method", "-", "a(uso)"),
            ("GetSession", "method", "s", "o"),
            ("GetSessionByPID", "method", "u", "o"),
            ("GetUser", "method", "u", "o"),
            ("GetUserByPID", "method", "u", "o"),
            ("TerminateSession", "method", "s", "-"),
            ("TerminateUser", "method", "u", "-"),
            ("KillSession", "method", "ssi", "-"),
            ("KillUser", "method", "ui", "-"),
            ("LockSession", "method", "s", "-"),
            ("UnlockSession", "method", "s", "-"),
            ("LockSessions", "method", "-", "-"),
            ("UnlockSessions", "method", "-", "-"),
            ("Inhibit", "method", "ssss", "h"),
            ("ListInhibitors", "method", "-", "a(ssssuu)"),
            ("SessionNew", "signal", "so", "-"),
            ("SessionRemoved", "signal", "so", "-"),
            ("UserNew", "signal", "uo", "-"),
            ("UserRemoved", "signal", "uo", "-"),
            ("BlockInhibited", "property", "s", ""),
            ("DelayInhibited", "property", "s", ""),
        ],
        "Manager",
    );
    assert!(
        !manager.iter().any(|r| r.0 == ".PrepareForSleep"),
        "PrepareForSleep is never emitted, so not offered"
    );

    let session = introspect(addr, &session_path(alice.id()), "org.freedesktop.login1.Session");
    assert_contains_rows(
        &session,
        &[
            ("Terminate", "method", "-", "-"),
            ("Kill", "method", "si", "-"),
            ("Lock", "method", "-", "-"),
            ("Unlock", "method", "-", "-"),
            ("SetLockedHint", "method", "b", "-"),
            ("SetIdleHint", "method", "b", "-"),
            ("Activate", "method", "-", "-"),
            ("Lock", "signal", "-", "-"),
            ("Unlock", "signal", "-", "-"),
            ("Id", "property", "s", ""),
            ("User", "property", "(uo)", ""),
            ("Name", "property", "s", ""),
            ("Timestamp", "property", "t", ""),
            ("TimestampMonotonic", "property", "t", ""),
            ("VTNr", "property", "u", ""),
            ("Seat", "property", "(so)", ""),
            ("TTY", "property", "s", ""),
            ("Display", "property", "s", ""),
            ("Remote", "property", "b", ""),
            ("RemoteHost", "property", "s", ""),
            ("RemoteUser", "property", "s", ""),
            ("Service", "property", "s", ""),
            ("Desktop", "property", "s", ""),
            ("Scope", "property", "s", ""),
            ("Leader", "property", "u", ""),
            ("Audit", "property", "u", ""),
            ("Type", "property", "s", ""),
            ("Class", "property", "s", ""),
            ("Active", "property", "b", ""),
            ("State", "property", "s", ""),
            ("IdleHint", "property", "b", ""),
            ("IdleSinceHint", "property", "t", ""),
            ("IdleSinceHintMonotonic", "property", "t", ""),
            ("LockedHint", "property", "b", ""),
        ],
        "Session",
    );

    let user = introspect(addr, &user_path(alice.session.uid), "org.freedesktop.login1.User");
    assert_contains_rows(
        &user,
        &[
            ("Terminate", "method", "-", "-"),
            ("Kill", "method", "i", "-"),
            ("Name", "property", "s", ""),
            ("UID", "property", "u", ""),
            ("GID", "property", "u", ""),
            ("State", "property", "s", ""),
            ("Sessions", "property", "a(so)", ""),
            ("Display", "property", "(so)", ""),
            ("Linger", "property", "b", ""),
            ("Timestamp", "property", "t", ""),
            ("TimestampMonotonic", "property", "t", ""),
            ("RuntimePath", "property", "s", ""),
            ("Service", "property", "s", ""),
            ("Slice", "property", "s", ""),
            ("IdleHint", "property", "b", ""),
        ],
        "User",
    );

    // The values busctl read with GetAll on the session object are alice's.
    let out = Command::new("busctl")
        .arg(format!("--address={addr}"))
        .args(["--no-pager", "get-property", LOGIN1, &session_path(alice.id())])
        .args(["org.freedesktop.login1.Session", "Name", "TTY", "User"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "s \"alice\"\ns \"tty9\"\n(uo) {} \"{}\"\n",
            alice.session.uid,
            user_path(alice.session.uid)
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dbus-send` as nobody (through setpriv, group nogroup) on the private bus; its run.
fn dbus_send_as_nobody(address: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "dbus-send"])
        .arg(format!("--bus={address}"))
        .args(args);
    wait_limited(spawn(&mut cmd), LIMIT)
}

#[test]
fn signals_forged_by_another_uid_on_login1s_interfaces_are_dropped_by_the_bus() {
    let work = Work::new();
    let agent = Login1Agent::start(&work);
    let alice = Login::start(&work, &agent, "alice", "tty9", "exec sleep 600");
    let path = session_path(alice.id());
    let addr = &agent.bus.address;
    let session = Watch::signals(addr, "org.freedesktop.login1.Session", None);
    let manager = Watch::signals(addr, "org.freedesktop.login1.Manager", None);
    let control = Watch::signals(addr, "org.example.Control", None);
    // nobody forges Unlock on alice's session and SessionRemoved on the manager, then sends a
    // control signal on an interface of no one's: signals from one sender arrive in order, so
    // once the control one is in, the forged ones would have been too.
    let forged = [
        dbus_send_as_nobody(
            addr,
            &["--type=signal", &path, "org.freedesktop.login1.Session.Unlock"],
        ),
        dbus_send_as_nobody(
            addr,
            &["--type=signal", &path, "org.freedesktop.login1.Session.Lock"],
        ),
        dbus_send_as_nobody(
            addr,
            &[
                "--type=signal",
                MANAGER_PATH,
                "org.freedesktop.login1.Manager.SessionRemoved",
                &format!("string:{}", alice.id()),
                &format!("objpath:{path}"),
            ],
        ),
        dbus_send_as_nobody(addr, &["--type=signal", "/x", "org.example.Control.Done"]),
    ];
    for r in &forged {
        assert_eq!(r.code(), Some(0), "{}", r.all());
    }
    assert!(
        control.next(Duration::from_secs(5)).is_some(),
        "the control signal did not arrive"
    );
    assert_eq!(
        session.next(Duration::from_millis(300)),
        None,
        "a forged Session signal was delivered"
    );
    assert_eq!(
        manager.next(Duration::from_millis(300)),
        None,
        "a forged Manager signal was delivered"
    );
    // The session is as it was.
    let o = run_client(
        &work,
        &agent.bus,
        loginctl(None, &["show-session", alice.id(), "-p", "State"]),
    );
    assert_eq!(o.stdout, "State=active\n", "{o:?}");
}

#[test]
fn only_root_may_own_login1_and_an_agent_never_takes_it_from_its_owner() {
    let work = Work::new();
    let bus = SandboxBus::start(&work);
    // A user cannot own the name (and pose as logind).
    let r = dbus_send_as_nobody(
        &bus.address,
        &[
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.RequestName",
            &format!("string:{LOGIN1}"),
            "uint32:0",
        ],
    );
    assert_ne!(r.code(), Some(0), "{}", r.all());
    assert!(
        r.stderr.contains("org.freedesktop.DBus.Error.AccessDenied"),
        "{}",
        r.all()
    );
    assert_eq!(name_owner(&bus.address, LOGIN1), None);

    // Root's other program owns it (as logind or elogind would): `--login1 on` fails naming it.
    let holder = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name(LOGIN1)
        .unwrap()
        .build()
        .expect("root owns org.freedesktop.login1 on the test bus");
    let owner = holder.unique_name().unwrap().to_string();
    assert_eq!(name_owner(&bus.address, LOGIN1).as_deref(), Some(owner.as_str()));
    let mut agent = Command::new(binary("vestibule-agent"));
    agent
        .arg("--bus-address")
        .arg(&bus.address)
        .arg("--state")
        .arg(work.path().join("state.json"))
        .args(["--login1", "on"]);
    let r = wait_limited(spawn(&mut agent), LIMIT);
    assert_ne!(
        r.code(),
        Some(0),
        "the agent ran while {owner} owns {LOGIN1}: {}",
        r.all()
    );
    assert!(
        r.stderr.contains(LOGIN1) && r.stderr.contains(&owner),
        "{}",
        r.stderr
    );
    assert_eq!(
        name_owner(&bus.address, LOGIN1).as_deref(),
        Some(owner.as_str()),
        "the name changed hands"
    );
    // And the agent's own name is not left behind either.
    assert_eq!(name_owner(&bus.address, "org.vestibule.SessionAgent1"), None);
}
