//! A headless Wayland compositor (sway with wlroots' headless backend) for the lock screen's
//! multi-monitor test: outputs can be created while clients run (`swaymsg create_output`), which
//! is a monitor being plugged in as GTK sees it — no X server here can do that (Xvfb has one
//! output; Xorg's dummy driver reports extra outputs as disconnected, and GTK ignores those).
//! Screens are read back with grim. sway refuses to run as root, so it runs as nobody.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::x11::Shot;

/// A running sway, killed on drop.
pub struct Sway {
    child: Child,
    runtime: PathBuf,
    socket: String,
    ipc: PathBuf,
}

fn need(program: &str, package: &str) {
    assert!(
        Path::new("/usr/bin").join(program).is_file(),
        "{program} is missing: install {package} (scripts/install-deps.sh does)"
    );
}

impl Sway {
    /// Starts sway with one 1280x720 output and a magenta background, its runtime directory
    /// under `dir`.
    pub fn start(dir: &Path) -> Sway {
        Sway::start_named(dir, "sway", "output * bg #ff00ff solid_color\n")
    }

    /// Starts sway with one 1280x720 output and the config `config`; `name` names its files in
    /// `dir`: `NAME-run` (its runtime directory), `NAME.config`, `NAME.log`.
    pub fn start_named(dir: &Path, name: &str, config_text: &str) -> Sway {
        need("sway", "sway");
        need("grim", "grim");
        let runtime = dir.join(format!("{name}-run"));
        fs::create_dir_all(&runtime).unwrap();
        let config = dir.join(format!("{name}.config"));
        let log = dir.join(format!("{name}.log"));
        fs::write(&config, config_text).unwrap();
        for path in [&runtime, &config] {
            let st = Command::new("chown")
                .arg("nobody:nogroup")
                .arg(path)
                .status()
                .unwrap();
            assert!(st.success());
        }
        let child = Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg("env")
            .arg(format!("XDG_RUNTIME_DIR={}", runtime.display()))
            .arg(format!("HOME={}", dir.display()))
            .args([
                "WLR_BACKENDS=headless",
                "WLR_HEADLESS_OUTPUTS=1",
                "WLR_LIBINPUT_NO_DEVICES=1",
                "WLR_RENDERER=pixman",
                "sway",
                "-c",
            ])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sway");
        // Owned at once, so every way out of here (a panic included) stops and reaps it.
        let mut sway = Sway {
            child,
            runtime: runtime.clone(),
            socket: String::new(),
            ipc: PathBuf::new(),
        };
        let start = Instant::now();
        loop {
            let names: Vec<String> = fs::read_dir(&runtime)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let socket = names
                .iter()
                .find(|n| n.starts_with("wayland-") && !n.ends_with(".lock"));
            let ipc = names.iter().find(|n| n.starts_with("sway-ipc."));
            if let (Some(socket), Some(ipc)) = (socket, ipc) {
                sway.socket = socket.clone();
                sway.ipc = runtime.join(ipc);
                assert!(
                    sway.swaymsg(&["-t", "get_outputs"]).contains("HEADLESS-1"),
                    "sway started without its output; see {}",
                    log.display()
                );
                return sway;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "sway did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its runtime directory (`XDG_RUNTIME_DIR` of its clients).
    pub fn runtime(&self) -> &Path {
        &self.runtime
    }

    /// Its Wayland socket, absolute.
    pub fn socket_path(&self) -> PathBuf {
        self.runtime.join(&self.socket)
    }

    /// Points a GTK client at this compositor.
    pub fn client_env(&self, cmd: &mut Command) {
        cmd.env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", &self.socket)
            .env("GDK_BACKEND", "wayland")
            .env_remove("DISPLAY");
    }

    /// Runs swaymsg with these arguments; its output.
    pub fn swaymsg(&self, args: &[&str]) -> String {
        let out = Command::new("swaymsg")
            .arg("-s")
            .arg(&self.ipc)
            .args(args)
            .output()
            .expect("swaymsg");
        assert!(
            out.status.success(),
            "swaymsg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One output's pixels, through grim.
    pub fn screenshot(&self, output: &str, save_as: &Path) -> Shot {
        let st = Command::new("grim")
            .args(["-o", output])
            .arg(save_as)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", &self.socket)
            .status()
            .expect("grim");
        assert!(st.success(), "grim -o {output} failed");
        Shot::read(save_as)
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}
