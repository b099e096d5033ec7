//! A non-blocking, framed socket (greetd's framing) for the daemon's poll loop: outgoing frames
//! are queued and flushed as the peer reads, incoming bytes are fed to a bounded
//! [`FrameDecoder`]. Both buffers hold answers at times, so both are wiped.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use serde::Serialize;
use vestibule_ipc::frame::{self, FrameDecoder};
use zeroize::Zeroizing;

/// A non-blocking framed socket to a worker or a greeter.
pub struct Link {
    pub stream: UnixStream,
    pub decoder: FrameDecoder,
    pub out: Zeroizing<Vec<u8>>,
    /// The peer closed its end (or the link failed).
    pub closed: bool,
}

impl Link {
    pub fn new(stream: UnixStream, limit: usize) -> std::io::Result<Link> {
        stream.set_nonblocking(true)?;
        Ok(Link {
            stream,
            decoder: FrameDecoder::new(limit),
            out: Zeroizing::new(Vec::new()),
            closed: false,
        })
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) {
        if self.closed {
            return;
        }
        match frame::encode(msg) {
            Ok(f) => {
                let mut grown = Zeroizing::new(Vec::with_capacity(self.out.len() + f.len()));
                grown.extend_from_slice(&self.out);
                grown.extend_from_slice(&f);
                self.out = grown;
                self.flush();
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a message"),
        }
    }

    pub fn flush(&mut self) {
        while !self.out.is_empty() && !self.closed {
            match self.stream.write(&self.out) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    let rest = Zeroizing::new(self.out[n..].to_vec());
                    self.out = rest;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Reads what is there into the decoder; marks the link closed at end of stream.
    pub fn fill(&mut self) {
        let mut buf = Zeroizing::new([0u8; 4096]);
        loop {
            match self.stream.read(&mut buf[..]) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => {
                    self.decoder.feed(&buf[..n]);
                    if n < buf.len() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Reads one chunk at most (greeters: never more than one request ahead).
    pub fn fill_once(&mut self) {
        let mut buf = Zeroizing::new([0u8; 4096]);
        match self.stream.read(&mut buf[..]) {
            Ok(0) => self.closed = true,
            Ok(n) => self.decoder.feed(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.closed = true,
        }
    }
}

/// Takes every whole message out of a worker link; unreadable ones are logged and skipped.
pub fn drain<T: serde::de::DeserializeOwned>(link: &mut Link) -> Vec<T> {
    let mut out = Vec::new();
    loop {
        match link.decoder.next_body() {
            Ok(Some(body)) => match frame::decode::<T>(&body) {
                Ok(m) => out.push(m),
                Err(e) => tracing::warn!(error = %e, "unreadable report from a worker"),
            },
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "a worker sent an oversized report");
                link.closed = true;
                break;
            }
        }
    }
    out
}
