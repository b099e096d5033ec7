//! Greeter mode: the desktop login window, a client of the login daemon.
//!
//! State (a [`Card`], the login in progress, the chosen session) lives in [`Greeter`]; GTK
//! signals and the client's reports call its methods, which update the state and then the
//! widgets. The greeter runs unprivileged and never calls PAM: each login is a conversation with
//! `vestibuled` (or greetd) over `GREETD_SOCK`, through `vestibule_greeter::greetd_client`, the
//! same client the console greeter uses. Once authenticated it asks for the chosen session with
//! `start_session`, saves the state file and exits; the daemon starts the session after the
//! greeter (and the compositor it runs in) are gone, and a fresh greeter after the session.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use gtk::prelude::*;
use gtk::{gdk, glib};
use vestibule_greeter::config::Config;
use vestibule_greeter::greetd_client::{Endpoint, Login, Report, ToClient};
use vestibule_greeter::sessions::{self, Choice};
use vestibule_greeter::state::Remembered;
use vestibule_greeter::PamEvent;

use crate::card::{label_text, Card, Note, Phase};
use crate::conversation_view::CardView;
use crate::signals::StopWatch;
use crate::{bridge, clock, probe, users};

/// Longest user name accepted in the user field.
const MAX_USER_CHARS: usize = 256;

/// How the greeter was started.
pub struct Settings {
    pub config: Config,
    /// The daemon's socket and whether it offers the extension.
    pub endpoint: Endpoint,
    /// `-- COMMAND`: offered (and preselected) as a session.
    pub command: Vec<String>,
    pub state_file: PathBuf,
}

/// The greeter's state and widgets.
pub struct Greeter {
    settings: Settings,
    window: gtk::ApplicationWindow,
    card: RefCell<Card>,
    view: Rc<CardView>,
    user_entry: gtk::Entry,
    user_list: Option<gtk::ListBox>,
    accounts: Vec<users::Account>,
    session_list: gtk::DropDown,
    choices: Vec<Choice>,
    login_button: gtk::Button,
    cancel_button: gtk::Button,
    power: Vec<(gtk::Button, Vec<String>, &'static str)>,
    armed_power: Cell<Option<usize>>,
    /// The login in progress (its client thread), if any.
    login: RefCell<Option<Login>>,
    remembered: RefCell<Remembered>,
    stop: RefCell<Option<Rc<StopWatch>>>,
    /// Counts logins, so reports of one that was replaced are not taken for the current one's.
    generation: Cell<u64>,
    /// The daemon accepted the session: the greeter is on its way out.
    leaving: Cell<bool>,
}

impl Greeter {
    /// Builds the window and shows it.
    pub fn start(app: &gtk::Application, settings: Settings) -> Rc<Greeter> {
        let config = &settings.config;
        let window = gtk::ApplicationWindow::new(app);
        window.set_title(Some("Log in"));
        window.add_css_class("vestibule");
        size_to_monitor(window.upcast_ref());
        // No client-side decorations: a kiosk compositor (cage) maps the window at its own size
        // first and only then says "fullscreen", so the first frame is drawn before that; without
        // decorations it already is the finished greeter instead of a framed window that is
        // restyled and drawn again (bench/cage-results.md).
        window.set_decorated(false);
        window.fullscreen();

        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into());

        let outer = gtk::Box::new(gtk::Orientation::Vertical, 0);
        let top = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        top.set_margin_top(12);
        top.set_margin_start(16);
        top.set_margin_end(16);
        let host_label = gtk::Label::new(Some(&host));
        host_label.add_css_class("host");
        host_label.set_hexpand(true);
        host_label.set_xalign(0.0);
        let clock_label = gtk::Label::new(None);
        clock_label.add_css_class("clock");
        clock_label.update_property(&[gtk::accessible::Property::Label("Clock")]);
        top.append(&host_label);
        top.append(&clock_label);
        outer.append(&top);

        let card_box = gtk::Box::new(gtk::Orientation::Vertical, 10);
        card_box.add_css_class("card");
        card_box.set_halign(gtk::Align::Center);
        card_box.set_valign(gtk::Align::Center);
        card_box.set_vexpand(true);
        card_box.set_size_request(380, -1);
        let title = gtk::Label::new(Some(&format!("Welcome to {host}")));
        title.add_css_class("title");
        card_box.append(&title);

        let accounts = if config.desktop.user_list {
            users::from_system(config.desktop.min_uid, config.desktop.max_uid)
        } else {
            Vec::new()
        };
        let user_list = (!accounts.is_empty()).then(|| {
            let list = gtk::ListBox::new();
            list.set_selection_mode(gtk::SelectionMode::None);
            list.update_property(&[gtk::accessible::Property::Label("Users")]);
            for a in &accounts {
                let row = gtk::ListBoxRow::new();
                let text = if a.display == a.name {
                    a.name.clone()
                } else {
                    format!("{} ({})", a.display, a.name)
                };
                let l = gtk::Label::new(Some(&text));
                l.set_xalign(0.0);
                row.set_child(Some(&l));
                row.update_property(&[gtk::accessible::Property::Label(&format!("Log in as {text}"))]);
                list.append(&row);
            }
            card_box.append(&list);
            list
        });

        let user_caption = gtk::Label::new(Some(&label_text(&config.greeter.user_prompt)));
        user_caption.set_xalign(0.0);
        user_caption.add_css_class("prompt");
        let user_entry = gtk::Entry::new();
        user_entry.set_max_length(MAX_USER_CHARS as i32);
        user_entry.update_property(&[gtk::accessible::Property::Label(&label_text(
            &config.greeter.user_prompt,
        ))]);
        user_entry.update_relation(&[gtk::accessible::Relation::LabelledBy(
            &[user_caption.upcast_ref()],
        )]);
        card_box.append(&user_caption);
        card_box.append(&user_entry);

        let view = CardView::new();
        card_box.append(&view.root);

        let choices = sessions::discover(&config.sessions, &settings.command);
        let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
        let session_caption = gtk::Label::new(Some("Session"));
        session_caption.set_xalign(0.0);
        let session_list = gtk::DropDown::from_strings(&names);
        session_list.update_property(&[gtk::accessible::Property::Label("Session")]);
        session_list.update_relation(&[gtk::accessible::Relation::LabelledBy(&[
            session_caption.upcast_ref()
        ])]);
        card_box.append(&session_caption);
        card_box.append(&session_list);

        let buttons = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        buttons.set_halign(gtk::Align::End);
        let cancel_button = gtk::Button::with_mnemonic("_Cancel");
        cancel_button.update_property(&[gtk::accessible::Property::Label("Cancel the login")]);
        let login_button = gtk::Button::with_mnemonic("_Log in");
        login_button.add_css_class("suggested-action");
        login_button.update_property(&[gtk::accessible::Property::Label("Log in")]);
        buttons.append(&cancel_button);
        buttons.append(&login_button);
        card_box.append(&buttons);
        outer.append(&card_box);

        let bottom = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        bottom.set_halign(gtk::Align::End);
        bottom.set_margin_bottom(12);
        bottom.set_margin_end(16);
        let mut power = Vec::new();
        for (label, access, cmd, what) in [
            ("_Reboot", "Reboot the computer", &config.power.reboot, "reboot"),
            (
                "_Power off",
                "Power off the computer",
                &config.power.poweroff,
                "power off",
            ),
        ] {
            if cmd.is_empty() {
                continue;
            }
            let b = gtk::Button::with_mnemonic(label);
            b.update_property(&[gtk::accessible::Property::Label(access)]);
            bottom.append(&b);
            power.push((b, cmd.clone(), what));
        }
        outer.append(&bottom);
        window.set_child(Some(&outer));
        window.set_default_widget(Some(&login_button));

        // With names hidden nothing of the old file is kept: saving it again would write the
        // names of its `session USER ID` lines back (as in the console greeter).
        let g = &settings.config.greeter;
        let remembered = if g.hide_user_names || !g.remember_last_user {
            Remembered::default()
        } else {
            Remembered::load(&settings.state_file)
        };
        let greeter = Rc::new(Greeter {
            settings,
            window,
            card: RefCell::new(Card::default()),
            view,
            user_entry,
            user_list,
            accounts,
            session_list,
            choices,
            login_button,
            cancel_button,
            power,
            armed_power: Cell::new(None),
            login: RefCell::new(None),
            remembered: RefCell::new(remembered),
            stop: RefCell::new(None),
            generation: Cell::new(0),
            leaving: Cell::new(false),
        });
        greeter.connect();
        greeter.prefill();
        clock::run(&clock_label, &greeter.settings.config.greeter.clock_format);
        greeter.window.present();
        greeter.refresh(false);
        greeter
    }

    /// Hands the stop-signal watch over (armed while no session runs).
    pub fn watch_signals(&self, watch: Rc<StopWatch>) {
        watch.arm();
        *self.stop.borrow_mut() = Some(watch);
    }

    /// A stop signal arrived: a login in progress is cancelled on the wire (so the daemon
    /// closes its worker at once), then the greeter exits.
    pub fn stop_requested(&self) {
        self.stop_login();
        if let Some(app) = self.window.application() {
            app.quit();
        }
    }

    fn connect(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        self.user_entry.connect_activate(move |_| {
            if let Some(g) = me.upgrade() {
                g.submit();
            }
        });
        let me = Rc::downgrade(self);
        self.login_button.connect_clicked(move |_| {
            if let Some(g) = me.upgrade() {
                g.submit();
            }
        });
        let me = Rc::downgrade(self);
        self.cancel_button.connect_clicked(move |_| {
            if let Some(g) = me.upgrade() {
                g.cancel();
            }
        });
        let me = Rc::downgrade(self);
        self.view.connect_submit(move || {
            if let Some(g) = me.upgrade() {
                g.submit();
            }
        });
        if let Some(list) = &self.user_list {
            let me = Rc::downgrade(self);
            list.connect_row_activated(move |_, row| {
                if let Some(g) = me.upgrade() {
                    let Some(a) = usize::try_from(row.index()).ok().and_then(|i| g.accounts.get(i)) else {
                        return;
                    };
                    g.user_entry.set_text(&a.name);
                    g.submit();
                }
            });
            // Enter on a row logs in as that user (the window's default button would take it
            // otherwise).
            let keys = gtk::EventControllerKey::new();
            keys.set_propagation_phase(gtk::PropagationPhase::Capture);
            let weak_list = list.downgrade();
            keys.connect_key_pressed(move |_, key, _, _| {
                if !matches!(key, gdk::Key::Return | gdk::Key::KP_Enter | gdk::Key::space) {
                    return glib::Propagation::Proceed;
                }
                let row = weak_list
                    .upgrade()
                    .and_then(|l| l.focus_child())
                    .and_then(|c| c.downcast::<gtk::ListBoxRow>().ok());
                match row {
                    Some(row) => {
                        row.activate();
                        glib::Propagation::Stop
                    }
                    None => glib::Propagation::Proceed,
                }
            });
            list.add_controller(keys);
        }
        for (i, (button, _, _)) in self.power.iter().enumerate() {
            let me = Rc::downgrade(self);
            button.connect_clicked(move |_| {
                if let Some(g) = me.upgrade() {
                    g.power(i);
                }
            });
        }
        let me = Rc::downgrade(self);
        self.user_entry.connect_changed(move |_| {
            if let Some(g) = me.upgrade() {
                g.preselect_session();
            }
        });
        if let Some(keyboard) = gdk::Display::default()
            .and_then(|d| d.default_seat())
            .and_then(|s| s.keyboard())
        {
            let me = Rc::downgrade(self);
            self.view.set_caps_lock(keyboard.is_caps_locked());
            keyboard.connect_caps_lock_state_notify(move |k| {
                if let Some(g) = me.upgrade() {
                    g.view.set_caps_lock(k.is_caps_locked());
                    g.probe();
                }
            });
        }
        self.window.connect_close_request(|_| glib::Propagation::Stop);
        // Escape cancels a login in progress (as in the console greeter).
        let keys = gtk::EventControllerKey::new();
        keys.set_propagation_phase(gtk::PropagationPhase::Capture);
        let me = Rc::downgrade(self);
        keys.connect_key_pressed(move |_, key, _, _| {
            if key != gdk::Key::Escape {
                return glib::Propagation::Proceed;
            }
            if let Some(g) = me.upgrade() {
                g.cancel();
            }
            glib::Propagation::Stop
        });
        self.window.add_controller(keys);
        if probe::target().is_some() {
            let me = Rc::downgrade(self);
            self.window.connect_focus_widget_notify(move |_| {
                if let Some(g) = me.upgrade() {
                    g.probe();
                }
            });
            // Typed text shows up too (visible fields only).
            let me = Rc::downgrade(self);
            glib::timeout_add_local(Duration::from_millis(100), move || match me.upgrade() {
                Some(g) => {
                    g.probe();
                    glib::ControlFlow::Continue
                }
                None => glib::ControlFlow::Break,
            });
        }
    }

    fn prefill(&self) {
        let g = &self.settings.config.greeter;
        if g.remember_last_user && !g.hide_user_names {
            if let Some(u) = self.remembered.borrow().last_user.clone() {
                self.user_entry.set_text(&u);
            }
        }
        self.preselect_session();
        self.user_entry.grab_focus();
    }

    fn preselect_session(&self) {
        if !self.card.borrow().accepts_input() || self.login.borrow().is_some() {
            return;
        }
        let user = crate::conversation_view::visible_text(&self.user_entry);
        let remembered = self.remembered.borrow();
        let index = if self.settings.command.is_empty() {
            sessions::preselect(
                &self.choices,
                remembered.session_of(&user),
                self.settings.config.sessions.default.as_deref(),
            )
        } else {
            // `-- COMMAND` is what the caller asked for: it comes first.
            0
        };
        self.session_list.set_selected(index as u32);
    }

    /// Enter or "Log in": start a login, or answer the pending prompts.
    fn submit(self: &Rc<Self>) {
        let phase = self.card.borrow().phase.clone();
        match phase {
            Phase::Idle => self.start_login(),
            Phase::Asking(_) => {
                let answers = self.view.collect_answers(&mut self.card.borrow_mut());
                if let Some(answers) = answers {
                    self.send(ToClient::Answers(answers));
                }
                self.refresh(false);
            }
            // Stray Enter during an attempt or the fail delay: dropped, never an answer.
            Phase::Working | Phase::Delayed(_) | Phase::Done => {}
        }
    }

    fn start_login(self: &Rc<Self>) {
        let user = crate::conversation_view::visible_text(&self.user_entry).to_string();
        let user = user.trim();
        if user.is_empty() || user.chars().any(char::is_control) {
            self.user_entry.grab_focus();
            return;
        }
        self.stop_login();
        let mut login = self.settings.endpoint.login(user);
        // The reports go to the main loop; the Login stays here, to cancel or join it.
        let (_, dummy) = std::sync::mpsc::channel();
        let reports = bridge::forward(std::mem::replace(&mut login.from, dummy));
        *self.login.borrow_mut() = Some(login);
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        self.card.borrow_mut().start(false);
        self.refresh(false);
        let me = Rc::downgrade(self);
        glib::spawn_future_local(async move {
            while let Ok(report) = reports.recv().await {
                let Some(g) = me.upgrade() else { break };
                if g.generation.get() != generation {
                    return;
                }
                g.report(report);
            }
            if let Some(g) = me.upgrade() {
                if g.generation.get() == generation {
                    g.login_gone();
                }
            }
        });
    }

    fn report(self: &Rc<Self>, report: Report) {
        match report {
            Report::Event(PamEvent::Messages(m)) => {
                let asks = self.card.borrow_mut().messages(&m);
                self.refresh(asks);
            }
            Report::Event(PamEvent::FailDelay(d)) => {
                self.card.borrow_mut().fail_delay(d);
                self.refresh(false);
            }
            Report::Event(PamEvent::Failed(reason)) => {
                self.card.borrow_mut().failed(&reason);
                self.refresh(false);
            }
            Report::Event(PamEvent::SessionStarting) => self.request_session(),
            // The client never reports these (the daemon runs the session).
            Report::Event(PamEvent::SessionEnded(_)) => {}
            Report::SessionAccepted => self.leave(),
        }
    }

    /// The client's channel closed: the login is over (failed, cancelled or accepted), or the
    /// connection broke.
    fn login_gone(&self) {
        if let Some(login) = self.login.borrow_mut().take() {
            login.join();
        }
        if self.leaving.get() {
            return;
        }
        let active = !matches!(self.card.borrow().phase, Phase::Idle);
        if active {
            self.card.borrow_mut().failed("The login stopped unexpectedly.");
        }
        self.refresh(false);
    }

    /// Authenticated: asks the daemon for the chosen session (it starts once we have exited).
    fn request_session(&self) {
        let index = self.session_list.selected() as usize;
        let Some(choice) = self.choices.get(index).or(self.choices.first()) else {
            self.send(ToClient::Cancel);
            return;
        };
        let start = choice.start_command(&self.settings.config.sessions.xsession_wrapper);
        tracing::info!(session = %choice.id, "asking for the session");
        self.remember(choice);
        self.card.borrow_mut().done();
        self.refresh(false);
        self.send(ToClient::Start {
            cmd: start.cmd,
            env: start.env,
        });
    }

    /// The user and the chosen session, for the next greeter.
    fn remember(&self, choice: &Choice) {
        let user = crate::conversation_view::visible_text(&self.user_entry)
            .trim()
            .to_owned();
        let g = &self.settings.config.greeter;
        let mut r = self.remembered.borrow_mut();
        if g.hide_user_names || !g.remember_last_user {
            return;
        }
        r.last_user = Some(user.clone());
        r.set_session(&user, &choice.id);
        if let Err(e) = r.save(&self.settings.state_file) {
            tracing::warn!(error = %e, file = %self.settings.state_file.display(), "cannot save the greeter state");
        }
    }

    /// The daemon accepted the session: exit, so the session can start (greetd's order).
    fn leave(&self) {
        self.leaving.set(true);
        if let Some(w) = self.stop.borrow().as_ref() {
            w.disarm();
        }
        self.window.set_visible(false);
        if let Some(app) = self.window.application() {
            app.quit();
        }
    }

    fn cancel(&self) {
        self.send(ToClient::Cancel);
    }

    /// Ends a login in progress and waits for its thread (cancel on the wire, then hang up).
    fn stop_login(&self) {
        if let Some(login) = self.login.borrow_mut().take() {
            login.stop();
        }
    }

    fn send(&self, message: ToClient) {
        if let Some(login) = self.login.borrow().as_ref() {
            let _ = login.to.send(message);
        }
    }

    /// Power buttons ask for a second press within five seconds.
    fn power(self: &Rc<Self>, i: usize) {
        let (_, cmd, what) = &self.power[i];
        if self.armed_power.get() != Some(i) {
            self.armed_power.set(Some(i));
            self.card
                .borrow_mut()
                .say(Note::Info(format!("Press again to {what}.")));
            self.refresh(false);
            let me = Rc::downgrade(self);
            glib::timeout_add_local_once(Duration::from_secs(5), move || {
                if let Some(g) = me.upgrade() {
                    g.armed_power.set(None);
                }
            });
            return;
        }
        self.armed_power.set(None);
        // Off the main loop: a command that hangs must not freeze the window.
        let (tx, rx) = async_channel::bounded(1);
        let (cmd, what) = (cmd.clone(), *what);
        std::thread::spawn(move || {
            let result = std::process::Command::new(&cmd[0]).args(&cmd[1..]).status();
            let problem = match result {
                Ok(s) if s.success() => None,
                Ok(s) => Some(format!("Could not {what}: {} exited with {s}.", cmd[0])),
                Err(e) => Some(format!("Could not {what}: {}: {e}.", cmd[0])),
            };
            let _ = tx.send_blocking(problem);
        });
        let me = Rc::downgrade(self);
        glib::spawn_future_local(async move {
            if let (Ok(Some(problem)), Some(g)) = (rx.recv().await, me.upgrade()) {
                g.card.borrow_mut().say(Note::Error(problem));
                g.refresh(false);
            }
        });
    }

    /// Brings the widgets in line with the state.
    fn refresh(&self, new_batch: bool) {
        let card = self.card.borrow();
        let idle = matches!(card.phase, Phase::Idle);
        self.user_entry.set_sensitive(idle);
        if let Some(l) = &self.user_list {
            l.set_sensitive(idle);
        }
        self.session_list
            .set_sensitive(!matches!(card.phase, Phase::Done));
        self.cancel_button.set_visible(!idle);
        self.login_button
            .set_sensitive(idle || matches!(card.phase, Phase::Asking(_)));
        self.view.render(&card, new_batch);
        drop(card);
        if idle {
            self.user_entry.grab_focus();
        }
        self.probe();
    }

    fn probe(&self) {
        probe::dump(&[self.window.clone().upcast()]);
    }
}

/// Sizes a window to its monitor: without a window manager (a bare X server, kiosks) nothing
/// else would make it fill the screen.
pub fn size_to_monitor(window: &gtk::Window) {
    let monitor = gdk::Display::default().and_then(|d| {
        d.monitors()
            .item(0)
            .and_then(|m| m.downcast::<gdk::Monitor>().ok())
    });
    if let Some(m) = monitor {
        let g = m.geometry();
        window.set_default_size(g.width(), g.height());
    }
}
