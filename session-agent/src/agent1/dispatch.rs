//! The agent's own API, served by hand on its connection (see [`crate::bus`] for why): reads each
//! call, routes it ([`super::router`]), checks the argument signature, runs it as its own task
//! and sends its one reply. The manager's methods are in [`super::manager`], the session
//! objects' in [`super::session`]; both find the caller's uid from the bus, never from the
//! arguments, and call the same operations ([`crate::ops`]) as login1 does.

use std::sync::Arc;

use async_executor::Executor;
use zbus::message::{Header, Message};
use zbus::{Connection, DBusError, MessageStream};

use super::router::{self, Method, Node, Object};
use super::session;
use crate::bus::route::{Miss, Standard};
use crate::bus::{self, xml::Doc};
use crate::error::{AgentError, Reply};
use crate::state::{caller_uid, Shared};
use crate::INTERFACE;

/// What a handler needs: the state and the agent's connection.
#[derive(Clone)]
pub struct Agent1 {
    shared: Arc<Shared>,
    conn: Connection,
    executor: Arc<Executor<'static>>,
}

impl Agent1 {
    pub fn new(shared: Arc<Shared>, conn: Connection, executor: Arc<Executor<'static>>) -> Agent1 {
        Agent1 {
            shared,
            conn,
            executor,
        }
    }

    /// Serves the calls `calls` reads (see [`bus::serve`]) until the connection closes.
    pub async fn serve(self, calls: MessageStream) -> Result<(), String> {
        let (conn, executor) = (self.conn.clone(), self.executor.clone());
        bus::serve(calls, conn, executor, move |msg| {
            let this = self.clone();
            async move {
                let reply = {
                    let hdr = msg.header();
                    let call = Call {
                        shared: &this.shared,
                        conn: &this.conn,
                        msg: &msg,
                        hdr: &hdr,
                    };
                    match call.handle().await {
                        Ok(reply) => Ok(reply),
                        Err(e) => e.create_reply(&hdr),
                    }
                };
                (msg, reply)
            }
        })
        .await;
        Err(format!("the connection that owns {} was closed", crate::BUS_NAME))
    }
}

/// One call being handled.
pub(super) struct Call<'a> {
    pub shared: &'a Arc<Shared>,
    pub conn: &'a Connection,
    pub msg: &'a Message,
    pub hdr: &'a Header<'a>,
}

impl Call<'_> {
    async fn handle(&self) -> Reply<Message> {
        let path = self.path();
        let interface = self.hdr.interface().map(|i| i.as_str());
        let member = self.hdr.member().map(|m| m.as_str()).unwrap_or("");
        let (object, method) =
            router::route(path, interface, member).map_err(|miss| miss.error(path, interface, member))?;
        // A session's object exists exactly while the session is in the table.
        if let Object::Session(n) = object {
            if self.shared.lock().table.get(n).is_err() {
                return Err(Miss::UnknownObject.error(path, interface, member).into());
            }
        }
        bus::route::check_signature(self.msg, member, method.signature())?;
        self.run(object, method).await
    }

    fn path(&self) -> &str {
        self.hdr.path().map(|p| p.as_str()).unwrap_or("")
    }

    /// The caller's uid, from the bus (see [`caller_uid`]).
    pub async fn caller(&self) -> Reply<u32> {
        caller_uid(self.shared, self.conn, self.hdr).await
    }

    /// The call's arguments.
    pub fn args<T>(&self) -> Reply<T>
    where
        T: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        Ok(bus::route::args(self.msg)?)
    }

    pub fn reply<B>(&self, body: &B) -> Reply<Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        Ok(Message::method_return(self.hdr)?.build(body)?)
    }

    pub fn done(&self) -> Reply<Message> {
        self.reply(&())
    }

    async fn run(&self, object: Object, method: Method) -> Reply<Message> {
        use Method::*;
        match (object, method) {
            (_, Std(Standard::Ping)) => self.done(),
            (_, Std(Standard::GetMachineId)) => self.reply(&(bus::machine_id()?,)),
            (_, Std(Standard::Introspect)) => self.introspect(object),
            (Object::Session(n), Std(s)) => self.session_properties(n, s).await,
            (_, Std(s)) => self.manager_properties(s),
            (Object::Session(n), Terminate) => self.terminate(n).await,
            (Object::Session(n), Lock) => self.lock_object(n, true).await,
            (Object::Session(n), Unlock) => self.lock_object(n, false).await,
            (_, RegisterSession) => self.register_session().await,
            (_, UnregisterSession) => self.unregister_session().await,
            (_, ListSessions) => self.list_sessions().await,
            (_, GetSession) => self.get_session().await,
            (_, GetSessionByPid) => self.get_session_by_pid().await,
            (_, GetSessionPath) => self.get_session_path().await,
            (_, GetSessionPathByPid) => self.get_session_path_by_pid().await,
            (_, CloseSession) => self.close_session().await,
            (_, CloseUser) => self.close_user().await,
            (_, LockSession) => self.lock_session().await,
            (_, UnlockSession) => self.unlock_session().await,
            (_, SetLocker) => self.set_locker().await,
            (_, ReportLocked) => self.report_locked().await,
            (_, LockAll) => self.lock_all().await,
            // The router gives these to session objects only.
            (_, Terminate | Lock | Unlock) => Err(AgentError::Failed("not a session object".into())),
        }
    }

    /// The manager has no properties.
    fn manager_properties(&self, method: Standard) -> Reply<Message> {
        let ifaces = router::interfaces(Object::Manager);
        Ok(bus::props::answer(
            self.msg,
            method,
            INTERFACE,
            Vec::new(),
            ifaces,
        )?)
    }

    fn introspect(&self, object: Object) -> Reply<Message> {
        let xml = match object {
            Object::Manager => super::manager::introspect(),
            // What the session holds is behind the property check.
            Object::Session(_) => session::introspect(),
            Object::Node(node) => {
                let names: Vec<String> = match node {
                    Node::Root => vec!["org".into()],
                    Node::Org => vec!["vestibule".into()],
                    Node::Vestibule => vec!["SessionAgent1".into()],
                    // The ids are listed to anyone, as logind's are; what they belong to stays
                    // behind the check of each object.
                    Node::Sessions => self
                        .shared
                        .lock()
                        .table
                        .iter()
                        .map(|(n, _)| n.to_string())
                        .collect(),
                };
                Doc::new().children(&names).finish()
            }
        };
        self.reply(&(xml,))
    }
}
