//! The minimum supported Rust version is Debian 13's rustc, 1.85, so the distribution can build
//! Vestibule with the compiler it ships. Only one toolchain (a newer one) exists on the machines
//! the tests run on, so the promise is checked from what cargo knows rather than by compiling
//! with 1.85: every package in Cargo.lock (`cargo metadata --locked`, every platform's) declares
//! a rust-version of at most 1.85 or none, every workspace member declares exactly 1.85 (which
//! clippy's `incompatible_msrv` reads, so no newer std API slips in), and debian/control asks
//! for that toolchain. A fabricated too-new entry proves the comparison catches one.

use std::process::Command;

use vestibule_e2e::*;

/// Debian 13's rustc.
const MSRV: (u64, u64) = (1, 85);

/// `"1.85"`, `"1.85.0"` → (1, 85); the patch level never decides between minor releases' features.
fn major_minor(version: &str) -> (u64, u64) {
    let mut parts = version.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|_| panic!("not a rust-version: {version:?}"))
    });
    let major = parts.next().expect("a major version");
    (major, parts.next().unwrap_or(0))
}

/// The lock's packages whose rust-version is above the MSRV, as `name version (rust-version)`.
fn too_new(metadata: &serde_json::Value) -> Vec<String> {
    packages(metadata)
        .iter()
        .filter_map(|p| {
            let rv = p["rust_version"].as_str()?;
            (major_minor(rv) > MSRV)
                .then(|| format!("{} {} (rust-version {rv})", str(&p["name"]), str(&p["version"])))
        })
        .collect()
}

fn str(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or("?")
}

fn packages(metadata: &serde_json::Value) -> &Vec<serde_json::Value> {
    metadata["packages"]
        .as_array()
        .expect("cargo metadata lists packages")
}

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--locked", "--format-version", "1", "--manifest-path"])
        .arg(tests_dir().join("../Cargo.toml"))
        .output()
        .expect("cannot run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata --locked failed (is Cargo.lock out of date?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON")
}

#[test]
fn every_locked_dependency_builds_with_rust_1_85() {
    let metadata = metadata();
    assert!(
        packages(&metadata).len() > 100,
        "cargo metadata listed too few packages to be the whole lock"
    );
    let over = too_new(&metadata);
    assert!(
        over.is_empty(),
        "Cargo.lock holds packages that need a newer Rust than {}.{}:\n{}",
        MSRV.0,
        MSRV.1,
        over.join("\n")
    );
}

#[test]
fn every_workspace_member_declares_rust_1_85() {
    let metadata = metadata();
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .expect("workspace members")
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        members.len() >= 10,
        "expected the whole workspace, got {members:?}"
    );
    let wrong: Vec<String> = packages(&metadata)
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap()))
        .filter(|p| p["rust_version"].as_str().map(major_minor) != Some(MSRV))
        .map(|p| format!("{}: rust-version {}", str(&p["name"]), p["rust_version"]))
        .collect();
    assert!(
        wrong.is_empty(),
        "members not declaring rust-version 1.85:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_dependency_needing_a_newer_rust_is_caught() {
    let fabricated = serde_json::json!({ "packages": [
        { "name": "old", "version": "1.0.0", "rust_version": "1.70" },
        { "name": "none", "version": "1.0.0", "rust_version": null },
        { "name": "same", "version": "1.0.0", "rust_version": "1.85.0" },
        { "name": "newer", "version": "2.0.0", "rust_version": "1.86" },
    ]});
    assert_eq!(too_new(&fabricated), ["newer 2.0.0 (rust-version 1.86)"]);
}

/// Debian 13 builds with its own rustc and cargo (1.85.0+dfsg3-1); Debian 12's own are too old
/// (1.63, cargo 0.66), but its rustc-web and cargo-web (1.85 and later) provide both.
#[test]
fn debian_build_depends_on_rust_1_85() {
    let control = std::fs::read_to_string(tests_dir().join("../debian/control")).expect("debian/control");
    let build_depends: String = control
        .lines()
        .skip_while(|l| !l.starts_with("Build-Depends:"))
        .take_while(|l| l.starts_with("Build-Depends:") || l.starts_with(' '))
        .collect();
    for wanted in [
        "cargo (>= 1.85) | cargo-web (>= 1.85)",
        "rustc (>= 1.85) | rustc-web (>= 1.85)",
    ] {
        assert!(
            build_depends.contains(wanted),
            "debian/control's Build-Depends lack {wanted:?}: {build_depends}"
        );
    }
}
