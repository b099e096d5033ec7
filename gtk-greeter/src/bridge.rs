//! From the PAM thread to the GTK main loop: the worker's reports travel over a std channel (the
//! worker is shared with the console greeter), and a small thread moves them onto an async channel
//! that a future on the main loop awaits. The main loop never blocks on PAM.

use std::sync::mpsc;

use vestibule_greeter::pam_worker::Report;

/// The receiving end for the main loop.
pub fn forward(rx: mpsc::Receiver<Report>) -> async_channel::Receiver<Report> {
    let (tx, out) = async_channel::unbounded();
    std::thread::Builder::new()
        .name("pam-reports".into())
        .spawn(move || {
            while let Ok(report) = rx.recv() {
                if tx.send_blocking(report).is_err() {
                    break;
                }
            }
        })
        .expect("cannot start a thread");
    out
}
