//! The greeter's client of the greeter protocol: one login over the daemon's socket
//! (`GREETD_SOCK`, set by `vestibuled` or greetd), reported to the UI as the [`PamEvent`]s the
//! greeters' state machines already understand. The protocol logic is [`machine`] (pure); this
//! file only moves its requests and responses over the socket.
//!
//! It runs on a thread of its own, as the PAM thread did: the socket is blocking, the exchange is
//! strictly request → response, and the daemon may take seconds to answer (PAM modules, the fail
//! delay), while the UI must keep drawing (clock, resizes) and reading keys. A thread keeps the
//! client a straight-line loop and the greeters' event loops unchanged (they already poll a
//! channel of reports). [`Login::stop`] shuts the socket down, so even a thread blocked in a read
//! ends at once — and a closed connection is what tells the daemon the login is abandoned.

pub mod machine;

use std::collections::VecDeque;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use vestibule_ipc::{frame, FrameError, Response, EXTENSION_ENV, MAX_RESPONSE_BYTES};

pub use machine::{Machine, Mode, Report, Step, ToClient, CANCELLED, LOGIN_INCORRECT};

use crate::PamEvent;

/// How long [`Login::stop`] waits for the daemon to answer `cancel_session`.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_millis(1000);

/// The daemon's socket, from `GREETD_SOCK`.
pub fn socket_from_env() -> Result<PathBuf, String> {
    match std::env::var_os("GREETD_SOCK") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(
            "GREETD_SOCK is not set: the greeter runs under vestibuled or greetd, which \
                  set it (for a login without a daemon, use --plain as root)"
                .into(),
        ),
    }
}

/// Whether the daemon offers the extension (`vestibuled` sets [`EXTENSION_ENV`]; greetd does not).
pub fn extension_offered() -> bool {
    std::env::var(EXTENSION_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .is_some_and(|v| v >= 1)
}

/// Where the daemon is and what it offers.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub socket: PathBuf,
    pub extension: bool,
}

impl Endpoint {
    /// From the environment the daemon gave the greeter.
    pub fn from_env() -> Result<Endpoint, String> {
        Ok(Endpoint {
            socket: socket_from_env()?,
            extension: extension_offered(),
        })
    }

    /// Starts a login for `username` on a new thread.
    pub fn login(&self, username: &str) -> Login {
        let (to, from_ui) = mpsc::channel();
        let (to_ui, from) = mpsc::channel();
        let stream = Arc::new(Mutex::new(None));
        let machine = Machine::new(username, self.extension);
        let socket = self.socket.clone();
        let shared = stream.clone();
        let handle = std::thread::Builder::new()
            .name("greetd-client".into())
            .spawn(move || run(machine, &socket, &shared, &to_ui, &from_ui))
            .expect("cannot start the greeter protocol thread");
        Login {
            to,
            from,
            handle: Some(handle),
            stream,
        }
    }
}

/// One login in progress.
pub struct Login {
    pub to: Sender<ToClient>,
    pub from: Receiver<Report>,
    handle: Option<JoinHandle<()>>,
    /// The connection, so [`Login::stop`] can shut it down under a blocked read.
    stream: Arc<Mutex<Option<UnixStream>>>,
}

impl Login {
    /// Ends the login: asks for `cancel_session` (greetd keeps a session being set up across a
    /// closed connection, and refuses the next `create_session` while it exists), waits for it
    /// briefly, then shuts the connection down — so a daemon that does not answer cannot hold
    /// the greeter — and joins the thread.
    pub fn stop(mut self) {
        let _ = self.to.send(ToClient::Cancel);
        let deadline = std::time::Instant::now() + STOP_GRACE;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.from.recv_timeout(left) {
                Ok(Report::Event(PamEvent::Failed(_))) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.shutdown();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }

    /// Waits for the thread after it reported the end of the login.
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }

    fn shutdown(&self) {
        if let Ok(guard) = self.stream.lock() {
            if let Some(s) = guard.as_ref() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn connect(socket: &Path, shared: &Mutex<Option<UnixStream>>) -> std::io::Result<UnixStream> {
    let stream = UnixStream::connect(socket)?;
    if let Ok(mut guard) = shared.lock() {
        *guard = Some(stream.try_clone()?);
    }
    Ok(stream)
}

/// The thread: carries out the machine's steps until the login is over.
fn run(
    mut machine: Machine,
    socket: &Path,
    shared: &Mutex<Option<UnixStream>>,
    to_ui: &Sender<Report>,
    from_ui: &Receiver<ToClient>,
) {
    let mut stream = match connect(socket, shared) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(socket = %socket.display(), error = %e, "cannot connect");
            let _ = to_ui.send(Report::Event(PamEvent::Failed(format!(
                "Cannot reach the login service: {e}."
            ))));
            return;
        }
    };
    let mut steps: VecDeque<Step> = machine.start().into();
    loop {
        while let Some(step) = steps.pop_front() {
            match step {
                Step::Send(request) => {
                    tracing::debug!(request = request.kind(), "send");
                    if let Err(e) = frame::write(&mut stream, &request) {
                        tracing::info!(error = %e, "cannot write to the login service");
                        steps = machine.disconnected().into();
                    }
                }
                Step::Reconnect(request) => {
                    tracing::info!("the extension was refused; speaking greetd's plain protocol");
                    match connect(socket, shared) {
                        Ok(s) => {
                            stream = s;
                            steps.push_front(Step::Send(request));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot connect again");
                            steps = machine.disconnected().into();
                        }
                    }
                }
                Step::Report(report) => {
                    let _ = to_ui.send(report);
                }
                Step::WaitUi => {
                    // A vanished UI is a cancel.
                    let message = from_ui.recv().unwrap_or(ToClient::Cancel);
                    steps.extend(machine.ui(message));
                }
                Step::Done => return,
            }
        }
        if machine.is_done() {
            return;
        }
        if !machine.awaiting_response() {
            // Nothing out and nothing to do: only the UI can move the login on.
            steps.push_back(Step::WaitUi);
            continue;
        }
        let response = frame::read::<_, Response>(&mut stream, MAX_RESPONSE_BYTES);
        // A cancel typed while the daemon worked takes effect before its response is shown.
        while let Ok(message) = from_ui.try_recv() {
            if matches!(message, ToClient::Cancel) {
                steps.extend(machine.ui(ToClient::Cancel));
            }
        }
        steps.extend(match response {
            Ok(r) => machine.response(r),
            Err(FrameError::Eof | FrameError::Truncated | FrameError::Io(_)) => machine.disconnected(),
            Err(e) => {
                tracing::warn!(error = %e, "bad response from the login service");
                machine.protocol_error()
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    use vestibule_core::{Message, Secret};
    use vestibule_ipc::{AuthMessageType, Request};

    /// A scripted daemon on a real socket: for each request it expects, the responses to send.
    fn daemon(script: Vec<(&'static str, Option<Response>)>) -> (PathBuf, JoinHandle<Vec<Request>>) {
        let dir = std::env::temp_dir().join(format!(
            "vestibule-client-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            for (kind, response) in script {
                let req: Request = match frame::read(&mut s, 1 << 16) {
                    Ok(r) => r,
                    Err(_) => break,
                };
                assert_eq!(req.kind(), kind, "{req:?}");
                got.push(req);
                match response {
                    Some(r) => frame::write(&mut s, &r).unwrap(),
                    None => break,
                }
            }
            got
        });
        (path, handle)
    }

    fn next(login: &Login) -> Report {
        login.from.recv_timeout(Duration::from_secs(5)).expect("a report")
    }

    #[test]
    fn a_plain_login_over_a_socket() {
        let (path, daemon) = daemon(vec![
            (
                "create_session",
                Some(Response::AuthMessage {
                    auth_message_type: AuthMessageType::Info,
                    auth_message: "Hi".into(),
                }),
            ),
            (
                "post_auth_message_response",
                Some(Response::AuthMessage {
                    auth_message_type: AuthMessageType::Secret,
                    auth_message: "Password: ".into(),
                }),
            ),
            ("post_auth_message_response", Some(Response::Success)),
            ("start_session", Some(Response::Success)),
        ]);
        let login = Endpoint {
            socket: path,
            extension: false,
        }
        .login("alice");
        match next(&login) {
            Report::Event(PamEvent::Messages(m)) => {
                assert_eq!(m.len(), 2);
                assert!(matches!(m[1], Message::PromptHidden(_)));
            }
            other => panic!("{other:?}"),
        }
        let pw = Secret::from_bytes(b"pw").unwrap();
        login.to.send(ToClient::Answers(vec![None, Some(pw)])).unwrap();
        assert!(matches!(next(&login), Report::Event(PamEvent::SessionStarting)));
        login
            .to
            .send(ToClient::Start {
                cmd: vec!["sh".into()],
                env: vec!["XDG_SESSION_TYPE=tty".into()],
            })
            .unwrap();
        assert!(matches!(next(&login), Report::SessionAccepted));
        login.join();
        let got = daemon.join().unwrap();
        assert_eq!(
            got[2],
            Request::PostAuthMessageResponse {
                response: Some(vestibule_ipc::Answer::new("pw"))
            }
        );
    }

    #[test]
    fn a_hello_refused_by_hanging_up_falls_back_to_a_new_plain_connection() {
        let dir = std::env::temp_dir().join(format!("vestibule-client-fallback-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            // greetd 0.9: an unknown request type closes the connection.
            let (mut s, _) = listener.accept().unwrap();
            let hello: Request = frame::read(&mut s, 1 << 16).unwrap();
            drop(s);
            let (mut s, _) = listener.accept().unwrap();
            let create: Request = frame::read(&mut s, 1 << 16).unwrap();
            frame::write(&mut s, &Response::auth_error("Authentication failure")).unwrap();
            let cancel: Request = frame::read(&mut s, 1 << 16).unwrap();
            frame::write(&mut s, &Response::Success).unwrap();
            vec![hello.kind(), create.kind(), cancel.kind()]
        });
        let login = Endpoint {
            socket: path,
            extension: true,
        }
        .login("alice");
        assert!(matches!(next(&login), Report::Event(PamEvent::Failed(r)) if r == "Login incorrect"));
        login.join();
        assert_eq!(
            server.join().unwrap(),
            ["x_vestibule_hello", "create_session", "cancel_session"]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn no_daemon_is_a_failure_with_the_reason() {
        let login = Endpoint {
            socket: "/nonexistent/vestibule.sock".into(),
            extension: false,
        }
        .login("alice");
        assert!(
            matches!(next(&login), Report::Event(PamEvent::Failed(r)) if r.starts_with("Cannot reach the login service"))
        );
    }

    #[test]
    fn stop_ends_a_login_blocked_on_a_silent_daemon() {
        // The daemon reads create_session and never answers.
        let (path, daemon) = daemon(vec![("create_session", None)]);
        let login = Endpoint {
            socket: path,
            extension: false,
        }
        .login("alice");
        std::thread::sleep(Duration::from_millis(100));
        let start = std::time::Instant::now();
        login.stop();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(daemon.join().unwrap().len(), 1);
    }

    #[test]
    fn escape_at_a_prompt_cancels_on_the_wire() {
        let (path, daemon) = daemon(vec![
            (
                "create_session",
                Some(Response::AuthMessage {
                    auth_message_type: AuthMessageType::Secret,
                    auth_message: "Password: ".into(),
                }),
            ),
            ("cancel_session", Some(Response::Success)),
        ]);
        let login = Endpoint {
            socket: path,
            extension: false,
        }
        .login("alice");
        assert!(matches!(next(&login), Report::Event(PamEvent::Messages(_))));
        login.to.send(ToClient::Cancel).unwrap();
        assert!(matches!(next(&login), Report::Event(PamEvent::Failed(r)) if r == CANCELLED));
        login.join();
        assert_eq!(daemon.join().unwrap().len(), 2);
    }
}
