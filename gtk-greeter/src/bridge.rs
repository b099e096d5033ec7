//! From the greeter-protocol thread to the GTK main loop: the client's reports travel over a std
//! channel (the client is shared with the console greeter, whose loop polls it), and a small
//! thread moves them onto an async channel that a future on the main loop awaits. The main loop
//! never blocks on the daemon.

use std::sync::mpsc;

/// The receiving end for the main loop; it closes when the sender side does.
pub fn forward<T: Send + 'static>(rx: mpsc::Receiver<T>) -> async_channel::Receiver<T> {
    let (tx, out) = async_channel::unbounded();
    std::thread::Builder::new()
        .name("login-reports".into())
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
