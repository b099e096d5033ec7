//! A real Linux virtual terminal for a test, never switched to: the first VT nobody has open
//! (VT_OPENQRY on /dev/tty0, or `VESTIBULE_TEST_VT`), its screen read from /dev/vcsaN (size) and
//! /dev/vcsuN (characters), keys pushed into its input queue with TIOCSTI, and the VT given back
//! (VT_DISALLOCATE) when dropped. The ioctls run in a small python3 helper, so the tests need no
//! `unsafe`.

use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

const TOOL: &str = r#"
import fcntl, os, struct, sys, termios
vt, what = sys.argv[1], sys.argv[2]
if what == "free":
    fd = os.open("/dev/tty0", os.O_RDWR | os.O_NOCTTY)
    print(struct.unpack("i", fcntl.ioctl(fd, 0x5600, b"\0" * 4))[0])  # VT_OPENQRY
elif what == "release":
    fd = os.open("/dev/tty0", os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.ioctl(fd, 0x5608, int(vt))  # VT_DISALLOCATE (fails harmlessly while open)
    except OSError:
        pass
elif what == "leds":
    fd = os.open("/dev/tty" + vt, os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(fd, 0x4B65, int(sys.argv[3]))  # KDSKBLED: the keyboard flags (4 = Caps Lock)
elif what == "type":
    fd = os.open("/dev/tty" + vt, os.O_RDWR | os.O_NOCTTY)
    for b in sys.argv[3].encode():
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([b]))
else:
    rows, cols = open("/dev/vcsa" + vt, "rb").read(2)
    data = open("/dev/vcsu" + vt, "rb").read()
    cells = struct.unpack("<%dI" % (len(data) // 4), data)
    for r in range(rows):
        print("".join(chr(c) for c in cells[r * cols:(r + 1) * cols]).rstrip())
"#;

fn tool(args: &[&str]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(TOOL)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "vt helper {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One free virtual terminal, given back when dropped.
pub struct Vt {
    pub number: u32,
    /// Held open while the test runs: an open VT is in use, so VT_OPENQRY gives the next test
    /// (tests of one binary run in parallel) another one. Hanging it up (the daemon does, before
    /// each greeter and session) leaves it open until closed.
    hold: Option<std::fs::File>,
}

/// Between asking for the first free VT and opening it, no other test of this process asks.
static CHOOSING: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Vt {
    /// The first VT nobody has open (or `VESTIBULE_TEST_VT`); fails loudly without VTs.
    pub fn free() -> Vt {
        assert!(
            std::path::Path::new("/dev/tty0").exists(),
            "no Linux virtual terminals here (/dev/tty0): this test needs one"
        );
        let _choosing = CHOOSING.lock().unwrap_or_else(|e| e.into_inner());
        let n = std::env::var("VESTIBULE_TEST_VT").unwrap_or_else(|_| tool(&["0", "free"]).trim().to_owned());
        let number = n
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("no free VT: {n:?}"));
        let hold = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
            .open(format!("/dev/tty{number}"))
            .unwrap_or_else(|e| panic!("/dev/tty{number}: {e}"));
        Vt {
            number,
            hold: Some(hold),
        }
    }

    /// `/dev/ttyN`.
    pub fn path(&self) -> String {
        format!("/dev/tty{}", self.number)
    }

    /// Pushes `text` into the VT's input queue, as if typed.
    pub fn type_text(&self, text: &str) {
        tool(&[&self.number.to_string(), "type", text]);
    }

    /// Types a line (Enter is a carriage return on a console).
    pub fn line(&self, text: &str) {
        self.type_text(&format!("{text}\r"));
    }

    /// Sets the VT's keyboard flags (KDSKBLED; 4 is Caps Lock, 0 none), as pressing the lock
    /// keys would.
    pub fn set_leds(&self, flags: u8) {
        tool(&[&self.number.to_string(), "leds", &flags.to_string()]);
    }

    /// What the VT shows ("" before anyone opened it).
    pub fn screen(&self) -> String {
        if !std::path::Path::new(&format!("/dev/vcsu{}", self.number)).exists() {
            return String::new();
        }
        tool(&[&self.number.to_string(), "screen"])
    }

    /// Waits until the screen shows `needle`.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "{needle:?} did not appear on tty{}:\n{s}",
                self.number
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the screen no longer shows `needle`.
    pub fn wait_gone(&self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if !s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "{needle:?} stayed on tty{}:\n{s}",
                self.number
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Vt {
    fn drop(&mut self) {
        // Closed first: VT_DISALLOCATE refuses a VT that is open.
        drop(self.hold.take());
        let _ = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(TOOL)
            .args([&self.number.to_string(), "release"])
            .status();
    }
}
