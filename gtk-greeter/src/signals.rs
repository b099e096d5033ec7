//! Signals in a GTK process that supervises sessions.
//!
//! Every thread must block the supervisor's signals (`vestibule_greeter::signals`): [`block`]
//! runs first thing in `main`, before GTK starts its threads. While no session runs, the main loop reads the
//! stop signals from its own signalfd ([`StopWatch`]) and quits cleanly; while one runs it stops
//! watching, so the supervisor gets them and ends the session first.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use gtk::glib;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;

/// The signals that stop the greeter.
const STOP: [Signal; 4] = [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT, Signal::SIGQUIT];

/// Blocks the supervised and stop signals in the calling thread and opens the stop signalfd.
pub fn block() -> nix::Result<SignalFd> {
    vestibule_greeter::signals::block(&STOP)
}

/// Watches the stop signalfd on the main loop while armed.
pub struct StopWatch {
    fd: Rc<RefCell<SignalFd>>,
    source: RefCell<Option<glib::SourceId>>,
    on_stop: Rc<dyn Fn(Signal)>,
}

impl StopWatch {
    pub fn new(fd: SignalFd, on_stop: impl Fn(Signal) + 'static) -> StopWatch {
        StopWatch {
            fd: Rc::new(RefCell::new(fd)),
            source: RefCell::new(None),
            on_stop: Rc::new(on_stop),
        }
    }

    /// Starts reading stop signals (no session runs).
    pub fn arm(&self) {
        if self.source.borrow().is_some() {
            return;
        }
        let fd = self.fd.clone();
        let on_stop = self.on_stop.clone();
        let raw = fd.borrow().as_raw_fd();
        let id = glib::unix_fd_add_local(raw, glib::IOCondition::IN, move |_, _| {
            let signal = fd.borrow_mut().read_signal();
            if let Ok(Some(info)) = signal {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    on_stop(sig);
                }
            }
            glib::ControlFlow::Continue
        });
        *self.source.borrow_mut() = Some(id);
    }

    /// Stops reading them (a session runs: its supervisor reads them).
    pub fn disarm(&self) {
        if let Some(id) = self.source.borrow_mut().take() {
            id.remove();
        }
    }
}
