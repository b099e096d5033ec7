//! Running an open session registered with the session agent, for both console front ends.
//!
//! The agent's bus is `--agent-bus`, else `VESTIBULE_AGENT_BUS`, else the system bus. On the
//! system bus only root may register, so a user's own login (the demo) runs untracked; a missing
//! bus or agent never stops a login. The tracker connects only once the session runs, with the
//! supervisor's signals blocked (see `vestibule_core::tracker`).

use vestibule_agent::client::{AgentBus, Tracker};
use vestibule_core::{OpenSession, SessionError, SessionReport, SessionSpec};

/// Runs `session` as `spec` says, telling the agent on `agent_bus` about it when there is one.
pub fn run_session(
    session: OpenSession,
    spec: &SessionSpec,
    agent_bus: Option<String>,
) -> Result<SessionReport, SessionError> {
    let mut tracker = Tracker::from_env(agent_bus);
    if *tracker.bus() == AgentBus::System && !nix::unistd::Uid::effective().is_root() {
        tracing::debug!("not root: the session is not registered with the agent");
        return session.run(spec);
    }
    session.run_tracked(spec, &mut tracker)
}
