//! The clock label, updated every second in the config's strftime format.

use std::time::Duration;

use gtk::glib;

/// Keeps `label` showing the time until the label is gone.
pub fn run(label: &gtk::Label, format: &str) {
    let format = format.to_owned();
    let weak = glib::object::ObjectExt::downgrade(label);
    let tick = move || {
        let Some(label) = weak.upgrade() else {
            return glib::ControlFlow::Break;
        };
        let now = chrono::Local::now().format(&format).to_string();
        if label.text() != now {
            label.set_text(&now);
        }
        glib::ControlFlow::Continue
    };
    tick();
    glib::timeout_add_local(Duration::from_secs(1), tick);
}
