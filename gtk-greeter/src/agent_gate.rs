//! Which of the agent's signals the lock daemon acts on: pure logic, apart from the bus.
//!
//! Broadcast signals carry the sender's unique name, stamped by the bus daemon, but anyone may
//! broadcast a signal with the agent's interface and member names (`dbus-send --type=signal`). So
//! `Lock`, `Unlock` and `SessionRemoved` count only when their sender is the unique name that owns
//! the agent's well-known name right now, as logind's clients match
//! `sender='org.freedesktop.login1'`. The owner is followed through `NameOwnerChanged`, so a
//! restarted agent is believed and its predecessor's old unique name is not.

/// The three signals that change what the lock daemon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Lock,
    Unlock,
    Removed,
}

impl Signal {
    /// The signal a member name stands for, if it is one of the three.
    pub fn from_member(member: &str) -> Option<Signal> {
        match member {
            "Lock" => Some(Signal::Lock),
            "Unlock" => Some(Signal::Unlock),
            "SessionRemoved" => Some(Signal::Removed),
            _ => None,
        }
    }
}

/// What became of the agent's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerChange {
    /// Nothing new (the same owner announced again).
    Same,
    /// The agent is gone (stopped or crashed); its signals are refused until one comes back.
    Gone,
    /// An agent owns the name now (a restart, or the first one): register with it.
    New(String),
}

/// Why a signal was not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// The sender is not the agent: a forgery (or a previous agent's late message).
    NotTheAgent { sender: Option<String> },
    /// It is about another session.
    OtherSession,
}

/// The agent's current owner and the session watched.
#[derive(Debug, Default)]
pub struct Gate {
    owner: Option<String>,
    session: Option<String>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// The session this lock daemon guards, once the agent named it.
    pub fn set_session(&mut self, id: &str) {
        self.session = Some(id.to_owned());
    }

    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// `NameOwnerChanged` for the agent's name (or the answer to `GetNameOwner`): `new` is the
    /// new owner's unique name, None (or empty) once nobody owns it.
    pub fn owner_changed(&mut self, new: Option<&str>) -> OwnerChange {
        let new = new.filter(|n| !n.is_empty());
        if new == self.owner.as_deref() {
            return OwnerChange::Same;
        }
        self.owner = new.map(str::to_owned);
        match new {
            Some(n) => OwnerChange::New(n.to_owned()),
            None => OwnerChange::Gone,
        }
    }

    /// Whether a signal from `sender` about session `target` is acted on.
    pub fn judge(&self, sender: Option<&str>, signal: Signal, target: &str) -> Result<Signal, Ignored> {
        if sender.is_none() || sender != self.owner.as_deref() {
            return Err(Ignored::NotTheAgent {
                sender: sender.map(str::to_owned),
            });
        }
        if self.session.as_deref() != Some(target) {
            return Err(Ignored::OtherSession);
        }
        Ok(signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watching(owner: &str) -> Gate {
        let mut g = Gate::new();
        assert_eq!(g.owner_changed(Some(owner)), OwnerChange::New(owner.into()));
        g.set_session("7");
        g
    }

    #[test]
    fn only_the_current_owner_of_the_agents_name_is_believed() {
        let g = watching(":1.4");
        assert_eq!(g.judge(Some(":1.4"), Signal::Unlock, "7"), Ok(Signal::Unlock));
        for forger in [Some(":1.9"), None, Some("org.vestibule.SessionAgent1")] {
            assert_eq!(
                g.judge(forger, Signal::Unlock, "7"),
                Err(Ignored::NotTheAgent {
                    sender: forger.map(str::to_owned)
                })
            );
            assert!(g.judge(forger, Signal::Removed, "7").is_err());
        }
        assert_eq!(
            g.judge(Some(":1.4"), Signal::Lock, "8"),
            Err(Ignored::OtherSession)
        );
    }

    #[test]
    fn a_restarted_agent_is_followed_and_its_predecessor_no_longer_counts() {
        let mut g = watching(":1.4");
        assert_eq!(g.owner_changed(Some(":1.4")), OwnerChange::Same);
        assert_eq!(g.owner_changed(Some("")), OwnerChange::Gone);
        assert!(
            g.judge(Some(":1.4"), Signal::Unlock, "7").is_err(),
            "nobody is the agent now"
        );
        assert_eq!(g.owner_changed(Some(":1.12")), OwnerChange::New(":1.12".into()));
        assert!(
            g.judge(Some(":1.4"), Signal::Unlock, "7").is_err(),
            "the old agent"
        );
        assert_eq!(g.judge(Some(":1.12"), Signal::Unlock, "7"), Ok(Signal::Unlock));
        assert_eq!(g.owner_changed(None), OwnerChange::Gone);
        assert_eq!(g.owner_changed(None), OwnerChange::Same);
    }

    #[test]
    fn no_signal_counts_before_a_session_is_known() {
        let mut g = Gate::new();
        g.owner_changed(Some(":1.4"));
        assert_eq!(
            g.judge(Some(":1.4"), Signal::Lock, "7"),
            Err(Ignored::OtherSession)
        );
        assert_eq!(Signal::from_member("SessionNew"), None);
        assert_eq!(Signal::from_member("SessionRemoved"), Some(Signal::Removed));
    }
}
