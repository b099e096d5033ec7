//! The login terminal between users: revoking it, resetting it, handing it to a session and
//! taking it back, as util-linux login(1) and agetty do.
//!
//! A process left behind by the last session (one that ignores SIGHUP, say) must never read the
//! next person's user name and password. [`revoke`] hangs the terminal up (`vhangup`): every
//! descriptor anyone still has on it stops working, so only descriptors opened afterwards see
//! the next login. It must run in a process of its own (it makes the terminal its controlling
//! terminal); `vestibuled` runs `vestibule-worker revoke TTY` for it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::termios::{
    self, ControlFlags, InputFlags, LocalFlags, OutputFlags, SetArg, SpecialCharacterIndices as Cc,
};
use nix::unistd::{Gid, Uid};

use crate::sys;

/// Why a terminal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("{what} on {path} failed: {source}")]
    Call {
        what: &'static str,
        path: String,
        source: nix::Error,
    },
    #[error("cannot change the owner of {path}: {source}")]
    Owner { path: String, source: std::io::Error },
}

fn open(path: &Path) -> Result<File, TtyError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| TtyError::Open {
            path: path.display().to_string(),
            source,
        })
}

fn call(what: &'static str, path: &Path) -> impl FnOnce(nix::Error) -> TtyError {
    let path = path.display().to_string();
    move |source| TtyError::Call { what, path, source }
}

/// Hangs up `path` for everyone who has it open: `setsid`, the terminal as controlling terminal
/// (taken by force from any session that has it), SIGHUP ignored, `vhangup`. Run this in a
/// short-lived process of its own: afterwards the caller has a new session and no terminal.
/// Needs root (CAP_SYS_TTY_CONFIG).
pub fn revoke(path: &Path) -> Result<(), TtyError> {
    // Fails only when already a session leader, which a fresh helper process is not.
    let _ = nix::unistd::setsid();
    let tty = open(path)?;
    sys::set_controlling_tty(tty.as_fd(), true).map_err(call("TIOCSCTTY", path))?;
    sys::ignore_sighup().map_err(call("ignoring SIGHUP", path))?;
    sys::vhangup().map_err(call("vhangup", path))?;
    Ok(())
}

/// Puts `path` back into a sane state for the next program: `stty sane`-like termios (cooked
/// mode, echo, the usual control characters; speed and character size kept), pending input
/// discarded, the screen cleared. Opens the terminal afresh (after [`revoke`], older descriptors
/// are dead) and closes it again.
pub fn reset(path: &Path) -> Result<(), TtyError> {
    let tty = open(path)?;
    let mut t = termios::tcgetattr(tty.as_fd()).map_err(call("tcgetattr", path))?;
    t.input_flags =
        InputFlags::BRKINT | InputFlags::ICRNL | InputFlags::IXON | InputFlags::IMAXBEL | InputFlags::IUTF8;
    t.output_flags = OutputFlags::OPOST | OutputFlags::ONLCR;
    t.control_flags |= ControlFlags::CREAD | ControlFlags::HUPCL;
    t.local_flags = LocalFlags::ISIG
        | LocalFlags::ICANON
        | LocalFlags::ECHO
        | LocalFlags::ECHOE
        | LocalFlags::ECHOK
        | LocalFlags::ECHOCTL
        | LocalFlags::ECHOKE
        | LocalFlags::IEXTEN;
    for (cc, value) in [
        (Cc::VINTR, 0x03),
        (Cc::VQUIT, 0x1c),
        (Cc::VERASE, 0x7f),
        (Cc::VKILL, 0x15),
        (Cc::VEOF, 0x04),
        (Cc::VSTART, 0x11),
        (Cc::VSTOP, 0x13),
        (Cc::VSUSP, 0x1a),
        (Cc::VWERASE, 0x17),
        (Cc::VLNEXT, 0x16),
        (Cc::VMIN, 1),
        (Cc::VTIME, 0),
    ] {
        t.control_chars[cc as usize] = value;
    }
    termios::tcsetattr(tty.as_fd(), SetArg::TCSANOW, &t).map_err(call("tcsetattr", path))?;
    let _ = termios::tcflush(tty.as_fd(), termios::FlushArg::TCIFLUSH);
    // Scrolling region off, cursor home, clear to the end: agetty's clear.
    let _ = (&tty).write_all(b"\x1b[r\x1b[H\x1b[J");
    Ok(())
}

/// Makes `path` the calling process's controlling terminal and its standard input, output and
/// error: `setsid` (unless already a session leader), open, `TIOCSCTTY` (taken by force when
/// `steal`, root only), `dup2` onto 0, 1 and 2.
pub fn attach(path: &Path, steal: bool) -> Result<(), TtyError> {
    let _ = nix::unistd::setsid();
    let tty = open(path)?;
    sys::set_controlling_tty(tty.as_fd(), steal).map_err(call("TIOCSCTTY", path))?;
    onto_stdio(&tty, path)
}

/// Makes `path` the calling process's standard input, output and error without touching its
/// controlling terminal (not root: a terminal we share, such as the demo's pseudo-terminal).
pub fn redirect_stdio(path: &Path) -> Result<(), TtyError> {
    let tty = open(path)?;
    onto_stdio(&tty, path)
}

fn onto_stdio(tty: &File, path: &Path) -> Result<(), TtyError> {
    // Blocking again: the session's programs expect an ordinary terminal.
    let flags = nix::fcntl::fcntl(tty, nix::fcntl::FcntlArg::F_GETFL).map_err(call("F_GETFL", path))?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) & !nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(tty, nix::fcntl::FcntlArg::F_SETFL(flags)).map_err(call("F_SETFL", path))?;
    nix::unistd::dup2_stdin(tty).map_err(call("dup2", path))?;
    nix::unistd::dup2_stdout(tty).map_err(call("dup2", path))?;
    nix::unistd::dup2_stderr(tty).map_err(call("dup2", path))?;
    Ok(())
}

/// Gives the terminal to the session's user: owner `uid`, group `tty` (the user's group if
/// there is none), mode 0620, as login(1) does (`TTYGROUP`, `TTYPERM`).
pub fn give_to(path: &Path, uid: Uid, gid: Gid) -> Result<(), TtyError> {
    let group = tty_group().unwrap_or(gid);
    set_owner(path, uid, group, 0o620)
}

/// Takes the terminal back after a session: root, group `tty`, mode 0620 (what agetty leaves),
/// or root:root 0600 when there is no `tty` group.
pub fn take_back(path: &Path) -> Result<(), TtyError> {
    match tty_group() {
        Some(group) => set_owner(path, Uid::from_raw(0), group, 0o620),
        None => set_owner(path, Uid::from_raw(0), Gid::from_raw(0), 0o600),
    }
}

fn tty_group() -> Option<Gid> {
    nix::unistd::Group::from_name("tty").ok().flatten().map(|g| g.gid)
}

fn set_owner(path: &Path, uid: Uid, gid: Gid, mode: u32) -> Result<(), TtyError> {
    use std::os::unix::fs::PermissionsExt;
    let owner = |source| TtyError::Owner {
        path: path.display().to_string(),
        source,
    };
    std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw())).map_err(owner)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(owner)
}

/// The first virtual terminal nobody has open (`VT_OPENQRY` on `/dev/tty0`), for `vt = "next"`.
pub fn next_free_vt() -> Result<u32, TtyError> {
    let console = Path::new("/dev/tty0");
    let fd = open(console)?;
    let n = sys::first_free_vt(fd.as_fd()).map_err(call("VT_OPENQRY", console))?;
    u32::try_from(n).ok().filter(|&n| n >= 1).ok_or(TtyError::Call {
        what: "VT_OPENQRY",
        path: console.display().to_string(),
        source: nix::Error::ENXIO,
    })
}

/// Switches the console to VT `n` and waits until it is active (greetd's `switch = true`).
pub fn activate_vt(n: u32) -> Result<(), TtyError> {
    let console = Path::new("/dev/tty0");
    let fd = open(console)?;
    let n = i32::try_from(n).map_err(|_| TtyError::Call {
        what: "VT_ACTIVATE",
        path: console.display().to_string(),
        source: nix::Error::EINVAL,
    })?;
    sys::switch_vt(fd.as_fd(), n).map_err(call("VT_ACTIVATE", console))
}

/// The virtual terminal number of `/dev/ttyN` (N ≥ 1), `None` for anything else (`XDG_VTNR` is
/// set only on a VT).
pub fn vt_number(path: &Path) -> Option<u32> {
    let name = path.to_str()?.strip_prefix("/dev/tty")?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok().filter(|&n| n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_virtual_terminals_have_a_number() {
        assert_eq!(vt_number(Path::new("/dev/tty1")), Some(1));
        assert_eq!(vt_number(Path::new("/dev/tty63")), Some(63));
        assert_eq!(vt_number(Path::new("/dev/tty0")), None);
        assert_eq!(vt_number(Path::new("/dev/tty")), None);
        assert_eq!(vt_number(Path::new("/dev/ttyS0")), None);
        assert_eq!(vt_number(Path::new("/dev/pts/3")), None);
    }
}
