//! The lock daemon's link to the session agent: finds this session, reports the agent's Lock and
//! Unlock signals for it to the main loop, registers this process as the session's locker (so the
//! agent starts a new one if it dies while locked), and tells the agent when the user unlocked.
//! Blocking zbus calls run on their own thread; the main loop only reads a channel.

use vestibule_agent::client::{CallError, Client};
use vestibule_agent::INTERFACE;

/// What the agent said.
pub enum AgentEvent {
    /// This is our session; `locked` if it is locked already (a locker that was restarted).
    /// `link` reports the unlock later, on the connection registered as the session's locker.
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

fn run(
    bus: Option<&str>,
    session: Option<String>,
    tx: &async_channel::Sender<AgentEvent>,
) -> Result<(), CallError> {
    let client = Client::connect(bus)?;
    // Subscribe before asking for the state, so a Lock in between is not missed.
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(INTERFACE)?
        .build();
    let signals = zbus::blocking::MessageIterator::for_match_rule(rule, client.connection(), Some(64))?;
    let record = match &session {
        Some(id) => client.get(id)?,
        None => client.get_by_pid(std::process::id())?,
    };
    let id = record.id.clone();
    if let Err(e) = client.set_locker(&id) {
        tracing::warn!(error = %e, "the agent did not take this process as the session's lock screen");
    }
    if tx
        .send_blocking(AgentEvent::Session {
            id: id.clone(),
            locked: record.state == "locked",
            link: client.clone(),
        })
        .is_err()
    {
        return Ok(());
    }
    for message in signals {
        let message = message?;
        let header = message.header();
        let Some(member) = header.member() else {
            continue;
        };
        let event = match member.as_str() {
            "Lock" => AgentEvent::Lock,
            "Unlock" => AgentEvent::Unlock,
            "SessionRemoved" => AgentEvent::Removed,
            _ => continue,
        };
        let body = message.body();
        let target = match event {
            AgentEvent::Removed => body
                .deserialize::<(String, zbus::zvariant::OwnedObjectPath)>()
                .map(|(id, _)| id),
            _ => body.deserialize::<String>(),
        };
        let Ok(target) = target else {
            continue;
        };
        if target == id && tx.send_blocking(event).is_err() {
            break;
        }
    }
    Ok(())
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
