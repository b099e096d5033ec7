//! Vestibule as an administrator gets it: the Debian packages built from this tree (`make deb`,
//! debhelper over the repository's Makefile), checked by lintian, compared with `make install`,
//! and installed with `dpkg -i` into a throw-away overlay of this machine's root file system,
//! where everything runs from the installed files only (tests/packaging/overlay.sh and steps.sh).
//!
//! The overlay lives in a private mount namespace (`unshare --mount --propagation private`): a
//! tmpfs holds the overlayfs upper and work directories over `/`, the chroot runs dpkg, useradd,
//! the programs and the purge, and when the namespace ends all of it is gone; the host's `/`
//! is only ever the read-only lower layer. The packages are built from the release build in
//! target/dist (a build directory of its own: `cargo test` holds target/'s lock while it runs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use vestibule_e2e::*;

fn repo() -> PathBuf {
    tests_dir().join("..").canonicalize().expect("repository root")
}

fn dist() -> PathBuf {
    repo().join("target/dist")
}

fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is required (Debian package {package}): run scripts/install-deps.sh"
    );
}

/// `make -C REPO` building into target/dist. The test's release build skips the shipped
/// profile's link-time optimisation and single codegen unit (`CARGO_PROFILE_RELEASE_*`): they cost
/// most of a fresh machine's build time and change no file, path or behaviour the tests check;
/// `make deb` outside the tests builds with the shipped profile.
fn dist_make() -> Command {
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(repo())
        .env("CARGO_TARGET_DIR", dist())
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
    make
}

/// The two .debs, built once per test run with `make deb`.
fn debs() -> &'static [PathBuf] {
    static DEBS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DEBS.get_or_init(|| {
        require_root();
        require_tool("dpkg-buildpackage", "dpkg-dev");
        require_tool("dh", "debhelper");
        let out_dir = dist().join("deb");
        let _ = std::fs::remove_dir_all(&out_dir);
        let started = std::time::Instant::now();
        let out = dist_make().arg("deb").output().expect("cannot run make");
        let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "make deb failed:\n{log}");
        eprintln!("make deb: {:.1} s", started.elapsed().as_secs_f64());
        let mut debs: Vec<PathBuf> = std::fs::read_dir(&out_dir)
            .expect("target/dist/deb")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        debs.sort();
        let names: Vec<String> = debs
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.len() == 2 && names[0].starts_with("vestibule-gtk_") && names[1].starts_with("vestibule_"),
            "expected the packages vestibule and vestibule-gtk, got {names:?}"
        );
        debs
    })
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn lintian_reports_no_errors_and_no_unexplained_warnings() {
    require_tool("lintian", "lintian");
    let debs = debs();
    let (ok, report) = run(Command::new("lintian")
        .args(["--fail-on", "error,warning", "--tag-display-limit", "0"])
        .args(debs));
    let flagged: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(ok && flagged.is_empty(), "lintian:\n{report}");
}

/// `path -> mode` of every file and symlink a package holds, from `dpkg-deb -c`.
fn package_files(deb: &Path) -> BTreeMap<String, String> {
    let (ok, listing) = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    assert!(ok, "dpkg-deb -c {}: {listing}", deb.display());
    listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let mode = l.split_whitespace().next().unwrap().to_owned();
            let path = l
                .split(" ./")
                .nth(1)
                .expect("a path")
                .split(" -> ")
                .next()
                .unwrap();
            (format!("/{path}"), mode)
        })
        .collect()
}

fn tree_files(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let meta = e.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
                continue;
            }
            let kind = if meta.file_type().is_symlink() { 'l' } else { '-' };
            let bits = meta.permissions().mode();
            let mut mode = String::from(kind);
            for shift in [6, 3, 0] {
                let b = (bits >> shift) & 7;
                mode.push(if b & 4 != 0 { 'r' } else { '-' });
                mode.push(if b & 2 != 0 { 'w' } else { '-' });
                mode.push(if b & 1 != 0 { 'x' } else { '-' });
            }
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(format!("/{rel}"), mode);
        }
    }
    out
}

/// What debhelper adds to a package that `make install` has no business installing.
fn debhelper_only(path: &str) -> bool {
    ["/usr/share/doc/vestibule/", "/usr/share/doc/vestibule-gtk/"]
        .iter()
        .any(|d| path == format!("{d}changelog.gz") || path == format!("{d}copyright"))
        || path.starts_with("/usr/share/lintian/overrides/")
}

#[test]
fn make_install_lays_out_the_same_files_as_the_packages() {
    let debs = debs();
    let mut packaged = BTreeMap::new();
    for deb in debs {
        packaged.extend(package_files(deb));
    }
    let dest = tempfile::tempdir().unwrap();
    let (ok, log) = run(dist_make()
        .arg("install")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .arg("PREFIX=/usr"));
    assert!(ok, "make install failed:\n{log}");
    let installed = tree_files(dest.path());

    let extra: Vec<&String> = packaged.keys().filter(|p| !debhelper_only(p)).collect();
    let packaged_core: BTreeMap<&String, &String> =
        packaged.iter().filter(|(p, _)| !debhelper_only(p)).collect();
    let installed_ref: BTreeMap<&String, &String> = installed.iter().collect();
    let only_pkg: BTreeSet<_> = packaged_core
        .keys()
        .filter(|p| !installed.contains_key(**p))
        .collect();
    let only_make: BTreeSet<_> = installed.keys().filter(|p| !packaged.contains_key(*p)).collect();
    assert!(
        only_pkg.is_empty() && only_make.is_empty(),
        "file lists differ:\nonly in the packages: {only_pkg:?}\nonly from make install: {only_make:?}"
    );
    assert_eq!(packaged_core, installed_ref, "same files, different modes");
    assert!(extra.len() > 40, "suspiciously few files: {extra:?}");
    // The layout the units and the daemon rely on.
    for path in [
        "/usr/sbin/vestibuled",
        "/usr/libexec/vestibule/vestibule-worker",
        "/usr/bin/vestibule-gtk",
        "/etc/pam.d/vestibule",
        "/etc/vestibule/vestibuled.toml",
        "/lib/systemd/system/vestibuled@.service",
        "/usr/share/dbus-1/system.d/org.vestibule.SessionAgent1.conf",
        "/usr/share/man/man8/vestibuled.8.gz",
        "/usr/share/man/man5/vestibuled.toml.5.gz",
        "/usr/share/zsh/vendor-completions/_vestibulectl",
    ] {
        assert!(installed.contains_key(path), "{path} not installed");
    }
}

/// `make install PREFIX=/opt/vestibule`: every program the installed units and D-Bus activation
/// file name is under that prefix and installed there, the agent's lock screen included (its
/// built-in default is /usr/bin/vestibule-gtk, so the unit names it).
#[test]
fn make_install_with_another_prefix_points_the_units_at_that_prefix() {
    let dest = tempfile::tempdir().unwrap();
    let prefix = "/opt/vestibule";
    let (ok, log) = run(dist_make()
        .arg("install")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .arg(format!("PREFIX={prefix}")));
    assert!(ok, "make install failed:\n{log}");
    let files = [
        format!("{prefix}/lib/systemd/system/vestibule-agent.service"),
        format!("{prefix}/lib/systemd/system/vestibuled@.service"),
        format!("{prefix}/share/dbus-1/system-services/org.vestibule.SessionAgent1.service"),
    ];
    let mut named = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(dest.path().join(file.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        for line in text.lines().filter(|l| l.starts_with("Exec")) {
            for word in line.split(|c: char| c.is_whitespace() || c == '"' || c == '=') {
                if word.starts_with('/')
                    && word.contains("vestibule")
                    && !word.starts_with("/run/")
                    && !word.starts_with("/etc/")
                {
                    named.push((file.clone(), word.to_owned()));
                }
            }
        }
    }
    assert!(
        named
            .iter()
            .any(|(f, w)| f.ends_with("vestibule-agent.service")
                && w == &format!("{prefix}/bin/vestibule-gtk")),
        "the agent's unit does not name {prefix}/bin/vestibule-gtk as its lock screen: {named:?}"
    );
    for (file, word) in &named {
        assert!(
            word.starts_with(&format!("{prefix}/")),
            "{file} names {word}, outside {prefix}"
        );
        assert!(
            dest.path().join(word.trim_start_matches('/')).is_file(),
            "{file} names {word}, which make install did not install"
        );
    }
}

/// The transcript of steps.sh, by step.
fn steps(transcript: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut name = String::from("setup");
    let mut body = String::new();
    for line in transcript.lines() {
        if let Some(n) = line.strip_prefix("== ") {
            out.insert(
                std::mem::replace(&mut name, n.to_owned()),
                std::mem::take(&mut body),
            );
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.insert(name, body);
    out
}

#[test]
fn installed_packages_work_from_the_installed_files_and_purge_cleanly() {
    require_tool("unshare", "util-linux");
    require_tool("dbus-daemon", "dbus-daemon");
    require_tool("systemd-analyze", "systemd");
    require_tool("man", "man-db");
    let debs = debs();
    let work = Work::new();
    let mnt = work.path().join("overlay");
    std::fs::create_dir(&mnt).unwrap();
    let (_, transcript) = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh"])
        .arg(repo().join("tests/packaging/overlay.sh"))
        .arg(&mnt)
        .arg(debs[0].parent().unwrap()));
    let s = steps(&transcript);
    let step = |name: &str| -> &str {
        s.get(name)
            .unwrap_or_else(|| panic!("step {name} never ran:\n{transcript}"))
    };
    let expect = |name: &str, what: &str| {
        assert!(
            step(name).contains(what),
            "step {name}: expected {what:?} in:\n{}\n--- whole transcript:\n{transcript}",
            step(name)
        );
    };
    assert!(s.contains_key("end"), "steps.sh did not finish:\n{transcript}");

    expect("install", "status=0");
    expect("install", "vestibule install ok installed");
    expect("install", "vestibule-gtk install ok installed");
    for conffile in [
        "/etc/vestibule/vestibuled.toml",
        "/etc/vestibule/config.toml",
        "/etc/pam.d/vestibule",
    ] {
        expect("install", conffile);
    }

    expect("reinstall", "status=0");
    expect("reinstall", "# edited by the administrator");

    // The greeter user and its state directory, made by the maintainer script (no systemd here).
    expect("greeter-user", "_vestibule:x:");
    expect("greeter-user", ":/var/lib/vestibule:/usr/sbin/nologin");
    expect("greeter-user", "dir /var/lib/vestibule _vestibule:_vestibule 750");

    expect("check", "vestibuled: /etc/vestibule/vestibuled.toml: ok");
    expect("check", "status=0");

    // A login through the installed PAM service (pam_unix against the overlay's shadow file).
    expect("login", "session: alice in /home/alice");
    expect("login", "status=0");
    expect("wrong-password", "Login incorrect");
    expect("wrong-password", "Maximum number of tries exceeded (1).");
    assert!(
        !step("wrong-password").contains("never"),
        "{}",
        step("wrong-password")
    );
    assert!(
        !step("wrong-password").contains("status=0"),
        "{}",
        step("wrong-password")
    );

    // The agent, started as its unit starts it, on a bus with the installed policy.
    expect(
        "agent",
        "ExecStart=/usr/sbin/vestibule-agent --state /run/vestibule/sessions.json \
         --locker-command \"/usr/bin/vestibule-gtk --lock-daemon --session {id}\"",
    );
    expect("agent", "agent owns org.vestibule.SessionAgent1");
    let agent = step("agent");
    assert_eq!(agent.matches("status=0").count(), 2, "{agent}");
    // alice's own session, registered by the installed vestibule-login, listed to alice herself.
    assert!(
        agent
            .lines()
            .any(|l| l.contains(" alice ") && l.contains(" user ") && l.contains(" active ")),
        "the login did not show up in its own list-sessions:\n{agent}"
    );
    let nobody = agent.split("as nobody:").nth(1).unwrap_or("");
    assert!(
        nobody.contains("AccessDenied"),
        "nobody could own the agent's name:\n{agent}"
    );

    // systemd-analyze exits 0 on warnings: the output must be empty.
    let units = step("units");
    let verify = units.split("status=").next().unwrap();
    assert!(verify.trim().is_empty(), "systemd-analyze verify:\n{units}");
    expect("units", "status=0");
    expect(
        "units",
        "ExecStart=/usr/sbin/vestibuled --worker /usr/libexec/vestibule/vestibule-worker",
    );
    expect("units", "Exec=/usr/sbin/vestibule-agent");

    let man = step("man");
    let pages: Vec<&str> = man.lines().filter(|l| l.starts_with("page ")).collect();
    assert_eq!(pages.len(), 9, "every program and config file has a page:\n{man}");
    for p in &pages {
        assert!(p.ends_with("warnings=[]"), "man -l warns: {p}");
        let lines: usize = p
            .split("lines=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(lines > 20, "an empty page: {p}");
    }
    expect("man", "/usr/share/man/man8/vestibuled.8.gz");
    expect("man", "/usr/share/man/man5/vestibuled.toml.5.gz");
    expect("man", "/usr/share/man/man1/vestibule-gtk.1.gz");

    expect("completion", "vestibulectl lock-s: lock-session lock-sessions");
    expect("completion", "vestibuled --ch: --check");
    let zsh_ok = step("completion").matches("zsh -n ok: ").count();
    assert_eq!(zsh_ok, 6, "every zsh completion parses:\n{}", step("completion"));

    let purge = step("purge");
    assert!(purge.contains("status=0"), "{purge}");
    assert!(!purge.contains("left: "), "purge left files behind:\n{purge}");
    // Debian keeps system accounts on purge (files they own may remain elsewhere).
    expect("purge", "kept account: _vestibule");
}
