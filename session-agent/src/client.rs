//! The calling side, blocking: what `vestibulectl` and the end-to-end tests use to talk to the
//! agent. A thin layer over raw method calls, so the error a caller sees is the agent's own D-Bus
//! error name and text.

use zbus::blocking::Connection;

use crate::wire::WireSession;
use crate::{BUS_NAME, INTERFACE, OBJECT_PATH};

/// A connection to the agent.
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
}

impl CallError {
    /// The D-Bus error name, if the agent (or the bus) answered with an error.
    pub fn name(&self) -> Option<&str> {
        match self {
            CallError::Remote { name, .. } => Some(name),
            CallError::Bus(_) => None,
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
        self.call("ListSessions", &())
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

    pub fn lock_all(&self) -> Result<(), CallError> {
        self.call("LockAll", &())
    }
}
