//! A real terminal for a test: one tmux server on a socket of its own, a detached session whose
//! pane runs a shell command; `send-keys` types, `capture-pane` reads the screen. Killed (and its
//! socket file removed) when dropped.

use std::process::Command;
use std::time::{Duration, Instant};

/// One tmux server with one pane.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `script` (run by tmux through sh) in a detached `cols`×`rows` pane. `name` tells
    /// this test's server apart from others running at the same time.
    pub fn start(name: &str, size: (u16, u16), script: &str) -> Tmux {
        let socket = format!("vestibule-test-{}-{name}", std::process::id());
        let t = Tmux { socket };
        let ok = t
            .command()
            .args([
                "new-session",
                "-d",
                "-x",
                &size.0.to_string(),
                "-y",
                &size.1.to_string(),
            ])
            .arg(script)
            .status()
            .expect("tmux (package tmux; scripts/install-deps.sh installs it)");
        assert!(ok.success(), "tmux new-session failed");
        t
    }

    /// A tmux command on this server.
    pub fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// Types text literally.
    pub fn type_text(&self, text: &str) {
        let ok = self.command().args(["send-keys", "-l", text]).status().unwrap();
        assert!(ok.success(), "tmux send-keys failed");
    }

    /// Presses keys by tmux name (Enter, Escape, C-c, F2, ...).
    pub fn keys(&self, keys: &[&str]) {
        let ok = self.command().arg("send-keys").args(keys).status().unwrap();
        assert!(ok.success(), "tmux send-keys failed");
    }

    /// Types a line and presses Enter.
    pub fn line(&self, text: &str) {
        self.type_text(text);
        self.keys(&["Enter"]);
    }

    /// What the pane shows now.
    pub fn screen(&self) -> String {
        let out = self.command().args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `needle` (panicking with the screen after `limit`).
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "{needle:?} did not appear; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of the process the pane runs.
    pub fn pane_pid(&self) -> u32 {
        let out = self
            .command()
            .args(["display-message", "-p", "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
        // tmux leaves its socket file behind.
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        let uid = nix::unistd::Uid::effective();
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.socket));
    }
}

/// Single-quotes `s` for sh.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
