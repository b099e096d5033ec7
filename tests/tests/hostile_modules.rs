//! Hostile and broken PAM modules against `vestibule-login`: terminal escapes, floods,
//! malformed conversation calls from C, a module that crashes. The screen must stay intact, the
//! login must either go on normally or fail with a clear message, and nothing may open a session
//! that should not exist.

use std::os::unix::process::ExitStatusExt;

use vestibule_e2e::*;

/// What the user reads when a module asks something the login screen cannot answer
/// (`LoginError::user_message` for PAM_CONV_ERR).
const CONV_ERR_MSG: &str = "Login failed: the login screen could not answer a question.";

fn login(work: &Work, extra: &[&str], input: &str) -> Run {
    run_with_input(sandboxed(work, &login_args(work, extra)), input, LIMIT)
}

/// hostile.py in `mode`, session `command`, answering "alice" / "secret1".
fn hostile(mode: &str, command: &[&str]) -> (Work, Run) {
    let work = Work::new();
    work.service("hostile", &[("MODE", mode)]);
    let mut extra = vec!["--"];
    extra.extend_from_slice(command);
    let run = login(&work, &extra, "alice\nsecret1\n");
    (work, run)
}

/// pam_vtest_conv.so in `mode`, session `true`, answering "alice" / "secret1".
fn cconv(mode: &str) -> (Work, Run) {
    let work = Work::new();
    work.service("cconv", &[("MODE", mode)]);
    let run = login(&work, &["--", "true"], "alice\nsecret1\n");
    (work, run)
}

/// The login went through: session ran (exit 0), one PAM session opened and closed.
fn assert_logged_in(work: &Work, run: &Run) {
    assert_eq!(run.code(), Some(0), "login should succeed: {}", run.all());
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 1, "{rec:?}");
    assert_eq!(count(&rec, "close_session"), 1, "{rec:?}");
}

/// The login was refused with the CONV_ERR message, as a normal exit (no crash), no session.
fn assert_conv_refused(work: &Work, run: &Run) {
    assert_eq!(
        run.code(),
        Some(1),
        "a plain failure (exit 1), not a crash: {:?} {}",
        run.status,
        run.all()
    );
    assert_eq!(run.stderr.trim_end(), CONV_ERR_MSG, "{}", run.all());
    assert!(
        !run.stdout.contains("Password: "),
        "the module must not get to ask for the password: {}",
        run.stdout
    );
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
    assert_eq!(count(&rec, "setcred"), 0, "{rec:?}");
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The conversation return codes pam_vtest_conv.so logged, one per call.
fn conv_codes(work: &Work) -> Vec<String> {
    work.read("conv.log").lines().map(str::to_owned).collect()
}

// ---- hostile.py -------------------------------------------------------------------------------

#[test]
fn escape_sequences_reach_the_screen_only_as_visible_text() {
    let (work, run) = hostile("escapes", &["true"]);
    assert_logged_in(&work, &run);
    for (name, raw) in [("stdout", &run.raw_stdout), ("stderr", &run.raw_stderr)] {
        for (what, bytes) in [
            ("ESC", &b"\x1b"[..]),
            ("BEL", b"\x07"),
            ("CR", b"\r"),
            ("backspace", b"\x08"),
            ("DEL", b"\x7f"),
            ("C1 CSI (U+009B)", b"\xc2\x9b"),
            ("bidi override (U+202E)", b"\xe2\x80\xae"),
        ] {
            assert!(
                !contains_bytes(raw, bytes),
                "raw {what} reached {name}: {:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
    // The notice is still shown, its escapes spelled out so the user sees something odd happened.
    assert!(run.stdout.contains("^[[2J"), "{}", run.stdout);
    assert!(run.stdout.contains("RED"), "{}", run.stdout);
    assert!(run.stdout.contains("overwrite"), "{}", run.stdout);
    assert!(run.stdout.contains("<U+009B>31m"), "{}", run.stdout);
}

#[test]
fn a_huge_notice_is_cut_short_with_a_marker() {
    let (work, run) = hostile("huge", &["true"]);
    assert_logged_in(&work, &run);
    let all = run.all();
    assert!(all.contains("HUGE-START"), "{all}");
    assert!(!all.contains("HUGE-END"), "the 64 KiB notice was shown whole");
    assert!(all.contains("more bytes not shown"), "{all}");
    let total = run.raw_stdout.len() + run.raw_stderr.len();
    assert!(total < 8 * 1024, "{total} bytes of output for one notice");
}

#[test]
fn many_notices_in_one_call_are_all_shown_in_order_before_the_session() {
    let (work, run) = hostile("many", &["echo", "SESSION-RAN"]);
    assert_logged_in(&work, &run);
    let out = &run.stdout;
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not shown: {out}"))
    };
    let positions: Vec<usize> = (1..=9).map(|i| at(&format!("info {i}\n"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order: {out}");
    assert!(positions[8] < at("Password: "), "{out}");
    assert!(at("Password: ") < at("SESSION-RAN"), "{out}");
}

#[test]
fn an_error_message_before_a_prompt_is_shown_and_the_login_goes_on() {
    let (work, run) = hostile("error-then-prompt", &["true"]);
    assert_logged_in(&work, &run);
    assert!(run.stderr.contains("Hostile error message.\n"), "{}", run.all());
    assert!(run.stdout.contains("Password: "), "{}", run.stdout);
}

#[test]
fn a_binary_prompt_from_python_fails_the_login_with_a_clear_message() {
    let (work, run) = hostile("binary", &["true"]);
    assert_conv_refused(&work, &run);
}

// ---- pam_vtest_conv.so (C) --------------------------------------------------------------------

#[test]
fn c_notice_with_a_null_text_pointer_is_survived() {
    let (work, run) = cconv("null-text");
    assert_logged_in(&work, &run);
    assert_eq!(conv_codes(&work), ["conv_rc=0", "conv_rc=0"]);
}

#[test]
fn c_invalid_utf8_is_shown_with_replacement_characters() {
    let (work, run) = cconv("invalid-utf8");
    assert_logged_in(&work, &run);
    assert!(run.stdout.contains("bad \u{fffd}"), "{}", run.all());
    assert!(run.stderr.contains("overlong \u{fffd}"), "{}", run.all());
    for raw in [&run.raw_stdout, &run.raw_stderr] {
        for byte in [0xff_u8, 0xfe, 0xc0] {
            assert!(!raw.contains(&byte), "raw byte {byte:#x} reached the screen");
        }
    }
}

#[test]
fn c_more_messages_than_pam_max_num_msg_are_refused() {
    let (work, run) = cconv("many=300");
    assert_conv_refused(&work, &run);
    assert_eq!(conv_codes(&work), ["conv_rc=19"], "PAM_CONV_ERR is 19");
    assert!(!run.stdout.contains("info 1/300"), "{}", run.stdout);
}

#[test]
fn c_exactly_pam_max_num_msg_messages_are_all_shown() {
    let (work, run) = cconv("many=32");
    assert_logged_in(&work, &run);
    for i in 1..=32 {
        assert!(
            run.stdout.contains(&format!("info {i}/32\n")),
            "info {i}/32 missing: {}",
            run.stdout
        );
    }
    // The module then asked for the password in a second call, which was answered.
    assert!(run.stdout.contains("Password: "), "{}", run.stdout);
    assert_eq!(conv_codes(&work), ["conv_rc=0", "conv_rc=0"]);
}

fn c_refused(mode: &str) {
    let (work, run) = cconv(mode);
    assert_conv_refused(&work, &run);
    assert_eq!(conv_codes(&work), ["conv_rc=19"], "{mode}: PAM_CONV_ERR is 19");
}

#[test]
fn c_call_with_zero_messages_is_refused() {
    c_refused("zero");
}

#[test]
fn c_null_message_entry_is_refused() {
    c_refused("null-entry");
}

#[test]
fn c_radio_prompt_is_refused() {
    c_refused("radio");
}

#[test]
fn c_binary_prompt_is_refused() {
    c_refused("binary");
}

#[test]
fn c_huge_password_prompt_is_shown_cut_short_and_answered() {
    let (work, run) = cconv("huge-prompt");
    assert_logged_in(&work, &run);
    assert!(run.stdout.contains("AAAAAAAA"), "{}", run.stdout);
    assert!(run.stdout.contains("more bytes not shown"), "{}", run.stdout);
    assert!(
        run.raw_stdout.len() < 8 * 1024,
        "{} bytes of stdout for one prompt",
        run.raw_stdout.len()
    );
}

#[test]
fn c_module_that_crashes_takes_the_login_down_without_a_session() {
    let (work, run) = cconv("crash");
    // run.sh runs vestibule-login as a child and exits with its status: 128 + SIGSEGV.
    assert_eq!(run.status.signal(), None, "run.sh itself must not die");
    assert_eq!(
        run.code(),
        Some(128 + 11),
        "vestibule-login should die by SIGSEGV (the module writes through NULL): {}",
        run.all()
    );
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
    assert_eq!(count(&rec, "setcred"), 0, "{rec:?}");
}

// ---- multi_prompt.py --------------------------------------------------------------------------

#[test]
fn password_and_verification_code_are_asked_in_turn() {
    let work = Work::new();
    work.service("multi", &[]);
    let run = login(&work, &["--", "true"], "alice\nsecret1\n123456\n");
    assert_logged_in(&work, &run);
    let out = &run.stdout;
    let password = out.find("Password: ").expect("password prompt");
    let code = out.find("Verification code: ").expect("code prompt");
    assert!(password < code, "{out}");
}

#[test]
fn wrong_verification_code_is_refused_with_the_module_message() {
    let work = Work::new();
    work.service("multi", &[]);
    let run = login(
        &work,
        &["--max-tries", "1", "--", "true"],
        "alice\nsecret1\n000000\n",
    );
    assert_eq!(run.code(), Some(1), "{}", run.all());
    assert!(run.stderr.contains("Invalid verification code."), "{}", run.all());
    assert!(
        run.stderr.contains("Maximum number of tries exceeded (1)."),
        "{}",
        run.all()
    );
    let rec = work.record();
    assert_eq!(count(&rec, "open_session"), 0, "{rec:?}");
}
