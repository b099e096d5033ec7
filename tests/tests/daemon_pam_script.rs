//! A second witness in the worker's stack, written by nobody here: pam_script.so from Debian's
//! libpam-script (unpacked by scripts/install-deps.sh, never installed), `session optional` after
//! record.py, its pam_script_ses_open / pam_script_ses_close scripts appending "open USER SERVICE"
//! and "close USER SERVICE". Two logins through vestibuled (alice, then erin, with agreety) must
//! run each script exactly once per login, with that login's user name.

use vestibule_e2e::daemon::*;
use vestibule_e2e::*;

fn script_log(work: &Work) -> Vec<String> {
    work.read("pam-script.log")
        .lines()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn pam_script_runs_its_session_scripts_once_per_login_with_the_users_name() {
    let work = Work::new();
    let mut setup = Setup::agreety(&work);
    setup.pam_script = true;
    let d = Vestibuled::start(&work, "pam-script", setup);

    d.agreety_login(1, "alice", "alice-pw-1");
    d.session("alice");
    assert_eq!(script_log(&work), ["open alice vestibule"]);
    d.end_session("alice");
    d.agreety_login(2, "erin", "erin-pw-1");
    d.session("erin");
    d.end_session("erin");
    d.agreety_login_prompt(3);
    d.wait_until("pam_script's close of erin's session", || {
        (script_log(&work).len() >= 4).then_some(())
    });
    assert_eq!(
        script_log(&work),
        [
            "open alice vestibule",
            "close alice vestibule",
            "open erin vestibule",
            "close erin vestibule"
        ]
    );
}
