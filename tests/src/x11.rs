//! A real X server for the desktop greeter's tests: Xvfb on a free display, xdotool to type and
//! click, screenshots read back as pixels, and the greeter's widget probe (`VESTIBULE_GTK_PROBE`,
//! a dump of the widgets on screen written by `vestibule-gtk` itself).

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Xvfb, killed on drop.
pub struct Xvfb {
    pub display: String,
    pub width: u32,
    pub height: u32,
    child: Child,
    /// Helper X clients (the backdrop), killed with the server.
    helpers: Vec<Child>,
    /// The cookie file clients need, when the server asks for one.
    pub xauthority: Option<PathBuf>,
}

fn need(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} is missing: install {package} (scripts/install-deps.sh does)"
    );
}

impl Xvfb {
    /// Starts Xvfb with one screen of this size on a display it picks itself (`-displayfd`), so
    /// tests running in parallel never share a server.
    pub fn start(width: u32, height: u32) -> Xvfb {
        Xvfb::launch(width, height, None)
    }

    /// Like [`Xvfb::start`], but the server refuses clients without the MIT-MAGIC-COOKIE-1 it
    /// writes to `cookie_file`, as a display manager's X server does; [`Xvfb::client`] and
    /// [`GtkApp::spawn`] pass it on in `XAUTHORITY`.
    pub fn start_with_cookie(width: u32, height: u32, cookie_file: &Path) -> Xvfb {
        need("xauth", "xauth");
        let mut cookie = [0u8; 16];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut cookie))
            .expect("random cookie");
        let hex: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
        // The server loads every entry of its -auth file; clients look theirs up by display
        // number, known only once the server runs.
        xauth_add(cookie_file, ":0", &hex);
        let mut x = Xvfb::launch(width, height, Some(cookie_file));
        xauth_add(cookie_file, &x.display.clone(), &hex);
        x.xauthority = Some(cookie_file.to_owned());
        x
    }

    fn launch(width: u32, height: u32, auth: Option<&Path>) -> Xvfb {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        need("Xvfb", "xvfb");
        need("xdotool", "xdotool");
        need("convert", "imagemagick");
        assert!(
            Path::new("/usr/bin/python3").is_file(),
            "/usr/bin/python3 is missing: install python3 and python3-xlib (scripts/install-deps.sh does)"
        );
        // A pipe without close-on-exec: Xvfb inherits the write end and writes its display number.
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let mut xvfb = Command::new("Xvfb");
        if let Some(file) = auth {
            xvfb.arg("-auth").arg(file);
        }
        let child = xvfb
            .args(["-displayfd", &write_end.as_raw_fd().to_string()])
            .args([
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
                // An X server resets when its last client leaves, refusing connections meanwhile:
                // xdotool typing just after the greeter exits would then fail to connect.
                "-noreset",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        drop(write_end);
        let mut pipe = std::fs::File::from(read_end);
        let mut number = String::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = pipe.read(&mut byte) {
            if byte[0] == b'\n' {
                break;
            }
            number.push(byte[0] as char);
        }
        let n = number.trim();
        assert!(!n.is_empty(), "Xvfb did not start (no display number)");
        Xvfb {
            display: format!(":{n}"),
            width,
            height,
            child,
            helpers: Vec::new(),
            xauthority: None,
        }
    }

    /// `program`, set to be a client of this server (DISPLAY, and XAUTHORITY if it asks for a
    /// cookie).
    pub fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        self.connect(&mut cmd);
        cmd
    }

    fn connect(&self, cmd: &mut Command) {
        cmd.env("DISPLAY", &self.display);
        if let Some(file) = &self.xauthority {
            cmd.env("XAUTHORITY", file);
        }
    }

    /// Runs xdotool with these arguments on this display.
    pub fn xdotool(&self, args: &[&str]) {
        let st = self.client("xdotool").args(args).status().expect("xdotool");
        assert!(st.success(), "xdotool {args:?} failed");
    }

    /// Types text (into whatever has the keyboard focus).
    pub fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "15", "--", text]);
    }

    pub fn key(&self, key: &str) {
        self.xdotool(&["key", key]);
    }

    /// Puts a window of one colour (`"ff00ff"`) under everything, covering the screen, like a
    /// desktop: whatever a later window does not cover shows it. (Painting the root window with
    /// xsetroot leaves Xvfb's screen black.)
    pub fn backdrop(&mut self, colour: &str) {
        let code = r#"
import sys
from Xlib import display, X
d = display.Display(sys.argv[1])
s = d.screen()
w = s.root.create_window(0, 0, s.width_in_pixels, s.height_in_pixels, 0, s.root_depth,
    X.InputOutput, X.CopyFromParent, background_pixel=int(sys.argv[2], 16), override_redirect=True)
w.map()
d.sync()
print("ready", flush=True)
while True:
    d.next_event()
"#;
        let mut child = self
            .client("/usr/bin/python3")
            .args(["-c", code, &self.display, colour])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with python3-xlib");
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        );
        assert_eq!(line.trim(), "ready", "the backdrop window did not start");
        self.helpers.push(child);
    }

    /// The whole screen as RGB pixels.
    pub fn screenshot(&self, save_as: &Path) -> Shot {
        let st = self
            .client("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(save_as)
            .status()
            .expect("import (imagemagick)");
        assert!(st.success(), "screenshot failed");
        Shot::read(save_as)
    }

    /// Sends WM_DELETE_WINDOW to every top-level window whose name matches, as a window manager's
    /// close button does.
    pub fn close_like_a_window_manager(&self, name: &str) {
        let code = r#"
import sys
from Xlib import display, X, protocol
d = display.Display(sys.argv[1])
wm_protocols = d.intern_atom("WM_PROTOCOLS")
wm_delete = d.intern_atom("WM_DELETE_WINDOW")
sent = 0
def walk(w):
    global sent
    try:
        if w.get_wm_name() == sys.argv[2]:
            ev = protocol.event.ClientMessage(window=w, client_type=wm_protocols, data=(32, [wm_delete, X.CurrentTime, 0, 0, 0]))
            w.send_event(ev)
            sent += 1
        for c in w.query_tree().children:
            walk(c)
    except Exception:
        pass
walk(d.screen().root)
d.sync()
print(sent)
"#;
        let out = self
            .client("/usr/bin/python3")
            .args(["-c", code, &self.display, name])
            .output()
            .expect("python3 with python3-xlib");
        assert!(
            out.status.success(),
            "WM_DELETE_WINDOW: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sent: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        assert!(sent > 0, "no window named {name:?} to close");
    }
}

fn xauth_add(file: &Path, display: &str, hex: &str) {
    let st = Command::new("xauth")
        .arg("-q")
        .arg("-f")
        .arg(file)
        .args(["add", display, ".", hex])
        .status()
        .expect("xauth");
    assert!(st.success(), "xauth add {display} failed");
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        for h in &mut self.helpers {
            let _ = h.kill();
            let _ = h.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A screenshot's pixels.
pub struct Shot {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Shot {
    /// Reads an image file (PNG) as RGB pixels, whatever its size.
    pub fn read(path: &Path) -> Shot {
        let size = Command::new("identify")
            .args(["-format", "%w %h"])
            .arg(path)
            .output()
            .expect("identify (imagemagick)");
        let dims: Vec<u32> = String::from_utf8_lossy(&size.stdout)
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        assert_eq!(dims.len(), 2, "identify {}", path.display());
        let out = Command::new("convert")
            .arg(path)
            .arg("rgb:-")
            .output()
            .expect("convert");
        assert!(out.status.success(), "convert failed");
        assert_eq!(out.stdout.len(), (dims[0] * dims[1] * 3) as usize, "image size");
        Shot {
            width: dims[0],
            height: dims[1],
            rgb: out.stdout,
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// How many pixels have exactly this colour.
    pub fn count(&self, colour: [u8; 3]) -> usize {
        self.rgb.chunks_exact(3).filter(|p| *p == colour).count()
    }
}

/// Waits until the probe file contains `needle`, panicking with the last dump after `limit`.
pub fn wait_probe(probe: &Path, needle: &str, limit: Duration) -> String {
    wait_probe_until(probe, limit, needle, |s| s.contains(needle))
}

/// Waits until `ok` holds for the probe file's text.
pub fn wait_probe_until(probe: &Path, limit: Duration, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let text = fs::read_to_string(probe).unwrap_or_default();
        if ok(&text) {
            return text;
        }
        assert!(
            start.elapsed() < limit,
            "the greeter did not show {what:?} within {limit:?}; on screen:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The line of the probe that has the keyboard focus.
pub fn focused(probe: &str) -> Option<&str> {
    probe.lines().find(|l| l.contains(" focus")).map(str::trim)
}

/// A `vestibule-gtk` process under test, with its widget probe; stopped (SIGTERM, then SIGKILL
/// of its process group) on drop.
pub struct GtkApp {
    child: Option<Child>,
    pub probe: PathBuf,
    /// The last prompt batch answered (the probe numbers them).
    batch: Cell<u64>,
}

impl GtkApp {
    /// Spawns `cmd` (in its own process group) on `x` with the probe in `probe`.
    pub fn spawn(mut cmd: Command, x: &Xvfb, probe: &Path) -> GtkApp {
        x.connect(&mut cmd);
        GtkApp::spawn_on(cmd, probe)
    }

    /// Spawns `cmd` as it is (its display already chosen) with the probe in `probe`.
    pub fn spawn_on(mut cmd: Command, probe: &Path) -> GtkApp {
        cmd.env("VESTIBULE_GTK_PROBE", probe);
        let child = crate::spawn(&mut cmd);
        GtkApp {
            child: Some(child),
            probe: probe.to_owned(),
            batch: Cell::new(0),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn wait(&self, needle: &str) -> String {
        wait_probe(&self.probe, needle, crate::LIMIT)
    }

    /// Waits until the focused widget's line starts with `what` (`entry`, `password-entry`).
    pub fn wait_focus(&self, what: &str) -> String {
        wait_probe_until(&self.probe, crate::LIMIT, &format!("focus on {what}"), |s| {
            focused(s).is_some_and(|l| l.split_whitespace().next() == Some(what))
        })
    }

    /// Waits for the next prompt batch with a field labelled `label` and the focus in a field of
    /// kind `field`, then types `text` and Enter.
    pub fn answer(&self, x: &Xvfb, label: &str, field: &str, text: &str) -> String {
        let after = self.batch.get();
        let screen = wait_probe_until(
            &self.probe,
            crate::LIMIT,
            &format!("a new prompt {label:?}"),
            |s| {
                batch_number(s) > after
                    && s.contains(&format!("label[prompt]: {label}\n"))
                    && focused(s).is_some_and(|l| l.split_whitespace().next() == Some(field))
            },
        );
        self.batch.set(batch_number(&screen));
        x.type_text(text);
        if field == "entry" {
            // A visible field shows what was typed: make sure all of it arrived.
            wait_probe_until(&self.probe, crate::LIMIT, &format!("{text:?} typed"), |s| {
                focused(s).is_some_and(|l| l.ends_with(&format!(": {text}")))
            });
        }
        x.key("Return");
        screen
    }

    /// Types a user name into the focused user field and submits it, as a person starts a login.
    pub fn enter_user(&self, x: &Xvfb, name: &str) {
        self.wait_focus("entry");
        x.type_text(name);
        x.key("Return");
    }

    /// Waits for a file (a session's marker); on timeout, shows what is on screen.
    pub fn wait_file(&self, path: &Path) -> String {
        let start = Instant::now();
        loop {
            if let Ok(s) = fs::read_to_string(path) {
                if !s.is_empty() {
                    return s;
                }
            }
            if start.elapsed() > crate::LIMIT {
                let screen = fs::read_to_string(&self.probe).unwrap_or_default();
                panic!("{} did not appear; on screen:\n{screen}", path.display());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn still_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Waits for the process to exit; its status code.
    pub fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            let screen = fs::read_to_string(&self.probe).unwrap_or_default();
            assert!(
                start.elapsed() < limit,
                "still running after {limit:?}; on screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// The number of the prompt batch on screen (0: none yet).
pub fn batch_number(screen: &str) -> u64 {
    screen
        .lines()
        .filter_map(|l| l.trim().strip_prefix("batch-"))
        .filter_map(|n| n.parse().ok())
        .max()
        .unwrap_or(0)
}

impl Drop for GtkApp {
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
