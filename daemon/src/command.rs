//! greetd's way of running a command line: `/bin/sh -c "exec CMD"`, with `/etc/profile` and
//! `~/.profile` sourced first when `source_profile` is on (greetd's default).

/// The `sh -c` script for `command` (greetd joins `start_session`'s `cmd` with spaces).
pub fn script(command: &str, source_profile: bool) -> String {
    if source_profile {
        format!(
            "[ -f /etc/profile ] && . /etc/profile; [ -f \"$HOME/.profile\" ] && . \"$HOME/.profile\"; exec {command}"
        )
    } else {
        format!("exec {command}")
    }
}

/// The session's argv: `/bin/sh -c SCRIPT`.
pub fn argv(command: &str, source_profile: bool) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script(command, source_profile)]
}

/// `start_session`'s `cmd` joined as greetd joins it.
pub fn join(cmd: &[String]) -> String {
    cmd.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_run_through_sh_as_greetd_runs_them() {
        assert_eq!(argv("sway", false), ["/bin/sh", "-c", "exec sway"]);
        let s = script("agreety -c sway", true);
        assert!(s.starts_with("[ -f /etc/profile ] && . /etc/profile;"), "{s}");
        assert!(s.ends_with("; exec agreety -c sway"), "{s}");
        assert_eq!(
            join(&["sway".into(), "--unsupported-gpu".into()]),
            "sway --unsupported-gpu"
        );
    }

    #[test]
    fn the_script_really_runs_in_sh() {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &script("echo hi there", true)])
            .env("HOME", "/nonexistent")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().last(),
            Some("hi there")
        );
    }
}
