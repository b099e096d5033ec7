//! greetd's framing: a native-endian `u32` length, then that many bytes of JSON.
//!
//! greetd allocates whatever length a peer announces; here every read is bounded before anything
//! is allocated, so a peer announcing 4 GiB gets [`FrameError::TooLarge`] after four bytes. Frame
//! buffers are zeroized when dropped: a request may carry a password.

use std::io::{Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

/// Largest request a greeter may send (`vestibuled` reads with this bound). A user name, one
/// answer, a command line and its environment fit many times over; a 1 MiB answer does not.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Largest response a greeter accepts. A whole conversation call is at most 32 messages of at
/// most 2,048 sanitized characters each (`vestibule_core::MAX_MESSAGES`, `MAX_CHARS`), JSON-escaped.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Why a frame could not be read, written or understood.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between two frames.
    #[error("connection closed")]
    Eof,
    /// The peer closed the connection inside a frame.
    #[error("connection closed in the middle of a message")]
    Truncated,
    #[error("message of {announced} bytes is larger than the {limit}-byte limit")]
    TooLarge { announced: u64, limit: usize },
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Serializes `message` into one frame (length and JSON), in a buffer wiped when dropped.
pub fn encode<T: Serialize>(message: &T) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let body = Zeroizing::new(serde_json::to_vec(message)?);
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        announced: body.len() as u64,
        limit: u32::MAX as usize,
    })?;
    let mut frame = Zeroizing::new(Vec::with_capacity(4 + body.len()));
    frame.extend_from_slice(&len.to_ne_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Parses one frame's body.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(body)?)
}

/// Writes `message` as one frame.
pub fn write<W: Write, T: Serialize>(w: &mut W, message: &T) -> Result<(), FrameError> {
    w.write_all(&encode(message)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame's body (blocking), refusing bodies larger than `limit`.
pub fn read_body<R: Read>(r: &mut R, limit: usize) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Eof),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = check_len(header, limit)?;
    let mut body = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => e.into(),
    })?;
    Ok(body)
}

/// Reads and parses one message (blocking).
pub fn read<R: Read, T: DeserializeOwned>(r: &mut R, limit: usize) -> Result<T, FrameError> {
    decode(&read_body(r, limit)?)
}

fn check_len(header: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    let len = u32::from_ne_bytes(header);
    if len as u64 > limit as u64 {
        return Err(FrameError::TooLarge {
            announced: len as u64,
            limit,
        });
    }
    Ok(len as usize)
}

/// An incremental reader for a non-blocking event loop: feed it whatever bytes arrived, take
/// out whole frames. Its buffer never holds more than `limit` + 4 bytes, and is wiped as frames
/// leave it and when it is dropped.
#[derive(Debug)]
pub struct FrameDecoder {
    limit: usize,
    buf: Zeroizing<Vec<u8>>,
}

impl FrameDecoder {
    pub fn new(limit: usize) -> FrameDecoder {
        FrameDecoder {
            limit,
            buf: Zeroizing::new(Vec::new()),
        }
    }

    /// Appends bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            // Grow by moving into a new buffer, so the old one is wiped as it is dropped
            // (a plain reallocation would leave its bytes behind in freed memory).
            let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(2 * self.buf.capacity())));
            grown.extend_from_slice(&self.buf);
            self.buf = grown;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame's body, `Ok(None)` if more bytes are needed, or an error as soon as
    /// the header announces more than the limit (the connection must then be dropped).
    pub fn next_body(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let header = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        let len = check_len(header, self.limit)?;
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let body = Zeroizing::new(self.buf[4..4 + len].to_vec());
        let rest = Zeroizing::new(self.buf[4 + len..].to_vec());
        self.buf = rest;
        Ok(Some(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_frame_is_the_native_endian_length_then_the_json() {
        let frame = encode(&serde_json::json!({"type": "cancel_session"})).unwrap();
        let body = br#"{"type":"cancel_session"}"#;
        assert_eq!(&frame[..4], &(body.len() as u32).to_ne_bytes());
        assert_eq!(&frame[4..], body);
    }

    #[test]
    fn a_huge_announcement_is_refused_before_anything_is_allocated() {
        let mut d = FrameDecoder::new(MAX_REQUEST_BYTES);
        d.feed(&u32::MAX.to_ne_bytes());
        assert!(
            matches!(d.next_body(), Err(FrameError::TooLarge { announced, .. }) if announced == u32::MAX as u64)
        );
        let mut r = &u32::MAX.to_ne_bytes()[..];
        assert!(matches!(
            read_body(&mut r, MAX_REQUEST_BYTES),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn end_of_stream_between_and_inside_frames_differ() {
        let mut empty = &b""[..];
        assert!(matches!(read_body(&mut empty, 10), Err(FrameError::Eof)));
        let mut half = &[5u8, 0][..];
        assert!(matches!(read_body(&mut half, 10), Err(FrameError::Truncated)));
        let mut short = &[5u8, 0, 0, 0, b'{'][..];
        assert!(matches!(read_body(&mut short, 10), Err(FrameError::Truncated)));
    }

    proptest! {
        /// Whatever bytes arrive, in whatever pieces, the decoder never panics, never holds
        /// more than one frame's limit, and yields exactly the frames a blocking reader would.
        #[test]
        fn the_decoder_is_bounded_and_agrees_with_the_blocking_reader(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            cuts in proptest::collection::vec(1usize..64, 0..64),
        ) {
            let limit = 256;
            let mut d = FrameDecoder::new(limit);
            let mut rest = &bytes[..];
            let mut incremental = Vec::new();
            let mut failed = false;
            for cut in cuts.iter().copied().chain(std::iter::repeat(64)) {
                if rest.is_empty() || failed {
                    break;
                }
                let (piece, tail) = rest.split_at(cut.min(rest.len()));
                rest = tail;
                d.feed(piece);
                loop {
                    match d.next_body() {
                        Ok(Some(b)) => incremental.push(b.to_vec()),
                        Ok(None) => break,
                        Err(_) => { failed = true; break; }
                    }
                }
                prop_assert!(failed || d.pending() <= limit + 4 + 64);
            }
            let mut blocking = Vec::new();
            let mut r = &bytes[..];
            while let Ok(b) = read_body(&mut r, limit) {
                blocking.push(b.to_vec());
            }
            prop_assert_eq!(incremental, blocking);
        }
    }
}
