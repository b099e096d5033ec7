//! Telling someone else (the session agent) about the sessions the supervisor runs, without the
//! core knowing who that is: no bus here, only a trait the front end hands to
//! [`OpenSession::run_tracked`](crate::OpenSession::run_tracked).
//!
//! The supervisor calls [`SessionTracker::opened`] right after the session's first process is
//! started (its pid is the record's leader), and [`SessionTracker::closed`] once
//! `pam_close_session`, `pam_setcred(PAM_DELETE_CRED)` and `pam_end` have all returned, so
//! "closed" always means the PAM session really is closed. A tracker that fails is logged and
//! otherwise ignored: a login must work with no agent running.
//!
//! Signals: both calls run while the supervisor has SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT
//! and SIGTTOU blocked in its thread and reads them from a signalfd. Threads inherit the mask of
//! the thread that creates them, so a tracker that needs threads (a D-Bus connection's executor)
//! must create them in `opened`, never before `run_tracked`: a thread that does not block
//! SIGTERM would take a SIGTERM meant for the supervisor, which would then never end the session
//! nor close PAM. `opened` is called after the fork, so such threads never exist in the session's
//! process either.

use crate::record::SessionRecord;

/// Where the supervisor reports the sessions it opens and closes.
pub trait SessionTracker {
    /// The session described by `record` (its `id` empty) is running; returns the id the tracker
    /// gave it, `None` if there is nobody to tell (no agent on this system: logged at debug
    /// level only), or why it could not be recorded (logged as a warning).
    fn opened(&mut self, record: &SessionRecord) -> Result<Option<String>, String>;

    /// The PAM session recorded as `id` is closed.
    fn closed(&mut self, id: &str);
}
