//! Draws a [`Card`] with GTK widgets and turns what the user typed into answers.
//!
//! Hidden prompts get a `gtk::PasswordEntry` (GTK keeps its text in non-pageable memory and wipes
//! it; the answer is copied from there straight into a `Secret`, never into a `GString`), visible
//! prompts a `gtk::Entry`; PAM's info and error texts sit between them in PAM's order.
//! Every control carries an accessible label taken from the prompt itself, so a screen reader
//! reads what PAM asked. Enter moves to the next field and submits from the last one.

use std::cell::RefCell;
use std::rc::Rc;

use gtk::glib::translate::ToGlibPtr;
use gtk::prelude::*;
use vestibule_core::{Secret, MAX_SECRET_BYTES};

use crate::card::{label_text, Card, Item, Note, Phase, Shown};

/// The card's widgets.
pub struct CardView {
    pub root: gtk::Box,
    notes: gtk::Box,
    batch: gtk::Box,
    status: gtk::Label,
    caps: gtk::Label,
    /// The current batch's fields, one slot per PAM message (None for texts).
    fields: RefCell<Vec<Option<gtk::Widget>>>,
    on_submit: RefCell<Option<Rc<dyn Fn()>>>,
    /// Batches built so far: the probe shows it, so a test knows a new prompt arrived.
    batches: std::cell::Cell<u64>,
}

impl CardView {
    pub fn new() -> Rc<CardView> {
        let root = gtk::Box::new(gtk::Orientation::Vertical, 8);
        root.add_css_class("conversation");
        let notes = gtk::Box::new(gtk::Orientation::Vertical, 4);
        let batch = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let status = gtk::Label::new(None);
        status.add_css_class("status");
        status.set_wrap(true);
        status.set_xalign(0.0);
        let caps = gtk::Label::new(Some("Caps Lock is on"));
        caps.add_css_class("caps-lock");
        caps.set_xalign(0.0);
        caps.set_visible(false);
        caps.update_property(&[gtk::accessible::Property::Label("Warning: Caps Lock is on")]);
        root.append(&notes);
        root.append(&batch);
        root.append(&caps);
        root.append(&status);
        Rc::new(CardView {
            root,
            notes,
            batch,
            status,
            caps,
            fields: RefCell::new(Vec::new()),
            on_submit: RefCell::new(None),
            batches: std::cell::Cell::new(0),
        })
    }

    /// What runs when the user submits the last field.
    pub fn connect_submit(&self, f: impl Fn() + 'static) {
        *self.on_submit.borrow_mut() = Some(Rc::new(f));
    }

    /// Brings the widgets in line with `card`. The batch is rebuilt only when a new one arrives
    /// (`new_batch`), so typing is never disturbed by a redraw.
    pub fn render(self: &Rc<Self>, card: &Card, new_batch: bool) {
        while let Some(child) = self.notes.first_child() {
            self.notes.remove(&child);
        }
        for note in card.notes() {
            self.notes.append(&note_label(note));
        }
        match &card.phase {
            Phase::Asking(items) if new_batch => self.build_batch(items),
            Phase::Asking(_) => {}
            _ => self.clear_batch(),
        }
        let (text, busy) = match &card.phase {
            Phase::Working => ("Checking…".to_owned(), true),
            Phase::Delayed(d) => (format!("Please wait {:.0} s…", d.as_secs_f64().ceil()), true),
            _ => (String::new(), false),
        };
        self.status.set_text(&text);
        self.status.set_visible(!text.is_empty());
        self.batch.set_sensitive(!busy);
    }

    fn clear_batch(&self) {
        self.wipe_fields();
        self.fields.borrow_mut().clear();
        while let Some(child) = self.batch.first_child() {
            self.batch.remove(&child);
        }
    }

    fn build_batch(self: &Rc<Self>, items: &[Item]) {
        self.clear_batch();
        self.batches.set(self.batches.get() + 1);
        self.batch
            .set_widget_name(&format!("batch-{}", self.batches.get()));
        let mut fields = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Item::Note(n) => {
                    self.batch.append(&note_label(n));
                    fields.push(None);
                }
                Item::Prompt(prompt) => {
                    let (label, hidden) = (prompt.label.as_str(), &prompt.hidden);
                    let text = label_text(label);
                    let caption = gtk::Label::new(Some(&text));
                    caption.set_xalign(0.0);
                    caption.add_css_class("prompt");
                    let entry: gtk::Widget = if *hidden {
                        let e = gtk::PasswordEntry::new();
                        e.set_show_peek_icon(false);
                        e.upcast()
                    } else {
                        gtk::Entry::new().upcast()
                    };
                    entry.set_hexpand(true);
                    entry.update_property(&[gtk::accessible::Property::Label(&text)]);
                    entry.update_relation(&[gtk::accessible::Relation::LabelledBy(&[caption.upcast_ref()])]);
                    self.batch.append(&caption);
                    self.batch.append(&entry);
                    fields.push(Some(entry));
                }
            }
        }
        let entries: Vec<gtk::Widget> = fields.iter().flatten().cloned().collect();
        for (i, e) in entries.iter().enumerate() {
            let next = entries.get(i + 1).cloned();
            let me = Rc::downgrade(self);
            let activate = move || match &next {
                Some(n) => {
                    n.grab_focus();
                }
                None => {
                    if let Some(me) = me.upgrade() {
                        let f = me.on_submit.borrow().clone();
                        if let Some(f) = f {
                            f();
                        }
                    }
                }
            };
            if let Some(p) = e.downcast_ref::<gtk::PasswordEntry>() {
                p.connect_activate(move |_| activate());
            } else if let Some(t) = e.downcast_ref::<gtk::Entry>() {
                t.connect_activate(move |_| activate());
            }
        }
        *self.fields.borrow_mut() = fields;
        if let Some(first) = entries.first() {
            // New widgets take the focus only once mapped: after this main-loop turn.
            let first = first.downgrade();
            gtk::glib::idle_add_local_once(move || {
                if let Some(f) = first.upgrade() {
                    f.grab_focus();
                }
            });
        }
    }

    /// The user submitted the card: the answers to send if a prompt is pending (the fields are
    /// emptied and the card moves on); an answer too long for the core becomes a note on the card
    /// instead. Stray input, with no prompt pending, gives nothing.
    pub fn collect_answers(&self, card: &mut Card) -> Option<Vec<Option<Secret>>> {
        if !matches!(card.phase, Phase::Asking(_)) {
            return None;
        }
        match self.take_answers() {
            Ok(answers) => card.submit().then_some(answers),
            Err(e) => {
                card.say(Note::Error(e));
                None
            }
        }
    }

    /// The answers, one per PAM message, and the fields emptied. An answer longer than the core
    /// accepts is refused with a note instead.
    fn take_answers(&self) -> Result<Vec<Option<Secret>>, String> {
        let fields = self.fields.borrow();
        let mut out = Vec::with_capacity(fields.len());
        for f in fields.iter() {
            match f {
                None => out.push(None),
                Some(w) => {
                    let secret = read_answer(w).map_err(|_| {
                        format!("An answer can be at most {} bytes long.", MAX_SECRET_BYTES - 1)
                    })?;
                    out.push(Some(secret));
                }
            }
        }
        drop(fields);
        self.wipe_fields();
        Ok(out)
    }

    fn wipe_fields(&self) {
        for w in self.fields.borrow().iter().flatten() {
            if let Ok(e) = w.clone().dynamic_cast::<gtk::Editable>() {
                e.set_text("");
            }
        }
    }

    /// Shows or hides the Caps Lock warning (only while a hidden field is on the card).
    pub fn set_caps_lock(&self, on: bool) {
        let hidden_field = self
            .fields
            .borrow()
            .iter()
            .flatten()
            .any(|w| w.is::<gtk::PasswordEntry>());
        self.caps.set_visible(on && hidden_field);
    }

    /// Focuses the first field of the batch, if there is one.
    pub fn focus(&self) -> bool {
        let first = self.fields.borrow().iter().flatten().next().cloned();
        first.map(|w| w.grab_focus()).unwrap_or(false)
    }
}

/// The buffer behind a field: for a `PasswordEntry`, GTK's password buffer (its text in
/// non-pageable memory, wiped when changed or freed), reached through the entry's `GtkText`.
fn buffer_of(w: &gtk::Widget) -> Option<gtk::EntryBuffer> {
    if let Some(e) = w.downcast_ref::<gtk::Entry>() {
        return Some(e.buffer());
    }
    let delegate = w.downcast_ref::<gtk::PasswordEntry>()?.delegate()?;
    Some(delegate.downcast::<gtk::Text>().ok()?.buffer())
}

/// The text of a field that shows what is typed (a user name, a visible prompt's answer) as a
/// `GString`; nothing for an entry set to hide its text. The one place a field's text may become
/// a `GString`: `gtk-greeter/clippy.toml` refuses the getters everywhere else.
#[allow(clippy::disallowed_methods)] // reviewed: visible text only
pub fn visible_text(entry: &gtk::Entry) -> gtk::glib::GString {
    if gtk::prelude::EntryExt::is_visible(entry) {
        entry.text()
    } else {
        gtk::glib::GString::new()
    }
}

/// A field's text, copied from GTK's buffer straight into a [`Secret`]. `Editable::text` and
/// `EntryBuffer::text` would hand back a `GString`: a copy of the password on the heap, freed
/// without being wiped. Here no other copy is ever made (`gtk-greeter/clippy.toml` refuses
/// those getters, and this reading of the buffer anywhere else).
fn read_answer(w: &gtk::Widget) -> Result<Secret, vestibule_core::SecretError> {
    let Some(buffer) = buffer_of(w) else {
        return Ok(Secret::new());
    };
    let len = buffer.bytes();
    if len == 0 {
        return Ok(Secret::new());
    }
    // SAFETY: gtk_entry_buffer_get_text returns the buffer's own text (not a copy: GTK documents
    // it as owned by the buffer and valid until the buffer changes), `len` bytes long
    // (gtk_entry_buffer_get_bytes). The buffer is alive (`buffer` holds a reference) and nothing
    // changes it while this code, on GTK's only thread, reads it; the slice ends before any
    // further GTK call.
    #[allow(clippy::disallowed_methods)] // reviewed: the buffer's text straight into a Secret
    let text = unsafe {
        let ptr = gtk::ffi::gtk_entry_buffer_get_text(buffer.to_glib_none().0);
        if ptr.is_null() {
            return Ok(Secret::new());
        }
        std::slice::from_raw_parts(ptr.cast::<u8>(), len)
    };
    Secret::from_bytes(text)
}

fn note_label(note: &Shown) -> gtk::Label {
    let (text, class) = match note {
        Shown::Info(t) => (t.as_str(), "info"),
        Shown::Error(t) => (t.as_str(), "error"),
    };
    let l = gtk::Label::new(Some(text));
    l.set_wrap(true);
    l.set_wrap_mode(gtk::pango::WrapMode::WordChar);
    l.set_xalign(0.0);
    l.set_selectable(false);
    l.add_css_class(class);
    l
}
