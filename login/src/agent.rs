//! Registering the session with the session agent, over just enough D-Bus for it.
//!
//! The supervisor makes two calls, `RegisterSession` when the session starts and
//! `UnregisterSession` once its PAM session is closed, each one request and one reply. zbus does
//! them too (the full-screen greeter uses it), but zbus and its executor are most of a megabyte
//! of code, and this binary runs before every console login; so this module speaks the wire
//! protocol itself: SASL EXTERNAL, `Hello`, then one method call at a time, blocking, on the
//! supervisor's own thread, every step bounded by [`TIMEOUT`]. It creates no thread, so the
//! signals the supervisor blocks stay its own (see `vestibule_core::tracker`).
//!
//! The agent's names are repeated here rather than taken from `vestibule_agent`, so as not to
//! build the agent's crate into this one; the end-to-end tests check that they agree.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use vestibule_core::record::SessionRecord;
use vestibule_core::{OpenSession, SessionError, SessionReport, SessionSpec, SessionTracker};

/// The agent's well-known bus name, object path and interface (`vestibule_agent::BUS_NAME` …).
pub const BUS_NAME: &str = "org.vestibule.SessionAgent1";
pub const OBJECT_PATH: &str = "/org/vestibule/SessionAgent1";
pub const INTERFACE: &str = "org.vestibule.SessionAgent1";

/// The environment variable naming the agent's bus (tests, a private bus); unset means the
/// system bus. The same as `vestibule_agent::client::AGENT_BUS_ENV`.
pub const AGENT_BUS_ENV: &str = "VESTIBULE_AGENT_BUS";

/// How long one step (connecting, one call) may take before the supervisor goes on without the
/// agent: a hung bus or agent must not hold up a login, nor the close of one.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The system bus's socket when `DBUS_SYSTEM_BUS_ADDRESS` does not name another.
const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// What the bus answers when nobody owns the agent's name.
const SERVICE_UNKNOWN: &str = "org.freedesktop.DBus.Error.ServiceUnknown";

/// The largest message taken from the bus. The replies awaited here are a few dozen bytes; a
/// limit keeps a broken peer from making the supervisor allocate what D-Bus allows (128 MiB).
const MAX_MESSAGE: usize = 1 << 20;

/// Message types (D-Bus specification, "Message Format").
const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("{0}")]
    Io(io::Error),
    #[error("no answer within {TIMEOUT:?}")]
    Timeout,
    #[error("bus address {0:?} has no unix:path= or unix:abstract= entry")]
    Address(String),
    #[error("the bus refused authentication: {0:?}")]
    Auth(String),
    /// The D-Bus error name (`org.freedesktop.DBus.Error.AccessDenied`) and its text.
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
    #[error("bad message: {0}")]
    Protocol(&'static str),
}

impl From<io::Error> for BusError {
    fn from(e: io::Error) -> BusError {
        match e.kind() {
            // What a read or write past its socket timeout returns.
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => BusError::Timeout,
            _ => BusError::Io(e),
        }
    }
}

/// Where a [`Tracker`] registers sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentBus {
    /// The system bus, if there is one: no bus or no agent is not an error there.
    System,
    /// This address (`--agent-bus`, `VESTIBULE_AGENT_BUS`): failing to reach it is worth a warning.
    Address(String),
}

/// The core's [`SessionTracker`] over the agent: registers the session the supervisor opened
/// and unregisters it once its PAM session is closed.
///
/// Connects in `opened`, never before, so a login with no session to register never touches the
/// bus.
#[derive(Debug)]
pub struct Tracker {
    bus: AgentBus,
    conn: Option<Connection>,
}

impl Tracker {
    pub fn new(bus: AgentBus) -> Tracker {
        Tracker { bus, conn: None }
    }

    /// `explicit` (a command-line address), else `VESTIBULE_AGENT_BUS`, else the system bus.
    pub fn from_env(explicit: Option<String>) -> Tracker {
        let address = explicit
            .or_else(|| std::env::var(AGENT_BUS_ENV).ok())
            .filter(|a| !a.is_empty());
        Tracker::new(address.map_or(AgentBus::System, AgentBus::Address))
    }

    pub fn bus(&self) -> &AgentBus {
        &self.bus
    }

    /// Connects to the agent's bus; `Ok(None)` when it is the system bus and there is none
    /// (containers, rescue shells).
    fn connect(&self) -> Result<Option<Connection>, BusError> {
        let address = match &self.bus {
            AgentBus::Address(a) => a.clone(),
            AgentBus::System => match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
                Ok(a) if !a.is_empty() => a,
                _ if std::path::Path::new(SYSTEM_BUS_SOCKET).exists() => {
                    format!("unix:path={SYSTEM_BUS_SOCKET}")
                }
                _ => return Ok(None),
            },
        };
        Connection::open(&address).map(Some)
    }
}

impl SessionTracker for Tracker {
    fn opened(&mut self, record: &SessionRecord) -> Result<Option<String>, String> {
        if self.conn.is_none() {
            match self.connect() {
                Ok(Some(c)) => self.conn = Some(c),
                Ok(None) => {
                    tracing::debug!("no system bus: the session is not registered");
                    return Ok(None);
                }
                Err(e) if self.bus == AgentBus::System => {
                    tracing::debug!(error = %e, "no system bus: the session is not registered");
                    return Ok(None);
                }
                Err(e) => return Err(format!("cannot connect to the agent's bus: {e}")),
            }
        }
        let conn = self.conn.as_mut().expect("connected above");
        let args = [
            Arg::Str(&record.user),
            Arg::U32(record.uid),
            Arg::Str(record.tty.as_deref().unwrap_or_default()),
            Arg::Str(record.display.as_deref().unwrap_or_default()),
            Arg::Str(record.remote_host.as_deref().unwrap_or_default()),
            Arg::Str(&record.service),
            Arg::U32(record.leader),
            Arg::U32(record.supervisor),
            Arg::Str(record.class.as_str()),
        ];
        match conn.call_agent("RegisterSession", &args) {
            Ok(reply) => match reply.first_string() {
                Some(id) => Ok(Some(id)),
                None => Err("registering with the session agent: the reply holds no id".into()),
            },
            Err(BusError::Remote { name, .. }) if self.bus == AgentBus::System && name == SERVICE_UNKNOWN => {
                tracing::debug!("no session agent on the system bus: the session is not registered");
                Ok(None)
            }
            Err(e) => Err(format!("registering with the session agent: {e}")),
        }
    }

    fn closed(&mut self, id: &str) {
        let Some(conn) = &mut self.conn else {
            return;
        };
        if let Err(e) = conn.call_agent("UnregisterSession", &[Arg::Str(id)]) {
            tracing::warn!(id, error = %e, "could not unregister the session");
        }
    }
}

/// Runs `session` as `spec` says, telling the agent on `agent_bus` about it when there is one.
///
/// On the system bus only root may register, so a user's own login (the demo) runs untracked;
/// a missing bus or agent never stops a login.
pub fn run_session(
    session: OpenSession,
    spec: &SessionSpec,
    agent_bus: Option<String>,
) -> Result<SessionReport, SessionError> {
    let mut tracker = Tracker::from_env(agent_bus);
    if *tracker.bus() == AgentBus::System && !nix::unistd::Uid::effective().is_root() {
        tracing::debug!("not root: the session is not registered with the agent");
        return session.run(spec);
    }
    session.run_tracked(spec, &mut tracker)
}

/// One argument of a method call: the agent's methods take strings and uint32s only.
#[derive(Debug, Clone, Copy)]
enum Arg<'a> {
    Str(&'a str),
    U32(u32),
}

/// An authenticated connection to a bus, after `Hello`.
#[derive(Debug)]
struct Connection {
    stream: UnixStream,
    serial: u32,
}

impl Connection {
    fn open(address: &str) -> Result<Connection, BusError> {
        let deadline = Instant::now() + TIMEOUT;
        let stream = connect_address(address)?;
        let mut conn = Connection { stream, serial: 0 };
        conn.authenticate(deadline)?;
        conn.call(
            deadline,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            &[],
        )?;
        Ok(conn)
    }

    fn call_agent(&mut self, member: &str, args: &[Arg<'_>]) -> Result<Incoming, BusError> {
        let deadline = Instant::now() + TIMEOUT;
        self.call(deadline, BUS_NAME, OBJECT_PATH, INTERFACE, member, args)
    }

    /// Bounds the next socket operation by what is left until `deadline`.
    fn arm(&self, deadline: Instant) -> Result<(), BusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BusError::Timeout);
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.set_write_timeout(Some(left))?;
        Ok(())
    }

    /// SASL EXTERNAL: the bus learns our uid from the socket; we name the same uid.
    fn authenticate(&mut self, deadline: Instant) -> Result<(), BusError> {
        let uid = nix::unistd::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.arm(deadline)?;
        self.stream
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        let line = self.read_line(deadline)?;
        if !line.starts_with("OK ") {
            return Err(BusError::Auth(line));
        }
        self.arm(deadline)?;
        self.stream.write_all(b"BEGIN\r\n")?;
        Ok(())
    }

    /// One line of the authentication exchange, read a byte at a time so that nothing of the
    /// messages after it is consumed.
    fn read_line(&mut self, deadline: Instant) -> Result<String, BusError> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.arm(deadline)?;
            self.stream.read_exact(&mut byte)?;
            if byte[0] == b'\n' {
                break;
            }
            if line.len() >= 512 {
                return Err(BusError::Protocol("authentication line too long"));
            }
            line.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&line).trim_end_matches('\r').to_owned())
    }

    /// Sends one method call and waits for its reply, passing over anything else the bus sends
    /// meanwhile (`NameAcquired` after `Hello`).
    fn call(
        &mut self,
        deadline: Instant,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Arg<'_>],
    ) -> Result<Incoming, BusError> {
        self.serial = self.serial.checked_add(1).unwrap_or(1);
        let serial = self.serial;
        let message = method_call(serial, destination, path, interface, member, args)?;
        self.arm(deadline)?;
        self.stream.write_all(&message)?;
        loop {
            let reply = self.read_message(deadline)?;
            if reply.reply_serial != Some(serial) {
                continue;
            }
            match reply.kind {
                METHOD_RETURN => return Ok(reply),
                ERROR => {
                    return Err(BusError::Remote {
                        message: reply.first_string().unwrap_or_default(),
                        name: reply.error_name.unwrap_or_default(),
                    })
                }
                _ => continue,
            }
        }
    }

    fn read_message(&mut self, deadline: Instant) -> Result<Incoming, BusError> {
        let mut buf = vec![0u8; 16];
        self.arm(deadline)?;
        self.stream.read_exact(&mut buf)?;
        let total = message_len(&buf)?;
        buf.resize(total, 0);
        self.arm(deadline)?;
        self.stream.read_exact(&mut buf[16..])?;
        parse_message(&buf)
    }
}

/// Connects to the first entry of a D-Bus address (`unix:path=…,guid=…;…`) that accepts.
fn connect_address(address: &str) -> Result<UnixStream, BusError> {
    let mut last = None;
    for entry in address.split(';') {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for (key, value) in params.split(',').filter_map(|kv| kv.split_once('=')) {
            let result = match key {
                "path" => UnixStream::connect(OsStr::from_bytes(&unescape(value)?)),
                "abstract" => connect_abstract(&unescape(value)?),
                _ => continue,
            };
            match result {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
    }
    Err(last.map_or_else(|| BusError::Address(address.to_owned()), BusError::from))
}

fn connect_abstract(name: &[u8]) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    UnixStream::connect_addr(&addr)
}

/// Undoes the `%xx` escaping of D-Bus address values.
fn unescape(value: &str) -> Result<Vec<u8>, BusError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(byte.ok_or(BusError::Protocol("bad %-escape in the bus address"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Appends D-Bus values to a message being built, little-endian, aligned to its start.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, to: usize) {
        self.buf.resize(align(self.buf.len(), to), 0);
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn string(&mut self, s: &str) -> Result<(), BusError> {
        if s.contains('\0') {
            return Err(BusError::Protocol("a string argument holds a NUL byte"));
        }
        let len = u32::try_from(s.len()).map_err(|_| BusError::Protocol("a string argument is too long"))?;
        self.u32(len);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    /// Signatures are at most 255 bytes; only short constant ones are written here.
    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
}

/// A complete METHOD_CALL message.
fn method_call(
    serial: u32,
    destination: &str,
    path: &str,
    interface: &str,
    member: &str,
    args: &[Arg<'_>],
) -> Result<Vec<u8>, BusError> {
    let mut body = Writer::default();
    let mut signature = String::new();
    for arg in args {
        match *arg {
            Arg::Str(s) => {
                signature.push('s');
                body.string(s)?;
            }
            Arg::U32(v) => {
                signature.push('u');
                body.u32(v);
            }
        }
    }
    let mut m = Writer::default();
    m.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
    m.u32(body.buf.len() as u32);
    m.u32(serial);
    // The header fields: an array of (code, variant); its length is filled in below.
    let len_at = m.buf.len();
    m.u32(0);
    let start = m.buf.len();
    for (code, ty, value) in [
        (1u8, "o", path),
        (6, "s", destination),
        (2, "s", interface),
        (3, "s", member),
        (8, "g", signature.as_str()),
    ] {
        if code == 8 && value.is_empty() {
            continue;
        }
        m.pad(8);
        m.buf.push(code);
        m.signature(ty);
        match ty {
            "g" => m.signature(value),
            _ => m.string(value)?,
        }
    }
    let fields_len = (m.buf.len() - start) as u32;
    m.buf[len_at..len_at + 4].copy_from_slice(&fields_len.to_le_bytes());
    m.pad(8);
    m.buf.extend_from_slice(&body.buf);
    Ok(m.buf)
}

/// A message from the bus, as far as a caller waiting for a reply needs it.
#[derive(Debug)]
struct Incoming {
    kind: u8,
    reply_serial: Option<u32>,
    error_name: Option<String>,
    signature: String,
    body: Vec<u8>,
    big_endian: bool,
}

impl Incoming {
    /// The body's first value when it is a string: the id a registration returns, the text of
    /// an error.
    fn first_string(&self) -> Option<String> {
        if !self.signature.starts_with('s') {
            return None;
        }
        let mut r = Reader {
            buf: &self.body,
            pos: 0,
            big_endian: self.big_endian,
        };
        r.string().ok().map(str::to_owned)
    }
}

/// The whole length of a message from its first 16 bytes.
fn message_len(fixed: &[u8]) -> Result<usize, BusError> {
    let big_endian = match fixed[0] {
        b'l' => false,
        b'B' => true,
        _ => return Err(BusError::Protocol("unknown byte order")),
    };
    let mut r = Reader {
        buf: fixed,
        pos: 4,
        big_endian,
    };
    let body_len = r.u32()? as usize;
    r.pos = 12;
    let fields_len = r.u32()? as usize;
    let total = align(16 + fields_len, 8).saturating_add(body_len);
    if total > MAX_MESSAGE {
        return Err(BusError::Protocol("message too large"));
    }
    Ok(total)
}

/// Reads the header fields that matter for a reply, and the body.
fn parse_message(buf: &[u8]) -> Result<Incoming, BusError> {
    let total = message_len(buf)?;
    if buf.len() != total {
        return Err(BusError::Protocol("truncated message"));
    }
    let big_endian = buf[0] == b'B';
    let mut r = Reader {
        buf,
        pos: 12,
        big_endian,
    };
    let fields_end = 16 + r.u32()? as usize;
    let mut message = Incoming {
        kind: buf[1],
        reply_serial: None,
        error_name: None,
        signature: String::new(),
        body: buf[align(fields_end, 8)..].to_vec(),
        big_endian,
    };
    while r.pos < fields_end {
        r.align(8)?;
        let code = r.byte()?;
        match r.signature()? {
            "s" | "o" => {
                let value = r.string()?;
                if code == 4 {
                    message.error_name = Some(value.to_owned());
                }
            }
            "g" => {
                let value = r.signature()?;
                if code == 8 {
                    message.signature = value.to_owned();
                }
            }
            "u" => {
                let value = r.u32()?;
                if code == 5 {
                    message.reply_serial = Some(value);
                }
            }
            _ => return Err(BusError::Protocol("unexpected header field type")),
        }
    }
    if r.pos != fields_end {
        return Err(BusError::Protocol("header fields overrun their array"));
    }
    Ok(message)
}

/// Reads D-Bus values from a message (or a body, which starts 8-aligned).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BusError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(BusError::Protocol("value runs past the message"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn align(&mut self, to: usize) -> Result<(), BusError> {
        let aligned = align(self.pos, to);
        self.take(aligned - self.pos).map(drop)
    }

    fn byte(&mut self) -> Result<u8, BusError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, BusError> {
        self.align(4)?;
        let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
        Ok(match self.big_endian {
            true => u32::from_be_bytes(b),
            false => u32::from_le_bytes(b),
        })
    }

    fn text(&mut self, len: usize) -> Result<&'a str, BusError> {
        let bytes = self.take(len)?;
        if self.byte()? != 0 {
            return Err(BusError::Protocol("string without its NUL"));
        }
        std::str::from_utf8(bytes).map_err(|_| BusError::Protocol("string is not UTF-8"))
    }

    fn string(&mut self) -> Result<&'a str, BusError> {
        let len = self.u32()? as usize;
        self.text(len)
    }

    fn signature(&mut self) -> Result<&'a str, BusError> {
        let len = self.byte()? as usize;
        self.text(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_call_reads_back() {
        let args = [Arg::Str("alice"), Arg::U32(1000), Arg::Str(""), Arg::U32(7)];
        let m = method_call(3, BUS_NAME, OBJECT_PATH, INTERFACE, "RegisterSession", &args).unwrap();
        assert_eq!(message_len(&m[..16]).unwrap(), m.len());
        let parsed = parse_message(&m).unwrap();
        assert_eq!(parsed.kind, METHOD_CALL);
        assert_eq!(parsed.signature, "susu");
        assert_eq!(parsed.first_string().as_deref(), Some("alice"));
        // alice: len 4 + "alice\0" = 10, pad to 12, uid at 12..16, "" at 16..21, pad, 7 at 24.
        assert_eq!(parsed.body.len(), 28);
        assert_eq!(&parsed.body[12..16], &1000u32.to_le_bytes());
        assert_eq!(&parsed.body[24..28], &7u32.to_le_bytes());
    }

    #[test]
    fn a_reply_names_its_call() {
        // A METHOD_RETURN for serial 9 with body ("42"), as dbus-daemon sends it.
        let mut m = Writer::default();
        let mut body = Writer::default();
        body.string("42").unwrap();
        m.buf.extend_from_slice(&[b'l', METHOD_RETURN, 1, 1]);
        m.u32(body.buf.len() as u32);
        m.u32(2);
        m.u32(0);
        let start = m.buf.len();
        m.buf.push(5);
        m.signature("u");
        m.u32(9);
        m.pad(8);
        m.buf.push(8);
        m.signature("g");
        m.signature("s");
        let len = (m.buf.len() - start) as u32;
        m.buf[12..16].copy_from_slice(&len.to_le_bytes());
        m.pad(8);
        m.buf.extend_from_slice(&body.buf);
        let parsed = parse_message(&m.buf).unwrap();
        assert_eq!(parsed.kind, METHOD_RETURN);
        assert_eq!(parsed.reply_serial, Some(9));
        assert_eq!(parsed.first_string().as_deref(), Some("42"));
    }

    #[test]
    fn broken_messages_are_refused() {
        let m = method_call(1, "a.b", "/a", "a.b", "M", &[Arg::Str("x")]).unwrap();
        assert!(parse_message(&m[..m.len() - 1]).is_err());
        let mut huge = m.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(message_len(&huge[..16]).is_err());
        let mut odd = m;
        odd[0] = b'x';
        assert!(parse_message(&odd).is_err());
        assert!(method_call(1, "a.b", "/a", "a.b", "M", &[Arg::Str("a\0b")]).is_err());
    }

    #[test]
    fn addresses_unescape() {
        assert_eq!(unescape("/tmp/a%2cb").unwrap(), b"/tmp/a,b");
        assert!(unescape("%zz").is_err());
        assert!(unescape("%4").is_err());
        assert!(matches!(connect_address("tcp:host=x"), Err(BusError::Address(_))));
        assert!(connect_address("unix:path=/nonexistent/bus,guid=00").is_err());
    }
}
