//! The worker's end of its socket to the daemon: blocking frames, and writes that never fail
//! loudly (a daemon that went away is nobody to report to; SIGPIPE is ignored by Rust's runtime).

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use serde::de::DeserializeOwned;
use serde::Serialize;
use vestibule_ipc::frame::{self, FrameError};
use vestibule_ipc::worker::MAX_WORKER_MESSAGE_BYTES;

pub struct Chan {
    stream: UnixStream,
    /// The daemon's end closed or failed: stop writing.
    gone: bool,
}

impl Chan {
    pub fn new(fd: OwnedFd) -> Chan {
        let stream = UnixStream::from(fd);
        // The daemon's socket may be non-blocking on its side; ours blocks.
        let _ = stream.set_nonblocking(false);
        Chan { stream, gone: false }
    }

    /// A second handle on the same socket (the PAM conversation owns one).
    pub fn try_clone(&self) -> std::io::Result<Chan> {
        Ok(Chan {
            stream: self.stream.try_clone()?,
            gone: self.gone,
        })
    }

    /// Sends `msg`; returns false if the daemon is gone.
    pub fn send<T: Serialize>(&mut self, msg: &T) -> bool {
        if self.gone {
            return false;
        }
        if let Err(e) = frame::write(&mut self.stream, msg) {
            tracing::info!(error = %e, "the daemon is gone; nobody to report to");
            self.gone = true;
        }
        !self.gone
    }

    /// Receives the next message; `None` when the daemon closed its end (or sent garbage).
    pub fn recv<T: DeserializeOwned>(&mut self) -> Option<T> {
        match frame::read(&mut self.stream, MAX_WORKER_MESSAGE_BYTES) {
            Ok(m) => Some(m),
            Err(FrameError::Eof) => {
                self.gone = true;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable message from the daemon");
                self.gone = true;
                None
            }
        }
    }
}
