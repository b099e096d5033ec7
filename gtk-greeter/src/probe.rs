//! A test probe: with `VESTIBULE_GTK_PROBE=FILE` set, the window's widget tree is written to FILE
//! (atomically) after every change the greeter makes, so end-to-end tests read back what is on
//! screen (texts, which fields exist, which are sensitive, what has focus) from the widgets
//! themselves, not from the greeter's own idea of its state. Without the variable nothing is
//! written. Never contains what was typed into a hidden field.

use std::fmt::Write as _;
use std::path::PathBuf;

use gtk::prelude::*;

/// Where to write, if probing.
pub fn target() -> Option<PathBuf> {
    std::env::var_os("VESTIBULE_GTK_PROBE").map(PathBuf::from)
}

/// Writes a dump of these windows' visible widgets.
pub fn dump(windows: &[gtk::Window]) {
    dump_with(windows, &[]);
}

/// The same, with lines of state that no widget shows (the lock screen's input grab) after the
/// pid line.
pub fn dump_with(windows: &[gtk::Window], state: &[&str]) {
    let Some(path) = target() else {
        return;
    };
    let mut out = format!("pid={}\n", std::process::id());
    for line in state {
        let _ = writeln!(out, "{line}");
    }
    if let Some(d) = gtk::gdk::Display::default() {
        let monitors = d.monitors();
        let geometry: Vec<String> = (0..monitors.n_items())
            .filter_map(|i| monitors.item(i).and_downcast::<gtk::gdk::Monitor>())
            .map(|m| {
                let g = m.geometry();
                format!("{}x{}+{}+{}", g.width(), g.height(), g.x(), g.y())
            })
            .collect();
        let _ = writeln!(out, "monitors {}", geometry.join(" "));
    }
    if windows.is_empty() {
        out.push_str("no windows\n");
    }
    for w in windows {
        let _ = writeln!(
            out,
            "window visible={} classes={} size={}x{}",
            w.is_visible(),
            w.css_classes().join(","),
            w.width(),
            w.height()
        );
        let focus = gtk::prelude::GtkWindowExt::focus(w);
        walk(w.upcast_ref(), 1, focus.as_ref(), &mut out);
    }
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, out).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

fn walk(widget: &gtk::Widget, depth: usize, focus: Option<&gtk::Widget>, out: &mut String) {
    if !widget.is_visible() {
        return;
    }
    let pad = "  ".repeat(depth);
    let flags = format!(
        "{}{}",
        if widget.is_sensitive() { "" } else { " insensitive" },
        // Entries keep the keyboard focus in an inner text widget.
        if focus.is_some_and(|f| f == widget || f.is_ancestor(widget)) && !has_container_role(widget) {
            " focus"
        } else {
            ""
        }
    );
    let name = widget.widget_name();
    if name.starts_with("batch-") {
        let _ = writeln!(out, "{pad}{name}");
    }
    if let Some(l) = widget.downcast_ref::<gtk::Label>() {
        let classes = l.css_classes().join(",");
        let _ = writeln!(
            out,
            "{pad}label[{classes}]{flags}: {}",
            l.text().replace('\n', "\\n")
        );
    } else if widget.is::<gtk::PasswordEntry>() {
        let _ = writeln!(out, "{pad}password-entry{flags}");
    } else if let Some(e) = widget.downcast_ref::<gtk::Entry>() {
        let _ = writeln!(
            out,
            "{pad}entry{flags}: {}",
            crate::conversation_view::visible_text(e)
        );
    } else if let Some(b) = widget.downcast_ref::<gtk::Button>() {
        let _ = writeln!(out, "{pad}button{flags}: {}", b.label().unwrap_or_default());
    } else if widget.is::<gtk::ListBoxRow>() {
        let _ = writeln!(out, "{pad}row{flags}");
    } else if let Some(d) = widget.downcast_ref::<gtk::DropDown>() {
        let selected = d
            .selected_item()
            .and_then(|o| o.downcast::<gtk::StringObject>().ok())
            .map(|s| s.string().to_string())
            .unwrap_or_default();
        let _ = writeln!(out, "{pad}dropdown{flags}: {selected}");
    }
    // Containers and composite widgets (an Entry's inner text, a Button's label) are walked
    // unless already described.
    if widget.is::<gtk::Entry>()
        || widget.is::<gtk::PasswordEntry>()
        || widget.is::<gtk::Button>()
        || widget.is::<gtk::DropDown>()
    {
        return;
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        walk(&c, depth + 1, focus, out);
        child = c.next_sibling();
    }
}

/// Boxes and windows contain the focus without having it.
fn has_container_role(widget: &gtk::Widget) -> bool {
    widget.is::<gtk::Box>() || widget.is::<gtk::Window>() || widget.is::<gtk::ListBox>()
}
