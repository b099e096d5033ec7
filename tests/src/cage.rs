//! The desktop greeter as it runs for real: `vestibuled` starts `cage -s -- vestibule-gtk` as
//! the greeter user (`vgreeter`) in the root sandbox, and the greeter logs people in through the
//! daemon's socket.
//!
//! Input: cage 0.1.4 (Debian 12) offers no virtual-keyboard protocol (wtype fails with "Compositor
//! does not support the virtual keyboard protocol"), its headless backend has no input devices,
//! and this machine has no /dev/uinput for a fake evdev keyboard. So cage runs on wlroots'
//! *wayland* backend, as a window of a headless sway ([`Seat`], the "monitor and keyboard"),
//! which has the protocol: `tests/fixtures/desktop/vkbd.py` types into sway, sway gives the keys
//! to cage's window, and cage passes them to the greeter through its own seat, as from a real
//! keyboard. cage's rendering is wlroots' pixman renderer either way; its own Wayland socket,
//! where the greeter is a client, is in the greeter user's `XDG_RUNTIME_DIR` that the worker made.
//!
//! Screens: grim on sway shows what a person sees (cage's window, or sway's magenta background
//! once cage is gone); grim on cage's socket shows the greeter itself.

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemon::{Setup, Vestibuled, GREETER_USER};
use crate::sway::Sway;
use crate::x11::{batch_number, focused, wait_probe_until, Shot};
use crate::{binary, tests_dir, Work, LIMIT};

/// sway's background colour: what the screen shows where no cage window is.
pub const BACKDROP: [u8; 3] = [0xff, 0x00, 0xff];

fn need(path: &str, package: &str) {
    assert!(
        Path::new(path).is_file(),
        "{path} is missing: install {package} (scripts/install-deps.sh does)"
    );
}

/// The fixture that types through the virtual-keyboard protocol.
pub fn vkbd() -> PathBuf {
    tests_dir().join("fixtures/desktop/vkbd.py")
}

/// A headless sway as the screen and keyboard the greeter's cage runs in; stopped on drop.
pub struct Seat {
    sway: Sway,
    /// sway's Wayland socket (absolute: cage connects to it from the sandbox).
    pub socket: PathBuf,
}

impl Seat {
    /// Starts sway (as nobody: it refuses root) with one 1280x720 output, its runtime directory
    /// under `dir`, its socket open to the sandbox's greeter user.
    pub fn start(dir: &Path) -> Seat {
        need("/usr/bin/cage", "cage");
        need("/usr/bin/Xwayland", "xwayland (cage 0.1.4 exits without it)");
        // No title bar or border: cage's window is the whole screen, as on a real monitor.
        let sway = Sway::start_named(
            dir,
            "seat-sway",
            "output * bg #ff00ff solid_color\ndefault_border none\n",
        );
        let socket = sway.socket_path();
        // The greeter user (another uid) connects: the directory must be searchable and the
        // socket writable for it.
        for (mode, path) in [("0755", sway.runtime()), ("0666", &socket)] {
            let st = Command::new("chmod").arg(mode).arg(path).status().unwrap();
            assert!(st.success());
        }
        Seat { sway, socket }
    }

    fn as_nobody(&self, program: &str) -> Command {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg("env")
            .arg(format!("XDG_RUNTIME_DIR={}", self.sway.runtime().display()))
            .arg(format!("WAYLAND_DISPLAY={}", self.socket.display()))
            .arg(program);
        c
    }

    /// Runs vkbd.py with these actions (`text:...`, `key:...`).
    pub fn keys(&self, actions: &[String]) {
        self.keys_output(actions);
    }

    /// Runs vkbd.py with these actions; what it printed (`stamp` actions).
    pub fn keys_output(&self, actions: &[String]) -> String {
        let out = self
            .as_nobody("python3")
            .arg(vkbd())
            .args(actions)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "vkbd.py {actions:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn type_text(&self, text: &str) {
        self.keys(&[format!("text:{text}")]);
    }

    /// One key, xdotool-style names: `Return`, `shift+Tab`, `alt+p`.
    pub fn key(&self, key: &str) {
        self.keys(&[format!("key:{key}")]);
    }

    /// What a person sees: grim of the whole output.
    pub fn screenshot(&self, save_as: &Path) -> Shot {
        let out = self.as_nobody("grim").arg("-").output().expect("grim");
        assert!(
            out.status.success(),
            "grim: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(save_as, &out.stdout).unwrap();
        Shot::read(save_as)
    }
}

/// The greeter's configuration (`vestibule-gtk --config`): `@WORK@` is the work directory.
pub const CONFIG: &str = r#"
[greeter]
state_file = "@WORK@/greeter-state"
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

/// How the greeter is started under the daemon.
pub struct Greeter<'a> {
    /// vestibule-gtk's config file text (`@WORK@` replaced).
    pub config: &'a str,
    /// `-- COMMAND...` for vestibule-gtk (the first session offered); empty: none.
    pub command: Vec<String>,
    /// Extra `NAME=VALUE` for cage and the greeter.
    pub env: Vec<String>,
}

impl<'a> Greeter<'a> {
    /// The daemon tests' session script as the first session (`WORK/session`: it writes
    /// `session.USER` and runs until `end.USER` appears).
    pub fn with_session(work: &Work, config: &'a str) -> Greeter<'a> {
        Greeter {
            config,
            command: vec![crate::daemon::session_command(work).display().to_string()],
            env: Vec::new(),
        }
    }
}

/// The greeter command line for the daemon: cage on `seat`, vestibule-gtk in it with its probe
/// in `WORK/probe`.
pub fn greeter_command(work: &Work, seat: &Seat, greeter: &Greeter) -> String {
    let dir = work.path();
    let config = dir.join("gtk.toml");
    fs::write(&config, greeter.config.replace("@WORK@", dir.to_str().unwrap())).unwrap();
    let mut words = vec![
        "env".to_owned(),
        "WLR_BACKENDS=wayland".into(),
        "WLR_RENDERER=pixman".into(),
        format!("WAYLAND_DISPLAY={}", seat.socket.display()),
        format!("VESTIBULE_GTK_PROBE={}", dir.join("probe").display()),
        "VESTIBULE_LOG=debug".into(),
    ];
    words.extend(greeter.env.iter().cloned());
    words.extend([
        "cage".into(),
        "-s".into(),
        "--".into(),
        binary("vestibule-gtk").display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ]);
    if !greeter.command.is_empty() {
        words.push("--".into());
        words.extend(greeter.command.iter().cloned());
    }
    let quoted: Vec<String> = words.iter().map(|w| crate::tmux::quote(w)).collect();
    // The greeter's own stderr (and cage's) into a log of its own, not onto the terminal.
    format!("{} 2>>{}", quoted.join(" "), dir.join("greeter.log").display())
}

/// The greeter on a [`Seat`] as a person meets it: keys typed on the seat, the widgets read
/// back through the greeter's probe (`WORK/probe`), whoever started it (vestibuled or greetd).
pub struct Screen {
    pub seat: Seat,
    pub probe: PathBuf,
    work: PathBuf,
    batch: Cell<u64>,
    /// The pid of the greeter the last [`Screen::wait_window`] saw.
    pid: Cell<u32>,
}

impl Screen {
    pub fn new(work: &Work, seat: Seat) -> Screen {
        Screen {
            seat,
            probe: work.path().join("probe"),
            work: work.path().to_owned(),
            batch: Cell::new(0),
            pid: Cell::new(0),
        }
    }

    /// Waits for a greeter process other than the last one seen to show its window with the
    /// focus in the user field; its probe text.
    pub fn wait_window(&self, what: &str) -> String {
        let s = self.wait_until(what, |s| {
            let pid = probe_pid(s);
            pid != 0
                && pid != self.pid.get()
                && s.contains("\nwindow visible=true")
                && focused(s).is_some_and(|l| l.split_whitespace().next() == Some("entry"))
        });
        self.pid.set(probe_pid(&s));
        self.batch.set(0);
        s
    }

    /// The running greeter's pid (as its probe says).
    pub fn greeter_pid(&self) -> u32 {
        self.pid.get()
    }

    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&self.probe).unwrap_or_default();
            if ok(&text) {
                return text;
            }
            if start.elapsed() > LIMIT {
                let read = |name: &str| fs::read_to_string(self.work.join(name)).unwrap_or_default();
                panic!(
                    "the greeter did not show {what} within {LIMIT:?}; on screen:\n{text}\n\
                     --- greeter.log:\n{}\n--- daemon.log:\n{}\n--- greeters.log:\n{}",
                    tail(&read("greeter.log"), 30),
                    tail(&read("daemon.log"), 30),
                    read("greeters.log"),
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn wait(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |s| s.contains(needle))
    }

    /// Waits until the focused widget's line starts with `what` (`entry`, `password-entry`).
    pub fn wait_focus(&self, what: &str) -> String {
        self.wait_until(&format!("the focus on {what}"), |s| {
            focused(s).is_some_and(|l| l.split_whitespace().next() == Some(what))
        })
    }

    /// Types a user name into the focused user field and submits it.
    pub fn enter_user(&self, name: &str) {
        let s = self.wait_focus("entry");
        if focused(&s).is_some_and(|l| !l.ends_with(':')) {
            // A name is there already (the last user, or the one of a cancelled login).
            self.seat.keys(&["key:ctrl+a".into(), "key:BackSpace".into()]);
            self.wait_until("the user field empty", |s| {
                focused(s).is_some_and(|l| l.ends_with(':'))
            });
        }
        self.seat.type_text(name);
        self.wait_until(&format!("{name:?} typed"), |s| {
            focused(s).is_some_and(|l| l.ends_with(&format!(": {name}")))
        });
        self.seat.key("Return");
    }

    /// Waits for the next prompt batch with a field labelled `label` and the focus in a field of
    /// kind `field`, then types `text` and Enter; the probe text of that batch.
    pub fn answer(&self, label: &str, field: &str, text: &str) -> String {
        let after = self.batch.get();
        let screen = self.wait_until(&format!("a new prompt {label:?}"), |s| {
            batch_number(s) > after
                && s.contains(&format!("label[prompt]: {label}\n"))
                && focused(s).is_some_and(|l| l.split_whitespace().next() == Some(field))
        });
        self.batch.set(batch_number(&screen));
        self.seat.type_text(text);
        if field == "entry" {
            self.wait_until(&format!("{text:?} typed"), |s| {
                focused(s).is_some_and(|l| l.ends_with(&format!(": {text}")))
            });
        }
        self.seat.key("Return");
        screen
    }

    /// Waits for a prompt batch after the last one answered (e.g. PAM's next prompt).
    pub fn next_batch(&self) -> String {
        let after = self.batch.get();
        wait_probe_until(&self.probe, LIMIT, "a new prompt batch", |s| {
            batch_number(s) > after
        })
    }
}

/// vestibuled with the GTK greeter in cage on a [`Seat`]; what a person sees and types is its
/// [`Screen`] (`Deref`).
pub struct Desktop<'w> {
    pub daemon: Vestibuled<'w>,
    pub screen: Screen,
}

impl std::ops::Deref for Desktop<'_> {
    type Target = Screen;
    fn deref(&self) -> &Screen {
        &self.screen
    }
}

impl<'w> Desktop<'w> {
    pub fn start(work: &'w Work, name: &str, greeter: Greeter) -> Desktop<'w> {
        Desktop::start_with(work, name, greeter, |_| {})
    }

    /// As [`Desktop::start`], with the daemon's [`Setup`] changed by `change` first: a virtual
    /// terminal of its own (`setup.vt`: the greeter and the sessions get it, as on a real machine:
    /// `XDG_VTNR`, `XDG_SEAT`, the controlling terminal), or seatd (`setup.seatd`).
    pub fn start_with(
        work: &'w Work,
        name: &str,
        greeter: Greeter,
        change: impl FnOnce(&mut Setup),
    ) -> Desktop<'w> {
        let seat = Seat::start(work.path());
        let command = greeter_command(work, &seat, &greeter);
        let mut setup = Setup::greeter(command);
        change(&mut setup);
        let daemon = Vestibuled::start(work, name, setup);
        Desktop {
            daemon,
            screen: Screen::new(work, seat),
        }
    }

    /// Waits for greeter number `n` (1-based, counted by the daemon's greeter wrapper) to show
    /// its window with the focus in the user field; its probe text.
    pub fn wait_greeter(&self, n: usize) -> String {
        self.daemon.wait_greeter(n);
        self.screen.wait_window(&format!("greeter {n}'s window"))
    }

    /// Runs `args` as the greeter user in the sandbox with the greeter's `XDG_RUNTIME_DIR`.
    pub fn as_greeter_user(&self, args: &[&str]) -> crate::Run {
        let uid = self.daemon.uid(GREETER_USER);
        let runtime = format!("XDG_RUNTIME_DIR=/run/user/{uid}");
        let mut all = vec![
            "setpriv",
            "--reuid",
            GREETER_USER,
            "--regid",
            GREETER_USER,
            "--clear-groups",
            "--",
            "env",
            &runtime,
        ];
        all.extend_from_slice(args);
        self.daemon.ns(&all)
    }

    /// grim on cage's own socket: the greeter as cage draws it.
    pub fn cage_screenshot(&self, save_as: &Path) -> crate::Run {
        let path = save_as.display().to_string();
        self.as_greeter_user(&["WAYLAND_DISPLAY=wayland-0", "grim", &path])
    }
}

/// The `pid=` line of a probe dump.
pub fn probe_pid(probe: &str) -> u32 {
    probe
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The pids of running processes whose executable ends with `/name`, among `pids`.
pub fn named(pids: &[u32], name: &str) -> Vec<u32> {
    let suffix = format!("/{name}");
    pids.iter()
        .copied()
        .filter(|&p| crate::exe(p).ends_with(&suffix) && crate::daemon::alive(p))
        .collect()
}

/// Debian's greetd 0.9 with the GTK greeter in cage on a [`Seat`], in the root sandbox on a tmux
/// pane (`vt = "none"`): its own PAM service, `/etc/pam.d/greetd` of the sandbox's /etc (Debian's
/// common-auth, pam_unix), and `greetd-greeter` (pam_permit). greetd 0.9 makes no runtime
/// directory for its greeter (pam_systemd or pam_rundir would), so the greeter command gives cage
/// `WORK/greeter-run`, as an admin without logind must. Each greeter appends `pid= uid= sock=
/// proto=` to `WORK/greeters.log`.
pub struct Greetd {
    pub tmux: crate::tmux::Tmux,
    pub screen: Screen,
}

impl std::ops::Deref for Greetd {
    type Target = Screen;
    fn deref(&self) -> &Screen {
        &self.screen
    }
}

impl Greetd {
    pub fn start(work: &Work, name: &str, mut greeter: Greeter) -> Greetd {
        crate::require_root();
        assert!(
            Path::new("/usr/sbin/greetd").is_file(),
            "greetd is not installed (/usr/sbin/greetd): scripts/install-deps.sh installs it"
        );
        let dir = work.path();
        let seat = Seat::start(dir);
        let runtime = dir.join("greeter-run");
        greeter.env.push(format!("XDG_RUNTIME_DIR={}", runtime.display()));
        let command = greeter_command(work, &seat, &greeter);
        let wrapper = dir.join("greeter.sh");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"pid=$$ uid=$(id -u) sock=$GREETD_SOCK proto=${{VESTIBULE_GREETER_PROTOCOL:-}}\" \
                 >>{d}/greeters.log\nexec {command}\n",
                d = dir.display()
            ),
        )
        .unwrap();
        fs::write(
            dir.join("greetd.toml"),
            format!(
                "[terminal]\nvt = \"none\"\n[general]\nrunfile = \"{d}/greetd.run\"\nsource_profile = false\n\
                 [default_session]\ncommand = \"sh {w}\"\nuser = \"{GREETER_USER}\"\n",
                d = dir.display(),
                w = wrapper.display()
            ),
        )
        .unwrap();
        let inside = format!(
            "#!/bin/sh\nset -e\nprintf 'account required pam_permit.so\\nsession required pam_permit.so\\n' \
             > /etc/pam.d/greetd-greeter\ninstall -d -m 0700 -o {GREETER_USER} -g {GREETER_USER} {r}\n\
             exec /usr/sbin/greetd --config {d}/greetd.toml\n",
            r = runtime.display(),
            d = dir.display()
        );
        fs::write(dir.join("greetd.sh"), inside).unwrap();
        let script = format!(
            "{} {} sh {} 2>{}/greetd.log; echo GREETD EXITED=$?; sleep 600",
            crate::tmux::quote(&tests_dir().join("sandbox/run.sh").display().to_string()),
            crate::tmux::quote(&dir.display().to_string()),
            crate::tmux::quote(&dir.join("greetd.sh").display().to_string()),
            dir.display()
        );
        let tmux = crate::tmux::Tmux::start(name, (100, 30), &script);
        Greetd {
            tmux,
            screen: Screen::new(work, seat),
        }
    }
}
