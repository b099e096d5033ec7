//! What happens when things go wrong around a login: PAM steps that fail, sessions that are killed
//! or will not stop, refused and expired accounts, user mapping, pam_env, pam_unix with real
//! accounts, a real terminal, and the unprivileged demo.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use vestibule_e2e::*;

fn login(work: &Work, extra: &[&str], input: &str) -> Run {
    run_with_input(sandboxed(work, &login_args(work, extra)), input, LIMIT)
}

/// Position of `needle` in `text`, panicking with the text if absent.
fn at(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not found in:\n{text}"))
}

fn functions(rec: &[Record]) -> Vec<&str> {
    rec.iter().map(|r| r.function.as_str()).collect()
}

/// setcred flags (low byte: ESTABLISH 0x2, DELETE 0x4, REINITIALIZE 0x8) in call order.
fn setcred_flags(rec: &[Record]) -> Vec<u32> {
    rec.iter()
        .filter(|r| r.function == "setcred")
        .map(|r| r.flags & 0xff)
        .collect()
}

// ---- PAM steps that fail ----------------------------------------------------------------------

#[test]
fn failed_open_session_runs_nothing_and_deletes_credentials() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "fail=open_session")]);
    let marker = work.path().join("marker");
    let touch = format!("touch {}", marker.display());
    let run = login(&work, &["--user", "alice", "--", "sh", "-c", &touch], "");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert!(run.stderr.contains("Cannot log in"), "{}", run.all());
    assert!(!marker.exists(), "the session command ran without a session");
    let rec = work.record();
    let order = functions(&rec);
    // login(1): open_session fails -> setcred(DELETE_CRED), and nothing to close.
    assert_eq!(
        order,
        ["authenticate", "setcred", "open_session", "setcred"],
        "{rec:?}"
    );
    assert_eq!(setcred_flags(&rec), [0x2, 0x4], "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 0, "{rec:?}");
    let log = work.syslog();
    assert!(
        log.iter()
            .all(|l| !l.contains("LOGIN ON") && !l.contains("session opened")),
        "a login that never opened was logged as one: {log:?}"
    );
}

#[test]
fn permission_denied_by_account_management_is_said_clearly() {
    let work = Work::new();
    work.service("recorded", &[("RECORD", "fail=acct_mgmt")]);
    let run = login(&work, &["--user", "alice", "--", "true"], "");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert_eq!(
        run.stderr.trim_end(),
        "Permission denied: you may not log in here now.",
        "{}",
        run.all()
    );
    let rec = work.record();
    assert_eq!(functions(&rec), ["authenticate", "acct_mgmt"], "{rec:?}");
}

#[test]
fn failed_credentials_stop_before_the_session() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "fail=setcred")]);
    let marker = work.path().join("marker");
    let touch = format!("touch {}", marker.display());
    let run = login(&work, &["--user", "alice", "--", "sh", "-c", &touch], "");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert!(run.stderr.contains("Cannot log in"), "{}", run.all());
    assert!(!marker.exists(), "the session command ran");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
    assert_eq!(setcred_flags(&rec), [0x2], "{rec:?}");
}

#[test]
fn pam_deny_ends_after_three_tries_without_touching_the_account() {
    let work = Work::new();
    work.service("deny", &[]);
    let run = login(&work, &["--", "true"], "alice\nx\nalice\ny\nalice\nz\n");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert_eq!(run.stderr.matches("Login incorrect").count(), 3, "{}", run.stderr);
    assert!(
        run.stderr.ends_with("Maximum number of tries exceeded (3).\n"),
        "{}",
        run.stderr
    );
    let rec = work.record();
    assert_eq!(count(&rec, "acct_mgmt"), 0, "{rec:?}");
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
    assert!(work
        .syslog()
        .iter()
        .any(|l| l.contains("TOO MANY LOGIN TRIES (3)")));
}

// ---- sessions that end badly ------------------------------------------------------------------

/// Starts `vestibule-login --user alice -- sh -c SCRIPT` (permit template) in the sandbox.
fn start_session(work: &Work, script: &str) -> Child {
    work.service("permit", &[("RECORD", "tag=x")]);
    let args = login_args(work, &["--user", "alice", "--", "sh", "-c", script]);
    spawn(&mut sandboxed(work, &args))
}

fn read_pid(path: &Path) -> i32 {
    let text = wait_for_file(path, LIMIT);
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

/// Whether `pid` is a live process (a zombie waiting for its reaper counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// The pid `sup.pid` names, checked to be vestibule-login before we signal it.
fn supervisor_pid(work: &Work) -> i32 {
    let pid = read_pid(&work.path().join("sup.pid"));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(
        comm.trim_end(),
        "vestibule-login",
        "the session's parent should be vestibule-login"
    );
    pid
}

fn assert_closed_once(work: &Work) {
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
    let order = functions(&rec);
    let close = order.iter().position(|f| *f == "close_session").unwrap();
    assert!(
        rec[close..]
            .iter()
            .any(|r| r.function == "setcred" && r.flags & 0xff == 0x4),
        "no setcred(DELETE_CRED) after close_session: {rec:?}"
    );
    let log = work.syslog();
    assert!(
        log.iter().any(|l| l.contains("session closed for user alice")),
        "{log:?}"
    );
}

#[test]
fn session_killed_with_sigkill_still_closes_the_pam_session() {
    let work = Work::new();
    let w = work.path().display();
    // exec: the killed pid is the session's only process (dash would otherwise leave `sleep`
    // running, holding our stdout pipe).
    let child = start_session(&work, &format!("echo $$ > {w}/child.pid; exec sleep 60"));
    let pid = read_pid(&work.path().join("child.pid"));
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the session");
    let run = wait_limited(child, LIMIT);
    assert_eq!(run.code(), Some(128 + 9), "{}", run.all());
    assert_closed_once(&work);
}

#[test]
fn when_the_session_leader_dies_the_rest_of_its_process_group_is_hung_up() {
    let work = Work::new();
    let w = work.path().display();
    // A background job keeps our pipes open; after the leader is killed the supervisor must hang
    // it up (as a terminal would), or the login would never finish.
    let child = start_session(
        &work,
        &format!("sleep 60 & echo $! > {w}/bg.pid; echo $$ > {w}/child.pid; wait"),
    );
    let background = read_pid(&work.path().join("bg.pid"));
    let leader = read_pid(&work.path().join("child.pid"));
    assert!(alive(background));
    kill(Pid::from_raw(leader), Signal::SIGKILL).expect("kill the session leader");
    let run = wait_limited(child, Duration::from_secs(10));
    assert_eq!(run.code(), Some(128 + 9), "{}", run.all());
    assert!(
        !alive(background),
        "background job {background} outlived the session"
    );
    assert_closed_once(&work);
}

#[test]
fn sigterm_to_the_supervisor_ends_the_session_and_closes_it() {
    let work = Work::new();
    let w = work.path().display();
    let child = start_session(
        &work,
        &format!("echo $$ > {w}/child.pid; echo $PPID > {w}/sup.pid; exec sleep 60"),
    );
    let sup = supervisor_pid(&work);
    let session = read_pid(&work.path().join("child.pid"));
    let start = Instant::now();
    kill(Pid::from_raw(sup), Signal::SIGTERM).expect("SIGTERM the supervisor");
    let run = wait_limited(child, Duration::from_secs(10));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?} to end");
    assert_eq!(run.code(), Some(128 + 15), "{}", run.all());
    assert!(!alive(session), "session process {session} survived");
    assert_closed_once(&work);
}

#[test]
fn session_ignoring_sigterm_is_killed_after_the_grace_period_and_closed() {
    let work = Work::new();
    let w = work.path().display();
    let child = start_session(
        &work,
        &format!(
            "trap '' TERM; echo $PPID > {w}/sup.pid; echo $$ > {w}/child.pid; \
             while :; do sleep 0.1; done"
        ),
    );
    let session = read_pid(&work.path().join("child.pid"));
    let sup = supervisor_pid(&work);
    let start = Instant::now();
    kill(Pid::from_raw(sup), Signal::SIGTERM).expect("SIGTERM the supervisor");
    let run = wait_limited(child, Duration::from_secs(15));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(4500),
        "killed after {took:?}: the session did not get its 5 s grace"
    );
    assert_eq!(
        run.code(),
        Some(128 + 9),
        "the session should end by SIGKILL: {}",
        run.all()
    );
    assert!(!alive(session), "session process {session} survived");
    assert_closed_once(&work);
}

// ---- accounts.py: locked and expired accounts -------------------------------------------------

#[test]
fn locked_account_shows_the_module_message_then_the_expired_account_message() {
    let work = Work::new();
    work.service("accounts", &[]);
    let run = login(&work, &["--", "true"], "dave\nlocked11\n");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    let err = &run.stderr;
    let module = at(err, "Your account is locked.");
    let ours = at(
        err,
        "Your account has expired; please contact your system administrator.",
    );
    assert!(module < ours, "{err}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
}

#[test]
fn expired_password_is_changed_after_two_rejected_attempts_and_then_works() {
    let work = Work::new();
    work.service("accounts", &[]);
    let session = ["--", "sh", "-c", "echo SESSION-RAN $(id -un)"];
    let run = login(
        &work,
        &session,
        "carol\nexpired1\nabc\nabc\nnewpass1\nnewpass2\nnewpass1\nnewpass1\n",
    );
    assert_eq!(run.code(), Some(0), "{}", run.all());
    let (out, err) = (&run.stdout, &run.stderr);
    assert!(
        out.contains("You are required to change your password immediately"),
        "{out}"
    );
    assert_eq!(out.matches("New password: ").count(), 3, "{out}");
    let short = at(err, "BAD PASSWORD: it is too short");
    let mismatch = at(err, "Sorry, passwords do not match.");
    assert!(short < mismatch, "{err}");
    assert_eq!(
        err.matches("Password not changed. Please try again.").count(),
        2,
        "{err}"
    );
    assert!(out.contains("SESSION-RAN carol"), "{out}");
    assert!(
        work.read("state").lines().any(|l| l == "carol:newpass1"),
        "state: {:?}",
        work.read("state")
    );

    // A new process (new sandbox run, same state file): the new password works, no change asked.
    let again = login(&work, &session, "carol\nnewpass1\n");
    assert_eq!(again.code(), Some(0), "{}", again.all());
    assert!(again.stdout.contains("SESSION-RAN carol"), "{}", again.all());
    assert!(!again.all().contains("New password"), "{}", again.all());
    assert!(!again.all().contains("required to change"), "{}", again.all());

    // And the old one no longer does.
    let old = login(&work, &["--max-tries", "1", "--", "true"], "carol\nexpired1\n");
    assert_eq!(old.code(), Some(1), "{}", old.all());
    assert!(old.stderr.contains("Login incorrect"), "{}", old.all());
}

// ---- who the session runs as, and with what environment ---------------------------------------

#[test]
fn a_module_mapping_the_user_name_decides_who_logs_in() {
    let work = Work::new();
    work.service("map", &[]);
    let run = login(&work, &["--user", "guest", "--", "sh", "-c", "id -un"], "");
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert_eq!(run.stdout.trim_end(), "alice", "{}", run.all());
    let rec = work.record();
    let open: Vec<&Record> = rec.iter().filter(|r| r.function == "open_session").collect();
    assert_eq!(open.len(), 1, "{rec:?}");
    assert_eq!(open[0].user, "alice", "{rec:?}");
    let log = work.syslog();
    assert!(log.iter().any(|l| l.ends_with("LOGIN ON ? BY alice")), "{log:?}");
}

/// A module renames the user after authentication (at setcred, or at open_session): the session
/// runs as the final user with that user's supplementary groups, none of the typed name's.
#[test]
fn a_user_renamed_during_setcred_or_open_session_gets_the_final_users_groups() {
    for when in ["setcred", "open_session"] {
        let work = Work::new();
        work.service("map-late", &[("WHEN", when)]);
        // Each account gets a group of its own in the sandbox's /etc, then the login runs.
        let mut script =
            "groupadd bobgrp && usermod -aG bobgrp bob && groupadd alicegrp && usermod -aG alicegrp alice && exec"
                .to_owned();
        for a in login_args(
            &work,
            &["--user", "bob", "--", "sh", "-c", "echo \"$(id -un): $(id -Gn)\""],
        ) {
            script.push_str(&format!(" '{a}'"));
        }
        let cmd = sandboxed(&work, &["sh".into(), "-c".into(), script]);
        let run = run_with_input(cmd, "", LIMIT);
        assert_eq!(run.code(), Some(0), "{when}: {}", run.all());
        let line = run.stdout.lines().last().unwrap_or_default();
        let (who, groups) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{when}: {}", run.all()));
        assert_eq!(who, "alice", "{when}: {}", run.all());
        let groups: Vec<&str> = groups.split_whitespace().collect();
        assert!(groups.contains(&"alicegrp"), "{when}: alice's groups: {groups:?}");
        assert!(
            !groups.contains(&"bobgrp") && !groups.contains(&"bob"),
            "{when}: bob's groups: {groups:?}"
        );
        let rec = work.record();
        let open: Vec<&Record> = rec.iter().filter(|r| r.function == "open_session").collect();
        assert_eq!(open.len(), 1, "{rec:?}");
    }
}

#[test]
fn pam_env_values_with_equal_signs_reach_the_session_intact() {
    let work = Work::new();
    work.service("env", &[]);
    std::fs::write(
        work.path().join("pam_env.conf"),
        "VESTIBULE_FROM_ENV DEFAULT=\"x=y=z\"\n",
    )
    .unwrap();
    std::fs::write(work.path().join("environment"), "VESTIBULE_FILE=one=two\n").unwrap();
    let show = "echo \"CONF=[$VESTIBULE_FROM_ENV] FILE=[$VESTIBULE_FILE]\"";
    let run = login(&work, &["--user", "alice", "--", "sh", "-c", show], "");
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("CONF=[x=y=z] FILE=[one=two]"),
        "{}",
        run.all()
    );
}

// ---- pam_unix with the sandbox's real accounts ------------------------------------------------

#[test]
fn pam_unix_right_password_runs_the_session_as_the_user_at_home() {
    let work = Work::new();
    work.service("unix", &[]);
    let run = login(
        &work,
        &["--", "sh", "-c", "echo \"WHO=$(id -un) PWD=$PWD\""],
        "alice\nalice-pw-1\n",
    );
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert!(run.stdout.contains("WHO=alice PWD=/home/alice"), "{}", run.all());
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
}

#[test]
fn pam_unix_wrong_password_is_login_incorrect() {
    let work = Work::new();
    work.service("unix", &[]);
    let run = login(&work, &["--max-tries", "1", "--", "true"], "alice\nalice-pw-2\n");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert!(run.stderr.contains("Login incorrect"), "{}", run.all());
    assert_eq!(count(&work.record(), "open_session"), 0);
}

#[test]
fn pam_unix_locked_account_cannot_log_in_even_with_its_password() {
    let work = Work::new();
    work.service("unix", &[]);
    let run = login(&work, &["--max-tries", "1", "--", "true"], "bob\nbob-pw-1\n");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert!(run.stderr.contains("Login incorrect"), "{}", run.all());
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
    assert_eq!(count(&rec, "setcred"), 0, "{rec:?}");
}

/// pam_unix, running as root with PAM_CHANGE_EXPIRED_AUTHTOK, asks (found empirically):
/// "Changing password for carol." (info), "Current password: ", "New password: ",
/// "Retype new password: ". The changed shadow lives in the sandbox's private /etc, so all three
/// logins run in one sandbox.
#[test]
fn pam_unix_expired_password_change_then_new_password_works_and_old_does_not() {
    let work = Work::new();
    work.service("unix", &[]);
    let w = work.path();
    let new = "NewSecret-77x";
    std::fs::write(
        w.join("in1"),
        format!("carol\ncarol-pw-1\ncarol-pw-1\n{new}\n{new}\n"),
    )
    .unwrap();
    std::fs::write(w.join("in2"), format!("carol\n{new}\n")).unwrap();
    std::fs::write(w.join("in3"), "carol\ncarol-pw-1\n").unwrap();
    // $1 = vestibule-login, $2 = work dir, $3 = PAM config dir.
    let script = r#"
        for n in 1 2 3; do
            "$1" --pam-confdir "$3" --fail-delay-ms 10 --max-tries 1 \
                -- sh -c 'echo "SESSION-RAN $(id -un)"' <"$2/in$n" >"$2/out$n" 2>"$2/err$n"
            echo $? >"$2/rc$n"
        done
    "#;
    let args: Vec<String> = [
        "sh",
        "-c",
        script,
        "sh",
        binary("vestibule-login").to_str().unwrap(),
        w.to_str().unwrap(),
        work.pam_dir().to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_with_input(sandboxed(&work, &args), "", LIMIT);
    assert_eq!(run.code(), Some(0), "{}", run.all());
    let result = |n: u32| {
        (
            work.read(&format!("rc{n}")).trim().to_owned(),
            work.read(&format!("out{n}")),
            work.read(&format!("err{n}")),
        )
    };

    let (rc, out, err) = result(1);
    let ctx = format!("first login: rc={rc}\n{out}\n{err}");
    assert_eq!(rc, "0", "{ctx}");
    assert!(
        err.contains("You are required to change your password immediately"),
        "{ctx}"
    );
    let steps = [
        "Password: ",
        "Changing password for carol.",
        "Current password: ",
        "New password: ",
        "Retype new password: ",
        "SESSION-RAN carol",
    ];
    let positions: Vec<usize> = steps.iter().map(|s| at(&out, s)).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{ctx}");

    let (rc, out, err) = result(2);
    let ctx = format!("new password: rc={rc}\n{out}\n{err}");
    assert_eq!(rc, "0", "{ctx}");
    assert!(out.contains("SESSION-RAN carol"), "{ctx}");
    assert!(!out.contains("New password"), "asked again: {ctx}");

    let (rc, out, err) = result(3);
    let ctx = format!("old password: rc={rc}\n{out}\n{err}");
    assert_eq!(rc, "1", "{ctx}");
    assert!(err.contains("Login incorrect"), "{ctx}");
    assert!(!out.contains("SESSION-RAN"), "{ctx}");
}

// ---- a real terminal --------------------------------------------------------------------------

/// A private tmux server, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(work: &Work) -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "tmux is required for the terminal test (apt-get install tmux)"
        );
        let name = work.path().file_name().unwrap().to_string_lossy();
        Tmux {
            socket: format!("vestibule-{name}"),
        }
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "login"]).stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < LIMIT,
                "{text:?} did not appear on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "login", "-l", text]);
        self.tmux(&["send-keys", "-t", "login", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn in_a_real_terminal_the_password_is_not_echoed_but_the_name_is() {
    require_root();
    let work = Work::new();
    work.service("accounts", &[]);
    let tmux = Tmux::new(&work);
    let run_sh = tests_dir().join("sandbox/run.sh");
    let line = format!(
        "{} {} {} --pam-confdir {} --fail-delay-ms 10 -- sh -c 'echo SESSION-OK; sleep 1'; \
         echo EXIT=$?; sleep 60",
        run_sh.display(),
        work.path().display(),
        binary("vestibule-login").display(),
        work.pam_dir().display(),
    );
    tmux.tmux(&["new-session", "-d", "-s", "login", "-x", "100", "-y", "30", &line]);
    // capture-pane drops trailing blanks: "login: " reads "login:".
    tmux.wait_for("login:");
    tmux.type_line("alice");
    tmux.wait_for("Password:");
    // Echo goes off (TCSAFLUSH) before the prompt shows; give the prompt a moment all the same.
    std::thread::sleep(Duration::from_millis(100));
    tmux.type_line("secret1");
    let screen = tmux.wait_for("EXIT=");
    assert!(screen.contains("login: alice"), "{screen}");
    assert!(
        !screen.contains("secret1"),
        "the password is on the screen:\n{screen}"
    );
    assert!(screen.contains("SESSION-OK"), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    // A terminal login tells PAM its terminal.
    assert!(rec.iter().all(|r| r.tty.starts_with("pts/")), "PAM_TTY: {rec:?}");
}

#[test]
fn a_console_login_gives_the_session_its_own_session_and_controlling_terminal() {
    require_root();
    let work = Work::new();
    work.service("permit", &[("RECORD", "tag=console")]);
    let tmux = Tmux::new(&work);
    let run_sh = tests_dir().join("sandbox/run.sh");
    // `setsid -w`: vestibule-login leads its own session on the terminal, as under getty or systemd.
    let w = work.path().display();
    let line = format!(
        "{} {w} setsid -w {} --pam-confdir {} --user alice -- \
         sh -c 'echo $$ $(ps -o sid=,tpgid= -p $$) > {w}/ctty; tty > {w}/tty'; echo EXIT=$?; sleep 60",
        run_sh.display(),
        binary("vestibule-login").display(),
        work.pam_dir().display(),
    );
    tmux.tmux(&["new-session", "-d", "-s", "login", "-x", "100", "-y", "30", &line]);
    let screen = tmux.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    let ids: Vec<String> = work.read("ctty").split_whitespace().map(str::to_owned).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], ids[1], "the session leads its own session: {ids:?}");
    assert_eq!(ids[0], ids[2], "and is the terminal's foreground group: {ids:?}");
    assert!(work.read("tty").starts_with("/dev/pts/"), "{}", work.read("tty"));
    assert_closed_once(&work);
}

// ---- the demo, unprivileged -------------------------------------------------------------------

fn repo_dir() -> PathBuf {
    tests_dir().parent().unwrap().to_path_buf()
}

#[test]
fn the_demo_runs_unprivileged_and_says_whose_session_it_is() {
    require_root(); // to become `nobody`
    let work = Work::new();
    let demo = repo_dir().join("data/demo");
    let template = std::fs::read_to_string(demo.join("pam.d/vestibule.in")).unwrap();
    let rendered = template
        .replace("@DEMO_DIR@", demo.to_str().unwrap())
        .replace("@STATE@", work.path().join("state").to_str().unwrap());
    assert!(!rendered.contains('@'), "unrendered placeholder: {rendered}");
    std::fs::create_dir_all(work.pam_dir()).unwrap();
    std::fs::write(work.pam_dir().join("vestibule"), rendered).unwrap();

    let as_nobody = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .args(args);
        cmd
    };
    let login = binary("vestibule-login");
    for path in [
        login.clone(),
        demo.join("demo_accounts.py"),
        work.pam_dir().join("vestibule"),
    ] {
        let ok = as_nobody(&["test", "-r", path.to_str().unwrap()])
            .status()
            .expect("setpriv");
        assert!(ok.success(), "{} is not readable by nobody", path.display());
    }

    let args = login_args(&work, &["--", "sh", "-c", "echo $VESTIBULE_DEMO"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_with_input(as_nobody(&args), "alice\nwonderland\n", LIMIT);
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert!(
        run.stdout
            .contains("Not running as root: this session runs as nobody"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("Welcome to Vestibule, alice!"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.lines().any(|l| l == "1"),
        "VESTIBULE_DEMO did not reach the session: {}",
        run.all()
    );
    assert_eq!(run.status.signal(), None);
}
