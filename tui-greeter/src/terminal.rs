//! The terminal in full-screen mode: raw input, the alternate screen, a hidden cursor when not
//! typing, and the promise that it is restored on every way out — normal exit, error, panic,
//! signals (see `signals.rs`) — and before a session starts, so the session gets a sane terminal.

use std::io::{self, Stdout, Write};

use crossterm::cursor::{MoveTo, Show};
use crossterm::terminal::{self, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::app::App;
use crate::view;

/// The terminal while the greeter owns it. Dropping it restores the terminal.
pub struct Screen {
    term: Terminal<CrosstermBackend<Stdout>>,
    active: bool,
}

impl Screen {
    /// Takes over the terminal.
    pub fn enter() -> io::Result<Screen> {
        let term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        let mut screen = Screen { term, active: false };
        screen.resume()?;
        Ok(screen)
    }

    /// Gives the terminal back (before a session, or at exit): cooked mode, main screen, cursor.
    pub fn suspend(&mut self) {
        if self.active {
            self.active = false;
            restore();
        }
    }

    /// Takes the terminal again (after a session) and clears it.
    pub fn resume(&mut self) -> io::Result<()> {
        terminal::enable_raw_mode()?;
        self.active = true;
        crossterm::execute!(io::stdout(), EnterAlternateScreen)?;
        self.term.clear()
    }

    /// Draws the screen; `full` first clears it, wiping anything written over it (kernel
    /// messages on a VT).
    pub fn draw(&mut self, app: &App, full: bool) -> io::Result<()> {
        if full {
            self.term.clear()?;
        }
        self.term.draw(|f| view::draw(f, app))?;
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.suspend();
    }
}

/// Restores the terminal; safe to call any number of times. The screen is cleared first, as
/// the Linux console has no alternate screen to leave.
pub fn restore() {
    let mut out = io::stdout();
    let _ = crossterm::execute!(
        out,
        Clear(ClearType::All),
        MoveTo(0, 0),
        LeaveAlternateScreen,
        Show
    );
    let _ = out.flush();
    let _ = terminal::disable_raw_mode();
}

/// Makes a panic of the UI thread restore the terminal before the message is printed, so it is
/// readable and the console is usable. (A panic on the client's thread ends only that login: the UI
/// goes on and keeps the terminal.)
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    let ui = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui {
            restore();
        }
        previous(info);
    }));
}
