//! Authentication events to syslog's LOG_AUTHPRIV facility, where admins and tools like fail2ban
//! look for them, in the wording of util-linux login(1).
//!
//! Written straight to the `/dev/log` datagram socket (RFC 3164 framing without a timestamp, which
//! syslog daemons and journald fill in on receipt) rather than through libc's `syslog(3)`: that
//! keeps the process-global `openlog` state out of a library, and a module calling `openlog` with
//! its own ident cannot relabel our lines (the guide's warning about static libc state). Never given
//! a password: every message is built from user names, tty names and PAM status texts only.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

const LOG_AUTHPRIV: u8 = 10 << 3;

/// Severity of an auth event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// Sends auth events under one program name.
#[derive(Debug, Clone)]
pub struct AuthLog {
    ident: &'static str,
}

impl AuthLog {
    pub const fn new(ident: &'static str) -> AuthLog {
        AuthLog { ident }
    }

    /// The framed line as sent, without the socket: `<85>vestibule[42]: LOGIN ON tty1 BY alice`.
    pub fn frame(&self, severity: Severity, message: &str) -> String {
        let clean: String = message
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        format!(
            "<{}>{}[{}]: {}",
            LOG_AUTHPRIV | severity as u8,
            self.ident,
            std::process::id(),
            clean
        )
    }

    /// Sends one event; a missing syslog socket is not an error for the login (logged at debug).
    pub fn send(&self, severity: Severity, message: &str) {
        tracing::info!(target: "vestibule::auth", "{message}");
        let line = self.frame(severity, message);
        let sent = UnixDatagram::unbound().and_then(|s| s.send_to(line.as_bytes(), Path::new("/dev/log")));
        if let Err(e) = sent {
            tracing::debug!(error = %e, "could not write to /dev/log");
        }
    }
}

/// login(1)'s " FROM host" suffix, empty for local logins.
pub(crate) fn from_host(rhost: Option<&str>) -> String {
    rhost.map(|h| format!(" FROM {h}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_use_authpriv_and_strip_controls() {
        let log = AuthLog::new("vestibule");
        let line = log.frame(Severity::Notice, "FAILED LOGIN 1 ON tty1 FOR 'x\ny'");
        let pid = std::process::id();
        assert_eq!(
            line,
            format!("<85>vestibule[{pid}]: FAILED LOGIN 1 ON tty1 FOR 'x?y'")
        );
        assert!(log.frame(Severity::Info, "a").starts_with("<86>"));
        assert!(log.frame(Severity::Warning, "a").starts_with("<84>"));
    }
}
