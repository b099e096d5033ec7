//! The calling side, blocking: what `vestibulectl` and the end-to-end tests use to talk to the
//! agent. A thin layer over raw method calls, so the error a caller sees is the agent's own D-Bus
//! error name and text.

use zbus::blocking::Connection;

use crate::wire::{self, WireSession};
use crate::{BUS_NAME, INTERFACE, OBJECT_PATH};

/// A connection to the agent (clones share the connection, and so its bus name).
#[derive(Clone)]
pub struct Client {
    conn: Connection,
}

/// A failed call: the D-Bus error name (`org.freedesktop.DBus.Error.AccessDenied`) and its text,
/// or a transport problem.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
    #[error(transparent)]
    Bus(zbus::Error),
    #[error(transparent)]
    Malformed(#[from] wire::Malformed),
}

impl CallError {
    /// The D-Bus error name, if the agent (or the bus) answered with an error.
    pub fn name(&self) -> Option<&str> {
        match self {
            CallError::Remote { name, .. } => Some(name),
            CallError::Bus(_) | CallError::Malformed(_) => None,
        }
    }
}

impl From<zbus::Error> for CallError {
    fn from(e: zbus::Error) -> CallError {
        match e {
            zbus::Error::MethodError(name, message, _) => CallError::Remote {
                name: name.to_string(),
                message: message.unwrap_or_default(),
            },
            e => CallError::Bus(e),
        }
    }
}

/// The registration arguments, as `RegisterSession` takes them.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub user: String,
    pub uid: u32,
    pub tty: String,
    pub display: String,
    pub remote_host: String,
    pub service: String,
    pub leader: u32,
    pub supervisor: u32,
    pub class: String,
}

impl Client {
    /// Connects to the system bus, or to `address` (tests, a private bus).
    pub fn connect(address: Option<&str>) -> Result<Client, CallError> {
        let conn = match address {
            Some(a) => zbus::blocking::connection::Builder::address(a)?.build()?,
            None => Connection::system()?,
        };
        Ok(Client { conn })
    }

    /// The underlying connection (tests watch signals on it).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn call<B, R>(&self, method: &str, body: &B) -> Result<R, CallError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        let reply = self
            .conn
            .call_method(Some(BUS_NAME), OBJECT_PATH, Some(INTERFACE), method, body)?;
        Ok(reply.body().deserialize::<R>()?)
    }

    pub fn register(&self, s: &NewSession) -> Result<String, CallError> {
        self.call(
            "RegisterSession",
            &(
                &s.user,
                s.uid,
                &s.tty,
                &s.display,
                &s.remote_host,
                &s.service,
                s.leader,
                s.supervisor,
                &s.class,
            ),
        )
    }

    pub fn unregister(&self, id: &str) -> Result<(), CallError> {
        self.call("UnregisterSession", &(id,))
    }

    pub fn list(&self) -> Result<Vec<WireSession>, CallError> {
        let reply =
            self.conn
                .call_method(Some(BUS_NAME), OBJECT_PATH, Some(INTERFACE), "ListSessions", &())?;
        decode_list(&reply)
    }

    /// The object path of session `id` (its `org.vestibule.SessionAgent1.Session` object).
    pub fn session_path(&self, id: &str) -> Result<zbus::zvariant::OwnedObjectPath, CallError> {
        self.call("GetSessionPath", &(id,))
    }

    pub fn get(&self, id: &str) -> Result<WireSession, CallError> {
        self.call("GetSession", &(id,))
    }

    pub fn get_by_pid(&self, pid: u32) -> Result<WireSession, CallError> {
        self.call("GetSessionByPid", &(pid,))
    }

    pub fn close(&self, id: &str) -> Result<(), CallError> {
        self.call("CloseSession", &(id,))
    }

    pub fn close_user(&self, uid: u32) -> Result<(), CallError> {
        self.call("CloseUser", &(uid,))
    }

    pub fn lock(&self, id: &str) -> Result<(), CallError> {
        self.call("LockSession", &(id,))
    }

    pub fn unlock(&self, id: &str) -> Result<(), CallError> {
        self.call("UnlockSession", &(id,))
    }

    /// Makes this connection the session's lock screen (see `vestibule_agent::locker`).
    pub fn set_locker(&self, id: &str) -> Result<(), CallError> {
        self.call("SetLocker", &(id,))
    }

    /// As the session's lock screen: the screen is covered and input held.
    pub fn report_locked(&self, id: &str) -> Result<(), CallError> {
        self.call("ReportLocked", &(id,))
    }

    pub fn lock_all(&self) -> Result<(), CallError> {
        self.call("LockAll", &())
    }
}

/// Reads a `ListSessions` reply with the hand-written decoder ([`wire::decode_list`]: a 10,000
/// session reply in a few milliseconds instead of about 20), or zvariant's if the reply is not
/// of the expected signature (which then reports the mismatch).
pub fn decode_list(reply: &zbus::Message) -> Result<Vec<WireSession>, CallError> {
    let body = reply.body();
    if *body.signature() == wire::LIST_SIGNATURE {
        let data = body.data();
        let order = match data.context().endian() {
            zbus::zvariant::Endian::Little => wire::Order::Little,
            zbus::zvariant::Endian::Big => wire::Order::Big,
        };
        return Ok(wire::decode_list(data, order)?);
    }
    Ok(body.deserialize::<Vec<WireSession>>()?)
}

/// The environment variable naming the agent's bus for [`Tracker::from_env`] (tests, a private
/// bus); unset means the system bus.
pub const AGENT_BUS_ENV: &str = "VESTIBULE_AGENT_BUS";

/// How long the supervisor waits for the bus or the agent before going on without them: a hung
/// agent must not hold up a login, nor the close of one.
pub const TRACKER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The system bus's socket when `DBUS_SYSTEM_BUS_ADDRESS` does not name another.
const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// Where a [`Tracker`] registers sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentBus {
    /// The system bus, if there is one: no bus or no agent is not an error there.
    System,
    /// This address (`--agent-bus`, `VESTIBULE_AGENT_BUS`): failing to reach it is worth a warning.
    Address(String),
}

/// The core's [`SessionTracker`](vestibule_core::SessionTracker) over the agent: the supervisor
/// registers the session it opened and unregisters it once its PAM session is closed.
///
/// The connection is made in `opened`, never before: the supervisor calls it with its signals
/// blocked, after forking the session, so the connection's threads (zbus's executor, async-io's
/// reactor) inherit the blocked mask and a SIGTERM for the supervisor still reaches its
/// signalfd. Every bus operation is bounded by [`TRACKER_TIMEOUT`].
#[derive(Debug)]
pub struct Tracker {
    bus: AgentBus,
    conn: Option<zbus::Connection>,
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

    fn connect(&self) -> Result<zbus::Connection, String> {
        let builder = match &self.bus {
            AgentBus::System => {
                // No system bus at all (containers, rescue shells): say so without starting
                // zbus's executor, which costs a login about a megabyte and a millisecond.
                if std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_none()
                    && !std::path::Path::new(SYSTEM_BUS_SOCKET).exists()
                {
                    return Err(format!("no system bus ({SYSTEM_BUS_SOCKET} is missing)"));
                }
                zbus::connection::Builder::system()
            }
            AgentBus::Address(a) => zbus::connection::Builder::address(a.as_str()),
        }
        .map_err(|e| e.to_string())?;
        bounded(builder.build()).map_err(|e| e.to_string())
    }
}

/// Runs a bus operation to completion or until [`TRACKER_TIMEOUT`].
fn bounded<T>(op: impl std::future::Future<Output = zbus::Result<T>>) -> zbus::Result<T> {
    async_io::block_on(futures_lite::future::or(op, async {
        async_io::Timer::after(TRACKER_TIMEOUT).await;
        Err(zbus::Error::Failure(format!(
            "no answer within {TRACKER_TIMEOUT:?}"
        )))
    }))
}

async fn call<B, R>(conn: &zbus::Connection, method: &str, body: &B) -> zbus::Result<R>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let reply = conn
        .call_method(Some(BUS_NAME), OBJECT_PATH, Some(INTERFACE), method, body)
        .await?;
    reply.body().deserialize::<R>()
}

impl vestibule_core::SessionTracker for Tracker {
    fn opened(&mut self, record: &vestibule_core::record::SessionRecord) -> Result<Option<String>, String> {
        if self.conn.is_none() {
            match self.connect() {
                Ok(c) => self.conn = Some(c),
                Err(e) if self.bus == AgentBus::System => {
                    tracing::debug!(error = %e, "no system bus: the session is not registered");
                    return Ok(None);
                }
                Err(e) => return Err(format!("cannot connect to the agent's bus: {e}")),
            }
        }
        let conn = self.conn.as_ref().expect("connected above");
        let none = |v: &Option<String>| v.clone().unwrap_or_default();
        let body = (
            record.user.as_str(),
            record.uid,
            none(&record.tty),
            none(&record.display),
            none(&record.remote_host),
            record.service.as_str(),
            record.leader,
            record.supervisor,
            record.class.as_str(),
        );
        match bounded(call::<_, String>(conn, "RegisterSession", &body)).map_err(CallError::from) {
            Ok(id) => Ok(Some(id)),
            Err(CallError::Remote { name, .. })
                if self.bus == AgentBus::System && name == "org.freedesktop.DBus.Error.ServiceUnknown" =>
            {
                tracing::debug!("no session agent on the system bus: the session is not registered");
                Ok(None)
            }
            Err(e) => Err(format!("registering with the session agent: {e}")),
        }
    }

    fn closed(&mut self, id: &str) {
        let Some(conn) = &self.conn else {
            return;
        };
        if let Err(e) = bounded(call::<_, ()>(conn, "UnregisterSession", &(id,))) {
            tracing::warn!(id, error = %CallError::from(e), "could not unregister the session");
        }
    }
}
