//! Process hardening for a greeter that holds typed passwords in memory but links no libpam
//! (the core's own `disable_core_dumps` lives with its PAM parts).

/// No core dump and no ptrace attach by other processes of the greeter user: a crash must not
/// write typed passwords to disk, and a second process of the same (unprivileged) user must not
/// read them out of memory. `PR_SET_DUMPABLE 0` covers both; `RLIMIT_CORE 0` also covers a
/// core pattern that ignores dumpability (a pipe to a helper).
pub fn disable_core_dumps() -> nix::Result<()> {
    nix::sys::prctl::set_dumpable(false)?;
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
}

#[cfg(test)]
mod tests {
    const CHILD: &str = "VESTIBULE_HARDENING_CHILD";

    /// Runs itself again in a child process (the harness left as it was), which hardens itself
    /// and reports what the kernel says.
    #[test]
    fn the_process_is_no_longer_dumpable() {
        if std::env::var_os(CHILD).is_some() {
            super::disable_core_dumps().unwrap();
            let dumpable = nix::sys::prctl::get_dumpable().unwrap();
            let (soft, hard) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE).unwrap();
            println!("dumpable={dumpable} core={soft}/{hard}");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "hardening::tests::the_process_is_no_longer_dumpable",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("dumpable=false core=0/0"), "{text}");
    }
}
