//! The PAM side of the greeter: one thread per login runs `vestibule_core::login` and then the
//! session, talking to the UI thread over channels.
//!
//! libpam's conversation is a blocking callback, and the UI must keep drawing (clock, resizes,
//! the fail delay) while a module works, so PAM cannot run on the UI thread. The session runs on
//! this same thread because [`vestibule_core::OpenSession`] holds the PAM handle and is not
//! `Send`; the UI thread blocks the supervisor's signals too (see `signals.rs`), so SIGTERM and
//! SIGCHLD reach the supervisor's signalfd whichever thread the kernel picks.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use vestibule_core::{
    login, AuthLog, ConfigDir, ConvError, Conversation, Identity, Items, LoginOptions, Message, Secret,
    Service, SessionSpec,
};

use crate::config;

/// What the PAM worker reports.
#[derive(Debug)]
pub enum PamEvent {
    /// One conversation call. With prompts in it, the worker waits for [`ToWorker::Answers`].
    Messages(Vec<Message>),
    /// libpam's fail delay started; the worker is waiting this long.
    FailDelay(Duration),
    /// The login ended without a session, with the sentence to show.
    Failed(String),
    /// Authenticated and the PAM session is open: the session is about to start.
    SessionStarting,
    /// The session ended; a line saying how.
    SessionEnded(String),
}

/// What the UI tells the worker.
#[derive(Debug)]
pub enum ToWorker {
    /// Answers to the current conversation call.
    Answers(Vec<Option<Secret>>),
    /// Stop: answer the current (or next) call with a cancellation, or close an open session.
    Cancel,
    /// The terminal is ready: run the session.
    Run(Box<SessionSpec>),
}

/// How the worker's login ended, for the UI loop.
#[derive(Debug)]
pub enum Report {
    Event(PamEvent),
    /// Printed on the plain terminal before the session starts (not running as root).
    Note(String),
    /// The session ended because this signal asked the greeter to stop.
    Terminated(nix::sys::signal::Signal),
    /// A lock screen's attempt succeeded: the session may be shown again.
    Unlocked,
}

/// A conversation that hands each call to the UI and waits for its answers.
pub(crate) struct ChannelConversation {
    to_ui: Sender<Report>,
    from_ui: std::sync::Arc<std::sync::Mutex<Receiver<ToWorker>>>,
    /// Once cancelled, every later call is cancelled too: the login is over.
    cancelled: bool,
}

impl ChannelConversation {
    pub(crate) fn new(
        to_ui: Sender<Report>,
        from_ui: std::sync::Arc<std::sync::Mutex<Receiver<ToWorker>>>,
    ) -> ChannelConversation {
        ChannelConversation {
            to_ui,
            from_ui,
            cancelled: false,
        }
    }

    fn next(&self) -> Option<ToWorker> {
        self.from_ui.lock().ok()?.recv().ok()
    }

    /// Notices a Cancel sent while PAM was busy (stale answers are dropped).
    fn cancelled_meanwhile(&mut self) -> bool {
        let Ok(rx) = self.from_ui.lock() else {
            return true;
        };
        while let Ok(message) = rx.try_recv() {
            if matches!(message, ToWorker::Cancel) {
                self.cancelled = true;
            }
        }
        self.cancelled
    }
}

impl Conversation for ChannelConversation {
    fn converse(&mut self, messages: &[Message]) -> Result<Vec<Option<Secret>>, ConvError> {
        if self.cancelled_meanwhile() {
            return Err(ConvError::Cancelled);
        }
        let send = self
            .to_ui
            .send(Report::Event(PamEvent::Messages(messages.to_vec())));
        if send.is_err() {
            return Err(ConvError::Cancelled);
        }
        if !messages.iter().any(Message::is_prompt) {
            return Ok(messages.iter().map(|_| None).collect());
        }
        loop {
            match self.next() {
                Some(ToWorker::Answers(answers)) => return Ok(answers),
                Some(ToWorker::Run(_)) => continue,
                Some(ToWorker::Cancel) | None => {
                    self.cancelled = true;
                    return Err(ConvError::Cancelled);
                }
            }
        }
    }

    fn fail_delay(&mut self, delay: Duration) {
        let _ = self.to_ui.send(Report::Event(PamEvent::FailDelay(delay)));
        std::thread::sleep(delay);
    }
}

/// How a greeter was told to run PAM on its command line. Each value left out comes from the
/// config's `[greeter]` keys, so both greeters resolve them the same way.
#[derive(Debug, Clone)]
pub struct PamSettings {
    pub pam: ConfigDir,
    pub max_tries: Option<u32>,
    pub fail_delay: Option<Duration>,
    /// The session agent's bus (`--agent-bus`); else `VESTIBULE_AGENT_BUS`, else the system bus.
    pub agent_bus: Option<String>,
}

/// A login running on its own thread, as [`PamSettings::start`] returns it.
pub struct Running {
    pub to: Sender<ToWorker>,
    pub from: Receiver<Report>,
    pub handle: JoinHandle<()>,
}

impl PamSettings {
    /// What one login runs with: these settings over the config's, and the items the front end
    /// knows (the user's name, the terminal or display). Auth events are logged as `program`.
    pub fn login_options(
        &self,
        greeter: &config::Greeter,
        items: Items,
        program: &'static str,
    ) -> LoginOptions {
        LoginOptions {
            config: self.pam.clone(),
            items: Items {
                user_prompt: Some(greeter.user_prompt.clone()),
                ..items
            },
            max_tries: self.max_tries.unwrap_or(greeter.max_tries),
            fail_delay: self
                .fail_delay
                .unwrap_or(Duration::from_millis(greeter.fail_delay_ms)),
            log: AuthLog::new(program),
        }
    }

    /// Starts a login for the user named in `items` on a new thread.
    pub fn start(&self, greeter: &config::Greeter, items: Items, program: &'static str) -> Running {
        let (to, from_ui) = mpsc::channel();
        let (to_ui, from) = mpsc::channel();
        let options = self.login_options(greeter, items, program);
        let handle = spawn(options, self.agent_bus.clone(), to_ui, from_ui);
        Running { to, from, handle }
    }
}

/// Starts a login on a new thread. The thread ends after reporting `Failed` or `SessionEnded`
/// (or when the UI hangs up).
fn spawn(
    options: LoginOptions,
    agent_bus: Option<String>,
    to_ui: Sender<Report>,
    from_ui: Receiver<ToWorker>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("pam".into())
        .spawn(move || work(options, agent_bus, to_ui, from_ui))
        .expect("cannot start the PAM thread")
}

fn work(
    options: LoginOptions,
    agent_bus: Option<String>,
    to_ui: Sender<Report>,
    from_ui: Receiver<ToWorker>,
) {
    let from_ui = std::sync::Arc::new(std::sync::Mutex::new(from_ui));
    let conversation = ChannelConversation::new(to_ui.clone(), from_ui.clone());
    let session = match login(Service::Login, &options, Box::new(conversation)) {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(error = %e, "login failed");
            let _ = to_ui.send(Report::Event(PamEvent::Failed(e.user_message())));
            return;
        }
    };
    if let Identity::Invoker { invoker, pam_user } = session.identity() {
        let _ = to_ui.send(Report::Note(format!(
            "Not running as root: this session runs as {} (uid {}), not as {pam_user}.",
            invoker.name, invoker.uid
        )));
    }
    let _ = to_ui.send(Report::Event(PamEvent::SessionStarting));
    let spec = loop {
        let next = match from_ui.lock() {
            Ok(rx) => rx.recv_timeout(Duration::from_secs(60)),
            Err(_) => Err(RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(ToWorker::Run(spec)) => break spec,
            Ok(ToWorker::Answers(_)) => continue,
            Ok(ToWorker::Cancel) | Err(_) => {
                if let Err(rc) = session.close() {
                    tracing::warn!(status = %rc, "closing an unused session failed");
                }
                let _ = to_ui.send(Report::Event(PamEvent::Failed("Login cancelled.".into())));
                return;
            }
        }
    };
    // Registered with the session agent when there is one; the UI thread blocked the
    // supervisor's signals before this thread started, so a tracker's threads inherit the mask.
    let summary = match crate::agent_link::run_session(session, &spec, agent_bus) {
        Ok(report) => {
            if let Some(sig) = report.terminated_by {
                let _ = to_ui.send(Report::Terminated(sig));
            }
            let mut s = match report.end {
                vestibule_core::SessionEnd::Exited(code) => format!("Session ended (exit status {code})."),
                vestibule_core::SessionEnd::Signaled(sig) => format!("Session ended by {sig}."),
            };
            if let Err(rc) = report.closed {
                s.push_str(&format!(" The session was not closed cleanly: {rc}."));
            }
            s
        }
        Err(e) => format!("The session could not run: {e}."),
    };
    let _ = to_ui.send(Report::Event(PamEvent::SessionEnded(summary)));
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    use vestibule_core::SafeText;

    use super::*;

    fn conversation() -> (ChannelConversation, Receiver<Report>, Sender<ToWorker>) {
        let (to_ui, from_worker) = mpsc::channel();
        let (to_worker, from_ui) = mpsc::channel();
        let c = ChannelConversation::new(to_ui, Arc::new(Mutex::new(from_ui)));
        (c, from_worker, to_worker)
    }

    fn prompt() -> Vec<Message> {
        vec![
            Message::Info(SafeText::from_trusted("hello")),
            Message::PromptHidden(SafeText::from_trusted("Password: ")),
        ]
    }

    #[test]
    fn command_line_values_win_and_the_config_fills_the_rest() {
        let greeter = config::Greeter {
            user_prompt: "Who? ".into(),
            max_tries: 5,
            fail_delay_ms: 1500,
            ..config::Greeter::default()
        };
        let mut settings = PamSettings {
            pam: ConfigDir::Override("/tmp/pam".into()),
            max_tries: None,
            fail_delay: None,
            agent_bus: None,
        };
        let items = || Items {
            user: Some("alice".into()),
            tty: Some("/dev/tty3".into()),
            ..Items::default()
        };
        let o = settings.login_options(&greeter, items(), "vestibule-test");
        assert_eq!((o.max_tries, o.fail_delay), (5, Duration::from_millis(1500)));
        assert_eq!(o.items.user_prompt.as_deref(), Some("Who? "));
        assert_eq!(o.items.user.as_deref(), Some("alice"));
        assert_eq!(o.items.tty.as_deref(), Some("/dev/tty3"));
        assert!(matches!(o.config, ConfigDir::Override(ref d) if d.as_os_str() == "/tmp/pam"));
        assert!(o
            .log
            .frame(vestibule_core::Severity::Info, "x")
            .contains("vestibule-test["));

        settings.max_tries = Some(1);
        settings.fail_delay = Some(Duration::ZERO);
        let o = settings.login_options(&greeter, items(), "vestibule-test");
        assert_eq!((o.max_tries, o.fail_delay), (1, Duration::ZERO));
    }

    #[test]
    fn a_batch_goes_to_the_ui_whole_and_its_answers_come_back() {
        let (mut c, ui, answer) = conversation();
        // The UI answers once it has the batch, as the greeter does.
        let front = std::thread::spawn(move || match ui.recv() {
            Ok(Report::Event(PamEvent::Messages(m))) => {
                assert_eq!(m, prompt());
                let secret = Secret::from_bytes(b"pw").unwrap();
                answer.send(ToWorker::Answers(vec![None, Some(secret)])).unwrap();
            }
            other => panic!("{other:?}"),
        });
        let got = c.converse(&prompt()).unwrap();
        assert_eq!(got[1].as_ref().unwrap().as_bytes(), b"pw");
        front.join().unwrap();
    }

    #[test]
    fn notices_alone_do_not_wait() {
        let (mut c, ui, _answer) = conversation();
        let info = [Message::Error(SafeText::from_trusted("Login incorrect"))];
        assert_eq!(c.converse(&info).unwrap().len(), 1);
        assert!(matches!(ui.try_recv(), Ok(Report::Event(PamEvent::Messages(_)))));
    }

    #[test]
    fn cancel_answers_cancelled_now_and_for_every_later_call() {
        let (mut c, _ui, answer) = conversation();
        answer.send(ToWorker::Cancel).unwrap();
        assert_eq!(c.converse(&prompt()).unwrap_err(), ConvError::Cancelled);
        assert_eq!(c.converse(&prompt()).unwrap_err(), ConvError::Cancelled);
        let info = [Message::Info(SafeText::from_trusted("x"))];
        assert_eq!(c.converse(&info).unwrap_err(), ConvError::Cancelled);
    }

    #[test]
    fn a_vanished_ui_cancels() {
        let (mut c, ui, answer) = conversation();
        drop(answer);
        assert_eq!(c.converse(&prompt()).unwrap_err(), ConvError::Cancelled);
        drop(ui);
        let info = [Message::Info(SafeText::from_trusted("x"))];
        assert_eq!(c.converse(&info).unwrap_err(), ConvError::Cancelled);
    }

    #[test]
    fn the_fail_delay_is_reported_then_waited() {
        let (mut c, ui, _answer) = conversation();
        let start = std::time::Instant::now();
        c.fail_delay(Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(matches!(
            ui.try_recv(),
            Ok(Report::Event(PamEvent::FailDelay(d))) if d == Duration::from_millis(30)
        ));
    }
}
