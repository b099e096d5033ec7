//! What the agent's two hand-written D-Bus dispatchers share — the agent's own API
//! ([`crate::agent1`]) and logind's ([`crate::login1`]): routing a call to an object and a method
//! ([`route`]), checking and reading its arguments, the standard `Properties` methods over a
//! table of values ([`props`]), introspection XML ([`xml`]), and the loop that reads the calls and
//! sends exactly one reply to each ([`serve`]).
//!
//! Why by hand and not zbus's `ObjectServer`: it keeps a node (a tree entry holding five
//! interface objects behind their own locks) per object path, about 730 bytes per session, where
//! a dispatcher that reads the path needs none: with 10,000 sessions that was 7.3 MB of the
//! agent's 23 MiB (issue 13's memory target is elogind's 13 MiB). zbus has no fallback handler
//! for a subtree of paths, and a connection whose object server runs answers every call it does
//! not know with UnknownObject itself, so a connection is either served wholly by hand or wholly
//! by zbus; the agent's connections are served by hand and never start an object server.

pub mod props;
pub mod route;
pub mod xml;

use std::future::Future;
use std::sync::Arc;

use async_executor::Executor;
use futures_lite::StreamExt;
use zbus::message::{Flags, Header, Message, Type};
use zbus::{Connection, MessageStream};

/// Reads the method calls that reach `conn` through `calls` and runs `handle` on each as its own
/// task (a close takes seconds; other calls go on meanwhile), until the connection closes.
/// `handle` builds the reply (a method return or an error), which [`send`] delivers.
///
/// `calls` must be made (`MessageStream::from(&conn)`) before the connection requests its
/// well-known name: a stream sees only what arrives after it exists, and a call that arrives
/// when no stream is there is dropped unanswered, leaving its caller waiting.
pub async fn serve<F, Fut>(
    mut calls: MessageStream,
    conn: Connection,
    executor: Arc<Executor<'static>>,
    handle: F,
) where
    F: Fn(Message) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = (Message, zbus::Result<Message>)> + Send + 'static,
{
    while let Some(msg) = calls.next().await {
        let Ok(msg) = msg else { continue };
        if msg.message_type() != Type::MethodCall {
            continue;
        }
        let handle = handle.clone();
        let conn = conn.clone();
        executor
            .spawn(async move {
                let (call, reply) = handle(msg).await;
                send(&conn, &call.header(), reply).await;
            })
            .detach();
    }
}

/// Sends the one reply to a call — none when the caller said it expects none — and gives the
/// memory of a big one back (see [`crate::alloc`]). A reply that cannot be built or sent is
/// logged: the caller sees its call time out, the agent goes on.
pub async fn send(conn: &Connection, call: &Header<'_>, reply: zbus::Result<Message>) {
    if call.primary().flags().contains(Flags::NoReplyExpected) {
        return;
    }
    let sent = async {
        let reply = reply?;
        let len = reply.data().len();
        conn.send(&reply).await?;
        drop(reply);
        crate::alloc::after_big_reply(len);
        Ok::<(), zbus::Error>(())
    };
    if let Err(e) = sent.await {
        let member = call.member().map(|m| m.as_str()).unwrap_or("");
        tracing::warn!(member, error = %e, "could not reply to a call");
    }
}

/// An error reply named `name` whose one argument is `text`, as every D-Bus service sends them.
pub fn error_reply(call: &Header<'_>, name: &str, text: &str) -> zbus::Result<Message> {
    let name = zbus::names::ErrorName::try_from(name).unwrap_or_else(|_| {
        zbus::names::ErrorName::from_static_str_unchecked("org.freedesktop.DBus.Error.Failed")
    });
    Message::error(call, name)?.build(&(text,))
}

/// The pid of the connection that sent `call`, as the bus daemon knows it from its credentials.
pub async fn caller_pid(conn: &Connection, call: &Header<'_>) -> zbus::fdo::Result<u32> {
    let sender = call
        .sender()
        .ok_or_else(|| zbus::fdo::Error::AccessDenied("the call has no sender".into()))?;
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetConnectionUnixProcessID",
            &(sender.as_str(),),
        )
        .await
        .map_err(|e| zbus::fdo::Error::Failed(format!("GetConnectionUnixProcessID: {e}")))?;
    reply
        .body()
        .deserialize::<u32>()
        .map_err(|e| zbus::fdo::Error::Failed(format!("GetConnectionUnixProcessID: {e}")))
}

/// The machine's id, for `org.freedesktop.DBus.Peer.GetMachineId`.
pub fn machine_id() -> zbus::fdo::Result<String> {
    std::fs::read_to_string("/etc/machine-id")
        .map(|id| id.trim().to_owned())
        .map_err(|e| zbus::fdo::Error::Failed(format!("/etc/machine-id: {e}")))
}
