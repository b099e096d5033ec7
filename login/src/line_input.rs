//! Reading one line of input straight into a [`Secret`], with echo off when asked.
//!
//! Bytes are read one at a time from the file descriptor, never through a buffered reader: a
//! buffer would keep a copy of the password after the line is used, and would swallow input meant
//! for the next prompt when several lines are piped in at once.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use vestibule_core::{ConvError, Secret, SecretError};
use zeroize::Zeroize;

/// Turns terminal echo off (keeping the newline echo) until dropped, so it is restored on every
/// path out, errors and interrupts included.
pub struct EchoOff<'fd> {
    fd: BorrowedFd<'fd>,
    saved: Termios,
}

impl<'fd> EchoOff<'fd> {
    pub fn new(fd: BorrowedFd<'fd>) -> io::Result<EchoOff<'fd>> {
        let saved = tcgetattr(fd)?;
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHOE | LocalFlags::ECHOK);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(fd, SetArg::TCSAFLUSH, &quiet)?;
        Ok(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSAFLUSH, &self.saved);
    }
}

/// Reads bytes up to a newline. End of input before any byte, or an interrupting signal, is a
/// cancellation; end of input after some bytes ends the line.
pub fn read_line(fd: impl AsFd) -> Result<Secret, ConvError> {
    let fd = fd.as_fd();
    if vestibule_core::pending_interrupt().is_some() {
        return Err(ConvError::Cancelled);
    }
    let mut line = Secret::new();
    let mut problem: Option<SecretError> = None;
    let mut seen_any = false;
    let mut byte = [0u8; 1];
    let result = loop {
        match nix::unistd::read(fd, &mut byte) {
            Ok(0) if !seen_any => break Err(ConvError::Cancelled),
            Ok(0) => break Ok(()),
            Ok(_) => {
                seen_any = true;
                match byte[0] {
                    b'\n' => break Ok(()),
                    b => {
                        if problem.is_none() {
                            if let Err(e) = line.push(b) {
                                problem = Some(e);
                            }
                        }
                    }
                }
            }
            Err(nix::Error::EINTR) => {
                if vestibule_core::pending_interrupt().is_some() {
                    break Err(ConvError::Cancelled);
                }
            }
            Err(e) => break Err(ConvError::Failed(format!("cannot read input: {e}"))),
        }
    };
    byte.zeroize();
    result?;
    if line.as_bytes().last() == Some(&b'\r') {
        line.pop();
    }
    match problem {
        Some(e) => Err(ConvError::Failed(e.to_string())),
        None => Ok(line),
    }
}
