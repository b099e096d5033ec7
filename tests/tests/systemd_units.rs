//! The shipped systemd units pass `systemd-analyze verify` with no warning at all.
//!
//! The units name their binaries under /usr/local/sbin; the test points them at the ones just
//! built (verify checks that ExecStart exists) and instantiates the login daemon's template on
//! tty9. The agent's unit must leave the lock screens it started running when it stops
//! (`KillMode=process`), or an agent restart uncovers every locked screen.
//! systemd-analyze exits 0 on an unknown key, so its warnings count as failures too; a control
//! unit with a bogus key proves that they are seen.

use std::path::Path;
use std::process::Command;

use vestibule_e2e::*;

fn verify(dir: &Path, units: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| dir.join(u)))
        .output()
        .expect("systemd-analyze is required (Debian package systemd)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A unit file, the name its copy (an instance, for a template) is written as, and the binaries
/// it starts: (installed path, built binary).
type Unit = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

#[test]
fn shipped_units_verify_cleanly() {
    let work = Work::new();
    let data = tests_dir().join("../data/systemd");
    let units: [Unit; 2] = [
        (
            "vestibuled@.service",
            "vestibuled@tty9.service",
            &[
                ("/usr/local/sbin/vestibuled", "vestibuled"),
                ("/usr/libexec/vestibule/vestibule-worker", "vestibule-worker"),
            ],
        ),
        (
            "vestibule-agent.service",
            "vestibule-agent.service",
            &[("/usr/local/sbin/vestibule-agent", "vestibule-agent")],
        ),
    ];
    for (src, dst, bins) in units {
        let mut text = std::fs::read_to_string(data.join(src)).unwrap();
        for (installed, bin) in bins {
            let built = binary(bin);
            text = text.replace(installed, built.to_str().unwrap());
            assert!(
                text.contains(built.to_str().unwrap()),
                "{src} does not start {bin} from {installed}"
            );
        }
        std::fs::write(work.path().join(dst), text).unwrap();
    }
    let (ok, warnings) = verify(
        work.path(),
        &["vestibuled@tty9.service", "vestibule-agent.service"],
    );
    assert!(
        ok && warnings.trim().is_empty(),
        "systemd-analyze verify: {warnings}"
    );
    let agent = std::fs::read_to_string(data.join("vestibule-agent.service")).unwrap();
    assert!(
        agent.lines().any(|l| l.trim() == "KillMode=process"),
        "vestibule-agent.service must stop the agent alone, not its lock screens"
    );

    std::fs::write(
        work.path().join("control.service"),
        "[Service]\nExecStart=/bin/true\nBogusKey=1\n",
    )
    .unwrap();
    let (_, warnings) = verify(work.path(), &["control.service"]);
    assert!(
        warnings.contains("BogusKey"),
        "the check must see warnings: {warnings:?}"
    );
}
