//! The shipped systemd units pass `systemd-analyze verify` with no warning at all.
//!
//! The units name their binaries under /usr/local/sbin; the test points them at the ones just
//! built (verify checks that ExecStart exists) and instantiates the greeter's template on tty9.
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

#[test]
fn shipped_units_verify_cleanly() {
    let work = Work::new();
    let data = tests_dir().join("../data/systemd");
    let units = [
        (
            "vestibule-tui@.service",
            "vestibule-tui@tty9.service",
            "vestibule-tui",
        ),
        (
            "vestibule-agent.service",
            "vestibule-agent.service",
            "vestibule-agent",
        ),
    ];
    for (src, dst, bin) in units {
        let text = std::fs::read_to_string(data.join(src)).unwrap();
        let built = binary(bin);
        let text = text.replace(&format!("/usr/local/sbin/{bin}"), built.to_str().unwrap());
        assert!(
            text.contains(built.to_str().unwrap()),
            "{src} does not start {bin}"
        );
        std::fs::write(work.path().join(dst), text).unwrap();
    }
    let (ok, warnings) = verify(
        work.path(),
        &["vestibule-tui@tty9.service", "vestibule-agent.service"],
    );
    assert!(
        ok && warnings.trim().is_empty(),
        "systemd-analyze verify: {warnings}"
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
