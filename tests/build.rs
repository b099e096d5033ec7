//! Builds the C fixture modules (tests/fixtures/c) so tests can load them by absolute path.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("pam-modules");
    let script =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("fixtures/c/build.sh");
    println!("cargo:rerun-if-changed=fixtures/c");
    let status = Command::new("sh")
        .arg(&script)
        .arg(&out)
        .status()
        .expect("cannot run fixtures/c/build.sh");
    assert!(
        status.success(),
        "building the C fixture modules failed (is libpam0g-dev installed?)"
    );
    println!("cargo:rustc-env=VESTIBULE_C_FIXTURES={}", out.display());
}
