//! The lock screen's PAM thread: unlock attempts one after another for the session's user, each a
//! fresh `vestibule-lock` transaction (see `vestibule_core::unlock`), until one succeeds or the UI
//! stops it.
//!
//! Every prompt goes to the UI and is answered there: nothing typed for one prompt is reused for
//! another. Answers that arrive while no prompt is pending (typed during an attempt, or during the
//! fail delay) are dropped by the conversation before the next prompt, so they can never become
//! further attempts, least of all after a success.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use vestibule_core::{unlock, UnlockError, UnlockOptions};

use crate::pam_channel::{ChannelConversation, PamEvent, Report, ToWorker};

/// How long to wait before trying again when an attempt failed without asking anything (a
/// broken stack must not spin).
pub const UNANSWERED_RETRY: Duration = Duration::from_secs(3);

/// Starts the unlock loop for `user` on a new thread. It reports [`Report::Unlocked`] once and
/// ends; a `Cancel` (or a vanished UI) ends it without unlocking.
pub fn spawn(
    user: String,
    options: UnlockOptions,
    to_ui: Sender<Report>,
    from_ui: Receiver<ToWorker>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("pam-unlock".into())
        .spawn(move || work(&user, &options, &to_ui, Arc::new(Mutex::new(from_ui))))
        .expect("cannot start the PAM thread")
}

fn work(
    user: &str,
    options: &UnlockOptions,
    to_ui: &Sender<Report>,
    from_ui: Arc<Mutex<Receiver<ToWorker>>>,
) {
    loop {
        let conversation = ChannelConversation::new(to_ui.clone(), from_ui.clone());
        let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let outcome = unlock(
            user,
            options,
            Box::new(Watched {
                inner: conversation,
                answered: answered.clone(),
            }),
        );
        match outcome {
            Ok(()) => {
                let _ = to_ui.send(Report::Unlocked);
                return;
            }
            Err(UnlockError::Cancelled) => return,
            Err(e) => {
                tracing::info!(error = %e, "unlock attempt failed");
                if to_ui
                    .send(Report::Event(PamEvent::Failed(e.user_message())))
                    .is_err()
                {
                    return;
                }
                if !answered.load(std::sync::atomic::Ordering::Relaxed)
                    && stop_requested(&from_ui, UNANSWERED_RETRY)
                {
                    return;
                }
            }
        }
    }
}

/// Waits up to `wait` for a Cancel; true if the UI wants the loop to end.
fn stop_requested(from_ui: &Mutex<Receiver<ToWorker>>, wait: Duration) -> bool {
    let Ok(rx) = from_ui.lock() else {
        return true;
    };
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(ToWorker::Cancel) | Err(RecvTimeoutError::Disconnected) => return true,
            Ok(_) => continue,
            Err(RecvTimeoutError::Timeout) => return false,
        }
    }
}

/// Notes whether the UI answered anything, for the retry pacing above.
struct Watched {
    inner: ChannelConversation,
    answered: Arc<std::sync::atomic::AtomicBool>,
}

impl vestibule_core::Conversation for Watched {
    fn converse(
        &mut self,
        messages: &[vestibule_core::Message],
    ) -> Result<Vec<Option<vestibule_core::Secret>>, vestibule_core::ConvError> {
        let result = self.inner.converse(messages);
        if result.is_ok() && messages.iter().any(vestibule_core::Message::is_prompt) {
            self.answered.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    fn fail_delay(&mut self, delay: Duration) {
        self.inner.fail_delay(delay);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn a_cancel_during_the_pause_ends_the_loop_at_once() {
        let (to, rx) = mpsc::channel();
        let rx = Mutex::new(rx);
        to.send(ToWorker::Cancel).unwrap();
        let start = std::time::Instant::now();
        assert!(stop_requested(&rx, Duration::from_secs(5)));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn stray_answers_during_the_pause_do_not_end_it() {
        let (to, rx) = mpsc::channel();
        let rx = Mutex::new(rx);
        to.send(ToWorker::Answers(Vec::new())).unwrap();
        assert!(!stop_requested(&rx, Duration::from_millis(50)));
    }
}
