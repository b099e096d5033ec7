//! Placeholder: the D-Bus session agent is built under its own issue.

fn main() {
    eprintln!("vestibule-agent: the session agent is not built yet");
    std::process::exit(2);
}
