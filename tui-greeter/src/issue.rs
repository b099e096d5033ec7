//! The /etc/issue text above the login card, with agetty's escapes expanded.
//!
//! The file is the administrator's, but it is still shown through [`SafeText`]: an escape
//! sequence in it (or a `\e` colour escape) must not take over the greeter's screen.

use vestibule_core::SafeText;

/// What the escapes expand to, gathered once by the caller so expansion stays pure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `\n`, `\o`: the host name.
    pub host: String,
    /// `\l`: the terminal line (`tty1`).
    pub tty: String,
    /// `\s`: the system name (`Linux`).
    pub system: String,
    /// `\r`: the kernel release.
    pub release: String,
    /// `\m`: the machine architecture.
    pub machine: String,
    /// `\d`: today's date.
    pub date: String,
    /// `\t`: the time.
    pub time: String,
}

impl Facts {
    /// Reads the facts from this machine.
    pub fn gather(tty: Option<&str>) -> Facts {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let now = chrono::Local::now();
        Facts {
            host: host_name(),
            tty: tty.unwrap_or("?").to_owned(),
            system: read("/proc/sys/kernel/ostype"),
            release: read("/proc/sys/kernel/osrelease"),
            machine: std::env::consts::ARCH.to_owned(),
            date: now.format("%a %b %e %Y").to_string(),
            time: now.format("%H:%M:%S").to_string(),
        }
    }
}

/// This machine's host name, or `localhost` when it has none.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Expands the escapes of an issue file and sanitizes the result; trailing blank lines go.
pub fn expand(raw: &[u8], facts: &Facts) -> SafeText {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' || i + 1 >= raw.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let code = raw[i + 1];
        i += 2;
        let value = match code {
            b'n' | b'o' | b'O' => &facts.host,
            b'l' => &facts.tty,
            b's' => &facts.system,
            b'r' => &facts.release,
            b'm' => &facts.machine,
            b'd' => &facts.date,
            b't' => &facts.time,
            b'\\' => {
                out.push(b'\\');
                continue;
            }
            b'e' => {
                // agetty colour escapes (\e, \e{name}): colours are ours to choose; drop them.
                if raw.get(i) == Some(&b'{') {
                    i = raw[i..]
                        .iter()
                        .position(|&c| c == b'}')
                        .map_or(raw.len(), |p| i + p + 1);
                }
                continue;
            }
            // Escapes we do not know (\4, \S{...}, \U) are shown as written.
            other => {
                out.push(b'\\');
                out.push(other);
                continue;
            }
        };
        out.extend_from_slice(value.as_bytes());
    }
    while out.last().is_some_and(|b| b.is_ascii_whitespace()) {
        out.pop();
    }
    SafeText::from_module(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            host: "box".into(),
            tty: "tty3".into(),
            system: "Linux".into(),
            release: "6.1.0".into(),
            machine: "x86_64".into(),
            date: "Mon Nov 23 2026".into(),
            time: "12:00:00".into(),
        }
    }

    #[test]
    fn debian_issue_expands() {
        let out = expand(b"Debian GNU/Linux 12 \\n \\l\n\n", &facts());
        assert_eq!(out.as_str(), "Debian GNU/Linux 12 box tty3");
    }

    #[test]
    fn every_escape() {
        let out = expand(
            b"\\s \\r \\m \\d \\t \\\\ \\4 \\e{red}x\\e{reset} end\\",
            &facts(),
        );
        assert_eq!(
            out.as_str(),
            "Linux 6.1.0 x86_64 Mon Nov 23 2026 12:00:00 \\ \\4 x end\\"
        );
    }

    #[test]
    fn control_sequences_are_made_visible() {
        let out = expand(b"\x1b[2Jhi\x9b", &facts());
        assert_eq!(out.as_str(), "^[[2Jhi\u{fffd}");
    }
}
