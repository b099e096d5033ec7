//! vestibule-login: Vestibule's login(1)-style line mode, for serial consoles, screen readers and
//! scripts.
//!
//! It is a crate of its own, with its own small binary, because a console login runs before
//! every session: what the binary links is what the kernel maps and the loader relocates at every
//! login. So it links neither the full-screen greeter (ratatui, crossterm), nor the greeter's
//! config and state files (toml, chrono), nor zbus: [`agent`] speaks just enough D-Bus for the
//! two calls the supervisor makes. `vestibule-tui --plain` runs the same [`plain::run`].

pub mod agent;
pub mod cli;
pub mod line_input;
pub mod plain;

use std::path::PathBuf;

use vestibule_core::ConfigDir;

/// The PAM config dir to use for `--pam-confdir`.
///
/// An alternative PAM config dir lets the caller choose the authentication rules, so it is
/// refused whenever this process has privileges its caller does not (setuid or setgid).
pub fn config_dir(dir: Option<PathBuf>) -> Result<ConfigDir, String> {
    let Some(dir) = dir else {
        return Ok(ConfigDir::System);
    };
    let elevated =
        nix::unistd::getuid() != nix::unistd::geteuid() || nix::unistd::getgid() != nix::unistd::getegid();
    if elevated {
        return Err("--pam-confdir is refused in a setuid/setgid program".into());
    }
    if !dir.join("vestibule").is_file() {
        return Err(format!("no PAM service file {}", dir.join("vestibule").display()));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot use PAM config dir {}: {e}", dir.display()))?;
    Ok(ConfigDir::Override(dir))
}

/// Diagnostics go to stderr when `VESTIBULE_LOG` names a level (`error` … `debug` shows every PAM
/// call, `trace`); by default the front end itself reports what a user must know. A plain level
/// rather than a filter language keeps start-up cheap: this runs before every login.
pub fn init_logging() {
    let Some(level) = std::env::var("VESTIBULE_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
    else {
        // Nothing asked for: no subscriber at all (measured: its set-up adds ~170 KiB to a login).
        return;
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    /// The unwinder is linked statically (build.rs): a panic must still unwind to `catch_unwind`,
    /// as the core's conversation callback relies on.
    #[test]
    fn panics_still_unwind() {
        let caught = std::panic::catch_unwind(|| panic!("unwinding works"));
        assert!(caught.is_err());
    }
}
