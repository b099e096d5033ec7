//! The terminal as the daemon sees it: which one (`[terminal] vt`), where its greeter socket
//! lives, and no descriptor of the daemon's own left on it.

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};
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
    let _ = nix::unistd::dup2_stdin(&null);
    if out {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    if err {
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

/// What tells the daemon that its terminal is still the one it started on: an `O_PATH`
/// descriptor on the device node. It is not an open of the terminal (it cannot read or write and
/// vhangup does not touch it), but it keeps the node's inode: when a pseudo-terminal's other end
/// closes, devpts drops that inode's last link, while a new pty may already reuse the number (and
/// must never be revoked or given a greeter by this daemon).
pub struct Anchor(std::fs::File);

impl Anchor {
    pub fn new(path: &Path) -> std::io::Result<Anchor> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(path)
            .map(Anchor)
    }

    /// Whether `path` still names the terminal this anchor was made on.
    pub fn still_there(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let (Ok(held), Ok(now)) = (self.0.metadata(), std::fs::metadata(path)) else {
            return false;
        };
        held.nlink() > 0 && held.ino() == now.ino() && held.rdev() == now.rdev() && held.dev() == now.dev()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchor_notices_a_replaced_node() {
        let dir = std::env::temp_dir().join(format!("vestibuled-anchor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let node = dir.join("tty");
        std::fs::write(&node, b"").unwrap();
        let anchor = Anchor::new(&node).unwrap();
        assert!(anchor.still_there(&node));
        std::fs::remove_file(&node).unwrap();
        assert!(!anchor.still_there(&node));
        // Same name, another node: not ours.
        std::fs::write(&node, b"").unwrap();
        assert!(!anchor.still_there(&node));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_terminal_has_a_socket_directory_of_its_own() {
        assert_eq!(socket_dir_name(Some(Path::new("/dev/tty1"))), "greeter-tty1");
        assert_eq!(socket_dir_name(Some(Path::new("/dev/pts/3"))), "greeter-pts-3");
        assert_eq!(socket_dir_name(None), "greeter-stdin");
    }
}
