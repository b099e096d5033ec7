//! The desktop greeter (`vestibule-gtk`) on a real X server (Xvfb) with real libpam: real
//! accounts through pam_unix in the root sandbox, the Python fixture modules, xdotool typing into
//! the window, and the widgets read back through the greeter's probe.

use std::time::Duration;

use vestibule_e2e::x11::{batch_number, focused, wait_probe_until, GtkApp, Xvfb};
use vestibule_e2e::{binary, count, sandboxed, Work, LIMIT};

/// Starts the greeter in the sandbox on `x` with this config and `-- sh -c COMMAND`.
fn greeter(work: &Work, x: &Xvfb, config: &str, extra: &[&str], command: &str) -> GtkApp {
    let config_path = work.path().join("config.toml");
    std::fs::write(
        &config_path,
        config.replace("@WORK@", work.path().to_str().unwrap()),
    )
    .unwrap();
    let mut args = vec![
        binary("vestibule-gtk").to_string_lossy().into_owned(),
        "--config".into(),
        config_path.to_string_lossy().into_owned(),
        "--pam-confdir".into(),
        work.pam_dir().to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--".into(), "sh".into(), "-c".into(), command.into()]);
    GtkApp::spawn(sandboxed(work, &args), x, &work.path().join("probe"))
}

const CONFIG: &str = r#"
[greeter]
state_file = "@WORK@/greeter-state"
fail_delay_ms = 10
[sessions]
wayland_dirs = []
xsession_dirs = []
include_shell = false
[power]
poweroff = []
reboot = []
[desktop]
user_list = false
"#;

#[test]
fn a_login_runs_the_session_command_as_the_user_on_this_display_then_comes_back() {
    let work = Work::new();
    work.service("unix", &[]);
    let x = Xvfb::start(1024, 768);
    let who = work.path().join("who");
    let g = greeter(
        &work,
        &x,
        CONFIG,
        &[],
        &format!("echo \"$(id -un) $DISPLAY\" > {}", who.display()),
    );
    g.enter_user(&x, "alice");
    // PAM's prompt is the field's label; nothing is hard-coded.
    g.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert_eq!(g.wait_file(&who).trim(), format!("alice {}", x.display));
    // The session ended: the window is back with a fresh card.
    let screen = g.wait("Session ended (exit status 0).");
    assert!(screen.contains("\nwindow visible=true"), "{screen}");
    g.wait_focus("entry");
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
    let state = std::fs::read_to_string(work.path().join("greeter-state")).unwrap();
    assert!(state.contains("alice"), "last user remembered: {state}");
}

#[test]
fn a_wrong_password_shows_the_message_and_waits_the_fail_delay() {
    let work = Work::new();
    work.service("unix", &[]);
    let x = Xvfb::start(1024, 768);
    let who = work.path().join("who");
    let g = greeter(
        &work,
        &x,
        CONFIG,
        &["--fail-delay-ms", "1500"],
        &format!("id -un > {}", who.display()),
    );
    g.enter_user(&x, "alice");
    g.answer(&x, "Password", "password-entry", "not-her-password");
    let during = g.wait("Please wait");
    assert!(
        !during.contains("password-entry"),
        "no field while the delay runs:\n{during}"
    );
    let again = g.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert!(again.contains("label[error]: Login incorrect"), "{again}");
    assert_eq!(g.wait_file(&who).trim(), "alice");
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
    work.service("unix", &[]);
    let x = Xvfb::start(1024, 768);
    let who = work.path().join("who");
    let g = greeter(&work, &x, CONFIG, &[], &format!("id -un > {}", who.display()));
    g.enter_user(&x, "carol");
    g.answer(&x, "Password", "password-entry", "carol-pw-1");
    // pam_unix says why and asks the current password, then the new one twice: each prompt is
    // PAM's own text.
    let s = g.answer(&x, "Current password", "password-entry", "carol-pw-1");
    assert!(s.contains("change your password"), "the reason is shown:\n{s}");
    g.answer(&x, "New password", "password-entry", "Fresh-Secret-88");
    g.answer(&x, "Retype new password", "password-entry", "Fresh-Secret-88");
    assert_eq!(g.wait_file(&who).trim(), "carol");
}

#[test]
fn a_module_with_two_calls_gets_both_prompts_and_a_slow_module_does_not_freeze_the_window() {
    let work = Work::new();
    // multi_prompt.py: a password, then a one-time code (echoed) in a second call.
    work.service("multi", &[]);
    let x = Xvfb::start(1024, 768);
    let who = work.path().join("who");
    let g = greeter(&work, &x, CONFIG, &[], &format!("echo ok > {}", who.display()));
    g.enter_user(&x, "alice");
    let first = g.answer(&x, "Password", "password-entry", "secret1");
    assert!(!first.contains("label[prompt]: Code"), "{first}");
    let code_label = wait_probe_until(&g.probe, LIMIT, "the code prompt", |s| batch_number(s) > 1);
    let label = code_label
        .lines()
        .find_map(|l| l.trim().strip_prefix("label[prompt]: "))
        .expect("a prompt label")
        .to_owned();
    let second = g.answer(&x, &label, "entry", "123456");
    assert!(
        !second.contains("password-entry"),
        "the code is echoed:\n{second}"
    );
    assert_eq!(g.wait_file(&who).trim(), "ok");
    drop(g);

    // sleepy.py sleeps 4 s inside pam_authenticate: the window keeps answering (the focus moves
    // on Tab while PAM is busy), then its prompt arrives.
    let work = Work::new();
    work.service("sleepy", &[]);
    let who = work.path().join("who");
    let g = greeter(&work, &x, CONFIG, &[], &format!("echo ok > {}", who.display()));
    g.enter_user(&x, "alice");
    let busy = g.wait("Checking…");
    x.key("Tab");
    let moved = wait_probe_until(
        &g.probe,
        Duration::from_secs(2),
        "the focus moving while PAM sleeps",
        |s| focused(s) != focused(&busy) && s.contains("Checking…"),
    );
    assert!(!moved.contains("password-entry"), "{moved}");
    g.answer(&x, "Password", "password-entry", "secret1");
    assert_eq!(g.wait_file(&who).trim(), "ok");
}

#[test]
fn escape_cancels_back_to_the_user_field_and_hostile_text_is_shown_harmless() {
    let work = Work::new();
    work.service("hostile", &[("MODE", "escapes")]);
    let x = Xvfb::start(1024, 768);
    let mut g = greeter(&work, &x, CONFIG, &[], "true");
    g.enter_user(&x, "alice");
    let s = g.wait_focus("password-entry");
    assert!(
        !s.contains('\u{1b}') && !s.contains('\u{7}'),
        "no raw control character reaches a label:\n{s}"
    );
    assert!(s.contains("^[[2J"), "the escape is shown as visible text:\n{s}");
    x.key("Escape");
    let s = g.wait_focus("entry");
    assert!(s.contains("Login cancelled."), "{s}");
    assert!(g.still_running());
    assert_eq!(count(&work.record(), "open_session"), 0);
}

#[test]
fn the_window_ignores_a_window_managers_close() {
    let work = Work::new();
    work.service("unix", &[]);
    let x = Xvfb::start(800, 600);
    let mut g = greeter(&work, &x, CONFIG, &[], "true");
    g.wait_focus("entry");
    x.close_like_a_window_manager("Log in");
    std::thread::sleep(Duration::from_millis(500));
    assert!(g.still_running(), "a login screen does not close");
    let s = std::fs::read_to_string(&g.probe).unwrap();
    assert!(s.contains("\nwindow visible=true"), "{s}");
}

#[test]
fn the_user_list_offers_the_accounts_that_can_log_in_and_works_from_the_keyboard() {
    let work = Work::new();
    work.service("unix", &[]);
    let x = Xvfb::start(1024, 768);
    let who = work.path().join("who");
    let config = CONFIG.replace("user_list = false", "user_list = true");
    let g = greeter(&work, &x, &config, &[], &format!("id -un > {}", who.display()));
    let s = g.wait_focus("entry");
    // The sandbox's accounts (uid >= 1000, bash); never root or the nologin system accounts.
    for name in ["alice", "bob", "carol"] {
        assert!(s.contains(&format!("label[]: {name}\n")), "{name} listed:\n{s}");
    }
    assert!(
        !s.contains("label[]: root\n") && !s.contains("label[]: nobody\n"),
        "{s}"
    );
    // Shift+Tab leaves the name field for the list; Home picks its first entry, Enter logs in.
    x.key("shift+Tab");
    g.wait_focus("row");
    x.key("Home");
    x.key("Return");
    g.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert_eq!(g.wait_file(&who).trim(), "alice");
}

#[test]
fn the_caps_lock_warning_shows_while_a_password_is_asked() {
    let work = Work::new();
    work.service("multi", &[]);
    let x = Xvfb::start(800, 600);
    let g = greeter(&work, &x, CONFIG, &[], "true");
    g.wait_focus("entry");
    // No hidden field on the card: no warning.
    x.key("Caps_Lock");
    std::thread::sleep(Duration::from_millis(400));
    let s = std::fs::read_to_string(&g.probe).unwrap();
    assert!(!s.contains("Caps Lock is on"), "{s}");
    x.key("Caps_Lock");
    x.type_text("alice");
    x.key("Return");
    g.wait_focus("password-entry");
    x.key("Caps_Lock");
    g.wait("label[caps-lock]: Caps Lock is on");
    x.key("Caps_Lock");
    wait_probe_until(&g.probe, LIMIT, "the warning gone", |s| {
        !s.contains("Caps Lock is on")
    });
}

#[test]
fn power_off_runs_the_configured_command_after_a_second_press() {
    let work = Work::new();
    work.service("unix", &[]);
    let x = Xvfb::start(800, 600);
    let marker = work.path().join("powered-off");
    let config = CONFIG.replace(
        "poweroff = []",
        &format!("poweroff = [\"sh\", \"-c\", \"echo off > {}\"]", marker.display()),
    );
    let g = greeter(&work, &x, &config, &[], "true");
    let s = g.wait_focus("entry");
    assert!(
        s.contains("button: _Power off") && !s.contains("button: _Reboot"),
        "{s}"
    );
    x.key("alt+p");
    g.wait("Press again to power off.");
    assert!(!marker.exists(), "one press does nothing");
    x.key("alt+p");
    assert_eq!(g.wait_file(&marker).trim(), "off");
}
