//! What the auth log says about failed logins, through Debian's own common-auth stack (pam_unix)
//! in the sandbox and the syslog capture it provides: a password typed into the name field is
//! never logged, a real account's name is.

use vestibule_e2e::*;

fn login(work: &Work, input: &str) -> Run {
    let args = login_args(work, &["--max-tries", "1", "--", "true"]);
    run_with_input(sandboxed(work, &args), input, LIMIT)
}

#[test]
fn a_password_typed_as_the_user_name_never_reaches_the_auth_log() {
    let work = Work::new();
    work.service("common-auth", &[]);
    // alice types her password at "login: " by mistake, then anything at "Password:".
    let run = login(&work, "alice-pw-1\nalice\n");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert!(run.stderr.contains("Login incorrect"), "{}", run.all());
    // The status is pam_deny's, not PAM_USER_UNKNOWN: the stack hides which it was.
    let rec = work.record();
    assert_eq!(count(&rec, "authenticate"), 0, "pam_deny is requisite: {rec:?}");

    let log = work.syslog();
    assert!(
        log.iter()
            .any(|l| l.contains("FAILED LOGIN 1 ON ? FOR 'UNKNOWN', Authentication failure")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("TOO MANY LOGIN TRIES (1) ON ? FOR 'UNKNOWN'")),
        "{log:?}"
    );
    assert!(
        log.iter().all(|l| !l.contains("alice-pw-1")),
        "the password reached the auth log: {log:?}"
    );
}

#[test]
fn a_wrong_password_for_a_real_account_is_logged_under_its_name() {
    let work = Work::new();
    work.service("common-auth", &[]);
    let run = login(&work, "alice\nnot-her-password\n");
    assert_eq!(run.code(), Some(1), "{}", run.all());
    let log = work.syslog();
    assert!(
        log.iter()
            .any(|l| l.contains("FAILED LOGIN 1 ON ? FOR 'alice', Authentication failure")),
        "{log:?}"
    );
    assert!(log.iter().all(|l| !l.contains("not-her-password")), "{log:?}");
}
