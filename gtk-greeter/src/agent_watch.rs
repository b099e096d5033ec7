//! The lock daemon's link to the session agent: finds this session, reports the agent's Lock and
//! Unlock signals for it to the main loop, registers this process as the session's locker (so the
//! agent starts a new one if it dies while locked), and tells the agent when the user unlocked.
//!
//! Only the agent is listened to: the bus delivers the agent's interface's signals only from the
//! current owner of its name (match rule `sender='org.vestibule.SessionAgent1'`), and each one is
//! checked again against that owner's unique name as followed through `NameOwnerChanged`
//! ([`crate::agent_gate`]); another user's `dbus-send --type=signal … Unlock` changes nothing.
//! When the agent goes away the daemon keeps guarding the screen and waits; when an agent owns
//! the name again (a restart), it registers with it anew and takes its view of the session.
//!
//! Blocking zbus calls run on their own thread; two more only forward the two kinds of messages
//! into it, so neither of zbus's queues can fill while a call waits. The main loop only reads a
//! channel.

use std::sync::mpsc;

use vestibule_agent::client::{CallError, Client};
use vestibule_agent::{BUS_NAME, INTERFACE, OBJECT_PATH};
use zbus::blocking::fdo::DBusProxy;
use zbus::blocking::MessageIterator;

use crate::agent_gate::{Gate, Ignored, OwnerChange, Signal};

/// What the agent said.
pub enum AgentEvent {
    /// This is our session; `locked` if it is locked already (a locker that was restarted, or an
    /// agent that was). `link` reports the unlock later, on the connection registered as the
    /// session's locker. Sent again whenever a new agent takes the name.
    Session {
        id: String,
        locked: bool,
        link: Client,
    },
    Lock,
    Unlock,
    /// The session was closed: the lock daemon has nothing left to guard.
    Removed,
    /// The link failed; the lock daemon cannot work without it.
    Lost(String),
}

/// One message from the forwarding threads.
enum Incoming {
    Signal {
        sender: Option<String>,
        signal: Signal,
        target: String,
    },
    /// The agent's name has a new owner (None: nobody).
    Owner(Option<String>),
    /// A forwarder's stream ended: the bus connection is gone.
    Closed(String),
}

/// Starts watching. `session` is the id given on the command line, else the agent is asked which
/// session this process belongs to.
pub fn watch(bus: Option<String>, session: Option<String>) -> async_channel::Receiver<AgentEvent> {
    let (tx, rx) = async_channel::unbounded();
    std::thread::Builder::new()
        .name("agent-watch".into())
        .spawn(move || {
            if let Err(e) = run(bus.as_deref(), session, &tx) {
                let _ = tx.send_blocking(AgentEvent::Lost(e.to_string()));
            }
        })
        .expect("cannot start a thread");
    rx
}

/// The agent's own signals, as the bus daemon filters them: from the owner of its name only.
fn agent_signals() -> zbus::Result<zbus::MatchRule<'static>> {
    Ok(zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(BUS_NAME)?
        .interface(INTERFACE)?
        .path(OBJECT_PATH)?
        .build())
}

/// The bus daemon's `NameOwnerChanged` for the agent's name.
fn owner_changes() -> zbus::Result<zbus::MatchRule<'static>> {
    Ok(zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender("org.freedesktop.DBus")?
        .interface("org.freedesktop.DBus")?
        .member("NameOwnerChanged")?
        .arg(0, BUS_NAME)?
        .build())
}

/// Moves what `messages` yields into `to`, translated by `read` (None: skip).
fn forward(
    name: &str,
    messages: MessageIterator,
    to: mpsc::Sender<Incoming>,
    read: fn(&zbus::Message) -> Option<Incoming>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        for message in messages {
            let incoming = match message {
                Ok(m) => read(&m),
                Err(e) => Some(Incoming::Closed(e.to_string())),
            };
            if let Some(i) = incoming {
                if to.send(i).is_err() {
                    return;
                }
            }
        }
        let _ = to.send(Incoming::Closed("the bus connection closed".into()));
    })?;
    Ok(())
}

fn read_signal(m: &zbus::Message) -> Option<Incoming> {
    let header = m.header();
    let signal = Signal::from_member(header.member()?.as_str())?;
    // The start of a lock's timeline (bench/run-lock-grab.sh reads it with VESTIBULE_LOG=debug).
    tracing::debug!(?signal, "agent signal read");
    let body = m.body();
    let target = match signal {
        Signal::Removed => body
            .deserialize::<(String, zbus::zvariant::OwnedObjectPath)>()
            .map(|(id, _)| id),
        Signal::Lock | Signal::Unlock => body.deserialize::<String>(),
    }
    .ok()?;
    Some(Incoming::Signal {
        sender: header.sender().map(|s| s.to_string()),
        signal,
        target,
    })
}

fn read_owner(m: &zbus::Message) -> Option<Incoming> {
    // Only the bus itself can send as org.freedesktop.DBus.
    if m.header().sender().map(|s| s.as_str()) != Some("org.freedesktop.DBus") {
        return None;
    }
    let (name, _old, new) = m.body().deserialize::<(String, String, String)>().ok()?;
    (name == BUS_NAME).then(|| Incoming::Owner(Some(new).filter(|n| !n.is_empty())))
}

/// Who owns the agent's name now, asked of the bus (None: nobody, or the bus would not say).
fn current_owner(dbus: &DBusProxy<'_>) -> Option<String> {
    let name = zbus::names::BusName::try_from(BUS_NAME).ok()?;
    dbus.get_name_owner(name).ok().map(|n| n.to_string())
}

/// Finds the session and registers as its locker: (id, locked now).
fn register(client: &Client, session: Option<&str>) -> Result<(String, bool), CallError> {
    let record = match session {
        Some(id) => client.get(id)?,
        None => client.get_by_pid(std::process::id())?,
    };
    if let Err(e) = client.set_locker(&record.id) {
        tracing::warn!(error = %e, "the agent did not take this process as the session's lock screen");
    }
    Ok((record.id.clone(), record.state == "locked"))
}

fn run(
    bus: Option<&str>,
    session: Option<String>,
    tx: &async_channel::Sender<AgentEvent>,
) -> Result<(), CallError> {
    let client = Client::connect(bus)?;
    let conn = client.connection().clone();
    // Subscribe before asking anything, so nothing said in between is missed.
    let (to_me, incoming) = mpsc::channel();
    let signals = MessageIterator::for_match_rule(agent_signals()?, &conn, Some(64))?;
    let owners = MessageIterator::for_match_rule(owner_changes()?, &conn, Some(64))?;
    let dbus = DBusProxy::new(&conn)?;
    forward("agent-signals", signals, to_me.clone(), read_signal).map_err(zbus::Error::from)?;
    forward("agent-owner", owners, to_me, read_owner).map_err(zbus::Error::from)?;

    let mut gate = Gate::new();
    gate.owner_changed(current_owner(&dbus).as_deref());
    let (id, locked) = register(&client, session.as_deref())?;
    gate.set_session(&id);
    let session_event = |locked| AgentEvent::Session {
        id: id.clone(),
        locked,
        link: client.clone(),
    };
    if tx.send_blocking(session_event(locked)).is_err() {
        return Ok(());
    }
    // A new agent: register with it; what it says about the session is sent on (an agent that
    // does not know the session cannot uncover it: only its signals can).
    let rejoin = |gate: &Gate| match register(&client, gate.session()) {
        Ok((_, locked)) => tx.send_blocking(session_event(locked)).is_ok(),
        Err(e) => {
            tracing::warn!(error = %e, "the new session agent does not know this session");
            true
        }
    };
    for message in incoming {
        match message {
            Incoming::Owner(new) => match gate.owner_changed(new.as_deref()) {
                OwnerChange::Same => {}
                OwnerChange::Gone => {
                    tracing::warn!("the session agent is gone; guarding the screen until it comes back")
                }
                OwnerChange::New(name) => {
                    tracing::info!(owner = name, "a session agent owns the name again");
                    if !rejoin(&gate) {
                        return Ok(());
                    }
                }
            },
            Incoming::Signal {
                sender,
                signal,
                target,
            } => {
                let mut verdict = gate.judge(sender.as_deref(), signal, &target);
                if let Err(Ignored::NotTheAgent { .. }) = verdict {
                    // NameOwnerChanged comes on the other forwarder: before refusing, ask the
                    // bus who owns the name now, so a restarted agent's first signal counts.
                    if let OwnerChange::New(name) = gate.owner_changed(current_owner(&dbus).as_deref()) {
                        tracing::info!(owner = name, "a session agent owns the name again");
                        if !rejoin(&gate) {
                            return Ok(());
                        }
                    }
                    verdict = gate.judge(sender.as_deref(), signal, &target);
                }
                let event = match verdict {
                    Ok(Signal::Lock) => AgentEvent::Lock,
                    Ok(Signal::Unlock) => AgentEvent::Unlock,
                    Ok(Signal::Removed) => AgentEvent::Removed,
                    Err(Ignored::NotTheAgent { sender }) => {
                        tracing::warn!(
                            ?sender,
                            ?signal,
                            "ignored a signal that did not come from the agent"
                        );
                        continue;
                    }
                    Err(Ignored::OtherSession) => continue,
                };
                if tx.send_blocking(event).is_err() {
                    return Ok(());
                }
            }
            Incoming::Closed(reason) => return Err(CallError::Bus(zbus::Error::Failure(reason))),
        }
    }
    Ok(())
}

/// Tells the agent the screen is covered and input held (`LockSession` waits for it), on the
/// locker's own connection, from a short-lived thread.
pub fn report_locked(link: Client, id: String) {
    std::thread::spawn(move || {
        if let Err(e) = link.report_locked(&id) {
            tracing::warn!(error = %e, "cannot tell the agent the screen is covered");
        } else {
            tracing::debug!("ReportLocked answered");
        }
    });
}

/// Tells the agent the session is unlocked, on the locker's own connection (from a short-lived
/// thread: never on the main loop).
pub fn report_unlocked(link: Client, id: String) {
    std::thread::spawn(move || {
        if let Err(e) = link.unlock(&id) {
            tracing::warn!(error = %e, "cannot tell the agent the session is unlocked");
        }
    });
}
