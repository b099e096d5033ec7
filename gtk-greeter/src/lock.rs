//! Lock mode: an opaque full-screen window on every monitor, and an unlock card on the first one.
//!
//! The windows are mapped before anything else happens, cover monitors that appear later, and
//! refuse to close (the window manager's close, Alt-F4) while locked. Unlocking runs
//! `vestibule_greeter::unlock_worker` on the `vestibule-lock` service for the session's own user:
//! each prompt is shown and answered here, PAM's messages (lockouts included) are shown, the fail
//! delay holds the card, and what is typed outside a prompt is dropped (see `card.rs`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gtk::prelude::*;
use gtk::{gdk, glib};
use vestibule_core::UnlockOptions;
use vestibule_greeter::pam_channel::{Report, ToWorker};
use vestibule_greeter::unlock_worker;
use vestibule_greeter::PamEvent;

use crate::card::{Card, Phase};
use crate::conversation_view::CardView;
use crate::{bridge, clock, probe, style, x11_hold};

/// How often the lock windows are raised again and a missing grab retried while locked.
const HOLD_INTERVAL: Duration = Duration::from_millis(100);
/// How soon a refused grab is tried again.
const GRAB_RETRY: Duration = Duration::from_millis(5);
/// PAM's worker starts once the screen is covered and held, or after this long at the latest.
const WORKER_AT_LATEST: Duration = Duration::from_millis(300);
/// How long a grab is retried before the screen says it has none (i3lock tries for about as long).
const GRAB_PATIENCE: Duration = Duration::from_secs(3);

/// What the lock screen needs to know.
pub struct LockSettings {
    pub user: String,
    pub options: UnlockOptions,
    pub clock_format: String,
}

/// The card's column in a vertically scrolled view that follows the focus.
///
/// Why: a module's message can be 64 KiB. Laid out as is, the column is taller than the monitor
/// and so is the lock window's minimum size; a window manager then cannot make it full screen
/// (openbox left such a window unpainted: the desktop showed, the password field was off
/// screen, and what was typed went nowhere visible). In a scrolled view the window's minimum
/// is small, it stays exactly its monitor's size, and the focused field is scrolled into view.
fn scrolled_panel(column: &gtk::Box) -> gtk::ScrolledWindow {
    let scroller = gtk::ScrolledWindow::new();
    scroller.set_hscrollbar_policy(gtk::PolicyType::Never);
    scroller.set_vscrollbar_policy(gtk::PolicyType::Automatic);
    scroller.set_propagate_natural_height(false);
    scroller.set_hexpand(true);
    scroller.set_vexpand(true);
    scroller.set_child(Some(column));
    if let Some(viewport) = scroller.child().and_downcast::<gtk::Viewport>() {
        viewport.set_scroll_to_focus(true);
    }
    scroller
}

/// `monitor`'s geometry in X pixels (GDK's is in application pixels).
fn x_geometry(monitor: &gdk::Monitor) -> (i32, i32, i32, i32) {
    let g = monitor.geometry();
    let s = monitor.scale_factor().max(1);
    (g.x() * s, g.y() * s, g.width() * s, g.height() * s)
}

/// The lock screen (shown or not).
pub struct LockScreen {
    app: gtk::Application,
    settings: LockSettings,
    windows: RefCell<Vec<(gdk::Monitor, gtk::Window)>>,
    card: RefCell<Card>,
    view: Rc<CardView>,
    /// The card's container, moved to the first monitor's window: a scrolled view, so that no
    /// message, however long, makes the window ask for more than its monitor (see
    /// [`scrolled_panel`]).
    panel: gtk::ScrolledWindow,
    worker: RefCell<Option<mpsc::Sender<ToWorker>>>,
    locked: Cell<bool>,
    on_unlocked: RefCell<Option<Box<dyn Fn()>>>,
    /// Told once the screen is covered and input held (the lock daemon reports it to the agent).
    on_held: RefCell<Option<Box<dyn Fn()>>>,
    /// X11: the window holding the keyboard and pointer grab, if any.
    grabbed: RefCell<Option<gtk::Window>>,
    /// The window of the current set that has painted its first frame (the card's, the first).
    /// Weak: a strong reference outlived the window's `destroy`, and its last unref then ran
    /// inside the next lock's first paint, where finalizing it crashed GTK (SIGSEGV in
    /// g_type_check_instance_cast, the third lock of `bench/run-lock-grab.sh`).
    painted: glib::WeakRef<gtk::Window>,
    /// X11: a quick grab retry is scheduled.
    retry_pending: Cell<bool>,
    /// X11: since when a grab has been wanted and not had.
    grab_wanted: Cell<Option<Instant>>,
    /// Shown when no grab could be had: input may reach other windows.
    grab_warning: gtk::Label,
    /// The widget that had the focus when the window set was last replaced (see `cover`).
    refocus: RefCell<Option<gtk::Widget>>,
    /// When the current lock began: the steps to covered and grabbed are logged against it.
    since: Cell<Option<Instant>>,
    /// Counts the locks: a deferred start of PAM belongs to the lock it was made for.
    generation: Cell<u64>,
    /// X11: the lock windows made override-redirect with the lock colour as background (XIDs).
    opaque: RefCell<Vec<std::ffi::c_ulong>>,
    /// X11: the keyboard focus before the lock, given back once unlocked.
    saved_focus: Cell<Option<x11_hold::SavedFocus>>,
}

impl LockScreen {
    pub fn new(app: &gtk::Application, settings: LockSettings) -> Rc<LockScreen> {
        let panel = gtk::Box::new(gtk::Orientation::Vertical, 16);
        panel.set_halign(gtk::Align::Center);
        panel.set_valign(gtk::Align::Center);
        panel.set_hexpand(true);
        panel.set_vexpand(true);
        let clock_label = gtk::Label::new(None);
        clock_label.add_css_class("lock-clock");
        clock_label.update_property(&[gtk::accessible::Property::Label("Clock")]);
        clock::run(&clock_label, &settings.clock_format);
        let card_box = gtk::Box::new(gtk::Orientation::Vertical, 10);
        card_box.add_css_class("card");
        card_box.set_size_request(360, -1);
        let title = gtk::Label::new(Some(&format!("Locked by {}", settings.user)));
        title.add_css_class("title");
        card_box.append(&title);
        let view = CardView::new();
        card_box.append(&view.root);
        let button = gtk::Button::with_mnemonic("_Unlock");
        button.update_property(&[gtk::accessible::Property::Label("Unlock")]);
        button.set_halign(gtk::Align::End);
        card_box.append(&button);
        let grab_warning = gtk::Label::new(None);
        grab_warning.add_css_class("error");
        grab_warning.set_wrap(true);
        grab_warning.set_visible(false);
        card_box.append(&grab_warning);
        panel.append(&clock_label);
        panel.append(&card_box);
        let panel = scrolled_panel(&panel);

        let me = Rc::new(LockScreen {
            app: app.clone(),
            settings,
            windows: RefCell::new(Vec::new()),
            card: RefCell::new(Card::default()),
            view,
            panel,
            worker: RefCell::new(None),
            locked: Cell::new(false),
            on_unlocked: RefCell::new(None),
            on_held: RefCell::new(None),
            grabbed: RefCell::new(None),
            retry_pending: Cell::new(false),
            painted: glib::WeakRef::new(),
            grab_wanted: Cell::new(None),
            grab_warning,
            refocus: RefCell::new(None),
            since: Cell::new(None),
            generation: Cell::new(0),
            opaque: RefCell::new(Vec::new()),
            saved_focus: Cell::new(None),
        });
        let weak = Rc::downgrade(&me);
        me.view.connect_submit(move || {
            if let Some(l) = weak.upgrade() {
                l.submit();
            }
        });
        let weak = Rc::downgrade(&me);
        button.connect_clicked(move |_| {
            if let Some(l) = weak.upgrade() {
                l.submit();
            }
        });
        if probe::target().is_some() {
            // Typed text shows up in the probe too (visible fields only).
            let weak = Rc::downgrade(&me);
            glib::timeout_add_local(std::time::Duration::from_millis(100), move || {
                match weak.upgrade() {
                    Some(l) => {
                        if l.locked.get() {
                            l.probe();
                        }
                        glib::ControlFlow::Continue
                    }
                    None => glib::ControlFlow::Break,
                }
            });
        }
        if let Some(display) = gdk::Display::default() {
            let weak = Rc::downgrade(&me);
            display.monitors().connect_items_changed(move |_, _, _, _| {
                // GDK reports a change in steps (monitors removed, then added, then their
                // geometry): cover once it has settled.
                let weak = weak.clone();
                glib::timeout_add_local_once(std::time::Duration::from_millis(50), move || {
                    if let Some(l) = weak.upgrade() {
                        if l.locked.get() {
                            l.cover();
                        }
                    }
                });
            });
            if let Some(keyboard) = display.default_seat().and_then(|s| s.keyboard()) {
                let weak = Rc::downgrade(&me);
                keyboard.connect_caps_lock_state_notify(move |k| {
                    if let Some(l) = weak.upgrade() {
                        l.view.set_caps_lock(k.is_caps_locked());
                    }
                });
            }
        }
        me
    }

    /// What to do once unlocked (quit, or tell the agent and wait for the next lock).
    pub fn connect_unlocked(&self, f: impl Fn() + 'static) {
        *self.on_unlocked.borrow_mut() = Some(Box::new(f));
    }

    pub fn is_locked(&self) -> bool {
        self.locked.get()
    }

    /// What to do once the screen is covered and its input held: on X11 once keyboard and pointer
    /// are grabbed, elsewhere once the windows are mapped (all a Wayland client can know).
    pub fn connect_held(&self, f: impl Fn() + 'static) {
        *self.on_held.borrow_mut() = Some(Box::new(f));
    }

    /// Whether the screen is covered and input held now.
    fn is_held(&self) -> bool {
        let first = self.windows.borrow().first().map(|(_, w)| w.clone());
        match (gdk::Display::default(), first) {
            (Some(d), Some(first)) if x11_hold::is_x11(&d) => self.grabbed.borrow().as_ref() == Some(&first),
            (_, first) => first.is_some(),
        }
    }

    /// Tells [`LockScreen::connect_held`]'s callback once `window` has painted a frame from now
    /// on: grabbed is not covered until the lock screen is what the screen shows.
    fn held_once_painted(self: &Rc<Self>, window: &gtk::Window) {
        if self.painted.upgrade().as_ref() == Some(window) {
            self.held();
            return;
        }
        let Some(clock) = window.frame_clock() else {
            self.held();
            return;
        };
        let handler: Rc<RefCell<Option<glib::SignalHandlerId>>> = Rc::new(RefCell::new(None));
        let weak = Rc::downgrade(self);
        let mine = handler.clone();
        let id = clock.connect_after_paint(move |clock| {
            if let Some(id) = mine.borrow_mut().take() {
                clock.disconnect(id);
            }
            if let Some(l) = weak.upgrade() {
                if l.locked.get() {
                    l.held();
                }
            }
        });
        *handler.borrow_mut() = Some(id);
        window.queue_draw();
    }

    fn held(self: &Rc<Self>) {
        self.step("covered and grabbed");
        if let Some(f) = self.on_held.borrow().as_ref() {
            f();
        }
        self.start_worker();
    }

    /// Covers the screens and starts asking for the password. Locking twice is harmless.
    pub fn lock(self: &Rc<Self>) {
        self.since.set(Some(Instant::now()));
        if self.locked.replace(true) {
            // Asked again (the agent's Lock while already locked): say so again once held.
            if self.is_held() {
                self.held();
            }
            return;
        }
        self.saved_focus
            .set(gdk::Display::default().and_then(|d| x11_hold::save_focus(&d)));
        self.cover();
        self.step("windows presented");
        *self.card.borrow_mut() = Card::default();
        self.card.borrow_mut().start(true);
        self.refresh(false);
        self.keep_holding();
        // PAM starts once the screen is covered and held (`held`), not before: its worker (a
        // thread, and whatever the service's modules load) would compete with the first frame
        // for the CPU. Should that never come (no grab to be had), it starts anyway.
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        let weak = Rc::downgrade(self);
        glib::timeout_add_local_once(WORKER_AT_LATEST, move || {
            if let Some(l) = weak.upgrade() {
                if l.generation.get() == generation {
                    l.start_worker();
                }
            }
        });
        let x11 = gdk::Display::default().is_some_and(|d| x11_hold::is_x11(&d));
        if !x11 {
            if let Some(first) = self.windows.borrow().first().map(|(_, w)| w.clone()) {
                self.held_once_painted(&first);
            }
        }
    }

    /// While locked, on X11: every [`HOLD_INTERVAL`] the lock windows are raised above whatever
    /// another client mapped or raised, and a grab that is missing (not had yet, or lost with a
    /// window replaced when the monitors changed) is tried again.
    fn keep_holding(self: &Rc<Self>) {
        let Some(display) = gdk::Display::default() else {
            return;
        };
        if !x11_hold::is_x11(&display) {
            return;
        }
        let weak = Rc::downgrade(self);
        glib::timeout_add_local(HOLD_INTERVAL, move || match weak.upgrade() {
            Some(l) if l.locked.get() => {
                l.hold();
                glib::ControlFlow::Continue
            }
            _ => glib::ControlFlow::Break,
        });
    }

    /// One round of holding: raise, and grab for the first window unless it has the grab.
    fn hold(self: &Rc<Self>) {
        let windows: Vec<gtk::Window> = self.windows.borrow().iter().map(|(_, w)| w.clone()).collect();
        let Some(first) = windows.first().cloned() else {
            return;
        };
        x11_hold::raise(&windows);
        if first.is_mapped() {
            x11_hold::keep_focus(&first);
        }
        if self.grabbed.borrow().as_ref() == Some(&first) {
            return;
        }
        let first_for_paint = first.clone();
        match x11_hold::grab(&first) {
            Ok(()) => {
                self.step("keyboard and pointer grabbed");
                *self.grabbed.borrow_mut() = Some(first);
                self.grab_wanted.set(None);
                self.grab_warning.set_visible(false);
                self.probe();
                if self.covered_now(&windows) {
                    self.step("covered by the lock colour");
                    self.held();
                } else {
                    self.held_once_painted(&first_for_paint);
                }
            }
            Err(e) => {
                tracing::trace!(error = ?e, "no grab yet");
                self.step("grab refused");
                // Most refusals last a moment (the window manager is still mapping the window):
                // try again soon rather than at the next round.
                if !self.retry_pending.replace(true) {
                    let weak = Rc::downgrade(self);
                    glib::timeout_add_local_once(GRAB_RETRY, move || {
                        if let Some(l) = weak.upgrade() {
                            l.retry_pending.set(false);
                            if l.locked.get() {
                                l.hold();
                            }
                        }
                    });
                }
                let since = *self.grab_wanted.get().get_or_insert_with(Instant::now);
                self.grab_wanted.set(Some(since));
                if since.elapsed() >= GRAB_PATIENCE && !self.grab_warning.is_visible() {
                    tracing::warn!(error = ?e, "cannot grab the keyboard and pointer");
                    self.grab_warning.set_text(
                        "Another program holds the keyboard or mouse: what you type may reach other \
                         windows. Still trying.",
                    );
                    self.grab_warning.set_visible(true);
                    self.probe();
                }
            }
        }
    }

    /// X11: whether `windows` cover the screen now, before GTK has drawn them: every one is
    /// mapped and opaque (override-redirect, its background pixel the lock colour, which the
    /// server paints as it maps it: `x11_hold::make_override_redirect`), and no other client's
    /// window is stacked above any of them (asked of the server, which has thereby also handled
    /// every map and raise sent before). Otherwise covered means a frame painted
    /// (`held_once_painted`).
    fn covered_now(&self, windows: &[gtk::Window]) -> bool {
        let opaque = self.opaque.borrow();
        !windows.is_empty()
            && windows
                .iter()
                .all(|w| w.is_mapped() && x11_hold::xid(w).is_some_and(|x| opaque.contains(&x)))
            && !x11_hold::covered_by_another(windows)
    }

    /// Someone else unlocked the session (root through the agent): stop asking, uncover.
    pub fn unlock_from_outside(&self) {
        if !self.locked.get() {
            return;
        }
        if let Some(tx) = self.worker.borrow_mut().take() {
            let _ = tx.send(ToWorker::Cancel);
        }
        self.uncover();
    }

    /// One window per monitor, opaque and full screen, mapped at once. When the monitors change,
    /// the window of every monitor still there stays as it is (the card's window above all: the
    /// field, its text and the compositor's keyboard focus never move while the user types), new
    /// monitors get new windows mapped before the windows of monitors gone are destroyed, and
    /// the card moves only if its own monitor went. On X11 each window is override-redirect and
    /// placed over its own monitor here. Elsewhere, should nothing place or size windows, every
    /// new one sits at the origin, so the first window is as large as all monitors together.
    ///
    /// Why not a whole new set each time (as before): under sway, with a 64 KiB message on the
    /// card, the new card window's first frame (the compositor maps a Wayland window only then)
    /// came long after the old one was destroyed; keys typed in between had no window to go to.
    fn cover(self: &Rc<Self>) {
        let Some(display) = gdk::Display::default() else {
            return;
        };
        let monitors: Vec<gdk::Monitor> = (0..display.monitors().n_items())
            .filter_map(|i| display.monitors().item(i))
            .filter_map(|o| o.downcast::<gdk::Monitor>().ok())
            .collect();
        let unchanged = {
            let have = self.windows.borrow();
            have.len() == monitors.len() && have.iter().zip(&monitors).all(|((a, _), b)| a == b)
        };
        let x11 = x11_hold::is_x11(&display);
        if !unchanged {
            let (width, height) = monitors.iter().map(|m| m.geometry()).fold((1, 1), |(w, h), g| {
                (w.max(g.x() + g.width()), h.max(g.y() + g.height()))
            });
            let mut have = std::mem::take(&mut *self.windows.borrow_mut());
            let fresh: Vec<(gdk::Monitor, gtk::Window)> = monitors
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let g = m.geometry();
                    // X11: each window is placed over its own monitor (`x11_hold::place`).
                    let size = if i == 0 && !x11 {
                        (width, height)
                    } else {
                        (g.width(), g.height())
                    };
                    match have.iter().position(|(had, _)| had == m) {
                        Some(at) => {
                            let (m, w) = have.remove(at);
                            w.set_default_size(size.0, size.1);
                            (m, w)
                        }
                        None => (m.clone(), self.new_window(m, size)),
                    }
                })
                .collect();
            // The card belongs on the first window. If it is elsewhere (its monitor went, or
            // the first monitor is a new one), the focused field and what is typed in it move
            // with it: the widget is the same, only its window changes.
            if let Some((_, first)) = fresh.first() {
                let parent = self.panel.parent().and_then(|p| p.downcast::<gtk::Window>().ok());
                if parent.as_ref() != Some(first) {
                    let mut focused = None;
                    if let Some(old) = parent {
                        focused = GtkWindowExt::focus(&old);
                        old.set_child(None::<&gtk::Widget>);
                    }
                    first.set_child(Some(&self.panel));
                    *self.refocus.borrow_mut() = focused;
                }
            }
            for (_, w) in &fresh {
                if !w.is_visible() {
                    w.present();
                }
            }
            if x11 {
                // Monitors kept may have moved or changed size; new windows were placed when
                // realized.
                for (m, w) in &fresh {
                    x11_hold::place(w, x_geometry(m));
                }
            }
            *self.windows.borrow_mut() = fresh;
            let gone = have;
            // The grab went with its window; the reference goes here, not in a later callback.
            let grabbed_gone = self
                .grabbed
                .borrow()
                .as_ref()
                .is_some_and(|g| gone.iter().any(|(_, w)| w == g));
            for (_, w) in &gone {
                w.set_child(None::<&gtk::Widget>);
                w.destroy();
            }
            if grabbed_gone {
                self.grabbed.borrow_mut().take();
            }
        }
        if let Some((_, first)) = self.windows.borrow().first() {
            first.present();
        }
        self.restore_focus();
        self.probe();
        // The window set is in place now: grab at once (or start the quick retries) rather than
        // wait for a window's map or the next round of `hold`.
        if self.locked.get() && x11 {
            self.hold();
        }
    }

    /// Puts the keyboard focus back where the user was typing: the field that had it before the
    /// window set was replaced, else the card's first field. Without selecting its text:
    /// `grab_focus` on a GtkText selects all of it (gtk-entry-select-on-focus), and the next key
    /// typed would replace what was typed so far. A field that already has the focus is left
    /// alone for the same reason.
    fn restore_focus(&self) {
        let Some(first) = self.windows.borrow().first().map(|(_, w)| w.clone()) else {
            return;
        };
        let wanted = self.refocus.borrow().clone().filter(|w| w.root().is_some());
        let Some(wanted) = wanted else {
            if GtkWindowExt::focus(&first).is_none() {
                self.view.focus();
            }
            return;
        };
        if first.is_mapped() {
            // On screen now: from here on the user moves the focus, not the swap.
            self.refocus.borrow_mut().take();
        }
        if GtkWindowExt::focus(&first).as_ref() == Some(&wanted) {
            return;
        }
        if let Some(t) = wanted.downcast_ref::<gtk::Text>() {
            t.grab_focus_without_selecting();
        } else if let Some(e) = wanted.downcast_ref::<gtk::Entry>() {
            e.grab_focus_without_selecting();
        } else {
            wanted.grab_focus();
        }
    }

    fn new_window(self: &Rc<Self>, monitor: &gdk::Monitor, (width, height): (i32, i32)) -> gtk::Window {
        let w = gtk::Window::new();
        w.set_application(Some(&self.app));
        w.set_title(Some("Locked"));
        w.add_css_class("lock");
        w.set_decorated(false);
        w.set_default_size(width, height);
        let x11 = gdk::Display::default().is_some_and(|d| x11_hold::is_x11(&d));
        if x11 {
            // Override-redirect before it is mapped: the window manager never manages it (see
            // x11_hold.rs), and it is placed over its monitor here instead of made full screen.
            let monitor = monitor.clone();
            let weak = Rc::downgrade(self);
            w.connect_realize(move |w| {
                if let Some(l) = weak.upgrade() {
                    l.step("window realized");
                }
                if let Some(opaque) = x11_hold::make_override_redirect(w, style::LOCK_BACKGROUND) {
                    x11_hold::place(w, x_geometry(&monitor));
                    if let (true, Some(l), Some(xid)) = (opaque, weak.upgrade(), x11_hold::xid(w)) {
                        l.opaque.borrow_mut().push(xid);
                    }
                }
                if let Some(l) = weak.upgrade() {
                    l.step("window made override-redirect");
                }
            });
        } else {
            w.fullscreen_on_monitor(monitor);
        }
        let weak = Rc::downgrade(self);
        w.connect_close_request(move |_| match weak.upgrade() {
            Some(l) if l.locked.get() => glib::Propagation::Stop,
            _ => glib::Propagation::Proceed,
        });
        // Escape and friends go nowhere: nothing on the lock screen closes on a key.
        let keys = gtk::EventControllerKey::new();
        keys.set_propagation_phase(gtk::PropagationPhase::Capture);
        keys.connect_key_pressed(|_, key, _, state| {
            let alt_f4 = key == gdk::Key::F4 && state.contains(gdk::ModifierType::ALT_MASK);
            if key == gdk::Key::Escape || alt_f4 {
                glib::Propagation::Stop
            } else {
                glib::Propagation::Proceed
            }
        });
        w.add_controller(keys);
        // Remember when it has painted its first frame: from then on it is what the screen shows.
        let weak = Rc::downgrade(self);
        w.connect_map(move |w| {
            let Some(clock) = w.frame_clock() else { return };
            // The first frame's phases, for the benchmark's breakdown (debug log only).
            if tracing::enabled!(tracing::Level::DEBUG) {
                let phases: Rc<RefCell<Vec<glib::SignalHandlerId>>> = Rc::default();
                let (l1, l2) = (weak.clone(), weak.clone());
                let id1 = clock.connect_before_paint(move |_| {
                    if let Some(l) = l1.upgrade() {
                        l.step("first frame started");
                    }
                });
                let id2 = clock.connect_layout(move |_| {
                    if let Some(l) = l2.upgrade() {
                        l.step("first frame laid out");
                    }
                });
                phases.borrow_mut().extend([id1, id2]);
                let all = phases.clone();
                let id3 = clock.connect_after_paint(move |clock| {
                    for id in all.borrow_mut().drain(..) {
                        clock.disconnect(id);
                    }
                });
                phases.borrow_mut().push(id3);
            }
            let handler: Rc<RefCell<Option<glib::SignalHandlerId>>> = Rc::new(RefCell::new(None));
            let (mine, weak, window) = (handler.clone(), weak.clone(), w.downgrade());
            let id = clock.connect_after_paint(move |clock| {
                if let Some(id) = mine.borrow_mut().take() {
                    clock.disconnect(id);
                }
                if let (Some(l), Some(w)) = (weak.upgrade(), window.upgrade()) {
                    l.step("first frame painted");
                    l.painted.set(Some(&w));
                }
            });
            *handler.borrow_mut() = Some(id);
        });
        // Grab the moment the window is on screen, not at the next round of `hold` (a window
        // mapped by `cover` is grabbed at its end, once the whole set is in place); and keep the
        // focus where the user types (mapping a window may move it). An override-redirect
        // window is viewable as soon as the server has the map request: the grab succeeds at
        // once.
        let weak = Rc::downgrade(self);
        let monitor = monitor.clone();
        w.connect_map(move |w| {
            if let Some(l) = weak.upgrade() {
                l.step("window mapped");
                if x11 {
                    // GDK sized it to GTK's idea when presenting it: its monitor, again.
                    x11_hold::place(w, x_geometry(&monitor));
                }
                l.restore_focus();
                if l.locked.get() && x11 {
                    l.hold();
                }
            }
        });
        if probe::target().is_some() {
            let weak = Rc::downgrade(self);
            w.connect_focus_widget_notify(move |_| {
                if let Some(l) = weak.upgrade() {
                    l.probe();
                }
            });
        }
        w
    }

    fn uncover(&self) {
        self.locked.set(false);
        if let Some(w) = self.grabbed.borrow_mut().take() {
            x11_hold::release(&w);
        }
        self.grab_wanted.set(None);
        self.grab_warning.set_visible(false);
        // The focus goes back while the lock windows still exist: were it on one of them as it
        // goes, the server would give it to the root window, and the window manager, seeing
        // that, would focus a window of its own choosing (racing this).
        if let (Some(saved), Some(display)) = (self.saved_focus.take(), gdk::Display::default()) {
            x11_hold::restore_focus(&display, saved);
        }
        for (_, w) in self.windows.borrow_mut().drain(..) {
            w.set_child(None::<&gtk::Widget>);
            w.destroy();
        }
        self.opaque.borrow_mut().clear();
        self.painted.set(None);
        self.probe();
    }

    /// Starts PAM for the current lock, unless it runs already or the screen is unlocked.
    fn start_worker(self: &Rc<Self>) {
        if !self.locked.get() || self.worker.borrow().is_some() || self.card.borrow().phase != Phase::Working
        {
            return;
        }
        self.step("worker started");
        let (to_worker, from_ui) = mpsc::channel();
        let (to_ui, from_worker) = mpsc::channel();
        let _handle = unlock_worker::spawn(
            self.settings.user.clone(),
            self.settings.options.clone(),
            to_ui,
            from_ui,
        );
        *self.worker.borrow_mut() = Some(to_worker);
        self.card.borrow_mut().start(true);
        let reports = bridge::forward(from_worker);
        let weak = Rc::downgrade(self);
        glib::spawn_future_local(async move {
            while let Ok(report) = reports.recv().await {
                let Some(l) = weak.upgrade() else { break };
                l.report(report);
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
                let mut card = self.card.borrow_mut();
                card.failed(&reason);
                // The worker starts the next attempt at once.
                card.start(true);
                drop(card);
                self.refresh(false);
            }
            Report::Unlocked => {
                self.worker.borrow_mut().take();
                self.card.borrow_mut().done();
                self.uncover();
                if let Some(f) = self.on_unlocked.borrow().as_ref() {
                    f();
                }
            }
            Report::Event(_) => {}
        }
    }

    fn submit(&self) {
        if !matches!(self.card.borrow().phase, Phase::Asking(_)) {
            return;
        }
        let answers = self.view.collect_answers(&mut self.card.borrow_mut());
        if let (Some(answers), Some(tx)) = (answers, self.worker.borrow().as_ref()) {
            let _ = tx.send(ToWorker::Answers(answers));
        }
        self.refresh(false);
    }

    fn refresh(&self, new_batch: bool) {
        self.view.render(&self.card.borrow(), new_batch);
        self.probe();
    }

    /// Logs a step of the current lock with the time since it began (debug level).
    fn step(&self, what: &str) {
        if let Some(since) = self.since.get() {
            tracing::debug!(ms = since.elapsed().as_secs_f64() * 1000.0, "lock: {what}");
        }
    }

    /// Writes the test probe (see `probe.rs`).
    pub fn probe(&self) {
        let windows: Vec<gtk::Window> = self.windows.borrow().iter().map(|(_, w)| w.clone()).collect();
        let grabbed = self
            .grabbed
            .borrow()
            .as_ref()
            .is_some_and(|g| windows.first() == Some(g));
        probe::dump_with(
            &windows,
            &[if grabbed {
                "input grabbed"
            } else {
                "input not grabbed"
            }],
        );
    }
}
