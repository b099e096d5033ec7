//! The line mode end to end: real libpam, real modules, real accounts in the sandbox. Most tests
//! run `vestibule-login`, the line mode's own binary; the last ones check that
//! `vestibule-tui --plain` behaves the same, word for word.

use std::process::Command;

use vestibule_e2e::*;

fn login(work: &Work, extra: &[&str], input: &str) -> Run {
    run_with_input(sandboxed(work, &login_args(work, extra)), input, LIMIT)
}

const SHOW: &str = "echo \"user=$(id -un) home=$PWD HOME=$HOME USER=$USER SHELL=$SHELL T=$VESTIBULE_TEST E=[$VESTIBULE_EMPTY] TYPE=$XDG_SESSION_TYPE CLASS=$XDG_SESSION_CLASS\"; exit 7";

#[test]
fn right_password_runs_the_session_as_the_user_with_pam_environment() {
    let work = Work::new();
    work.service("accounts", &[]);
    let run = login(&work, &["--", "sh", "-c", SHOW], "alice\nsecret1\n");
    assert_eq!(run.code(), Some(7), "{}", run.all());
    assert!(run.stdout.contains("login: "), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "user=alice home=/home/alice HOME=/home/alice USER=alice SHELL=/bin/bash T=a=b=c E=[] TYPE=tty CLASS=user"
        ),
        "{}",
        run.all()
    );
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
    // setcred: ESTABLISH, REINITIALIZE, DELETE, in that order, after open_session for the last two.
    let setcred: Vec<u32> = rec
        .iter()
        .filter(|r| r.function == "setcred")
        .map(|r| r.flags & 0xff)
        .collect();
    assert_eq!(setcred, vec![0x2, 0x8, 0x4], "{rec:?}");
    let order: Vec<&str> = rec.iter().map(|r| r.function.as_str()).collect();
    let pos = |f: &str| order.iter().position(|o| *o == f).unwrap();
    assert!(pos("authenticate") < pos("acct_mgmt") && pos("acct_mgmt") < pos("open_session"));
    assert!(pos("open_session") < pos("close_session"), "{order:?}");
    let log = work.syslog();
    assert!(
        log.iter()
            .any(|l| l.starts_with("<85>vestibule[") && l.ends_with("LOGIN ON ? BY alice")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("session opened for user alice")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("session closed for user alice")),
        "{log:?}"
    );
}

#[test]
fn wrong_password_then_right_one() {
    let work = Work::new();
    work.service("accounts", &[]);
    let run = login(&work, &["--", "true"], "alice\nnope\nalice\nsecret1\n");
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert_eq!(run.stderr.matches("Login incorrect").count(), 1, "{}", run.stderr);
    assert_eq!(
        run.stdout.matches("login: ").count(),
        2,
        "asks the name again: {}",
        run.stdout
    );
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1);
    let log = work.syslog();
    assert!(
        log.iter()
            .any(|l| l.contains("FAILED LOGIN 1 ON ? FOR 'alice', Authentication failure")),
        "{log:?}"
    );
    assert!(
        log.iter().all(|l| !l.contains("nope")),
        "a password reached the log: {log:?}"
    );
}

#[test]
fn unknown_user_looks_like_a_wrong_password_and_is_not_logged_by_name() {
    let work = Work::new();
    work.service("accounts", &[]);
    let unknown = login(&work, &["--max-tries", "1", "--", "true"], "secret1\nsecret1\n");
    let wrong = login(&work, &["--max-tries", "1", "--", "true"], "alice\nwrong-pw\n");
    assert_eq!(unknown.code(), Some(1));
    assert_eq!(wrong.code(), Some(1));
    assert_eq!(unknown.stdout, wrong.stdout);
    assert_eq!(unknown.stderr, wrong.stderr);
    assert!(
        wrong.stderr.contains("Maximum number of tries exceeded (1)."),
        "{}",
        wrong.stderr
    );
    let log = work.syslog();
    assert!(log.iter().any(|l| l.contains("FOR 'UNKNOWN'")), "{log:?}");
    assert!(
        log.iter().all(|l| !l.contains("secret1")),
        "typed name logged: {log:?}"
    );
}

#[test]
fn too_many_wrong_passwords_end_the_attempt() {
    let work = Work::new();
    work.service("accounts", &[]);
    let run = login(&work, &["--user", "alice", "--", "true"], "a\nb\nc\nsecret1\n");
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stderr.matches("Login incorrect").count(), 3, "{}", run.stderr);
    assert!(
        run.stderr.ends_with("Maximum number of tries exceeded (3).\n"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("login: "), "--user must not ask for a name");
    assert_eq!(count(&work.record(), "open_session"), 0);
    assert!(work
        .syslog()
        .iter()
        .any(|l| l.contains("TOO MANY LOGIN TRIES (3)")));
}

#[test]
fn eof_at_a_prompt_ends_cleanly_with_nothing_open() {
    let work = Work::new();
    work.service("accounts", &[]);
    for input in ["", "alice\n"] {
        let run = login(&work, &["--", "true"], input);
        assert_eq!(run.code(), Some(1), "{}", run.all());
        assert_eq!(run.stderr.trim_end(), "Login cancelled.", "{}", run.all());
    }
    let rec = work.record();
    assert_eq!(count(&rec, "open_session") + count(&rec, "setcred"), 0, "{rec:?}");
}

#[test]
fn an_authenticated_name_without_an_account_is_refused_and_logged() {
    let work = Work::new();
    work.service("permit", &[("RECORD", "tag=ghost")]);
    let run = login(&work, &["--user", "ghost", "--", "true"], "");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert_eq!(run.stderr.trim_end(), "Login incorrect.", "{}", run.all());
    let rec = work.record();
    assert_eq!(count(&rec, "setcred") + count(&rec, "open_session"), 0, "{rec:?}");
    let log = work.syslog();
    assert!(
        log.iter()
            .any(|l| l.contains("FAILED LOGIN ON ? FOR 'ghost'") && l.contains("no account named")),
        "{log:?}"
    );
}

// ---- vestibule-tui --plain is the same line mode -----------------------------------------------

/// One login through both binaries, each in its own work dir with the same service: exit status,
/// stdout and stderr must match (the program's own name aside), and so must the PAM calls.
fn same_in_both(service: &str, vars: &[(&str, &str)], extra: &[&str], input: &str) {
    let runs: Vec<(Run, Vec<String>)> = [login_args, plain_args]
        .iter()
        .map(|args| {
            let work = Work::new();
            work.service(service, vars);
            let run = run_with_input(sandboxed(&work, &args(&work, extra)), input, LIMIT);
            let calls = (work.record().iter())
                .map(|r| format!("{} {:#x} {} {}", r.function, r.flags, r.user, r.tty))
                .collect();
            (run, calls)
        })
        .collect();
    let (login, tui) = (&runs[0], &runs[1]);
    let same = |s: &str| s.replace("vestibule-tui", "vestibule-login");
    assert_eq!(
        login.0.code(),
        tui.0.code(),
        "login:\n{}\ntui:\n{}",
        login.0.all(),
        tui.0.all()
    );
    assert_eq!(login.0.stdout, same(&tui.0.stdout), "{extra:?}");
    assert_eq!(login.0.stderr, same(&tui.0.stderr), "{extra:?}");
    assert_eq!(login.1, tui.1, "PAM calls for {extra:?}");
}

#[test]
fn vestibule_tui_plain_logs_in_the_same_way() {
    same_in_both("accounts", &[], &["--", "sh", "-c", SHOW], "alice\nsecret1\n");
    same_in_both("accounts", &[], &["--", "true"], "alice\nnope\nalice\nsecret1\n");
    same_in_both(
        "accounts",
        &[],
        &["--max-tries", "2", "--", "true"],
        "alice\na\nalice\nb\n",
    );
    same_in_both("accounts", &[], &["--user", "alice", "--", "true"], "");
    same_in_both(
        "permit",
        &[("RECORD", "tag=ghost")],
        &["--user", "ghost", "--", "true"],
        "",
    );
}

#[test]
fn both_binaries_read_the_same_command_line() {
    let login = binary("vestibule-login");
    let tui = binary("vestibule-tui");
    let run = |bin: &std::path::Path, plain: bool, args: &[&str]| {
        let mut cmd = Command::new(bin);
        if plain {
            cmd.arg("--plain");
        }
        let out = cmd.args(args).output().expect("run the binary");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    for bad in [
        &["--max-tries", "0"][..],
        &["--max-tries", "101"],
        &["--max-tries", "x"],
        &["--fail-delay-ms", "-5"],
        &["--user"],
        &["--user", "a", "--user", "b"],
        &["--nosuchflag"],
        &["true"],
    ] {
        assert_eq!(run(&login, false, bad).0, Some(2), "vestibule-login {bad:?}");
        assert_eq!(run(&tui, true, bad).0, Some(2), "vestibule-tui --plain {bad:?}");
    }
    for (bin, plain) in [(&login, false), (&tui, true)] {
        let (code, help) = run(bin, plain, &["--help"]);
        assert_eq!(code, Some(0));
        for flag in [
            "--user",
            "--tty",
            "--pam-confdir",
            "--max-tries",
            "--fail-delay-ms",
            "--agent-bus",
        ] {
            assert!(
                help.contains(flag),
                "{flag} missing from {}'s help:\n{help}",
                bin.display()
            );
        }
        let (code, version) = run(bin, plain, &["--version"]);
        assert_eq!(code, Some(0));
        assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    }
    // A PAM config dir without the service is refused before anything starts.
    let (code, _) = run(&login, false, &["--pam-confdir", "/nonexistent", "--", "true"]);
    assert_eq!(code, Some(2));
}
