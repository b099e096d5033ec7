//! `vestibule-tui --plain` end to end: real libpam, real modules, real accounts in the sandbox.

use vestibule_e2e::*;

fn login(work: &Work, extra: &[&str], input: &str) -> Run {
    run_with_input(sandboxed(work, &plain_args(work, extra)), input, LIMIT)
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
