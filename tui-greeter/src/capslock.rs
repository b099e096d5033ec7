//! The Caps Lock state of a Linux virtual terminal, for the warning over password fields.
//!
//! The kernel keeps the keyboard flags per VT and hands them out with the KDGKBLED ioctl; no tool
//! or library is needed. On anything but a VT (a pty, a serial line) the state is unknown and no
//! warning is shown. The one `unsafe` call of the greeter is here.

use std::os::fd::{AsRawFd, BorrowedFd};

/// `KDGKBLED` from `<linux/kd.h>`: get the keyboard flags (not the lights).
const KDGKBLED: u32 = 0x4B64;
/// `K_CAPSLOCK` in those flags.
const K_CAPSLOCK: u8 = 0x04;

nix::ioctl_read_bad!(kdgkbled, KDGKBLED, libc::c_char);

/// Reads Caps Lock on `fd`; `None` when `fd` is not a virtual terminal.
pub fn caps_lock(fd: BorrowedFd<'_>) -> Option<bool> {
    let mut flags: libc::c_char = 0;
    // SAFETY: KDGKBLED writes exactly one char through the pointer, which points to `flags`, a
    // live local; the descriptor is borrowed, so it stays open for the call.
    let result = unsafe { kdgkbled(fd.as_raw_fd(), &mut flags) };
    result.ok().map(|_| flags as u8 & K_CAPSLOCK != 0)
}

/// Whether the terminal on `fd` is a Linux virtual terminal: only VTs answer KDGKBLED (a pty or a
/// serial line refuses it with ENOTTY), and this works where the device has no name we can see
/// (a private /dev).
pub fn is_vt(fd: BorrowedFd<'_>) -> bool {
    caps_lock(fd).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_vt_is_unknown() {
        let file = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        assert_eq!(caps_lock(file.as_fd()), None);
        assert!(!is_vt(file.as_fd()));
    }
}
