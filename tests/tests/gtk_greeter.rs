//! The desktop greeter (`vestibule-gtk`) on a real X server (Xvfb) with real libpam: real
//! accounts through pam_unix in the root sandbox, the Python fixture modules, xdotool typing into
//! the window, and the widgets read back through the greeter's probe.

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use vestibule_e2e::x11::{focused, wait_probe, wait_probe_until, Xvfb};
use vestibule_e2e::{binary, count, sandboxed, spawn, Work, LIMIT};

/// A greeter running in the sandbox on `x`, stopped (SIGTERM, then SIGKILL) on drop.
struct Greeter {
    child: Option<Child>,
    probe: PathBuf,
    /// The last prompt batch answered (the probe numbers them).
    batch: std::cell::Cell<u64>,
}

impl Greeter {
    fn start(work: &Work, x: &Xvfb, config: &str, extra: &[&str], command: &str) -> Greeter {
        let config_path = work.path().join("config.toml");
        std::fs::write(
            &config_path,
            config.replace("@WORK@", work.path().to_str().unwrap()),
        )
        .unwrap();
        let probe = work.path().join("probe");
        let mut args = vec![
            binary("vestibule-gtk").to_string_lossy().into_owned(),
            "--config".into(),
            config_path.to_string_lossy().into_owned(),
            "--pam-confdir".into(),
            work.pam_dir().to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--".into(), "sh".into(), "-c".into(), command.into()]);
        let mut cmd = sandboxed(work, &args);
        cmd.env("DISPLAY", &x.display).env("VESTIBULE_GTK_PROBE", &probe);
        let child = spawn(&mut cmd);
        Greeter {
            child: Some(child),
            probe,
            batch: std::cell::Cell::new(0),
        }
    }

    fn wait(&self, needle: &str) -> String {
        wait_probe(&self.probe, needle, LIMIT)
    }

    /// Waits until the focused widget's line contains `what`.
    fn wait_focus(&self, what: &str) -> String {
        wait_probe_until(&self.probe, LIMIT, &format!("focus on {what}"), |s| {
            focused(s).is_some_and(|l| l.split_whitespace().next() == Some(what))
        })
    }

    /// Waits for the next prompt batch with a field labelled `label` and the focus in a field of
    /// kind `field` (`entry`, `password-entry`), then types `text` and Enter.
    fn answer(&self, x: &Xvfb, label: &str, field: &str, text: &str) -> String {
        let after = self.batch.get();
        let screen = wait_probe_until(&self.probe, LIMIT, &format!("a new prompt {label:?}"), |s| {
            batch_number(s) > after
                && s.contains(&format!("label[prompt]: {label}\n"))
                && focused(s).is_some_and(|l| l.split_whitespace().next() == Some(field))
        });
        self.batch.set(batch_number(&screen));
        x.type_text(text);
        if field == "entry" {
            // A visible field shows what was typed: make sure all of it arrived.
            wait_probe_until(&self.probe, LIMIT, &format!("{text:?} typed"), |s| {
                focused(s).is_some_and(|l| l.ends_with(&format!(": {text}")))
            });
        }
        x.key("Return");
        screen
    }

    /// Waits for a file the session writes; on timeout, shows what is on screen.
    fn wait_file(&self, path: &std::path::Path) -> String {
        let start = std::time::Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if !s.is_empty() {
                    return s;
                }
            }
            if start.elapsed() > LIMIT {
                let screen = std::fs::read_to_string(&self.probe).unwrap_or_default();
                panic!("{} did not appear; on screen:\n{screen}", path.display());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn still_running(&mut self) -> bool {
        matches!(self.child.as_mut().unwrap().try_wait(), Ok(None))
    }
}

/// The number of the prompt batch on screen (0: none yet).
fn batch_number(screen: &str) -> u64 {
    screen
        .lines()
        .filter_map(|l| l.trim().strip_prefix("batch-"))
        .filter_map(|n| n.parse().ok())
        .max()
        .unwrap_or(0)
}

impl Drop for Greeter {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pg = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGTERM);
            for _ in 0..100 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
            let _ = c.wait();
        }
    }
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
    let g = Greeter::start(
        &work,
        &x,
        CONFIG,
        &[],
        &format!("echo \"$(id -un) $DISPLAY\" > {}", who.display()),
    );
    g.wait_focus("entry");
    x.type_text("alice");
    x.key("Return");
    // PAM's prompt is the field's label; nothing is hard-coded.
    g.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert_eq!(g.wait_file(&who).trim(), format!("alice {}", x.display));
    // The session ended: the window is back with a fresh card.
    let screen = g.wait("Session ended (exit status 0).");
    assert!(screen.starts_with("window visible=true"), "{screen}");
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
    let g = Greeter::start(
        &work,
        &x,
        CONFIG,
        &["--fail-delay-ms", "1500"],
        &format!("id -un > {}", who.display()),
    );
    g.wait_focus("entry");
    x.type_text("alice");
    x.key("Return");
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
    let g = Greeter::start(&work, &x, CONFIG, &[], &format!("id -un > {}", who.display()));
    g.wait_focus("entry");
    x.type_text("carol");
    x.key("Return");
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
    let g = Greeter::start(&work, &x, CONFIG, &[], &format!("echo ok > {}", who.display()));
    g.wait_focus("entry");
    x.type_text("alice");
    x.key("Return");
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
    let g = Greeter::start(&work, &x, CONFIG, &[], &format!("echo ok > {}", who.display()));
    g.wait_focus("entry");
    x.type_text("alice");
    x.key("Return");
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
    let mut g = Greeter::start(&work, &x, CONFIG, &[], "true");
    g.wait_focus("entry");
    x.type_text("alice");
    x.key("Return");
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
    let mut g = Greeter::start(&work, &x, CONFIG, &[], "true");
    g.wait_focus("entry");
    x.close_like_a_window_manager("Log in");
    std::thread::sleep(Duration::from_millis(500));
    assert!(g.still_running(), "a login screen does not close");
    let s = std::fs::read_to_string(&g.probe).unwrap();
    assert!(s.starts_with("window visible=true"), "{s}");
}
