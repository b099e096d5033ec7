//! The terminal as the daemon sees it: which one (`[terminal] vt`), where its greeter socket
//! lives, and no descriptor of the daemon's own left on it.

use std::io::IsTerminal;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use crate::config::Vt;
use crate::server::ServerError;

/// The name of the socket's directory for a terminal: `greeter-tty1`, `greeter-pts-3`.
pub fn socket_dir_name(tty: Option<&Path>) -> String {
    match tty {
        Some(p) => format!(
            "greeter-{}",
            vestibule_core::utmp::line_of(&p.to_string_lossy()).replace('/', "-")
        ),
        None => "greeter-stdin".into(),
    }
}

pub fn resolve_tty(vt: Vt) -> Result<Option<PathBuf>, ServerError> {
    match vt {
        Vt::Number(n) => Ok(Some(PathBuf::from(format!("/dev/tty{n}")))),
        Vt::Current => {
            let stdin = std::io::stdin();
            if !stdin.is_terminal() {
                return Err(ServerError::Setup(
                    "vt = \"current\", but standard input is not a terminal".into(),
                ));
            }
            nix::unistd::ttyname(stdin.as_fd())
                .map(Some)
                .map_err(|source| ServerError::Sys {
                    what: "cannot name the terminal on standard input".into(),
                    source,
                })
        }
        Vt::Next => vestibule_core::tty::next_free_vt()
            .map(|n| Some(PathBuf::from(format!("/dev/tty{n}"))))
            .map_err(|e| ServerError::Setup(format!("vt = \"next\": {e}"))),
        Vt::None => Ok(None),
    }
}

/// Points standard input (and output and error, when they are the terminal) at /dev/null, so
/// the daemon holds nothing open on the terminal it revokes.
pub fn detach_stdio(tty: &Path) {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        tracing::warn!("cannot open /dev/null");
        return;
    };
    let is_tty = |fd: BorrowedFd<'_>| nix::unistd::ttyname(fd).is_ok_and(|p| p == tty);
    let out = is_tty(std::io::stdout().as_fd());
    let err = is_tty(std::io::stderr().as_fd());
    if err {
        tracing::info!("logging stops here: standard error is the terminal, which is revoked (redirect it)");
    }
    for (fd, on) in [(0, true), (1, out), (2, err)] {
        if on {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_terminal_has_a_socket_directory_of_its_own() {
        assert_eq!(socket_dir_name(Some(Path::new("/dev/tty1"))), "greeter-tty1");
        assert_eq!(socket_dir_name(Some(Path::new("/dev/pts/3"))), "greeter-pts-3");
        assert_eq!(socket_dir_name(None), "greeter-stdin");
    }
}
