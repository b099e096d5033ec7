//! Placeholder: the GTK greeter and lock screen are built under their own issue.

fn main() {
    eprintln!("vestibule-gtk: the desktop greeter is not built yet");
    std::process::exit(2);
}
