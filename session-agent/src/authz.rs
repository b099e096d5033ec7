//! Who may do what, decided from the caller's uid as the bus reports it — never from anything the
//! caller sends. Root may do everything; a user may list, look at, lock and close only their own
//! sessions; registering, unregistering, unlocking and locking everything are root's, because
//! the supervisor that registers is root, and a user who could mark their own session "active"
//! again would make the lock state meaningless to everyone who trusts it. The one exception is
//! decided by the service, not here: the session's registered lock screen (see `crate::locker`),
//! which authenticated the user, may report the unlock.

/// One thing a caller asks for, with the owner of what it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    Register,
    Unregister,
    /// See one session (`GetSession`, `GetSessionByPid`).
    Show {
        id: &'a str,
        owner: u32,
    },
    Close {
        id: &'a str,
        owner: u32,
    },
    CloseUser {
        uid: u32,
    },
    Lock {
        id: &'a str,
        owner: u32,
    },
    Unlock {
        id: &'a str,
        owner: u32,
    },
    LockAll,
}

/// A refusal; the text is what the caller reads in the AccessDenied error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("uid {caller} may not {what}: {why}")]
pub struct Denied {
    pub caller: u32,
    pub what: String,
    pub why: &'static str,
}

const ROOT_ONLY: &str = "only root may";
const OWN_ONLY: &str = "a user may only act on their own sessions";

/// Allows or refuses `action` for `caller`.
pub fn check(caller: u32, action: Action<'_>) -> Result<(), Denied> {
    if caller == 0 {
        return Ok(());
    }
    let deny = |what: String, why| Err(Denied { caller, what, why });
    match action {
        Action::Register => deny("register a session".into(), ROOT_ONLY),
        Action::Unregister => deny("unregister a session".into(), ROOT_ONLY),
        Action::Unlock { id, .. } => deny(format!("unlock session {id}"), ROOT_ONLY),
        Action::LockAll => deny("lock all sessions".into(), ROOT_ONLY),
        Action::Show { id, owner } if owner != caller => {
            deny(format!("see session {id} of uid {owner}"), OWN_ONLY)
        }
        Action::Close { id, owner } if owner != caller => {
            deny(format!("close session {id} of uid {owner}"), OWN_ONLY)
        }
        Action::Lock { id, owner } if owner != caller => {
            deny(format!("lock session {id} of uid {owner}"), OWN_ONLY)
        }
        Action::CloseUser { uid } if uid != caller => {
            deny(format!("close the sessions of uid {uid}"), OWN_ONLY)
        }
        Action::Show { .. } | Action::Close { .. } | Action::Lock { .. } | Action::CloseUser { .. } => Ok(()),
    }
}

/// Whether `caller` sees a session of `owner` in `ListSessions` (others' are left out, not
/// refused, so a user's list is simply their own).
pub fn may_list(caller: u32, owner: u32) -> bool {
    caller == 0 || caller == owner
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: u32 = 1000;
    const BOB: u32 = 1001;

    #[test]
    fn root_may_do_everything() {
        for a in [
            Action::Register,
            Action::Unregister,
            Action::Show {
                id: "1",
                owner: ALICE,
            },
            Action::Close {
                id: "1",
                owner: ALICE,
            },
            Action::CloseUser { uid: ALICE },
            Action::Lock {
                id: "1",
                owner: ALICE,
            },
            Action::Unlock {
                id: "1",
                owner: ALICE,
            },
            Action::LockAll,
        ] {
            assert_eq!(check(0, a), Ok(()), "{a:?}");
        }
        assert!(may_list(0, ALICE));
    }

    #[test]
    fn a_user_acts_on_their_own_sessions_only() {
        assert!(check(
            ALICE,
            Action::Close {
                id: "1",
                owner: ALICE
            }
        )
        .is_ok());
        assert!(check(
            ALICE,
            Action::Lock {
                id: "1",
                owner: ALICE
            }
        )
        .is_ok());
        assert!(check(
            ALICE,
            Action::Show {
                id: "1",
                owner: ALICE
            }
        )
        .is_ok());
        assert!(check(ALICE, Action::CloseUser { uid: ALICE }).is_ok());
        assert!(check(
            BOB,
            Action::Close {
                id: "1",
                owner: ALICE
            }
        )
        .is_err());
        assert!(check(
            BOB,
            Action::Lock {
                id: "1",
                owner: ALICE
            }
        )
        .is_err());
        assert!(check(
            BOB,
            Action::Show {
                id: "1",
                owner: ALICE
            }
        )
        .is_err());
        assert!(check(BOB, Action::CloseUser { uid: ALICE }).is_err());
        assert!(check(BOB, Action::Close { id: "1", owner: 0 }).is_err());
        assert!(may_list(ALICE, ALICE));
        assert!(!may_list(BOB, ALICE));
    }

    #[test]
    fn root_only_actions_are_refused_to_users_even_for_their_own_sessions() {
        for a in [
            Action::Register,
            Action::Unregister,
            Action::Unlock {
                id: "1",
                owner: ALICE,
            },
            Action::LockAll,
        ] {
            assert!(check(ALICE, a).is_err(), "{a:?}");
        }
    }

    #[test]
    fn the_refusal_says_who_what_and_why() {
        let e = check(
            BOB,
            Action::Close {
                id: "7",
                owner: ALICE,
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "uid 1001 may not close session 7 of uid 1000: a user may only act on their own sessions"
        );
    }
}
