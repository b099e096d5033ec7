//! The built-in look, and the administrator's CSS file (`[desktop] css`) on top of it.

use std::path::Path;

/// The lock windows' background in the built-in style (`window.lock` below), also the colour an
/// X server paints them with before GTK's first frame.
pub const LOCK_BACKGROUND: [u8; 3] = [0x0e, 0x12, 0x19];

/// Dark, plain and opaque: the lock screen's background must hide everything under it.
const BUILT_IN: &str = "
window.vestibule { background-color: #1b2230; color: #e8ebf0; }
window.lock { background-color: #0e1219; color: #e8ebf0; }
.card { background-color: #273142; border-radius: 14px; padding: 28px; }
.title { font-size: 20px; font-weight: bold; }
.clock { font-size: 18px; }
.lock-clock { font-size: 48px; font-weight: 300; }
.host { font-size: 14px; opacity: 0.8; }
.error { color: #ff8f87; }
.info { color: #c9d3e2; }
.caps-lock { color: #ffd166; font-weight: bold; }
.status { opacity: 0.85; }
";

/// Installs the built-in style and, if configured, the CSS file over it. A file that cannot be
/// read is reported and the built-in style stays: a typo must not leave a blank login screen.
pub fn install(css_file: &Path) -> Result<(), String> {
    let Some(display) = gtk::gdk::Display::default() else {
        return Err("no display".into());
    };
    let base = gtk::CssProvider::new();
    base.load_from_data(BUILT_IN);
    gtk::style_context_add_provider_for_display(&display, &base, gtk::STYLE_PROVIDER_PRIORITY_APPLICATION);
    if css_file.as_os_str().is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(css_file)
        .map_err(|e| format!("{}: cannot read the theme: {e}", css_file.display()))?;
    let user = gtk::CssProvider::new();
    user.load_from_data(&text);
    gtk::style_context_add_provider_for_display(&display, &user, gtk::STYLE_PROVIDER_PRIORITY_USER);
    Ok(())
}
