//! The login1 dispatcher: reads the method calls that reach the name's connection, routes them
//! ([`super::router`]), checks the argument signature, runs each as its own task (a close takes
//! seconds; others go on meanwhile) and sends exactly one reply — none when the caller said it
//! expects none.
//!
//! Every handler finds the caller's uid (and, for `auto`/`self`/`""` and pid 0, its pid) from the
//! bus, never from the arguments, and calls the same operations ([`crate::ops`]) as the agent's
//! own interface, with the same authorization: root everything, a user their own sessions,
//! others `org.freedesktop.DBus.Error.AccessDenied`.
//!
//! Locking differs from the agent's `LockSession` in one way: a session that has no Vestibule
//! lock screen is locked by sending login1's `Session.Lock` signal, and the call succeeds (that
//! is how xss-lock and swayidle lock: they run their own locker on the signal, which then sets
//! `LockedHint`); the agent's own `LockSession` fails with NoLockScreen there, as nothing of
//! Vestibule's would cover the screen. With a Vestibule lock screen both are the same operation
//! (it covers the screen, then the call returns). Unlocking a session Vestibule's lock screen
//! holds is root's (or that lock screen's), as on the agent's interface; a session only its own
//! locker holds may be unlocked by its user too, as logind allows.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use async_executor::Executor;
use nix::sys::signal::Signal;
use vestibule_core::record::{SessionRecord, SessionState};
use zbus::message::{Header, Message};
use zbus::zvariant::{Fd, ObjectPath, OwnedObjectPath};
use zbus::{Connection, DBusError, MessageStream};

use super::inhibit::{self, Mode as InhibitMode};
use super::introspect::{self, Of};
use super::path::{self, SessionName, UserName};
use super::props::{self, Clock, Hints, Props, UserView};
use super::router::{self, Method, Node, Object, MANAGER_IFACE, SESSION_IFACE, USER_IFACE};
use crate::authz::{self, Action};
use crate::bus::route::{self as bus_route, Standard};
use crate::bus::{self, props as bus_props};
use crate::error::AgentError;
use crate::ops;
use crate::signals;
use crate::state::{caller_uid, List, Shared};
use crate::terminate::{self, Whom};
use crate::validate;
use crate::wire;

/// A failed call: the D-Bus error name and its message.
#[derive(Debug)]
pub struct Fail {
    name: String,
    text: String,
}

impl Fail {
    fn new(name: &str, text: impl Into<String>) -> Fail {
        Fail {
            name: name.to_owned(),
            text: text.into(),
        }
    }

    fn invalid(text: impl Into<String>) -> Fail {
        Fail::new("org.freedesktop.DBus.Error.InvalidArgs", text)
    }

    fn no_session(text: impl Into<String>) -> Fail {
        Fail::new("org.freedesktop.login1.NoSuchSession", text)
    }

    fn no_user(uid: u32) -> Fail {
        Fail::new(
            "org.freedesktop.login1.NoSuchUser",
            format!("User ID {uid} is not logged in"),
        )
    }

    fn unknown_object(path: &str) -> Fail {
        Fail::new(
            "org.freedesktop.DBus.Error.UnknownObject",
            format!("Unknown object '{path}'."),
        )
    }
}

impl From<AgentError> for Fail {
    fn from(e: AgentError) -> Fail {
        let text = e.description().unwrap_or_default().to_owned();
        match e {
            // logind's name for it, which its clients know.
            AgentError::NoSuchSession(_) => Fail::no_session(text),
            e => Fail::new(e.name().as_str(), text),
        }
    }
}

impl From<zbus::fdo::Error> for Fail {
    fn from(e: zbus::fdo::Error) -> Fail {
        Fail::new(e.name().as_str(), e.description().unwrap_or_default())
    }
}

impl From<zbus::Error> for Fail {
    fn from(e: zbus::Error) -> Fail {
        Fail::from(AgentError::from(e))
    }
}

impl From<authz::Denied> for Fail {
    fn from(e: authz::Denied) -> Fail {
        Fail::from(AgentError::from(e))
    }
}

type Result<T> = std::result::Result<T, Fail>;

/// What a handler needs: the state, the login1 connection (replies, bus questions) and the
/// agent's own connection (the operations announce on it).
#[derive(Clone)]
pub struct Login1 {
    shared: Arc<Shared>,
    conn: Connection,
    agent: Connection,
    executor: Arc<Executor<'static>>,
}

impl Login1 {
    pub fn new(
        shared: Arc<Shared>,
        conn: Connection,
        agent: Connection,
        executor: Arc<Executor<'static>>,
    ) -> Login1 {
        Login1 {
            shared,
            conn,
            agent,
            executor,
        }
    }

    /// Serves the calls `calls` reads (see [`bus::serve`]) until the connection closes.
    pub async fn serve(self, calls: MessageStream) -> std::result::Result<(), String> {
        let (conn, executor) = (self.conn.clone(), self.executor.clone());
        bus::serve(calls, conn, executor, move |msg| {
            let this = self.clone();
            async move {
                let reply = {
                    let hdr = msg.header();
                    match this.handle(&msg, &hdr).await {
                        Ok(reply) => Ok(reply),
                        Err(f) => bus::error_reply(&hdr, &f.name, &f.text),
                    }
                };
                (msg, reply)
            }
        })
        .await;
        Err(format!("the connection that owns {} was closed", super::BUS_NAME))
    }

    async fn handle(&self, msg: &Message, hdr: &Header<'_>) -> Result<Message> {
        let path = hdr.path().map(|p| p.as_str()).unwrap_or("");
        let interface = hdr.interface().map(|i| i.as_str());
        let member = hdr.member().map(|m| m.as_str()).unwrap_or("");
        let (object, method) =
            router::route(path, interface, member).map_err(|miss| miss.error(path, interface, member))?;
        bus_route::check_signature(msg, member, method.signature())?;
        let caller = caller_uid(&self.shared, &self.conn, hdr).await?;
        let call = Call {
            l: self,
            msg,
            hdr,
            caller,
        };
        call.run(object, method).await
    }
}

/// One call being handled.
struct Call<'a> {
    l: &'a Login1,
    msg: &'a Message,
    hdr: &'a Header<'a>,
    caller: u32,
}

fn args<T>(msg: &Message) -> Result<T>
where
    T: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    Ok(bus_route::args(msg)?)
}

fn opath(p: String) -> OwnedObjectPath {
    ObjectPath::try_from(p).expect("login1 paths are valid").into()
}

impl Call<'_> {
    fn shared(&self) -> &Arc<Shared> {
        &self.l.shared
    }

    fn reply<B>(&self, body: &B) -> Result<Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        Ok(Message::method_return(self.hdr)?.build(body)?)
    }

    fn done(&self) -> Result<Message> {
        self.reply(&())
    }

    /// The caller's pid, from the bus.
    async fn caller_pid(&self) -> Result<u32> {
        Ok(bus::caller_pid(&self.l.conn, self.hdr).await?)
    }

    /// The session process `pid` belongs to, if the caller may see it.
    fn session_of_pid(&self, pid: u32) -> std::result::Result<u64, AgentError> {
        let s = ops::by_pid(self.shared(), self.caller, pid)?;
        Ok(validate::session_id(&s.id)?)
    }

    /// The caller's own session (`""`, `auto`, `self`).
    async fn own_session(&self) -> Result<u64> {
        let pid = self.caller_pid().await?;
        self.session_of_pid(pid).map_err(|e| match e {
            AgentError::NoSuchSession(_) => Fail::no_session("Caller does not belong to any known session"),
            e => e.into(),
        })
    }

    /// A session id as the manager's methods take it: `""`, `auto` and `self` are the caller's.
    async fn session_arg(&self, id: &str) -> Result<u64> {
        if id.is_empty() || id == "auto" || id == "self" {
            return self.own_session().await;
        }
        let n = validate::session_id(id).map_err(|_| Fail::no_session(format!("No session '{id}' known")))?;
        if self.shared().lock().table.get(n).is_err() {
            return Err(Fail::no_session(format!("No session '{id}' known")));
        }
        Ok(n)
    }

    /// The session a session object's path names; it must exist.
    async fn session_object(&self, name: SessionName) -> Result<u64> {
        let n = match name {
            SessionName::Id(n) => n,
            SessionName::Caller => return self.own_session().await,
            SessionName::Unknown => return Err(Fail::unknown_object(self.path())),
        };
        if self.shared().lock().table.get(n).is_err() {
            return Err(Fail::unknown_object(self.path()));
        }
        Ok(n)
    }

    /// The uid a user object's path names; the user must have sessions.
    async fn user_object(&self, name: UserName) -> Result<u32> {
        let uid = match name {
            UserName::Uid(uid) => uid,
            UserName::Caller => self.caller,
            UserName::Unknown => return Err(Fail::unknown_object(self.path())),
        };
        if self.shared().lock().table.ids_of(uid).is_empty() {
            return Err(Fail::unknown_object(self.path()));
        }
        Ok(uid)
    }

    fn path(&self) -> &str {
        self.hdr.path().map(|p| p.as_str()).unwrap_or("")
    }

    /// Session `n`'s record and hints, if the caller may see it.
    fn visible(&self, n: u64) -> Result<(SessionRecord, Hints)> {
        let state = self.shared().lock();
        let e = state.table.get(n).map_err(AgentError::from)?;
        authz::check(
            self.caller,
            Action::Show {
                id: &e.record.id,
                owner: e.record.uid,
            },
        )?;
        Ok((e.record.clone(), state.hints.get(&n).copied().unwrap_or_default()))
    }

    fn owner(&self, n: u64) -> Result<u32> {
        Ok(self
            .shared()
            .lock()
            .table
            .get(n)
            .map_err(AgentError::from)?
            .record
            .uid)
    }

    /// User `uid`'s view (its sessions), if the caller may see it.
    fn user_view(&self, uid: u32) -> Result<(Vec<(SessionRecord, Hints)>, u32)> {
        if self.caller != 0 && self.caller != uid {
            return Err(Fail::new(
                "org.freedesktop.DBus.Error.AccessDenied",
                format!(
                    "uid {} may not see the sessions of uid {uid}: a user may only act on their own sessions",
                    self.caller
                ),
            ));
        }
        let sessions: Vec<(SessionRecord, Hints)> = {
            let state = self.shared().lock();
            state
                .table
                .iter()
                .filter(|(_, e)| e.record.uid == uid)
                .map(|(n, e)| (e.record.clone(), state.hints.get(&n).copied().unwrap_or_default()))
                .collect()
        };
        if sessions.is_empty() {
            return Err(Fail::no_user(uid));
        }
        let gid = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or(uid, |u| u.gid.as_raw());
        Ok((sessions, gid))
    }

    fn session_props(&self, n: u64) -> Result<Props> {
        let (record, hints) = self.visible(n)?;
        Ok(props::session(&record, &hints, &Clock::now()))
    }

    fn user_props(&self, uid: u32) -> Result<Props> {
        let (sessions, gid) = self.user_view(uid)?;
        let view = UserView {
            uid,
            gid,
            sessions: sessions.iter().map(|(r, h)| (r, *h)).collect(),
        };
        Ok(props::user(&view, &Clock::now()))
    }

    fn manager_props(&self) -> Props {
        let inhibitors = self.shared().inhibitors();
        props::manager(
            inhibitors.inhibited(InhibitMode::Block),
            inhibitors.inhibited(InhibitMode::Delay),
        )
    }

    /// The properties of an object, and the interface they belong to.
    async fn props_of(&self, object: Object) -> Result<(&'static str, Props)> {
        match object {
            Object::Manager => Ok((MANAGER_IFACE, self.manager_props())),
            Object::Session(name) => {
                let n = self.session_object(name).await?;
                Ok((SESSION_IFACE, self.session_props(n)?))
            }
            Object::User(name) => {
                let uid = self.user_object(name).await?;
                Ok((USER_IFACE, self.user_props(uid)?))
            }
            Object::Node(_) => Err(Fail::new(
                "org.freedesktop.DBus.Error.UnknownInterface",
                "no properties here",
            )),
        }
    }

    async fn run(&self, object: Object, method: Method) -> Result<Message> {
        use Method::*;
        match method {
            Std(Standard::Ping) => self.done(),
            Std(Standard::GetMachineId) => self.reply(&(bus::machine_id()?,)),
            Std(Standard::Introspect) => self.introspect(object).await,
            Std(s @ (Standard::Get | Standard::GetAll | Standard::Set)) => {
                let (own, props) = self.props_of(object).await?;
                Ok(bus_props::answer(
                    self.msg,
                    s,
                    own,
                    props,
                    router::interfaces(object),
                )?)
            }
            ListSessions => self.list_sessions(),
            ListUsers => self.list_users(),
            GetSession => {
                let id: String = args(self.msg)?;
                let n = self.session_arg(&id).await?;
                self.visible(n)?;
                self.reply(&(opath(path::session(&n.to_string())),))
            }
            GetSessionByPid => {
                let pid: u32 = args(self.msg)?;
                let pid = if pid == 0 { self.caller_pid().await? } else { pid };
                let n = self.session_of_pid(pid).map_err(|e| match e {
                    AgentError::NoSuchSession(_) => Fail::new(
                        "org.freedesktop.login1.NoSessionForPID",
                        format!("PID {pid} does not belong to any known session"),
                    ),
                    e => e.into(),
                })?;
                self.reply(&(opath(path::session(&n.to_string())),))
            }
            GetUser => {
                let uid: u32 = args(self.msg)?;
                self.user_view(uid)?;
                self.reply(&(opath(path::user(uid)),))
            }
            GetUserByPid => {
                let pid: u32 = args(self.msg)?;
                let pid = if pid == 0 { self.caller_pid().await? } else { pid };
                let n = self.session_of_pid(pid).map_err(|e| match e {
                    AgentError::NoSuchSession(_) => Fail::new(
                        "org.freedesktop.login1.NoUserForPID",
                        format!("PID {pid} does not belong to any logged in user"),
                    ),
                    e => e.into(),
                })?;
                let uid = self.owner(n)?;
                self.reply(&(opath(path::user(uid)),))
            }
            TerminateSession => {
                let id: String = args(self.msg)?;
                let n = self.session_arg(&id).await?;
                self.terminate(n).await
            }
            TerminateUser => {
                let uid: u32 = args(self.msg)?;
                self.terminate_user(uid).await
            }
            KillSession => {
                let (id, who, sig): (String, String, i32) = args(self.msg)?;
                let n = self.session_arg(&id).await?;
                self.kill(n, &who, sig)
            }
            KillUser => {
                let (uid, sig): (u32, i32) = args(self.msg)?;
                self.kill_user(uid, sig)
            }
            LockSession => {
                let id: String = args(self.msg)?;
                let n = self.session_arg(&id).await?;
                self.lock(n).await
            }
            UnlockSession => {
                let id: String = args(self.msg)?;
                let n = self.session_arg(&id).await?;
                self.unlock(n).await
            }
            LockSessions => self.lock_all(true).await,
            UnlockSessions => self.lock_all(false).await,
            Inhibit => self.inhibit().await,
            ListInhibitors => {
                let list: Vec<(String, String, String, String, u32, u32)> = self
                    .shared()
                    .inhibitors()
                    .iter()
                    .map(|i| {
                        (
                            i.what.clone(),
                            i.who.clone(),
                            i.why.clone(),
                            i.mode.as_str().to_owned(),
                            i.uid,
                            i.pid,
                        )
                    })
                    .collect();
                self.reply(&(list,))
            }
            Terminate => match object {
                Object::User(name) => {
                    let uid = self.user_object(name).await?;
                    self.terminate_user(uid).await
                }
                Object::Session(name) => {
                    let n = self.session_object(name).await?;
                    self.terminate(n).await
                }
                _ => Err(Fail::unknown_object(self.path())),
            },
            KillThisSession => {
                let n = self.session_object(session_name(object)).await?;
                let (who, sig): (String, i32) = args(self.msg)?;
                self.kill(n, &who, sig)
            }
            KillThisUser => {
                let Object::User(name) = object else {
                    return Err(Fail::unknown_object(self.path()));
                };
                let uid = self.user_object(name).await?;
                let sig: i32 = args(self.msg)?;
                self.kill_user(uid, sig)
            }
            Lock => {
                let n = self.session_object(session_name(object)).await?;
                self.lock(n).await
            }
            Unlock => {
                let n = self.session_object(session_name(object)).await?;
                self.unlock(n).await
            }
            SetLockedHint | SetIdleHint => {
                let n = self.session_object(session_name(object)).await?;
                let b: bool = args(self.msg)?;
                self.set_hint(n, method == SetLockedHint, b)
            }
            Activate => {
                let n = self.session_object(session_name(object)).await?;
                let (record, _) = self.visible(n)?;
                // One seat, no VT switching: a session is as active as it gets already.
                tracing::debug!(id = record.id, "login1 Activate: nothing to do");
                self.done()
            }
        }
    }

    async fn introspect(&self, object: Object) -> Result<Message> {
        let xml = match object {
            Object::Node(node) => {
                let names: Vec<String> = match node {
                    Node::Root => vec!["org".into()],
                    Node::Org => vec!["freedesktop".into()],
                    Node::Freedesktop => vec!["login1".into()],
                    // The ids are listed to anyone, as logind's are; what they are stays behind
                    // the check of each object.
                    Node::Sessions => self
                        .shared()
                        .lock()
                        .table
                        .iter()
                        .map(|(n, _)| path::escape(&n.to_string()))
                        .collect(),
                    Node::Users => {
                        let uids: std::collections::BTreeSet<u32> = self
                            .shared()
                            .lock()
                            .table
                            .iter()
                            .map(|(_, e)| e.record.uid)
                            .collect();
                        uids.into_iter().map(|u| format!("_{u}")).collect()
                    }
                };
                introspect::xml(Of::Node(&names))
            }
            Object::Manager => introspect::xml(Of::Manager(&self.manager_props())),
            Object::Session(name) => {
                let n = self.session_object(name).await?;
                // Only the types are shown: the record's values do not leave here.
                let props = {
                    let state = self.shared().lock();
                    let e = state.table.get(n).map_err(AgentError::from)?;
                    props::session(&e.record, &Hints::default(), &Clock::now())
                };
                introspect::xml(Of::Session(&props))
            }
            Object::User(name) => {
                let uid = self.user_object(name).await?;
                let props = {
                    let state = self.shared().lock();
                    let records: Vec<SessionRecord> = state
                        .table
                        .iter()
                        .filter(|(_, e)| e.record.uid == uid)
                        .map(|(_, e)| e.record.clone())
                        .collect();
                    let view = UserView {
                        uid,
                        gid: 0,
                        sessions: records.iter().map(|r| (r, Hints::default())).collect(),
                    };
                    props::user(&view, &Clock::now())
                };
                introspect::xml(Of::User(&props))
            }
        };
        self.reply(&(xml,))
    }

    /// ListSessions: root's reply body is marshalled once and kept until the table changes
    /// (the agent's own ListSessions does the same); a user's is built from a scan.
    fn list_sessions(&self) -> Result<Message> {
        let body = self.shared().list_body(List::Login1, self.caller, |rows| {
            encode_list(rows, wire::Order::NATIVE)
        });
        // SAFETY: `encode_list` writes a well-formed `a(susso)` body in the byte order zbus builds
        // messages in (native), which the unit tests check against zvariant.
        let reply =
            unsafe { Message::method_return(self.hdr)?.build_raw_body(&body, "a(susso)", Vec::new())? };
        Ok(reply)
    }

    fn list_users(&self) -> Result<Message> {
        let users: BTreeMap<u32, String> = {
            let state = self.shared().lock();
            state
                .table
                .iter()
                .filter(|(_, e)| authz::may_list(self.caller, e.record.uid))
                .map(|(_, e)| (e.record.uid, e.record.user.clone()))
                .collect()
        };
        let list: Vec<(u32, String, OwnedObjectPath)> = users
            .into_iter()
            .map(|(uid, name)| (uid, name, opath(path::user(uid))))
            .collect();
        self.reply(&(list,))
    }

    async fn terminate(&self, n: u64) -> Result<Message> {
        let owner = self.owner(n)?;
        authz::check(
            self.caller,
            Action::Close {
                id: &n.to_string(),
                owner,
            },
        )?;
        ops::close(self.shared(), &self.l.agent, n).await?;
        self.done()
    }

    async fn terminate_user(&self, uid: u32) -> Result<Message> {
        authz::check(self.caller, Action::CloseUser { uid })?;
        let ids = self.shared().lock().table.ids_of(uid);
        if ids.is_empty() {
            return Err(Fail::no_user(uid));
        }
        for n in ids {
            match ops::close(self.shared(), &self.l.agent, n).await {
                Ok(()) | Err(AgentError::NoSuchSession(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.done()
    }

    fn kill(&self, n: u64, who: &str, sig: i32) -> Result<Message> {
        let whom = match who {
            "" | "all" => Whom::All,
            "leader" => Whom::Leader,
            w => return Err(Fail::invalid(format!("Invalid kill parameter '{w}'"))),
        };
        let sig = signal(sig)?;
        let entry = self
            .shared()
            .lock()
            .table
            .get(n)
            .map_err(AgentError::from)?
            .clone();
        authz::check(
            self.caller,
            Action::Close {
                id: &entry.record.id,
                owner: entry.record.uid,
            },
        )?;
        let hit = terminate::signal_session(&entry, whom, sig);
        tracing::info!(
            id = entry.record.id,
            ?sig,
            ?whom,
            processes = hit,
            caller = self.caller,
            "login1 kill"
        );
        self.done()
    }

    fn kill_user(&self, uid: u32, sig: i32) -> Result<Message> {
        let sig = signal(sig)?;
        authz::check(self.caller, Action::CloseUser { uid })?;
        let entries: Vec<_> = {
            let state = self.shared().lock();
            state
                .table
                .iter()
                .filter(|(_, e)| e.record.uid == uid)
                .map(|(_, e)| e.clone())
                .collect()
        };
        if entries.is_empty() {
            return Err(Fail::no_user(uid));
        }
        for e in &entries {
            terminate::signal_session(e, Whom::All, sig);
        }
        self.done()
    }

    /// login1's lock (see the module docs for how it differs from the agent's).
    async fn lock(&self, n: u64) -> Result<Message> {
        lock_one(self.shared(), &self.l.agent, self.caller, n).await?;
        self.done()
    }

    async fn unlock(&self, n: u64) -> Result<Message> {
        unlock_one(self.shared(), &self.l.agent, self.caller, n).await?;
        self.done()
    }

    async fn lock_all(&self, lock: bool) -> Result<Message> {
        authz::check(self.caller, Action::LockAll)?;
        let ids: Vec<u64> = self.shared().lock().table.iter().map(|(n, _)| n).collect();
        for n in ids {
            let done = if lock {
                lock_one(self.shared(), &self.l.agent, self.caller, n).await
            } else {
                unlock_one(self.shared(), &self.l.agent, self.caller, n).await
            };
            if let Err(e) = done {
                tracing::warn!(id = n, error = %e, lock, "login1 LockSessions/UnlockSessions left a session as it was");
            }
        }
        self.done()
    }

    fn set_hint(&self, n: u64, locked: bool, value: bool) -> Result<Message> {
        let owner = self.owner(n)?;
        // logind: only the session's user (or root) sets its hints.
        if self.caller != 0 && self.caller != owner {
            return Err(Fail::new(
                "org.freedesktop.DBus.Error.AccessDenied",
                format!(
                    "uid {} may not set the hints of session {n} of uid {owner}",
                    self.caller
                ),
            ));
        }
        let mut state = self.shared().lock();
        let h = state.hints.entry(n).or_default();
        if locked {
            h.locked = value;
        } else if h.idle != value {
            let clock = Clock::now();
            h.idle = value;
            h.idle_since = (clock.realtime, clock.monotonic);
        }
        self.done()
    }

    async fn inhibit(&self) -> Result<Message> {
        let (what, who, why, mode): (String, String, String, String) = args(self.msg)?;
        let pid = self.caller_pid().await?;
        let inhibitor = inhibit::parse(&what, &who, &why, &mode, self.caller, pid)
            .map_err(|e| Fail::invalid(e.to_string()))?;
        let (read, write) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK)
                .map_err(|e| Fail::new("org.freedesktop.DBus.Error.Failed", format!("pipe: {e}")))?;
        let key = self.shared().inhibitors().add(inhibitor.clone());
        tracing::info!(
            what = inhibitor.what,
            who = inhibitor.who,
            mode = inhibitor.mode.as_str(),
            uid = self.caller,
            pid,
            "inhibitor taken"
        );
        let reply = self.reply(&(Fd::from(write.as_fd()),));
        // Only the reply holds the write end now (the message has its own copy): when the
        // caller closes it, the read end sees the end of the pipe.
        drop(write);
        let shared = self.l.shared.clone();
        self.l
            .executor
            .spawn(async move {
                watch_inhibitor(read).await;
                if let Some(i) = shared.inhibitors().remove(key) {
                    tracing::info!(what = i.what, who = i.who, "inhibitor released");
                }
            })
            .detach();
        reply
    }
}

/// One `(susso)` row of ListSessions: id, uid, user, seat, object path.
/// The body of login1's `ListSessions` reply (`a(susso)`: id, uid, user, seat, path), written
/// straight from the records ([`wire::Encoder`]): zvariant took about 78 ms for 10,000 rows.
pub fn encode_list(records: &[&SessionRecord], order: wire::Order) -> Vec<u8> {
    let mut e = wire::Encoder::with_capacity(order, 80 * records.len() + 8);
    e.structs(records.iter(), |e, r| {
        e.str(&r.id);
        e.u32(r.uid);
        e.str(&r.user);
        e.str(props::seat(r).0);
        e.str(&path::session(&r.id));
    });
    e.finish()
}

fn session_name(object: Object) -> SessionName {
    match object {
        Object::Session(name) => name,
        _ => SessionName::Unknown,
    }
}

/// A signal number as logind takes it (1 … SIGRTMAX, only those nix knows).
fn signal(sig: i32) -> Result<Signal> {
    Signal::try_from(sig).map_err(|_| Fail::invalid(format!("Invalid signal {sig}")))
}

/// Returns once every copy of the pipe's write end is closed.
async fn watch_inhibitor(read: OwnedFd) {
    let Ok(read) = async_io::Async::new(read) else {
        return;
    };
    let mut buf = [0u8; 64];
    loop {
        if read.readable().await.is_err() {
            return;
        }
        match rustix::io::read(read.get_ref(), &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::INTR => {}
            Err(_) => return,
        }
    }
}

/// Locks session `n` for `caller`: through Vestibule's lock screen when it has one (the agent's
/// operation: covered, then done), else by sending login1's `Session.Lock` to the session's own
/// locker.
pub async fn lock_one(
    shared: &Arc<Shared>,
    agent: &Connection,
    caller: u32,
    n: u64,
) -> std::result::Result<(), AgentError> {
    if shared.lockers.has_locker(n) {
        return ops::set_locked(shared, caller, agent, &n.to_string(), true).await;
    }
    let owner = shared.lock().table.get(n)?.record.uid;
    authz::check(
        caller,
        Action::Lock {
            id: &n.to_string(),
            owner,
        },
    )?;
    tracing::info!(
        id = n,
        caller,
        "login1 lock: Session.Lock to the session's own locker"
    );
    signals::login1_lock(shared, n).await;
    Ok(())
}

/// Unlocks session `n` for `caller`: a session Vestibule's lock screen holds is the agent's
/// operation (root); one only its own locker holds gets login1's `Session.Unlock` (its user or
/// root) and its `LockedHint` cleared.
pub async fn unlock_one(
    shared: &Arc<Shared>,
    agent: &Connection,
    caller: u32,
    n: u64,
) -> std::result::Result<(), AgentError> {
    let (owner, state) = {
        let s = shared.lock();
        let e = s.table.get(n)?;
        (e.record.uid, e.record.state)
    };
    if state == SessionState::Locked {
        return ops::set_locked(shared, caller, agent, &n.to_string(), false).await;
    }
    authz::check(
        caller,
        Action::Lock {
            id: &n.to_string(),
            owner,
        },
    )?;
    shared.lock().hints.entry(n).or_default().locked = false;
    signals::login1_unlock(shared, n).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::{serialized::Context, to_bytes, BE, LE};

    #[test]
    fn the_list_encoder_writes_what_zvariant_writes() {
        for n in [0, 1, 2, 5, 33] {
            let recs = crate::wire::tests::records(n);
            let rows: Vec<(&str, u32, &str, &str, OwnedObjectPath)> = recs
                .iter()
                .map(|r| {
                    (
                        r.id.as_str(),
                        r.uid,
                        r.user.as_str(),
                        props::seat(r).0,
                        opath(path::session(&r.id)),
                    )
                })
                .collect();
            for (order, endian) in [(wire::Order::Little, LE), (wire::Order::Big, BE)] {
                let theirs = to_bytes(Context::new_dbus(endian, 0), &rows).unwrap();
                assert_eq!(
                    encode_list(&recs.iter().collect::<Vec<_>>(), order),
                    theirs.bytes(),
                    "n={n} {order:?}"
                );
            }
        }
    }
}
