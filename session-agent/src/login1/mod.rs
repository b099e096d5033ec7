//! `org.freedesktop.login1` served by the agent, for Vestibule's sessions, on machines without
//! systemd-logind (or elogind): `loginctl`, xss-lock, swayidle and other logind clients work
//! unchanged on the same session table, operations and authorization as the agent's own API.
//!
//! It runs on a second bus connection, the one that owns the name, so its signals come from the
//! name's owner (clients match on that). Calls are routed by hand ([`router`], [`dispatch`])
//! rather than through zbus's object server, which that connection never starts (so nothing else
//! answers a call): logind's clients need `GetAll("")` (all interfaces), exact signatures and one
//! object per session and user, thousands of them, which here are looked up in the table per call
//! instead of being registered.
//!
//! Served: the manager's session, user, lock and inhibitor methods, session and user objects,
//! Properties, Introspectable, Peer. Not served: seats beyond `seat0` (no seat objects), power
//! management (no PowerOff/Suspend/…; `PrepareForSleep` is never sent: the agent never suspends,
//! and inhibitors are only recorded), session activation and VT switching (`Activate` succeeds
//! and does nothing), device control (TakeControl, TakeDevice), lingering.

pub mod dispatch;
pub mod inhibit;
pub mod introspect;
pub mod path;
pub mod props;
pub mod router;

use zbus::fdo::{DBusProxy, RequestNameFlags, RequestNameReply};
use zbus::Connection;

/// The bus name.
pub const BUS_NAME: &str = "org.freedesktop.login1";

/// `--login1`: whether the agent serves `org.freedesktop.login1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Only where nothing else has the name: no owner, not activatable, no systemd
    /// (`/run/systemd/system` absent: logind's machines).
    Auto,
    /// Always; fails if the name is owned.
    On,
    /// Never.
    Off,
}

/// Why the agent does not serve the name in `auto` mode, or `None` when it may.
pub fn auto_refusal(owner: Option<&str>, activatable: bool, systemd: bool) -> Option<String> {
    if let Some(owner) = owner {
        return Some(format!("{BUS_NAME} is owned by {owner}"));
    }
    if activatable {
        return Some(format!(
            "{BUS_NAME} is activatable on this bus (logind or elogind is installed)"
        ));
    }
    if systemd {
        return Some("/run/systemd/system exists: systemd-logind serves this machine".into());
    }
    None
}

/// Takes the name on `conn` as `mode` says: `Ok(true)` when it is ours, `Ok(false)` when `auto`
/// decided not to (logged), `Err` when `on` cannot have it. The name is requested with
/// DoNotQueue and never with ReplaceExisting or AllowReplacement: the agent never takes it from
/// anyone, and nobody can take it from the agent.
pub async fn acquire(conn: &Connection, mode: Mode) -> Result<bool, String> {
    if mode == Mode::Off {
        return Ok(false);
    }
    let dbus = DBusProxy::new(conn).await.map_err(|e| e.to_string())?;
    let owner_of = || async {
        let name = zbus::names::BusName::try_from(BUS_NAME).expect("valid name");
        dbus.get_name_owner(name).await.ok().map(|o| o.to_string())
    };
    if mode == Mode::Auto {
        let owner = owner_of().await;
        let activatable = dbus
            .list_activatable_names()
            .await
            .map_err(|e| format!("ListActivatableNames: {e}"))?
            .iter()
            .any(|n| n.as_str() == BUS_NAME);
        let systemd = std::path::Path::new("/run/systemd/system").exists();
        if let Some(why) = auto_refusal(owner.as_deref(), activatable, systemd) {
            tracing::info!(reason = why, "not serving {BUS_NAME} (--login1 auto)");
            return Ok(false);
        }
    }
    let name = zbus::names::WellKnownName::try_from(BUS_NAME).expect("valid name");
    let reply = match dbus.request_name(name, RequestNameFlags::DoNotQueue.into()).await {
        Ok(reply) => reply,
        // The bus refused (no policy lets root own the name: vestibule-login1.conf not
        // installed): `auto` runs without it, `on` cannot.
        Err(e) if mode == Mode::Auto => {
            tracing::warn!(error = %e, "not serving {BUS_NAME}: the bus refused the name");
            return Ok(false);
        }
        Err(e) => return Err(format!("requesting {BUS_NAME}: {e}")),
    };
    match reply {
        RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner => Ok(true),
        _ => {
            let owner = owner_of().await.unwrap_or_else(|| "another connection".into());
            if mode == Mode::Auto {
                tracing::info!(owner, "not serving {BUS_NAME}: it was taken meanwhile");
                return Ok(false);
            }
            Err(format!(
                "{BUS_NAME} is owned by {owner} (--login1 on never replaces it)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_serves_only_where_nothing_else_would() {
        assert_eq!(auto_refusal(None, false, false), None);
        assert!(auto_refusal(Some(":1.4"), false, false).unwrap().contains(":1.4"));
        assert!(auto_refusal(None, true, false).unwrap().contains("activatable"));
        assert!(auto_refusal(None, false, true)
            .unwrap()
            .contains("/run/systemd/system"));
    }
}
