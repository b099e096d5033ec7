//! Closing a PAM session whose supervisor is gone: a fresh transaction of the same service, user
//! and tty, `pam_close_session` then `pam_setcred(PAM_DELETE_CRED)`, `pam_end`. Linux-PAM modules
//! are written to allow this (login(1) closes from a different process than the one that
//! authenticated); without it a crashed supervisor would leave the session open for good.

use vestibule_core::record::SessionRecord;
use vestibule_core::{ConfigDir, Items, NoUser, PamCode, Service, StartError, Transaction};

#[derive(Debug, thiserror::Error)]
pub enum PamCloseError {
    #[error("session {id}: service {service:?} is not one of Vestibule's")]
    UnknownService { id: String, service: String },
    #[error("session {id}: {source}")]
    Start {
        id: String,
        #[source]
        source: StartError,
    },
    #[error("session {id}: pam_close_session/pam_setcred for {user}: {code}")]
    Pam { id: String, user: String, code: PamCode },
}

/// The core's service for a recorded service name.
pub fn service(name: &str) -> Option<Service> {
    [
        Service::Login,
        Service::Lock,
        Service::Greeter,
        Service::Autologin,
    ]
    .into_iter()
    .find(|s| s.name() == name)
}

/// Runs the close in a new transaction. Blocking (modules may do I/O): call it off the bus
/// thread. Nothing prompts: the conversation is [`NoUser`].
pub fn close(record: &SessionRecord, config: &ConfigDir) -> Result<(), PamCloseError> {
    let service = service(&record.service).ok_or_else(|| PamCloseError::UnknownService {
        id: record.id.clone(),
        service: record.service.clone(),
    })?;
    let items = Items {
        user: Some(record.user.clone()),
        tty: record.tty.clone(),
        rhost: record.remote_host.clone(),
        xdisplay: record.display.clone(),
        ..Items::default()
    };
    let mut tx = Transaction::start(service, config, &items, Box::new(NoUser)).map_err(|source| {
        PamCloseError::Start {
            id: record.id.clone(),
            source,
        }
    })?;
    let pam = |code| PamCloseError::Pam {
        id: record.id.clone(),
        user: record.user.clone(),
        code,
    };
    let closed = tx.close_foreign_session().map_err(pam);
    let ended = tx.end().map_err(pam);
    closed.and(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_service_names_map_back_to_the_core_services() {
        assert_eq!(service("vestibule"), Some(Service::Login));
        assert_eq!(service("vestibule-lock"), Some(Service::Lock));
        assert_eq!(service("vestibule-greeter"), Some(Service::Greeter));
        assert_eq!(service("vestibule-autologin"), Some(Service::Autologin));
        assert_eq!(service("login"), None);
    }
}
