//! The desktop greeter (`vestibule-gtk`) as it runs for real: started by vestibuled as the
//! unprivileged greeter user inside cage (tests/src/cage.rs), talking to the daemon over
//! GREETD_SOCK with the extension, real libpam in the daemon's per-login worker (real accounts
//! through pam_unix in the root sandbox, the Python fixture modules), keys typed on the seat and
//! the widgets read back through the greeter's probe.

use std::time::Duration;

use vestibule_e2e::cage::{Desktop, Greeter, CONFIG};
use vestibule_e2e::daemon::alive;
use vestibule_e2e::x11::{batch_number, focused};
use vestibule_e2e::{count, Work};

/// The daemon and greeter with the daemon tests' session script as the first session; the
/// login service rendered from `template` (the daemon's own `daemon-unix` when None).
fn start<'w>(
    work: &'w Work,
    name: &str,
    config: &str,
    template: Option<(&str, &[(&str, &str)])>,
) -> Desktop<'w> {
    let d = Desktop::start(work, name, Greeter::with_session(work, config));
    // The worker reads its PAM service at each login: replacing it before the first login
    // gives this test's stack.
    if let Some((template, vars)) = template {
        work.service_as(template, "vestibule", vars);
    }
    d.wait_greeter(1);
    d
}

#[test]
fn a_login_runs_the_session_as_the_user_then_a_fresh_greeter_comes_back() {
    let work = Work::new();
    let d = start(&work, "gtk-login", CONFIG, None);
    d.enter_user("alice");
    // PAM's prompt is the field's label; nothing is hard-coded.
    d.answer("Password", "password-entry", "alice-pw-1");
    let s = d.daemon.session("alice");
    assert_eq!((s.get("user"), s.get("XDG_SESSION_TYPE")), ("alice", "tty"));
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    d.daemon.end_session("alice");
    let probe = d.wait_greeter(2);
    assert!(
        probe.contains("entry focus: alice"),
        "last user remembered:\n{probe}"
    );
    let rec = work.record();
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
}

#[test]
fn a_wrong_password_shows_the_message_and_waits_the_fail_delay() {
    let work = Work::new();
    let d = start(&work, "gtk-delay", CONFIG, None);
    // A stack whose failures wait 1.5 s (pam_faildelay), so the wait is seen on the card.
    let service = work.pam_dir().join("vestibule");
    let text = std::fs::read_to_string(&service).unwrap();
    std::fs::write(
        &service,
        format!("auth optional pam_faildelay.so delay=1500000\n{text}"),
    )
    .unwrap();
    d.enter_user("alice");
    d.answer("Password", "password-entry", "not-her-password");
    let during = d.wait("Please wait");
    assert!(
        !during.contains("password-entry"),
        "no field while the delay runs:\n{during}"
    );
    let again = d.answer("Password", "password-entry", "alice-pw-1");
    assert!(again.contains("label[error]: Login incorrect"), "{again}");
    assert_eq!(d.daemon.session("alice").get("user"), "alice");
    let rec = work.record();
    assert_eq!(
        count(&rec, "authenticate"),
        2,
        "two attempts, no stray third: {rec:?}"
    );
}

#[test]
fn an_expired_password_is_changed_through_pams_own_prompts() {
    let work = Work::new();
    let d = start(&work, "gtk-expired", CONFIG, None);
    d.enter_user("carol");
    d.answer("Password", "password-entry", "carol-pw-1");
    // pam_unix says why and asks the current password, then the new one twice: each prompt is
    // PAM's own text.
    let s = d.answer("Current password", "password-entry", "carol-pw-1");
    assert!(s.contains("change your password"), "the reason is shown:\n{s}");
    d.answer("New password", "password-entry", "Fresh-Secret-88");
    d.answer("Retype new password", "password-entry", "Fresh-Secret-88");
    assert_eq!(d.daemon.session("carol").get("user"), "carol");
}

#[test]
fn a_module_with_two_calls_gets_both_prompts() {
    let work = Work::new();
    // multi_prompt.py: a password, then a one-time code (echoed) in a second call.
    let d = start(&work, "gtk-multi", CONFIG, Some(("multi", &[])));
    d.enter_user("alice");
    let first = d.answer("Password", "password-entry", "secret1");
    assert!(!first.contains("label[prompt]: Code"), "{first}");
    let code = d.next_batch();
    let label = code
        .lines()
        .find_map(|l| l.trim().strip_prefix("label[prompt]: "))
        .expect("a prompt label")
        .to_owned();
    let second = d.answer(&label, "entry", "123456");
    assert!(
        !second.contains("password-entry"),
        "the code is echoed:\n{second}"
    );
    assert_eq!(d.daemon.session("alice").get("user"), "alice");
}

#[test]
fn a_slow_module_does_not_freeze_the_window() {
    let work = Work::new();
    // sleepy.py sleeps 4 s inside pam_authenticate: the window keeps answering (the focus moves
    // on Tab while PAM is busy), then its prompt arrives.
    let d = start(&work, "gtk-sleepy", CONFIG, Some(("sleepy", &[])));
    d.enter_user("alice");
    let busy = d.wait("Checking…");
    d.seat.key("Tab");
    let start = std::time::Instant::now();
    let moved = d.wait_until("the focus moving while PAM sleeps", |s| {
        focused(s) != focused(&busy) && s.contains("Checking…")
    });
    assert!(start.elapsed() < Duration::from_secs(3), "{moved}");
    assert!(!moved.contains("password-entry"), "{moved}");
    d.answer("Password", "password-entry", "secret1");
    assert_eq!(d.daemon.session("alice").get("user"), "alice");
}

#[test]
fn escape_cancels_back_to_the_user_field_and_hostile_text_is_shown_harmless() {
    let work = Work::new();
    let d = start(
        &work,
        "gtk-hostile",
        CONFIG,
        Some(("hostile", &[("MODE", "escapes")])),
    );
    d.enter_user("alice");
    let s = d.wait_focus("password-entry");
    assert!(
        !s.contains('\u{1b}') && !s.contains('\u{7}'),
        "no raw control character reaches a label:\n{s}"
    );
    assert!(s.contains("^[[2J"), "the escape is shown as visible text:\n{s}");
    d.seat.key("Escape");
    let s = d.wait_focus("entry");
    assert!(s.contains("Login cancelled."), "{s}");
    assert!(alive(d.greeter_pid()), "the greeter stays");
    assert_eq!(count(&work.record(), "open_session"), 0);
    // The next attempt is a fresh login with the daemon.
    d.enter_user("alice");
    let s = d.wait_focus("password-entry");
    assert!(batch_number(&s) >= 1, "{s}");
}

#[test]
fn the_user_list_offers_the_accounts_that_can_log_in_and_works_from_the_keyboard() {
    let work = Work::new();
    let config = CONFIG.replace("user_list = false", "user_list = true");
    let d = start(&work, "gtk-users", &config, None);
    let s = d.wait_focus("entry");
    // The sandbox's accounts (uid >= 1000, bash); never root, the greeter user or the nologin
    // system accounts.
    for name in ["alice", "bob", "carol"] {
        assert!(s.contains(&format!("label[]: {name}\n")), "{name} listed:\n{s}");
    }
    for name in ["root", "nobody", "vgreeter"] {
        assert!(!s.contains(&format!("label[]: {name}\n")), "{name}:\n{s}");
    }
    // Shift+Tab leaves the name field for the list; Home picks its first entry, Enter logs in.
    d.seat.key("shift+Tab");
    d.wait_focus("row");
    d.seat.key("Home");
    d.seat.key("Return");
    d.answer("Password", "password-entry", "alice-pw-1");
    assert_eq!(d.daemon.session("alice").get("user"), "alice");
}

#[test]
fn the_caps_lock_warning_shows_while_a_password_is_asked() {
    let work = Work::new();
    let d = start(&work, "gtk-caps", CONFIG, None);
    d.wait_focus("entry");
    // No hidden field on the card: no warning.
    d.seat.key("Caps_Lock");
    std::thread::sleep(Duration::from_millis(400));
    let s = std::fs::read_to_string(&d.probe).unwrap();
    assert!(!s.contains("Caps Lock is on"), "{s}");
    d.seat.key("Caps_Lock");
    d.enter_user("alice");
    d.wait_focus("password-entry");
    d.seat.key("Caps_Lock");
    d.wait("label[caps-lock]: Caps Lock is on");
    d.seat.key("Caps_Lock");
    d.wait_until("the warning gone", |s| !s.contains("Caps Lock is on"));
}

#[test]
fn power_off_runs_the_configured_command_unprivileged_after_a_second_press() {
    let work = Work::new();
    let marker = work.path().join("powered-off");
    let config = CONFIG.replace(
        "poweroff = []",
        &format!("poweroff = [\"sh\", \"-c\", \"id -un > {}\"]", marker.display()),
    );
    let d = start(&work, "gtk-power", &config, None);
    let s = d.wait_focus("entry");
    assert!(
        s.contains("button: _Power off") && !s.contains("button: _Reboot"),
        "{s}"
    );
    d.seat.key("alt+p");
    d.wait("Press again to power off.");
    assert!(!marker.exists(), "one press does nothing");
    d.seat.key("alt+p");
    // The greeter has no root: the command runs as the greeter user (logind's polkit rules
    // decide whether `systemctl poweroff` may; see the README).
    let who = d.daemon.wait_file("powered-off", "the power command");
    assert_eq!(who.trim(), vestibule_e2e::daemon::GREETER_USER);
}
