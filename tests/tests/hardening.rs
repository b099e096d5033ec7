//! Processes that hold passwords cannot dump core, read from /proc as an administrator would:
//! `vestibule-login` at its prompt and the lock screen (`vestibule-gtk --lock`, as alice), each
//! with `Max core file size` 0 in /proc/PID/limits; the lock screen, a process of alice's, is not
//! dumpable either (its /proc files belong to root, so alice's other programs cannot read its
//! memory or environment). The session the line mode starts gets the core limit the login had.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use vestibule_e2e::daemon::core_limits;
use vestibule_e2e::x11::{GtkApp, Xvfb};
use vestibule_e2e::*;

/// The pids of every process under `root` (its children, their children, …).
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// Waits for the process under `root` that runs the binary `name`.
fn wait_descendant(root: u32, name: &str) -> u32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = descendants(root)
            .into_iter()
            .find(|p| exe(*p).ends_with(&format!("/{name}")))
        {
            return pid;
        }
        assert!(start.elapsed() < LIMIT, "no {name} under pid {root}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_line_mode_cannot_dump_core_and_its_session_gets_the_limit_back() {
    let work = Work::new();
    work.service("unix", &[]);
    // As a getty would start it, with a core limit the session must see again.
    let mut args: Vec<String> = vec!["prlimit".into(), "--core=4096:unlimited".into()];
    args.extend(login_args(
        &work,
        &["--", "sh", "-c", "grep 'core file' /proc/self/limits; exit 7"],
    ));
    let mut child = spawn(&mut sandboxed(&work, &args));
    let login = wait_descendant(child.id(), "vestibule-login");
    // At its prompt: nothing typed yet, the limit already 0 (the hard limit is left alone).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        core_limits(login),
        ("0".to_owned(), "unlimited".to_owned()),
        "vestibule-login"
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"alice\nalice-pw-1\n").unwrap();
    drop(stdin);
    let run = wait_limited(child, LIMIT);
    assert_eq!(run.code(), Some(7), "{}", run.all());
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("the session printed no limit: {}", run.all()));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &words[4..6],
        ["4096", "unlimited"],
        "the session's own core limit: {line}"
    );
}

#[test]
fn the_lock_screen_cannot_dump_core_nor_be_read_by_its_users_other_programs() {
    let work = Work::new();
    work.service_as("lock-unix", "vestibule-lock", &[]);
    let x = Xvfb::start(640, 480);
    let args: Vec<String> = [
        "prlimit",
        "--core=unlimited:unlimited",
        "setpriv",
        "--reuid=alice",
        "--regid=alice",
        "--init-groups",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        binary("vestibule-gtk").to_string_lossy().into_owned(),
        "--lock".into(),
        "--pam-confdir".into(),
        work.pam_dir().to_string_lossy().into_owned(),
    ])
    .collect();
    let mut l = GtkApp::spawn(sandboxed(&work, &args), &x, &work.path().join("probe"));
    l.wait_focus("password-entry");
    let pid = wait_descendant(l.pid(), "vestibule-gtk");
    assert_eq!(core_limits(pid), ("0".to_owned(), "unlimited".to_owned()));

    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let alice: u32 = uid_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_ne!(alice, 0, "the lock screen runs as alice: {uid_line}");
    // A non-dumpable process's /proc entries are root's, not its user's.
    let owner = fs::metadata(format!("/proc/{pid}/status")).unwrap().uid();
    assert_eq!(
        owner, 0,
        "/proc/{pid}/status belongs to uid {owner}: the lock screen is dumpable"
    );
    let peek = Command::new("setpriv")
        .args([
            &format!("--reuid={alice}"),
            &format!("--regid={alice}"),
            "--clear-groups",
        ])
        .args(["cat", &format!("/proc/{pid}/environ")])
        .output()
        .unwrap();
    assert!(
        !peek.status.success(),
        "another program of alice's read the lock screen's environment"
    );

    l.answer(&x, "Password", "password-entry", "alice-pw-1");
    assert_eq!(l.exit_code(LIMIT), Some(0), "unlocked");
}
