//! Helpers shared by the end-to-end tests: rendering PAM service files from `tests/pam.d`,
//! running Vestibule's binaries (inside the root sandbox of `tests/sandbox/run.sh` when real
//! accounts are involved), and reading back the witnesses (record log, syslog).
//!
//! A missing prerequisite (not root, a binary not built, pam_python absent) panics with the reason:
//! no test is ever skipped silently.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The tests/ directory.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the C fixture modules were built.
pub fn c_modules_dir() -> PathBuf {
    PathBuf::from(env!("VESTIBULE_C_FIXTURES"))
}

/// A workspace binary, built by `cargo build --workspace` before the tests run.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace binaries first (cargo build --workspace)",
        path.display()
    );
    path
}

/// Fails loudly unless running as root (the sandbox and setuid tests need it).
pub fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root (private mount namespace, real accounts): run ./test.sh as root"
    );
}

/// A per-test directory holding the rendered PAM config, logs and state.
pub struct Work {
    dir: tempfile::TempDir,
}

impl Default for Work {
    fn default() -> Self {
        Self::new()
    }
}

impl Work {
    pub fn new() -> Work {
        let dir = tempfile::Builder::new()
            .prefix("vestibule-test.")
            .tempdir_in("/tmp")
            .expect("temp dir");
        // Sessions run as other users in some tests and write markers here.
        let _ = Command::new("chmod").arg("777").arg(dir.path()).status();
        Work { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The PAM config dir holding the rendered `vestibule` service.
    pub fn pam_dir(&self) -> PathBuf {
        self.path().join("pam.d")
    }

    /// Renders `tests/pam.d/<template>` as this test's `vestibule` service. Placeholders:
    /// `@PY@` python fixtures, `@C@` C fixture modules, `@WORK@` this directory, and `@KEY@`
    /// for each extra `(KEY, value)`.
    pub fn service(&self, template: &str, vars: &[(&str, &str)]) -> &Work {
        self.service_as(template, "vestibule", vars)
    }

    /// Renders `tests/pam.d/<template>` as the service `name` (the lock screen's
    /// `vestibule-lock`).
    pub fn service_as(&self, template: &str, name: &str, vars: &[(&str, &str)]) -> &Work {
        let src = tests_dir().join("pam.d").join(template);
        let mut text = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let py = tests_dir().join("fixtures/python");
        let fixed = [
            ("PY", py.to_str().unwrap().to_owned()),
            ("C", c_modules_dir().to_str().unwrap().to_owned()),
            ("WORK", self.path().to_str().unwrap().to_owned()),
        ];
        for (k, v) in fixed
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(vars.iter().copied())
        {
            text = text.replace(&format!("@{k}@"), v);
        }
        assert!(
            !text.contains('@'),
            "unrendered placeholder in {template}: {text}"
        );
        fs::create_dir_all(self.pam_dir()).unwrap();
        fs::write(self.pam_dir().join(name), text).unwrap();
        self
    }

    /// Lines the record.py witness wrote, as `(function, flags, user)` triples.
    pub fn record(&self) -> Vec<Record> {
        read_lines(&self.path().join("record.log"))
            .iter()
            .map(|l| Record::parse(l))
            .collect()
    }

    /// Auth-log lines Vestibule sent to /dev/log in the sandbox.
    pub fn syslog(&self) -> Vec<String> {
        read_lines(&self.path().join("syslog"))
            .into_iter()
            .filter(|l| l.contains("vestibule["))
            .collect()
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path().join(name)).unwrap_or_default()
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// One line of the record.py witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub function: String,
    pub flags: u32,
    pub user: String,
    pub tty: String,
    pub pid: u32,
}

impl Record {
    fn parse(line: &str) -> Record {
        let mut words = line.split_whitespace();
        let function = words.next().unwrap_or_default().to_owned();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name).map(str::to_owned))
                .unwrap_or_default()
        };
        Record {
            function,
            flags: u32::from_str_radix(field("flags=0x").as_str(), 16).unwrap_or(0),
            user: field("user="),
            tty: field("tty="),
            pid: field("pid=").parse().unwrap_or(0),
        }
    }
}

/// Counts the witness lines for one PAM function.
pub fn count(records: &[Record], function: &str) -> usize {
    records.iter().filter(|r| r.function == function).count()
}

/// What a finished run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Raw stdout bytes, to check that no escape byte got through.
    pub raw_stdout: Vec<u8>,
    pub raw_stderr: Vec<u8>,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Both streams, for messages whose stream does not matter to the test.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            raw_stdout: o.stdout,
            raw_stderr: o.stderr,
        }
    }
}

/// Builds the `vestibule-login` command line (the line mode's own binary) for a rendered service.
pub fn login_args(work: &Work, extra: &[&str]) -> Vec<String> {
    line_mode_args(&["vestibule-login"], work, extra)
}

/// Builds the `vestibule-tui --plain` command line (the same line mode inside the full-screen
/// greeter's binary) for a rendered service.
pub fn plain_args(work: &Work, extra: &[&str]) -> Vec<String> {
    line_mode_args(&["vestibule-tui", "--plain"], work, extra)
}

/// `program [mode]` with the work dir's PAM services, a short fail delay, then `extra`.
fn line_mode_args(program: &[&str], work: &Work, extra: &[&str]) -> Vec<String> {
    let mut args = vec![binary(program[0]).to_string_lossy().into_owned()];
    args.extend(program[1..].iter().map(|s| s.to_string()));
    args.extend([
        "--pam-confdir".into(),
        work.pam_dir().to_string_lossy().into_owned(),
        "--fail-delay-ms".into(),
        "10".into(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The executable a process runs ("" once it is gone).
pub fn exe(pid: u32) -> String {
    fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Asserts what the agent lists for a real login of alice on tty9 (service `vestibule`, an active
/// user session) whose supervisor runs `supervisor` (a binary name).
pub fn assert_alice_on_tty9(s: &vestibule_agent::wire::WireSession, supervisor: &str) {
    assert_eq!((s.user.as_str(), s.tty.as_str()), ("alice", "tty9"), "{s:?}");
    assert_eq!(
        (s.service.as_str(), s.class.as_str(), s.state.as_str()),
        ("vestibule", "user", "active")
    );
    let exe = exe(s.supervisor);
    assert!(exe.ends_with(&format!("/{supervisor}")), "supervisor: {exe}");
}

/// Runs a command inside the root sandbox (private /etc with fixture accounts, /dev/log captured
/// into the work dir's `syslog`).
pub fn sandboxed(work: &Work, args: &[String]) -> Command {
    require_root();
    let mut cmd = Command::new(tests_dir().join("sandbox/run.sh"));
    cmd.arg(work.path()).args(args);
    cmd
}

/// Runs to completion with `input` on stdin, killing the process group after `limit`.
pub fn run_with_input(mut cmd: Command, input: &str, limit: Duration) -> Run {
    let mut child = spawn(&mut cmd);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = wait_limited(child, limit);
    let _ = writer.join();
    out
}

/// Spawns with piped stdio in its own process group (so a timeout can kill everything).
pub fn spawn(cmd: &mut Command) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn")
}

/// A stand-in process for a test (`sleep 600` as a session leader, say): killed and reaped when
/// the test ends, passed or failed, and with no stdio of the test's, so a failing test never
/// leaves it holding the test runner's output open.
pub struct Reaped(pub Child);

impl Reaped {
    /// Starts `cmd` with its stdio on /dev/null.
    pub fn spawn(cmd: &mut Command) -> Reaped {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a stand-in process");
        Reaped(child)
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a child, killing its process group if it overruns `limit` (then panics).
pub fn wait_limited(child: Child, limit: Duration) -> Run {
    let pid = child.id() as i32;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let killer = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        true
    });
    let out = child.wait_with_output().expect("wait");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let timed_out = killer.join().unwrap();
    let run = Run::from(out);
    assert!(
        !timed_out,
        "process overran {limit:?}; output so far: {}",
        run.all()
    );
    run
}

/// Polls until `path` exists (a marker a session writes), panicking after `limit`.
pub fn wait_for_file(path: &Path, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = fs::read_to_string(path) {
            if !s.is_empty() {
                return s;
            }
        }
        assert!(
            start.elapsed() < limit,
            "{} did not appear within {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The usual limit for one login.
pub const LIMIT: Duration = Duration::from_secs(30);
/// A private dbus-daemon with the shipped agent policy (`tests/fixtures/dbus/bus.conf.in`, which
/// includes `data/dbus/org.vestibule.SessionAgent1.conf` as is), killed when dropped; its log is
/// `bus.log` in the work dir.
pub struct PrivateBus {
    daemon: Child,
    pub address: String,
}

/// `WORK/bus.conf`, rendered from tests/fixtures/dbus/bus.conf.in (the system bus's default
/// policy plus the shipped policies, included from data/ as they are).
pub fn bus_config(work: &Work) -> PathBuf {
    let template = tests_dir().join("fixtures/dbus/bus.conf.in");
    let data = tests_dir().parent().unwrap().join("data");
    let conf = fs::read_to_string(&template)
        .unwrap()
        .replace("@WORK@", work.path().to_str().unwrap())
        .replace("@DATA@", data.to_str().unwrap());
    let conf_path = work.path().join("bus.conf");
    fs::write(&conf_path, conf).unwrap();
    conf_path
}

impl PrivateBus {
    pub fn start(work: &Work) -> PrivateBus {
        require_root();
        let conf_path = bus_config(work);
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf_path.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(fs::File::create(work.path().join("bus.log")).unwrap())
            .spawn()
            .expect("dbus-daemon (package dbus-daemon; scripts/install-deps.sh installs it)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(daemon.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let address = line.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon printed {line:?}");
        PrivateBus { daemon, address }
    }

    pub fn client(&self) -> vestibule_agent::client::Client {
        vestibule_agent::client::Client::connect(Some(&self.address)).expect("connect to the private bus")
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

pub mod cage;
pub mod daemon;
pub mod login1;
pub mod sway;
pub mod tmux;
pub mod vt;
pub mod x11;
